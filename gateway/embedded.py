"""Embedded mode: every app in one process behind a thin WSGI dispatcher.

The dispatcher applies the gateway policy and hands the WSGI environ to the app the
route table names, with SCRIPT_NAME set to the route's prefix so that the app builds
its own public links. No HTTP hop, no copy of the body.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from services.common.client import register_peers
from services.common.requests import accept_request_id
from services.common.routes import match_route, prefixes

from . import policy
from .policy import GatewaySettings
from .ratelimit import RateLimiter

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


class EmbeddedGateway:
    """A WSGI app that routes to in-process service apps."""

    def __init__(self, apps: Mapping[str, WSGIApp], settings: GatewaySettings) -> None:
        self.apps = dict(apps)
        self.settings = settings
        self.limiter = RateLimiter(settings)
        self.workers: list = []  # background threads of embedded mode

    def _answer(self, start_response, status, headers, body: bytes) -> list[bytes]:
        start_response(f"{status} {_REASONS.get(status, 'Error')}", headers)
        return [body]

    def _problem(self, environ, start_response, slug, detail, request_id, extra=()):
        status, headers, body = policy.gateway_problem(
            slug,
            detail,
            accept_language=environ.get("HTTP_ACCEPT_LANGUAGE"),
            query_string=environ.get("QUERY_STRING"),
            cookie=environ.get("HTTP_COOKIE"),
            accept=environ.get("HTTP_ACCEPT"),
            request_id=request_id,
            instance=environ.get("PATH_INFO"),
            settings=self.settings,
            extra_headers=extra,
        )
        return self._answer(start_response, status, headers, body)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        request_id = accept_request_id(environ.get("HTTP_X_REQUEST_ID"))
        environ["HTTP_X_REQUEST_ID"] = request_id
        origin = environ.get("HTTP_ORIGIN")
        cors = policy.cors_headers(origin, self.settings)

        if path == policy.GATEWAY_HEALTH_PATH:
            return self._answer(
                start_response,
                200,
                [("Content-Type", "application/json"), ("X-Request-ID", request_id)],
                b'{"status":"ok","service":"gateway"}',
            )
        if (
            environ["REQUEST_METHOD"] == "OPTIONS"
            and origin
            and (environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD"))
        ):
            if not cors:
                return self._problem(
                    environ, start_response, "forbidden", policy.DETAIL_ORIGIN, request_id
                )
            headers = policy.preflight_headers(
                origin, environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS"), self.settings
            )
            return self._answer(start_response, 204, [*headers, ("X-Request-ID", request_id)], b"")

        route, script_name, path_info = match_route(path)
        client = policy.client_address(
            environ.get("REMOTE_ADDR"),
            environ.get("HTTP_X_FORWARDED_FOR"),
            self.settings.trusted_proxies,
        )
        environ["REMOTE_ADDR"] = client
        retry_after = self.limiter.check(route.service, client)
        if retry_after is not None:
            return self._problem(
                environ,
                start_response,
                "rate-limited",
                policy.DETAIL_RATE_LIMITED,
                request_id,
                [("Retry-After", str(retry_after)), *cors],
            )
        if policy.body_too_large(environ.get("CONTENT_LENGTH") or None, self.settings):
            return self._problem(
                environ,
                start_response,
                "payload-too-large",
                policy.DETAIL_TOO_LARGE,
                request_id,
                cors,
            )
        for key in [k for k in environ if k.startswith("HTTP_X_VICHE_")]:
            del environ[key]  # internal headers come from services, never from outside
        environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + script_name
        environ["PATH_INFO"] = path_info

        extra = [*cors, ("X-Request-ID", request_id)]

        def start_with_gateway_headers(status, headers, exc_info=None):
            # The services return the request id themselves; anything else mounted here
            # may not, and the gateway promises it on every response.
            if any(name.lower() == "x-request-id" for name, _ in headers):
                return start_response(status, [*headers, *cors], exc_info)
            return start_response(status, [*headers, *extra], exc_info)

        return self.apps[route.service](environ, start_with_gateway_headers)


_REASONS = {
    200: "OK",
    204: "No Content",
    403: "Forbidden",
    413: "Content Too Large",
    429: "Too Many Requests",
}


def create_embedded_app(
    config: Mapping[str, Any] | None = None,
    settings: GatewaySettings | None = None,
    background: bool = True,
) -> EmbeddedGateway:
    """All apps in this process, behind the gateway. `config` goes to every app.

    With `background`, the work distributed mode gives to worker processes (delivering
    the outbox) runs in threads of this process. gunicorn calls this factory in each
    worker after forking, so the threads live where the requests are served.
    """
    from services import auth, petitions, polls

    from .web import create_app as create_web_app

    apps = {
        "auth": auth.create_app(config),
        "polls": polls.create_app(config, background=background),
        "petitions": petitions.create_app(config, background=background),
        "web": create_web_app(config),
    }
    register_peers(apps, prefixes())
    gateway = EmbeddedGateway(apps, settings or GatewaySettings.from_env())
    if background:
        from services.auth.messaging.worker import DeliveryWorker

        gateway.workers = [DeliveryWorker(apps["auth"]).start()]
    return gateway
