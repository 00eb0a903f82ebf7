"""A lean HTTP/1.1 client for the gateway's upstream hop, with a keep-alive pool.

The gateway relays every API request, so the cost of this hop is the gateway's cost.
A general-purpose client (aiohttp's, measured) spends most of a proxied request's CPU
time on features a reverse proxy to known, trusted upstreams does not need (cookies,
redirects, tracing, per-request timeout machinery). This client speaks exactly what the proxy
needs: one request per connection at a time, responses parsed by httptools (the parser
behind uvicorn), connections reused while the upstream keeps them alive.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass

import httptools

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class UpstreamUnavailable(Exception):
    """The upstream refused or dropped the connection before answering (503)."""


class UpstreamTimeout(Exception):
    """The upstream did not answer within the time allowed (504)."""


class UpstreamBadResponse(Exception):
    """The upstream answered with something that is not HTTP (502)."""


@dataclass
class UpstreamResponse:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


class _Connection(asyncio.Protocol):
    """One upstream connection; parses one response per request."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future | None = None
        self.closed = False
        self.idle_since = 0.0
        self.received = False
        self._reset()

    def _reset(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.status = 0
        self.keep_alive = False
        self.head = False

    # asyncio.Protocol
    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(UpstreamBadResponse("upgrade not supported"))
        except httptools.HttpParserError as exc:
            self._fail(UpstreamBadResponse(str(exc)))

    def connection_lost(self, exc) -> None:
        self.closed = True
        self._fail(UpstreamUnavailable(str(exc or "connection closed")))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()
        if self.head:  # a HEAD response announces a body it does not send
            self.keep_alive = False
            self.on_message_complete()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(UpstreamResponse(self.status, self.headers, b"".join(self.body)))

    def _fail(self, exc: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    async def send(self, request: bytes, head: bool, timeout: float) -> UpstreamResponse:
        self._reset()
        self.head = head
        self.received = False
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)  # type: ignore[union-attr]
        try:
            async with asyncio.timeout(timeout):
                return await self.waiter
        except TimeoutError:
            self.close()
            raise UpstreamTimeout(f"no answer within {timeout} s") from None
        finally:
            self.waiter = None


class UpstreamPool:
    """Keep-alive connections to one upstream (host, port)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        connect_timeout: float,
        timeout: float,
        keepalive: float,
        max_idle: int = 128,
    ) -> None:
        self.host, self.port = host, port
        self.host_header = f"{host}:{port}".encode("latin-1")
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self.keepalive = keepalive
        self.max_idle = max_idle
        self.idle: deque[_Connection] = deque()

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _transport, connection = await loop.create_connection(
                    _Connection, self.host, self.port
                )
        except TimeoutError:
            raise UpstreamUnavailable("connect timed out") from None
        except OSError as exc:
            raise UpstreamUnavailable(str(exc)) from exc
        return connection

    def _reusable(self) -> _Connection | None:
        now = time.monotonic()
        while self.idle:
            connection = self.idle.pop()
            if not connection.closed and now - connection.idle_since < self.keepalive:
                return connection
            connection.close()
        return None

    def _release(self, connection: _Connection) -> None:
        if connection.keep_alive and not connection.closed and len(self.idle) < self.max_idle:
            connection.idle_since = time.monotonic()
            self.idle.append(connection)
        else:
            connection.close()

    def _serialise(
        self, method: str, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes | None
    ) -> bytes:
        lines = [method.encode() + b" " + target + b" HTTP/1.1", b"host: " + self.host_header]
        lines += [name + b": " + value for name, value in headers]
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(b"content-length: " + str(len(body or b"")).encode())
        return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")

    async def request(
        self, method: str, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes | None
    ) -> UpstreamResponse:
        """Send one request; `headers` must already be free of hop-by-hop and length headers."""
        payload = self._serialise(method, target, headers, body)
        connection = self._reusable()
        if connection is not None:
            try:
                response = await connection.send(payload, method == "HEAD", self.timeout)
            except UpstreamUnavailable:
                # The upstream closed an idle connection as we reused it. Nothing was
                # answered; retry on a fresh connection when repeating cannot do harm.
                connection.close()
                if connection.received or method not in IDEMPOTENT:
                    raise
            except BaseException:
                connection.close()
                raise
            else:
                self._release(connection)
                return response
        connection = await self._connect()
        try:
            response = await connection.send(payload, method == "HEAD", self.timeout)
        except BaseException:
            connection.close()
            raise
        self._release(connection)
        return response

    def close(self) -> None:
        while self.idle:
            self.idle.pop().close()
