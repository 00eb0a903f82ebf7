"""A lean HTTP/1.1 client for the gateway's upstream hop, with a keep-alive pool.

The gateway relays every API request, so the cost of this hop is the gateway's cost.
A general-purpose client (aiohttp's, measured) spends most of a proxied request's CPU
time on features a reverse proxy to known, trusted upstreams does not need (cookies,
redirects, tracing, per-request timeout machinery). This client speaks exactly what the proxy
needs: one request per connection at a time, responses parsed by httptools (the parser
behind uvicorn), connections reused while the upstream keeps them alive.

A response with a length is read whole (the service built it whole). A chunked one (a
service streaming, such as a CSV download of a million signatures) is relayed as it
arrives: the gateway holds about `BodyStream.HIGH_WATER` bytes of it at most, reading from the
upstream pauses while the client falls behind, and the timeout counts from the last
bytes received, so a long download is not cut off while it flows.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
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
    # A chunked response: `body` is empty and the body comes from here.
    stream: BodyStream | None = None


class BodyStream:
    """The body of a chunked upstream response, handed on as it arrives."""

    HIGH_WATER = 256 * 1024  # bytes held before reading from the upstream pauses

    def __init__(self, transport: asyncio.Transport, timeout: float) -> None:
        self.transport = transport
        self.timeout = timeout
        self.chunks: deque[bytes] = deque()
        self.held = 0
        self.paused = False
        self.complete = False
        self.error: Exception | None = None
        self.waiter: asyncio.Future | None = None
        # Set by the pool: what to do with the connection once the body is read or not.
        self.settle: Callable[[bool], None] = lambda _whole: None

    def feed(self, data: bytes) -> None:
        self.chunks.append(data)
        self.held += len(data)
        if self.held > self.HIGH_WATER and not self.paused:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def finish(self) -> None:
        self.complete = True
        self._wake()

    def fail(self, exc: Exception) -> None:
        if not self.complete and self.error is None:
            self.error = exc
            self._wake()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def read(self) -> AsyncIterator[bytes]:
        """What has arrived since the last chunk, until the body is complete; raises
        UpstreamTimeout when nothing arrives for `timeout` seconds and
        UpstreamUnavailable or UpstreamBadResponse when the upstream breaks off."""
        while True:
            if self.chunks:
                data = b"".join(self.chunks)
                self.chunks.clear()
                self.held = 0
                if self.paused:
                    self.paused = False
                    self.transport.resume_reading()
                yield data
            elif self.error is not None:
                raise self.error
            elif self.complete:
                return
            else:
                self.waiter = asyncio.get_running_loop().create_future()
                try:
                    async with asyncio.timeout(self.timeout):
                        await self.waiter
                except TimeoutError:
                    raise UpstreamTimeout(f"no bytes within {self.timeout} s") from None
                finally:
                    self.waiter = None

    def close(self) -> None:
        """Done with the body: a connection read to the end serves the next request;
        one left part way (failed, or the client went away) is closed."""
        settle, self.settle = self.settle, lambda _whole: None
        settle(self.complete and self.error is None and not self.chunks)


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
        self.chunked = False
        self.stream: BodyStream | None = None
        self.timeout = 0.0

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
        if len(name) == 17 and name.lower() == b"transfer-encoding":
            self.chunked = b"chunked" in value.lower()

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()
        if self.head:  # a HEAD response announces a body it does not send
            self.keep_alive = False
            self.on_message_complete()
        elif self.chunked and self.waiter is not None and not self.waiter.done():
            self.stream = BodyStream(self.transport, self.timeout)  # type: ignore[arg-type]
            self.waiter.set_result(UpstreamResponse(self.status, self.headers, b"", self.stream))

    def on_body(self, body: bytes) -> None:
        if self.stream is not None:
            self.stream.feed(body)
        else:
            self.body.append(body)

    def on_message_complete(self) -> None:
        if self.stream is not None:
            self.stream.finish()
        elif self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(UpstreamResponse(self.status, self.headers, b"".join(self.body)))

    def _fail(self, exc: Exception) -> None:
        if self.stream is not None:
            self.stream.fail(exc)
        elif self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    async def send(self, request: bytes, head: bool, timeout: float) -> UpstreamResponse:
        self._reset()
        self.head = head
        self.timeout = timeout
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

    def _settle(self, connection: _Connection, response: UpstreamResponse) -> UpstreamResponse:
        """Give the connection back now, or once a streamed body has been read."""
        if response.stream is None:
            self._release(connection)
        else:
            response.stream.settle = lambda whole: (
                self._release(connection) if whole else connection.close()
            )
        return response

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
                return self._settle(connection, response)
        connection = await self._connect()
        try:
            response = await connection.send(payload, method == "HEAD", self.timeout)
        except BaseException:
            connection.close()
            raise
        return self._settle(connection, response)

    def close(self) -> None:
        while self.idle:
            self.idle.pop().close()
