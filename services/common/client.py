"""Service-to-service HTTP: the one way a service talks to another.

In embedded mode the peer app lives in this process and is called through WSGI; in
distributed mode the call goes over a pooled HTTP connection with timeouts. Callers see
the same `ServiceResponse` either way, and a peer that is down becomes a 503 problem.
"""

from __future__ import annotations

import json as jsonlib
from dataclasses import dataclass
from typing import Any

import urllib3
from flask import current_app, g, has_request_context
from flask_babel import gettext
from werkzeug.test import EnvironBuilder, run_wsgi_app

from .errors import Problem
from .hashing import secrets_match
from .requests import REQUEST_ID_HEADER

PEERS_KEY = "viche.peers"
INTERNAL_TOKEN_HEADER = "X-Viche-Internal-Token"
CALLER_HEADER = "X-Viche-Service"

_pool = urllib3.PoolManager(num_pools=8, maxsize=16, retries=False)


class ServiceUnavailable(Problem):
    slug = "service-unavailable"


@dataclass(frozen=True)
class ServiceResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return jsonlib.loads(self.body) if self.body else None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True)
class Peer:
    """A service app reachable in-process, mounted at its public prefix."""

    app: Any
    prefix: str


def register_peers(apps: dict[str, Any], prefixes: dict[str, str]) -> None:
    """Embedded mode: let every app reach every other one in-process."""
    peers = {name: Peer(app, prefixes.get(name, "")) for name, app in apps.items()}
    for app in apps.values():
        if hasattr(app, "extensions"):
            app.extensions[PEERS_KEY] = peers


def call_service(
    service: str,
    method: str,
    path: str,
    *,
    json: Any = None,
    headers: dict[str, str] | None = None,
    internal: bool = False,
    timeout: float | None = None,
    client: str | None = None,
) -> ServiceResponse:
    """Call another service's API at `path` (relative to the service's root).

    `client` names the person's address when the call is made on their behalf (the web
    UI), so the service's per-client limits see them and not the caller."""
    config = current_app.config
    sent = dict(headers or {})
    if has_request_context() and g.get("request_id"):
        sent.setdefault(REQUEST_ID_HEADER, g.request_id)
    if internal:
        sent[INTERNAL_TOKEN_HEADER] = config["INTERNAL_TOKEN"]
        sent[CALLER_HEADER] = config["SERVICE_NAME"]
    body = None
    if json is not None:
        body = jsonlib.dumps(json).encode()
        sent["Content-Type"] = "application/json"

    peer = current_app.extensions.get(PEERS_KEY, {}).get(service)
    if peer is not None:
        return _call_in_process(peer, method, path, body, sent, client)
    if client:
        sent["X-Forwarded-For"] = client  # services trust it behind the gateway only
    base = config["SERVICE_URLS"].get(service)
    if not base:
        raise ServiceUnavailable(
            gettext("No address is configured for the %(service)s service.", service=service)
        )
    seconds = timeout or config["SERVICE_TIMEOUT_SECONDS"]
    try:
        response = _pool.request(
            method,
            base.rstrip("/") + path,
            body=body,
            headers=sent,
            timeout=urllib3.Timeout(connect=min(2.0, seconds), read=seconds),
        )
    except urllib3.exceptions.HTTPError as exc:
        current_app.logger.warning("call to %s failed: %s", service, exc)
        raise ServiceUnavailable(
            gettext("The %(service)s service did not answer.", service=service)
        ) from exc
    return ServiceResponse(response.status, dict(response.headers), response.data)


def _call_in_process(
    peer: Peer,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str],
    client: str | None = None,
) -> ServiceResponse:
    builder = EnvironBuilder(
        path=path,
        base_url="http://internal" + peer.prefix,
        method=method,
        data=body,
        headers=headers,
        environ_overrides={"REMOTE_ADDR": client} if client else None,
    )
    try:
        environ = builder.get_environ()
    finally:
        builder.close()
    app_iter, status, response_headers = run_wsgi_app(peer.app, environ, buffered=True)
    try:
        data = b"".join(app_iter)
    finally:
        if hasattr(app_iter, "close"):
            app_iter.close()
    return ServiceResponse(int(status.split(" ", 1)[0]), dict(response_headers), data)


def service_required(view):
    """Only other services may call this endpoint: they prove it with the internal token.

    The gateway drops X-Viche-* headers from outside, and the token is compared in
    constant time; the caller's name lands on `g.calling_service`.
    """
    from functools import wraps

    @wraps(view)
    def wrapper(*args, **kwargs):
        check_calling_service()
        return view(*args, **kwargs)

    wrapper.requires_service = True  # type: ignore[attr-defined]
    return wrapper


def check_calling_service() -> None:
    """403 unless the request carries the internal token; names the caller on `g`."""
    from flask import request

    offered = request.headers.get(INTERNAL_TOKEN_HEADER, "")
    if not offered or not secrets_match(offered, current_app.config["INTERNAL_TOKEN"]):
        raise Problem(gettext("Only Viche's own services may call this."), slug="forbidden")
    g.calling_service = request.headers.get(CALLER_HEADER, "")[:32] or "unknown"
