"""Services call each other the same way in both modes; a peer that is down is a 503."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time

import pytest

from services.common.client import ServiceUnavailable, call_service, stream_service
from services.petitions import create_app as create_petitions_app


def test_in_process_call_carries_the_request_id(petitions_app):
    with petitions_app.test_request_context("/"):
        from flask import g

        g.request_id = "trace-7"
        response = call_service("auth", "GET", "/healthz")
    assert response.ok and response.json()["service"] == "auth"
    assert response.headers["X-Request-ID"] == "trace-7"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_peer_that_is_down_is_service_unavailable():
    app = create_petitions_app({"SERVICE_URLS": {"auth": f"http://127.0.0.1:{_closed_port()}"}})
    with app.test_request_context("/"), pytest.raises(ServiceUnavailable) as caught:
        call_service("auth", "GET", "/healthz")
    assert caught.value.status == 503


def test_a_peer_with_no_address_is_service_unavailable():
    app = create_petitions_app({"SERVICE_URLS": {}})
    with app.test_request_context("/"), pytest.raises(ServiceUnavailable):
        call_service("auth", "GET", "/healthz")


class Peer:
    """A real HTTP/1.1 server on a port of its own, keeping connections alive, that
    shows what arrived and on which connection; `close_idle()` closes the connections
    it holds, as a server's idle timeout does; paths tell it to misbehave."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        peer = self
        self.connections: list = []
        self.requests: list[tuple[str, str, bytes, int]] = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                peer.connections.append(self.connection)

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                peer.requests.append((self.command, self.path, body, id(self.connection)))
                if self.path.endswith("/garbage"):
                    self.wfile.write(b"this is not http\r\n\r\n")
                    self.close_connection = True
                    return
                if self.path.endswith("/slow"):
                    import time

                    time.sleep(1.5)
                payload = b'{"seen": true}'
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/prefix"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close_idle(self) -> None:
        for connection in self.connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def peer():
    running = Peer()
    yield running
    running.stop()


def test_calls_keep_one_connection_alive_and_send_what_was_asked(peer):
    app = create_petitions_app({"SERVICE_URLS": {"auth": peer.url}, "INTERNAL_TOKEN": "t" * 32})
    with app.test_request_context("/"):
        first = call_service("auth", "POST", "/internal/x", json={"a": 1}, internal=True)
        second = call_service("auth", "GET", "/y")
    assert (first.status, first.json(), first.headers["Content-Type"]) == (
        201,
        {"seen": True},
        "application/json",
    )
    assert second.ok
    (method, path, body, connection), (_, path_2, _, connection_2) = peer.requests
    assert (method, path, json.loads(body)) == ("POST", "/prefix/internal/x", {"a": 1})
    assert path_2 == "/prefix/y" and connection_2 == connection


def test_a_connection_the_peer_closed_is_replaced_before_a_request_is_sent(peer):
    app = create_petitions_app({"SERVICE_URLS": {"auth": peer.url}})
    with app.test_request_context("/"):
        assert call_service("auth", "POST", "/once").ok
        peer.close_idle()
        time.sleep(0.05)
        again = call_service("auth", "POST", "/twice")  # not refused, not sent twice
    assert again.ok
    assert [path for _, path, _, _ in peer.requests] == ["/prefix/once", "/prefix/twice"]


def test_a_stream_over_http_hands_the_body_on_and_closes_its_own_connection(peer):
    app = create_petitions_app({"SERVICE_URLS": {"auth": peer.url}})
    with app.test_request_context("/"):
        assert call_service("auth", "GET", "/kept").ok  # the kept-alive connection
        stream = stream_service("auth", "/file", headers={"Accept-Language": "hu"})
        assert stream.ok and stream.status == 201
        assert b"".join(stream.chunks) == b'{"seen": true}'
        assert stream.chunks.connection.sock is None  # closed once read
        assert call_service("auth", "GET", "/kept-again").ok
    (_, _, _, kept), (_, path, _, own), (_, _, _, kept_again) = peer.requests
    assert path == "/prefix/file" and own != kept and kept_again == kept
    down = create_petitions_app({"SERVICE_URLS": {"auth": f"http://127.0.0.1:{_closed_port()}"}})
    with down.test_request_context("/"), pytest.raises(ServiceUnavailable):
        stream_service("auth", "/file")


def test_a_peer_answering_garbage_or_too_slowly_is_unavailable_and_then_fine(peer):
    app = create_petitions_app({"SERVICE_URLS": {"auth": peer.url}})
    with app.test_request_context("/"):
        with pytest.raises(ServiceUnavailable):
            call_service("auth", "GET", "/garbage")
        with pytest.raises(ServiceUnavailable):
            call_service("auth", "GET", "/slow", timeout=0.3)
        assert call_service("auth", "GET", "/fine").ok
