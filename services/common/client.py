"""Service-to-service HTTP: the one way a service talks to another.

In embedded mode the peer app lives in this process and is called through WSGI; in
distributed mode the call goes over a kept-alive HTTP/1.1 connection with timeouts.
Callers see the same `ServiceResponse` either way, and a peer that is down becomes a
503 problem.
"""

from __future__ import annotations

import contextvars
import http.client
import json as jsonlib
import select
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, g, has_request_context
from flask_babel import gettext
from werkzeug.test import EnvironBuilder, run_wsgi_app

from .errors import Problem
from .hashing import secrets_match
from .requests import REQUEST_ID_HEADER

PEERS_KEY = "viche.peers"
INTERNAL_TOKEN_HEADER = "X-Viche-Internal-Token"
CALLER_HEADER = "X-Viche-Service"

CONNECT_SECONDS = 2.0
STREAM_CHUNK = 64 * 1024  # a download is handed on this much at a time


class _Connections(threading.local):
    """Each thread's kept-alive connection to each peer (a gunicorn thread makes one call
    at a time): http.client directly, with none of a general pool's work per request."""

    def __init__(self) -> None:
        self.open: dict[str, http.client.HTTPConnection] = {}


_connections = _Connections()


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """The peer closed a kept-alive connection (its idle timeout): readable with nothing
    asked means end of file. Checked before a request, so that none is sent into a
    closed socket and left in doubt."""
    if not hasattr(select, "poll"):  # Windows (embedded mode calls in-process anyway)
        return bool(select.select([connection.sock], [], [], 0)[0])
    poller = select.poll()  # not select(): it refuses descriptors past 1023
    poller.register(connection.sock, select.POLLIN)
    return bool(poller.poll(0))


def _connection(base: str, seconds: float) -> http.client.HTTPConnection:
    connection = _connections.open.get(base)
    if connection is not None and connection.sock is not None and not _dropped(connection):
        connection.sock.settimeout(seconds)
        return connection
    if connection is not None:
        connection.close()
    connection = _new_connection(base, seconds)
    _connections.open[base] = connection
    return connection


def _new_connection(base: str, seconds: float) -> http.client.HTTPConnection:
    """A connection to `base`, connected within CONNECT_SECONDS; reads wait `seconds`."""
    parts = urlsplit(base)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = kind(parts.netloc, timeout=min(CONNECT_SECONDS, seconds))
    try:
        connection.connect()
    except OSError:
        connection.close()
        raise
    connection.sock.settimeout(seconds)
    return connection


def _over_http(
    base: str, method: str, path: str, body: bytes | None, headers: dict, seconds: float
) -> ServiceResponse:
    """One request on this thread's connection to `base`; OSError or HTTPException when
    the peer cannot be reached or answers garbage (the connection is then dropped)."""
    base = base.rstrip("/")
    try:
        connection = _connection(base, seconds)
        connection.request(method, urlsplit(base).path + path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
    except (OSError, http.client.HTTPException):
        dropped = _connections.open.pop(base, None)
        if dropped is not None:
            dropped.close()
        raise
    if response.will_close:
        _connections.open.pop(base, None)
        connection.close()
    return ServiceResponse(response.status, dict(response.getheaders()), data)


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
class ServiceStream:
    """A response whose body is handed on as it arrives (`chunks`, to iterate once, or
    close): a download too large to read whole."""

    status: int
    headers: dict[str, str]
    chunks: Iterable[bytes]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def read(self) -> bytes:
        """The whole body: for a refusal (a small problem+json), never a download."""
        try:
            return b"".join(self.chunks)
        finally:
            close = getattr(self.chunks, "close", None)
            if close is not None:
                close()


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
    sent = _with_request_id(headers)
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
    base = _base_url(service)
    seconds = timeout or config["SERVICE_TIMEOUT_SECONDS"]
    try:
        return _over_http(base, method, path, body, sent, seconds)
    except (OSError, http.client.HTTPException) as exc:
        raise _unanswered(service, exc) from exc


def _with_request_id(headers: dict[str, str] | None) -> dict[str, str]:
    """The headers to send, carrying this request's id on to the peer."""
    sent = dict(headers or {})
    if has_request_context() and g.get("request_id"):
        sent.setdefault(REQUEST_ID_HEADER, g.request_id)
    return sent


def _base_url(service: str) -> str:
    base = current_app.config["SERVICE_URLS"].get(service)
    if not base:
        raise ServiceUnavailable(
            gettext("No address is configured for the %(service)s service.", service=service)
        )
    return base


def _unanswered(service: str, exc: Exception) -> ServiceUnavailable:
    current_app.logger.warning("call to %s failed: %s", service, exc)
    return ServiceUnavailable(gettext("The %(service)s service did not answer.", service=service))


def stream_service(
    service: str, path: str, *, headers: dict[str, str] | None = None, client: str | None = None
) -> ServiceStream:
    """GET `path` from another service with its body handed on as it arrives, never read
    whole (call_service reads every answer whole): for a download such as a petition's
    signers. Over HTTP on a connection of its own, closed when the body ends or is
    dropped; the timeout counts from the last bytes received."""
    sent = _with_request_id(headers)
    peer = current_app.extensions.get(PEERS_KEY, {}).get(service)
    if peer is not None:
        environ = _environ(peer, "GET", path, None, sent, client)
        context = contextvars.copy_context()
        app_iter, status, response_headers = context.run(
            run_wsgi_app, peer.app, environ, buffered=False
        )
        body = _InContext(context, app_iter)
        return ServiceStream(int(status.split(" ", 1)[0]), dict(response_headers), body)
    if client:
        sent["X-Forwarded-For"] = client
    base = _base_url(service).rstrip("/")
    connection = None
    try:
        connection = _new_connection(base, current_app.config["SERVICE_TIMEOUT_SECONDS"])
        connection.request("GET", urlsplit(base).path + path, headers=sent)
        response = connection.getresponse()
    except (OSError, http.client.HTTPException) as exc:
        if connection is not None:
            connection.close()
        raise _unanswered(service, exc) from exc

    return ServiceStream(response.status, dict(response.getheaders()), _Body(response, connection))


class _InContext:
    """A peer's streamed body (embedded mode), read in the peer's own context variables.
    Between chunks a streamed answer keeps its request context pushed
    (stream_with_context); in the caller's context variables it would sit on top of the
    caller's own, which then could not be popped."""

    def __init__(self, context: contextvars.Context, app_iter) -> None:
        self.context, self.app_iter = context, app_iter
        self.iterator = context.run(iter, app_iter)

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        return self.context.run(next, self.iterator)

    def close(self) -> None:
        if hasattr(self.app_iter, "close"):
            self.context.run(self.app_iter.close)


class _Body:
    """An answer's body over HTTP, read as it is iterated; its connection closed at the
    end, or by close() (a server calls it even when the download was never started)."""

    def __init__(self, response: http.client.HTTPResponse, connection) -> None:
        self.response, self.connection = response, connection

    def __iter__(self) -> Iterator[bytes]:
        # A failure midway raises: the server then breaks the download off rather than
        # end it as if it were whole.
        try:
            while chunk := self.response.read(STREAM_CHUNK):
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        self.connection.close()


def _environ(
    peer: Peer,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str],
    client: str | None,
) -> dict:
    builder = EnvironBuilder(
        path=path,
        base_url="http://internal" + peer.prefix,
        method=method,
        data=body,
        headers=headers,
        environ_overrides={"REMOTE_ADDR": client} if client else None,
    )
    try:
        return builder.get_environ()
    finally:
        builder.close()


def _call_in_process(
    peer: Peer,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str],
    client: str | None = None,
) -> ServiceResponse:
    environ = _environ(peer, method, path, body, headers, client)
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
