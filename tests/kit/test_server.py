"""The gunicorn worker the services run under behind the gateway: one thread per
connection (services.common.server.ConnectionThreadWorker), proven with a real gunicorn
and raw sockets."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from gateway.distributed import Cluster, ProcessSpec, gunicorn_argv
from tests.gateway.test_distributed import free_port

pytestmark = pytest.mark.distributed

KEEP_ALIVE = 2  # seconds an idle connection stays open
THREADS = 4  # requests answered at once


def start_probe(tmp_path, name: str, *extra: str) -> Cluster:
    port = free_port()
    argv = [
        *gunicorn_argv(
            "tests.support.probe_app:app",
            port,
            workers=1,
            threads=THREADS,
            worker_class="services.common.server.ConnectionThreadWorker",
        ),
        *extra,
    ]
    argv[argv.index("--keep-alive") + 1] = str(KEEP_ALIVE)
    cluster = Cluster([ProcessSpec(name, port, argv)], {}, tmp_path / name)
    cluster.start()
    return cluster


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    cluster = start_probe(tmp_path_factory.mktemp("probe"), "probe")
    yield cluster.specs["probe"].port
    cluster.stop()


def get_with_headers(connection: http.client.HTTPConnection, path: str):
    connection.request("GET", path)
    response = connection.getresponse()
    return response.status, response.headers, response.read()


def get(connection: http.client.HTTPConnection, path: str) -> tuple[int, bytes]:
    status, _, body = get_with_headers(connection, path)
    return status, body


def test_a_connection_keeps_its_thread_and_others_get_their_own(probe):
    first = http.client.HTTPConnection("127.0.0.1", probe, timeout=5)
    second = http.client.HTTPConnection("127.0.0.1", probe, timeout=5)
    answers_first = {get(first, "/thread")[1] for _ in range(5)}
    answers_second = {get(second, "/thread")[1] for _ in range(5)}
    assert len(answers_first) == 1 and len(answers_second) == 1
    assert answers_first != answers_second
    first.close()
    second.close()


def test_more_connections_than_threads_are_all_answered_threads_at_a_time(probe):
    """Each open connection is served, none waiting behind another's idle keep-alive,
    and the app answers at most --threads requests at once (the database pool is sized
    for them)."""
    connections = [http.client.HTTPConnection("127.0.0.1", probe, timeout=15) for _ in range(24)]
    for connection in connections:  # all open, each with a thread of its own, idle
        assert get(connection, "/thread")[0] == 200
    started = time.monotonic()
    with ThreadPoolExecutor(len(connections)) as pool:
        answers = list(pool.map(lambda connection: get(connection, "/hold"), connections))
    assert answers == [(200, b"held")] * len(connections)
    assert time.monotonic() - started < 10  # six turns of 0.2 s, with room for a slow host
    assert get(connections[0], "/most-at-once") == (200, str(THREADS).encode())
    for connection in connections:
        connection.close()


def test_the_app_is_given_a_database_pool_for_the_requests_at_once(probe):
    connection = http.client.HTTPConnection("127.0.0.1", probe, timeout=5)
    status, body = get(connection, "/pool")
    assert status == 200 and json.loads(body)["pool_size"] == THREADS
    connection.close()


def test_pipelined_requests_are_answered_in_order(probe):
    with socket.create_connection(("127.0.0.1", probe), timeout=5) as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\none"
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\ntwo"
        )
        received = b""
        while received.count(b"HTTP/1.1 200") < 2 or not received.endswith(b"two"):
            chunk = sock.recv(4096)
            assert chunk, received
            received += chunk
    assert received.index(b"one") < received.index(b"two")


def test_an_idle_connection_is_closed_after_the_keep_alive(probe):
    with socket.create_connection(("127.0.0.1", probe), timeout=KEEP_ALIVE + 5) as sock:
        started = time.monotonic()
        assert sock.recv(1) == b""  # closed by the server, having sent nothing
        assert KEEP_ALIVE - 0.5 < time.monotonic() - started < KEEP_ALIVE + 3


def test_a_request_that_stalls_midway_is_closed_too(probe):
    with socket.create_connection(("127.0.0.1", probe), timeout=KEEP_ALIVE + 5) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        assert sock.recv(4096) == b""


def test_a_request_it_cannot_read_is_a_problem_and_the_connection_closes(probe):
    with socket.create_connection(("127.0.0.1", probe), timeout=5) as sock:
        sock.sendall(b"GET /thread HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
        received = b""
        while chunk := sock.recv(4096):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert b"application/problem+json" in head
    assert json.loads(body)["status"] == 400


def test_a_stopping_worker_finishes_what_it_answers_and_closes_after(tmp_path):
    cluster = start_probe(tmp_path, "stopping")
    port = cluster.specs["stopping"].port
    idle = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    assert get(idle, "/thread")[0] == 200
    busy = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    answer: list = []
    slow = threading.Thread(target=lambda: answer.append(get_with_headers(busy, "/slow")))
    slow.start()
    time.sleep(0.3)  # the slow request is in the app
    cluster.processes["stopping"].send_signal(signal.SIGTERM)
    time.sleep(0.3)
    # An idle connection's next request, sent while the worker stops, is answered and
    # told the connection closes.
    status, headers, _ = get_with_headers(idle, "/thread")
    assert (status, headers["Connection"]) == (200, "close")
    slow.join(10)
    status, headers, body = answer[0]
    assert (status, body) == (200, b"slow")
    if headers["Connection"] == "keep-alive":  # it had said so before the worker stopped
        status, headers, _ = get_with_headers(busy, "/thread")
        assert (status, headers["Connection"]) == (200, "close")
    assert cluster.processes["stopping"].wait(15) == 0
    cluster.stop()


def test_at_its_connection_limit_it_accepts_once_one_closes(tmp_path):
    cluster = start_probe(tmp_path, "limited", "--worker-connections", "2")
    port = cluster.specs["limited"].port
    try:
        # The health check's connection is gone once answered: two slots are free.
        first = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        second = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        assert get(first, "/thread")[0] == get(second, "/thread")[0] == 200
        third = http.client.HTTPConnection("127.0.0.1", port, timeout=0.5)
        with pytest.raises(TimeoutError):
            get(third, "/thread")  # waits in the listen queue, unanswered
        third.close()
        first.close()
        fourth = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        assert get(fourth, "/thread")[0] == 200
        second.close()
        fourth.close()
    finally:
        cluster.stop()
