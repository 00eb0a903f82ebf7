"""The distributed gateway, proven with real processes.

The real topology (every service and the web app under gunicorn, the asyncio gateway in
front) starts once for the module. A second gateway process, "the lab", stands in front
of upstreams the test controls: an echo server that shows what arrived, a slow path, a
server that answers garbage, and a port where nothing listens.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gateway.distributed import Cluster, ProcessSpec, gunicorn_argv, process_specs
from tests.conftest import SERVICES, database_url_for, recreate_database

pytestmark = pytest.mark.distributed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(port, method, path, body=None, headers=None):
    """One HTTP request over a fresh connection; (status, headers, body bytes)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def assert_problem(status, headers, body, expected_status, slug):
    assert status == expected_status, body
    assert headers["Content-Type"].startswith("application/problem+json")
    problem = json.loads(body)
    assert problem["type"] == f"urn:viche:problem:{slug}"
    assert problem["status"] == expected_status
    assert problem["request_id"] == headers["X-Request-ID"]
    return problem


class Streams:
    """What the chunked /stream/* answers of the Echo upstream wait for and report."""

    released = threading.Event()  # /stream/held sends its second half once set
    endless_written = 0  # bytes /stream/endless has written so far
    endless_stopped = threading.Event()  # its connection was closed under it


class Echo(BaseHTTPRequestHandler):
    """Shows what the gateway forwarded; /slow waits, /hop answers with hop headers,
    /stream/* answers in chunks as a streaming service does."""

    protocol_version = "HTTP/1.1"

    def handle(self):
        # The gateway gives up on a slow answer in the 504 test: a broken pipe is expected.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            super().handle()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _stream(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        kind = self.path.removeprefix("/stream/")
        if kind == "flowing":  # longer in all than the gateway's timeout, never idle that long
            for n in range(5):
                self._chunk(f"row {n}\n".encode())
                time.sleep(0.4)
        elif kind == "held":
            self._chunk(b"first half\n")
            Streams.released.wait(5)
            self._chunk(b"second half\n")
        elif kind == "stalled":
            self._chunk(b"first half\n")
            time.sleep(3)
            self._chunk(b"too late\n")
        elif kind == "endless":
            block = b"x" * 65536
            try:
                while True:
                    self._chunk(block)
                    Streams.endless_written += len(block)
            except OSError:
                Streams.endless_stopped.set()
                raise
        self.wfile.write(b"0\r\n\r\n")

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith("/stream/"):
            return self._stream()
        if self.path.startswith("/slow"):
            time.sleep(3)
        payload = json.dumps(
            {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode("utf-8", "replace"),
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if self.path.startswith("/hop"):
            self.send_header("Connection", "keep-alive, X-Secret-Hop")
            self.send_header("X-Secret-Hop", "for the next hop only")
            self.send_header("Keep-Alive", "timeout=5")
            self.send_header("Set-Cookie", "a=1")
            self.send_header("Set-Cookie", "b=2")
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *_args):
        pass


def serve_garbage(listener: socket.socket) -> None:
    """Accept connections and answer something that is not HTTP."""
    while True:
        try:
            connection, _ = listener.accept()
        except OSError:
            return
        with connection:
            connection.recv(65536)
            connection.sendall(b"this is not http at all\r\n\r\n")


@pytest.fixture(scope="module")
def topology(tmp_path_factory):
    """The real distributed mode on free ports."""
    from gateway.cli import migrate_all

    urls = {f"{s.upper()}_DATABASE_URL": database_url_for(s, "dist") for s in SERVICES}
    for url in urls.values():
        recreate_database(url)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in urls.items():
            patch.setenv(name, value)
        migrate_all()
    ports = {name: free_port() for name in ("auth", "polls", "petitions", "web", "gateway")}
    env = {
        **urls,
        "VICHE_RATE_LIMIT": "100000/minute",
        "LOG_LEVEL": "WARNING",
        "VICHE_ACCESS_WITHDRAWALS_SECONDS": "0.2",
    }
    cluster = Cluster(process_specs(ports, workers=1), env, tmp_path_factory.mktemp("logs"))
    cluster.database_urls = urls
    cluster.start()
    yield cluster
    cluster.stop()


def start_gateway(tmp_path_factory, name: str, env: dict[str, str]) -> Cluster:
    port = free_port()
    spec = ProcessSpec(
        name,
        port,
        gunicorn_argv(
            "gateway.proxy:create_proxy_app()",
            port,
            workers=1,
            worker_class="gateway.proxy.GatewayWorker",
        ),
    )
    cluster = Cluster([spec], {"LOG_LEVEL": "WARNING", **env}, tmp_path_factory.mktemp(name))
    cluster.start()
    return cluster


@pytest.fixture(scope="module")
def echo_url():
    """An upstream that answers with what reached it."""
    echo = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=echo.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{echo.server_address[1]}"
    echo.shutdown()
    echo.server_close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory, echo_url):
    """A gateway in front of upstreams the test controls."""
    garbage = socket.socket()
    garbage.bind(("127.0.0.1", 0))
    garbage.listen()
    threading.Thread(target=serve_garbage, args=(garbage,), daemon=True).start()
    cluster = start_gateway(
        tmp_path_factory,
        "lab",
        {
            "POLLS_URL": echo_url,
            "WEB_URL": echo_url,
            "PETITIONS_URL": f"http://127.0.0.1:{garbage.getsockname()[1]}",
            "AUTH_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens there
            "VICHE_UPSTREAM_TIMEOUT": "1",
            "VICHE_MAX_BODY_BYTES": "1000",
            "VICHE_RATE_LIMIT": "100000/minute",
            "VICHE_CORS_ORIGINS": "https://council.example",
        },
    )
    yield cluster.specs["lab"].port
    cluster.stop()
    garbage.close()


def echoed(lab_port, method="GET", path="/api/polls/echo", body=None, headers=None):
    status, response_headers, payload = request(lab_port, method, path, body, headers)
    assert status == 200, payload
    return json.loads(payload), response_headers


# The real services behind the real gateway


def test_every_service_answers_through_the_gateway(topology):
    port = topology.specs["gateway"].port
    for service in SERVICES:
        status, _, body = request(port, "GET", f"/api/{service}/healthz")
        assert status == 200 and json.loads(body)["service"] == service
        status, _, body = request(port, "GET", f"/api/{service}/readyz")
        assert status == 200, body


def test_the_merged_openapi_document_lists_all_services(topology):
    status, _, body = request(topology.specs["gateway"].port, "GET", "/api/openapi.json")
    assert status == 200
    paths = json.loads(body)["paths"]
    for service in SERVICES:
        assert f"/api/{service}/healthz" in paths


def test_an_unknown_path_is_a_problem_404(topology):
    port = topology.specs["gateway"].port
    for path in ("/api/nowhere", "/api/polls/nowhere"):
        problem = assert_problem(*request(port, "GET", path), 404, "not-found")
        assert problem["instance"] == path


def raw_exchange(port: int, raw: bytes) -> tuple[int, str, dict]:
    """Send bytes no HTTP client would; the answer's status, content type and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    content_type = {k.lower(): v for k, v in headers.items()}["content-type"]
    return int(lines[0].split()[1]), content_type, json.loads(body)


def test_requests_the_servers_cannot_read_are_problems_too(topology):
    gateway = topology.specs["gateway"].port
    polls = topology.specs["polls"].port
    long_line = (
        b"GET /api/polls/polls/"
        + b"x" * 5000
        + b" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    )
    bad_header = b"GET /api/polls/healthz HTTP/1.1\r\nHost: a\r\nX-Bad\x00: 1\r\n\r\n"
    for port, raw, status, slug in (
        (gateway, long_line, 414, "uri-too-long"),  # the service's gunicorn, relayed
        (gateway, bad_header, 400, "bad-request"),  # uvicorn in the gateway
        (polls, long_line.replace(b"/api/polls", b""), 414, "uri-too-long"),  # gunicorn
        (polls, bad_header, 400, "bad-request"),
    ):
        answered, content_type, problem = raw_exchange(port, raw)
        assert (answered, content_type) == (status, "application/problem+json"), raw[:40]
        assert problem["type"] == f"urn:viche:problem:{slug}" and problem["status"] == status


@pytest.mark.parametrize("raw_value", [b"Bearer \xe9", b"Bearer a.\xc3\xa9.b", b"\xff\xfe"])
def test_header_bytes_beyond_ascii_are_never_a_500(topology, raw_value):
    """Latin-1 bytes and UTF-8 in the headers the services read, through the gateway."""
    gateway = topology.specs["gateway"].port
    for method, path in (
        ("GET", "/api/polls/polls"),
        ("POST", "/api/petitions/petitions/1/signatures"),
        ("GET", "/api/auth/me"),
    ):
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
            "Content-Type: application/json\r\nContent-Length: 2\r\n"
        ).encode()
        headers = b"".join(
            name + b": " + raw_value + b"\r\n"
            for name in (b"Authorization", b"Accept-Language", b"X-Request-ID", b"If-None-Match")
        )
        status, _, _ = raw_exchange(gateway, head + headers + b"\r\n{}")
        assert 200 <= status < 500, (path, raw_value, status)


@pytest.mark.parametrize(
    "chunks",
    [
        b"zz\r\n\r\n",  # a chunk size that is not hex
        b"2;\xff\r\n{}\r\n0\r\n\r\n",  # a chunk extension that is not a token
        b"2\r\n{}XX0\r\n\r\n",  # a chunk without its CRLF
        b"0\r\nBad Name: 1\r\n\r\n",  # a trailer that does not parse
    ],
)
def test_a_chunked_body_that_does_not_parse_is_a_400(topology, chunks):
    """gunicorn raises into the app reading such a body: the client's fault, not a 500."""
    for port, path in (
        (topology.specs["auth"].port, b"/login"),  # a service's own gunicorn
        (topology.specs["gateway"].port, b"/api/auth/login"),
    ):
        head = (
            b"POST " + path + b" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        status, content_type, problem = raw_exchange(port, head + chunks)
        assert (status, content_type) == (400, "application/problem+json"), (path, chunks)
        assert problem["type"] == "urn:viche:problem:bad-request" and problem["detail"]


def test_a_service_that_is_down_is_503_and_comes_back(topology):
    port = topology.specs["gateway"].port
    topology.stop(["petitions"])
    try:
        assert_problem(*request(port, "GET", "/api/petitions/healthz"), 503, "service-unavailable")
        assert request(port, "GET", "/api/polls/healthz")[0] == 200  # the others carry on
    finally:
        topology.start(["petitions"])
    assert request(port, "GET", "/api/petitions/healthz")[0] == 200


def test_request_ids_travel_end_to_end(topology):
    port = topology.specs["gateway"].port
    _, headers, _ = request(port, "GET", "/api/auth/healthz", headers={"X-Request-ID": "trace-1"})
    assert headers["X-Request-ID"] == "trace-1"
    _, headers, _ = request(port, "GET", "/api/auth/healthz", headers={"X-Request-ID": "no spaces"})
    assert headers["X-Request-ID"] != "no spaces" and len(headers["X-Request-ID"]) == 32


def test_a_withdrawn_token_is_refused_by_services_that_read_auth_over_http(topology, monkeypatch):
    """The services read auth's withdrawals over HTTP (distributed mode), not in-process."""
    from gateway.cli import service_app_context
    from services.auth.accounts.models import User
    from services.auth.accounts.sessions import claims_for
    from services.auth.accounts.settings import Settings
    from services.auth.keys import forget_signer, issue_access_token, withdraw_access_tokens
    from services.auth.models import db as auth_db
    from services.common.timeutil import utcnow

    for name, url in topology.database_urls.items():
        monkeypatch.setenv(name, url)
    forget_signer()  # sign with this topology's key, not another suite's
    with service_app_context("auth") as auth:
        user = User(name="Оля", email="olia@example.org", email_verified_at=utcnow(), locale="uk")
        auth_db.session.add(user)
        auth_db.session.commit()
        token = issue_access_token(
            auth_db.session,
            secret=auth.config["SECRET_KEY"],
            issuer=auth.config["JWT_ISSUER"],
            audience=auth.config["JWT_AUDIENCE"],
            subject=str(user.id),
            claims=claims_for(auth_db.session, Settings.from_config(auth.config), user),
        )
        user_id = user.id
    forget_signer()
    port = topology.specs["gateway"].port
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def filing_nothing() -> int:  # 422 signed in, 401 not
        return request(port, "POST", "/api/petitions/petitions", b"{}", headers)[0]

    assert filing_nothing() == 422
    with service_app_context("auth"):
        withdraw_access_tokens(auth_db.session, user_id)
        auth_db.session.commit()
    deadline = time.monotonic() + 10
    while filing_nothing() != 401:
        assert time.monotonic() < deadline, "the withdrawal never reached petitions"
        time.sleep(0.1)


# The lab: what crosses the gateway, and how it fails


def test_method_path_query_and_body_are_relayed(lab):
    seen, _ = echoed(
        lab,
        "POST",
        "/api/polls/a%2Fb/c%20d?x=1&y=%C3%BC",
        b'{"k": "v"}',
        {"Content-Type": "application/json"},
    )
    assert seen["method"] == "POST"
    assert seen["path"] == "/a%2Fb/c%20d?x=1&y=%C3%BC"  # still encoded as the client sent it
    assert seen["body"] == '{"k": "v"}'
    assert seen["headers"]["content-type"] == "application/json"


def test_forwarding_headers_reach_the_service(lab):
    seen, _ = echoed(lab, headers={"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Prefix": "/evil"})
    headers = seen["headers"]
    # No proxies are trusted in front of this gateway: a client's claims are replaced.
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-host"] == f"127.0.0.1:{lab}"
    assert headers["x-forwarded-prefix"] == "/api/polls"


def test_behind_trusted_proxies_the_service_is_told_the_client_not_the_proxy(
    tmp_path_factory, echo_url
):
    """Two clients behind one load balancer stay two clients for the services' limits."""
    cluster = start_gateway(
        tmp_path_factory,
        "behind-two-proxies",
        {"POLLS_URL": echo_url, "VICHE_TRUSTED_PROXIES": "2", "VICHE_RATE_LIMIT": "1000/minute"},
    )
    try:
        port = cluster.specs["behind-two-proxies"].port
        for client in ("203.0.113.7", "198.51.100.9"):
            # The client, then the first proxy; the second proxy is the gateway's peer.
            forwarded = {"X-Forwarded-For": f"6.6.6.6, {client}, 10.0.0.2"}
            status, _, payload = request(port, "GET", "/api/polls/echo", None, forwarded)
            assert status == 200, payload
            assert json.loads(payload)["headers"]["x-forwarded-for"] == client
    finally:
        cluster.stop()


def test_hop_by_hop_headers_stop_at_the_gateway(lab):
    seen, response_headers = echoed(
        lab,
        path="/api/polls/hop",
        headers={
            "Connection": "keep-alive, X-Client-Hop",
            "X-Client-Hop": "only for the gateway",
            "Keep-Alive": "timeout=5",
            "TE": "trailers",
            "Proxy-Authorization": "Basic c2VjcmV0",
            "X-Viche-Internal-Token": "guess",
        },
    )
    for name in (
        "x-client-hop",
        "keep-alive",
        "te",
        "proxy-authorization",
        "x-viche-internal-token",
    ):
        assert name not in seen["headers"], name
    assert "X-Secret-Hop" not in response_headers
    assert "Keep-Alive" not in response_headers
    assert response_headers.get_all("Set-Cookie") == ["a=1", "b=2"]  # repeated headers survive


def test_request_id_is_passed_to_the_upstream(lab):
    seen, headers = echoed(lab, headers={"X-Request-ID": "trace-9"})
    assert seen["headers"]["x-request-id"] == "trace-9" == headers["X-Request-ID"]
    seen, headers = echoed(lab)
    assert seen["headers"]["x-request-id"] == headers["X-Request-ID"]


def test_upstream_down_is_503(lab):
    assert_problem(*request(lab, "GET", "/api/auth/healthz"), 503, "service-unavailable")


def test_upstream_too_slow_is_504(lab):
    started = time.monotonic()
    assert_problem(*request(lab, "GET", "/api/polls/slow"), 504, "gateway-timeout")
    assert time.monotonic() - started < 2.5
    assert request(lab, "GET", "/api/polls/fast")[0] == 200  # the pool recovers


def test_upstream_garbage_is_502(lab):
    assert_problem(*request(lab, "GET", "/api/petitions/x"), 502, "bad-gateway")


def test_oversized_bodies_are_413(lab):
    assert_problem(*request(lab, "POST", "/api/polls/x", b"x" * 1001), 413, "payload-too-large")
    connection = http.client.HTTPConnection("127.0.0.1", lab, timeout=10)
    try:  # chunked: no Content-Length to judge by
        connection.request(
            "POST", "/api/polls/x", body=iter([b"x" * 600, b"y" * 600]), encode_chunked=True
        )
        response = connection.getresponse()
        assert_problem(response.status, response.headers, response.read(), 413, "payload-too-large")
    finally:
        connection.close()
    assert request(lab, "POST", "/api/polls/x", b"x" * 1000)[0] == 200


def test_cors(lab):
    origin = {"Origin": "https://council.example"}
    _, headers = echoed(lab, headers=origin)
    assert headers["Access-Control-Allow-Origin"] == "https://council.example"
    preflight = {"Access-Control-Request-Method": "POST"}
    status, headers, _ = request(lab, "OPTIONS", "/api/polls/x", headers={**origin, **preflight})
    assert status == 204 and "POST" in headers["Access-Control-Allow-Methods"]
    refused = request(
        lab, "OPTIONS", "/api/polls/x", headers={"Origin": "https://evil.example", **preflight}
    )
    assert_problem(*refused, 403, "forbidden")


def test_rate_limit_is_429_with_retry_after(tmp_path_factory, lab):
    echo_url = f"http://127.0.0.1:{lab}"  # the lab gateway itself is a fine upstream here
    limited = start_gateway(
        tmp_path_factory, "limited", {"POLLS_URL": echo_url, "VICHE_RATE_LIMIT": "5/minute"}
    )
    port = limited.specs["limited"].port
    try:
        statuses = [request(port, "GET", "/api/polls/echo")[0] for _ in range(5)]
        assert statuses == [200] * 5
        status, headers, body = request(
            port, "GET", "/api/polls/echo", headers={"Accept-Language": "uk"}
        )
        problem = assert_problem(status, headers, body, 429, "rate-limited")
        assert problem["title"] == "Забагато запитів"
        assert 1 <= int(headers["Retry-After"]) <= 60
        # A browser held back from a web page gets a page, in the language it chose.
        browser = {"Accept": "text/html", "Cookie": "viche_lang=uk"}
        for _ in range(5):
            request(port, "GET", "/petitions", headers=browser)
        status, headers, body = request(port, "GET", "/petitions", headers=browser)
        assert status == 429 and headers["Content-Type"].startswith("text/html")
        assert '<html lang="uk">' in body.decode() and "Забагато запитів" in body.decode()
    finally:
        limited.stop()


# Streamed responses (a service writing a CSV as it reads it) pass through as they come


def test_a_streamed_response_flows_past_the_timeout(lab):
    # Two seconds in all, the lab's timeout is one: only silence counts against it.
    status, headers, body = request(lab, "GET", "/api/polls/stream/flowing")
    assert status == 200, body
    assert body == b"".join(f"row {n}\n".encode() for n in range(5))
    assert "Content-Length" not in headers and headers["X-Request-ID"]


def test_a_streamed_response_arrives_before_it_ends(lab):
    Streams.released.clear()
    connection = http.client.HTTPConnection("127.0.0.1", lab, timeout=10)
    try:
        connection.request("GET", "/api/polls/stream/held")
        response = connection.getresponse()
        assert response.status == 200
        # The first half reaches the client while the upstream still holds the second.
        assert response.read1() == b"first half\n"
        Streams.released.set()
        assert response.read() == b"second half\n"
    finally:
        Streams.released.set()
        connection.close()
    assert request(lab, "GET", "/api/polls/echo")[0] == 200


def test_a_stream_that_stalls_is_cut_off_not_passed_as_whole(lab):
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", lab, timeout=10)
    try:
        connection.request("GET", "/api/polls/stream/stalled")
        response = connection.getresponse()
        assert response.status == 200
        with pytest.raises(http.client.IncompleteRead):
            response.read()
    finally:
        connection.close()
    assert time.monotonic() - started < 2.5
    assert request(lab, "GET", "/api/polls/echo")[0] == 200


def test_a_client_that_reads_slowly_holds_the_upstream_back_and_one_that_leaves_stops_it(lab):
    Streams.endless_stopped.clear()
    Streams.endless_written = 0
    client = socket.create_connection(("127.0.0.1", lab), timeout=10)
    try:
        client.sendall(b"GET /api/polls/stream/endless HTTP/1.1\r\nHost: lab\r\n\r\n")
        assert client.recv(65536).startswith(b"HTTP/1.1 200")
        time.sleep(2)  # not reading: at loopback speed an unbounded relay would take GBs
        held_back = Streams.endless_written
        assert held_back < 64 * 2**20
    finally:
        client.close()
    # The client left: the gateway drops the upstream connection, the upstream stops.
    assert Streams.endless_stopped.wait(5), Streams.endless_written
    assert request(lab, "GET", "/api/polls/echo")[0] == 200
