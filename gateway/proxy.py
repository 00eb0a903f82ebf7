"""Distributed mode: the gateway as an ASGI reverse proxy in front of the services.

It applies the same policy as the embedded gateway, then relays over pooled keep-alive
connections. An upstream that refuses connections is a 503, one that is too slow a
504, one that answers garbage a 502: always problem+json, never a hang.

The gateway's CPU time is taken from the services it fronts, so the relay path stays
lean: uvicorn's httptools protocol on uvloop receives, `upstream.py` sends, and headers
stay bytes from end to end. Run under gunicorn (what `viche up` and the compose file do):

    gunicorn 'gateway.proxy:create_proxy_app()' --worker-class gateway.proxy.GatewayWorker
"""

from __future__ import annotations

import asyncio
import logging
from typing import ClassVar
from urllib.parse import urlsplit

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn_worker import UvicornWorker

from services.common.requests import accept_request_id
from services.common.routes import match_route
from services.common.server import problem_response_bytes

from . import policy
from .policy import GatewaySettings
from .ratelimit import AsyncRateLimiter
from .upstream import (
    BodyStream,
    UpstreamBadResponse,
    UpstreamPool,
    UpstreamTimeout,
    UpstreamUnavailable,
)

log = logging.getLogger("viche.gateway")

UPSTREAM_KEEPALIVE_SECONDS = 15  # below the services' gunicorn keep-alive, so we close first
HEALTH_BODY = b'{"status":"ok","service":"gateway"}'

# Request headers the gateway sets itself, whatever the client sent.
REPLACED = frozenset(
    {
        b"host",
        b"content-length",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"x-forwarded-prefix",
        b"x-request-id",
    }
)


class ProblemHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's HTTP parser, answering a request it cannot read in problem+json."""

    def send_400_response(self, msg: str) -> None:
        self.transport.write(problem_response_bytes(400, "Bad Request", msg))
        self.transport.close()


class GatewayWorker(UvicornWorker):
    """uvicorn under gunicorn, tuned for relaying: the services' Date and Server headers
    pass through unchanged, and the services log each request with its id."""

    CONFIG_KWARGS: ClassVar[dict] = {
        # Which X-Forwarded-For hops to believe is the gateway policy's decision
        # (VICHE_TRUSTED_PROXIES), not uvicorn's.
        "proxy_headers": False,
        "loop": "uvloop",
        "http": ProblemHttpToolsProtocol,
        "lifespan": "on",
        "server_header": False,
        "date_header": False,
        "access_log": False,
    }


class Request:
    """What the gateway needs of an incoming ASGI request, read once."""

    __slots__ = ("client", "headers", "method", "path", "query", "scheme", "wanted")

    def __init__(self, scope: dict) -> None:
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.query: bytes = scope["query_string"]
        self.client: str = (scope.get("client") or ("unknown", 0))[0]
        self.scheme: str = scope["scheme"]
        self.headers: list[tuple[bytes, bytes]] = scope["headers"]
        self.wanted: dict[bytes, str] = {}
        for name, value in self.headers:
            if name in _WANTED:
                self.wanted[name] = value.decode("latin-1")

    def get(self, name: bytes) -> str | None:
        return self.wanted.get(name)


_WANTED = frozenset(
    {
        b"origin",
        b"x-request-id",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"content-length",
        b"accept-language",
        b"accept",  # with the cookie: a page or problem+json, in which language
        b"cookie",
        b"access-control-request-method",
        b"access-control-request-headers",
        b"host",
    }
)


def _encode(headers) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]


class ProxyApp:
    """The ASGI application of the distributed gateway."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.limiter = AsyncRateLimiter(settings)
        self.pools: dict[str, UpstreamPool] = {}
        for service, base in settings.upstreams.items():
            url = urlsplit(base)
            self.pools[service] = UpstreamPool(
                url.hostname or "127.0.0.1",
                url.port or 80,
                connect_timeout=settings.connect_timeout,
                timeout=settings.upstream_timeout,
                keepalive=UPSTREAM_KEEPALIVE_SECONDS,
            )

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            await self.handle(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self.lifespan(receive, send)

    async def lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for pool in self.pools.values():
                    pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _send(self, send, status: int, headers, body: bytes) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _problem(self, send, request: Request, slug, detail, request_id, extra=()):
        status, headers, body = policy.gateway_problem(
            slug,
            detail,
            accept_language=request.get(b"accept-language"),
            query_string=request.query.decode("latin-1"),
            cookie=request.get(b"cookie"),
            accept=request.get(b"accept"),
            request_id=request_id,
            instance=request.path,
            settings=self.settings,
            extra_headers=extra,
        )
        await self._send(send, status, _encode(headers), body)

    async def _read_body(self, receive) -> bytes | None:
        """The whole request body, or None when it outgrows the limit (chunked uploads)."""
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b""
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.settings.max_body_bytes:
                return None
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)

    async def handle(self, scope, receive, send) -> None:
        settings = self.settings
        request = Request(scope)
        request_id = accept_request_id(request.get(b"x-request-id"))
        origin = request.get(b"origin")
        cors = policy.cors_headers(origin, settings)

        if request.path == policy.GATEWAY_HEALTH_PATH:
            headers = [
                (b"content-type", b"application/json"),
                (b"x-request-id", request_id.encode()),
            ]
            return await self._send(send, 200, headers, HEALTH_BODY)
        if request.method == "OPTIONS" and origin and request.get(b"access-control-request-method"):
            if not cors:
                return await self._problem(
                    send, request, "forbidden", policy.DETAIL_ORIGIN, request_id
                )
            headers = policy.preflight_headers(
                origin, request.get(b"access-control-request-headers"), settings
            )
            headers.append(("X-Request-ID", request_id))
            return await self._send(send, 204, _encode(headers), b"")

        route, script_name, _ = match_route(request.path)
        client = policy.client_address(
            request.client, request.get(b"x-forwarded-for"), settings.trusted_proxies
        )
        retry_after = await self.limiter.check(route.service, client)
        if retry_after is not None:
            return await self._problem(
                send,
                request,
                "rate-limited",
                policy.DETAIL_RATE_LIMITED,
                request_id,
                [("Retry-After", str(retry_after)), *cors],
            )
        if policy.body_too_large(request.get(b"content-length"), settings):
            return await self._problem(
                send, request, "payload-too-large", policy.DETAIL_TOO_LARGE, request_id, cors
            )
        body = await self._read_body(receive)
        if body is None:
            return await self._problem(
                send, request, "payload-too-large", policy.DETAIL_TOO_LARGE, request_id, cors
            )

        proto = request.scheme
        if settings.trusted_proxies:
            proto = request.get(b"x-forwarded-proto") or proto
        headers = [
            (name, value)
            for name, value in policy.forwardable(request.headers)
            if name not in REPLACED
        ]
        headers += [
            # Only the client worked out above: a service takes the last address of the
            # list as its caller's (ProxyFix x_for=1), and would otherwise take the proxy
            # in front of us, one address for everybody and for every per-client limit.
            (b"x-forwarded-for", client.encode()),
            (b"x-forwarded-proto", proto.encode()),
            (b"x-forwarded-host", (request.get(b"host") or "").encode("latin-1")),
            (b"x-request-id", request_id.encode()),
        ]
        if script_name:
            headers.append((b"x-forwarded-prefix", script_name.encode()))

        raw_path: bytes = scope.get("raw_path") or request.path.encode()
        target = raw_path[len(script_name) :] or b"/"
        if request.query:
            target += b"?" + request.query
        try:
            upstream = await self.pools[route.service].request(
                request.method, target, headers, body
            )
        except UpstreamUnavailable as exc:
            log.warning(
                "upstream %s unreachable: %s", route.service, exc, extra={"request_id": request_id}
            )
            return await self._problem(
                send, request, "service-unavailable", policy.DETAIL_DOWN, request_id, cors
            )
        except UpstreamTimeout:
            log.warning("upstream %s timed out", route.service, extra={"request_id": request_id})
            return await self._problem(
                send, request, "gateway-timeout", policy.DETAIL_SLOW, request_id, cors
            )
        except UpstreamBadResponse as exc:
            log.warning(
                "upstream %s answered badly: %s",
                route.service,
                exc,
                extra={"request_id": request_id},
            )
            return await self._problem(
                send, request, "bad-gateway", policy.DETAIL_BAD, request_id, cors
            )

        response_headers = [
            (name, value)
            for name, value in policy.forwardable(upstream.headers)
            if name.lower() != b"content-length"
        ]
        if upstream.stream is None:
            response_headers.append((b"content-length", str(len(upstream.body)).encode()))
        if not any(name.lower() == b"x-request-id" for name, _ in upstream.headers):
            response_headers.append((b"x-request-id", request_id.encode()))
        if cors:
            response_headers += _encode(cors)
        if upstream.stream is None:
            await self._send(send, upstream.status, response_headers, upstream.body)
        else:
            await send(
                {
                    "type": "http.response.start",
                    "status": upstream.status,
                    "headers": response_headers,
                }
            )
            await self._relay(send, receive, upstream.stream, route.service, request_id)

    async def _relay(self, send, receive, stream: BodyStream, service: str, request_id: str):
        """Hand on a streamed body as it arrives. Its status has been sent: if the
        upstream breaks off now, the client's response ends without its last chunk (a
        cut-off download, never one that looks whole); if the client goes away, the
        upstream connection is closed and the service stops writing."""
        client_gone = asyncio.ensure_future(_until_disconnected(receive))
        try:
            async for chunk in stream.read():
                if client_gone.done():
                    return
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except (UpstreamUnavailable, UpstreamTimeout, UpstreamBadResponse) as exc:
            log.warning(
                "upstream %s broke off a streamed response: %s",
                service,
                exc,
                extra={"request_id": request_id},
            )
        finally:
            client_gone.cancel()
            stream.close()


async def _until_disconnected(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def create_proxy_app(settings: GatewaySettings | None = None) -> ProxyApp:
    """The distributed gateway, configured from the environment."""
    return ProxyApp(settings or GatewaySettings.from_env())
