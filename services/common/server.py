"""The gunicorn workers the apps run under: gthread for browsers (embedded mode), a
thread per connection behind the gateway (`ConnectionThreadWorker`).

Both answer by themselves a request no app could read (a request line too long, a
header that does not parse): problem+json, as every other error of the suite, instead
of gunicorn's HTML (uvicorn's plain text likewise, for the gateway). No request was
read, so nothing says which language to answer in: the titles stay in English.
"""

from __future__ import annotations

import errno
import json
import os
import selectors
import threading
import time

from gunicorn import http
from gunicorn import util as gunicorn_util
from gunicorn.workers.gthread import STOP_KEEPALIVE_LINGER, TConn, ThreadWorker

from .config import REQUEST_THREADS
from .errors import PROBLEM_CONTENT_TYPE, problem_body, problem_for_status


def problem_response_bytes(status: int, reason: str, detail: str) -> bytes:
    """A whole HTTP/1.1 response that closes the connection."""
    slug, title = problem_for_status(status)
    body = json.dumps(problem_body(slug, status, title, detail[:200] or None)).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: {PROBLEM_CONTENT_TYPE}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def _write_problem(sock, status_int: int, reason: str, mesg: str) -> None:
    gunicorn_util.write_nonblock(sock, problem_response_bytes(status_int, reason, mesg))


class ProblemThreadWorker(ThreadWorker):
    """gunicorn's threaded worker, answering what it cannot parse in problem+json.

    gunicorn writes those answers through `util.write_error` from the middle of its
    long `handle_error`; replacing that one function is far smaller than copying the
    rest. It is replaced only in processes that run this worker.
    """

    def init_process(self) -> None:
        gunicorn_util.write_error = _write_problem
        # The app's database pool is sized for the requests answered at once (read by
        # services.common.config when the app is made, which is next).
        os.environ[REQUEST_THREADS] = str(self.cfg.threads)
        super().init_process()


class ConnectionThreadWorker(ProblemThreadWorker):
    """One thread per connection, from its first request to its last: for services
    behind the gateway, whose connections are the gateway's few, long-lived pooled ones.

    gthread keeps idle connections in its main thread's poller and hands each request to
    a pool thread, which hands the connection back when it has answered: three threads
    woken for every request, each then waiting for the GIL (measured: a fifth of a
    service's CPU went to switching threads). Here the connection's own thread waits in
    `recv` for the next request: one thread woken a request. Browsers, with their many
    idle connections, are served by gthread (`ProblemThreadWorker`, embedded mode).
    Only gthread's request handling is used (`handle_request`, `handle_error`…); its
    poller and thread pool are made at start and stay idle.
    """

    @classmethod
    def check_config(cls, cfg, log) -> None:
        pass  # gthread's warning about keep-alive slots left over by --threads is not ours

    def run(self) -> None:
        # gthread's `handle_request` closes connections once it keeps too many idle
        # ones; here none wait in a list, and every open connection may stay open.
        self.max_keepalived = self.cfg.worker_connections
        # A connection takes a slot while it is open; at the limit, no accepting.
        self._slots = threading.BoundedSemaphore(self.cfg.worker_connections)
        # As in gthread, --threads requests are answered at once (the database pool is
        # sized for them); a request read meanwhile waits for one to finish.
        self._answering = threading.BoundedSemaphore(self.cfg.threads)
        poller = selectors.DefaultSelector()
        for listener in self.sockets:
            listener.setblocking(False)
            poller.register(listener, selectors.EVENT_READ)
        while self.alive:
            self.notify()
            if not self.is_parent_alive():
                break
            if not self._slots.acquire(timeout=1.0):
                continue
            if not self._accept_one(poller.select(1.0)):
                self._slots.release()
        poller.close()
        for listener in self.sockets:
            listener.close()
        self._finish_requests_in_progress()

    def _accept_one(self, ready) -> bool:
        for key, _ in ready:
            try:
                client_sock, client_addr = key.fileobj.accept()
            except OSError as e:
                if e.errno in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                    continue  # another worker took it, or the client left
                raise
            conn = TConn(self.cfg, client_sock, client_addr, key.fileobj.getsockname())
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()
            return True
        return False

    def _finish_requests_in_progress(self) -> None:
        """Stopping: requests being answered are finished (within the graceful timeout),
        and a request arriving on an idle connection for a moment longer is answered
        with "Connection: close" rather than dropped (gthread does the same)."""
        now = time.monotonic()
        linger_until = now + min(STOP_KEEPALIVE_LINGER, self.cfg.graceful_timeout)
        give_up_at = now + self.cfg.graceful_timeout
        while time.monotonic() < linger_until:
            self.notify()
            time.sleep(0.1)
        for _ in range(self.cfg.threads):  # a request being answered holds one of them
            self.notify()
            if not self._answering.acquire(timeout=max(0.0, give_up_at - time.monotonic())):
                break

    def _serve(self, conn: TConn) -> None:
        req = None
        try:
            conn.init()  # (which makes the socket blocking)
            # Reads with a limit: an idle connection closes after --keep-alive seconds,
            # a stalled request likewise.
            conn.sock.settimeout(self.cfg.keepalive or None)
            if conn.is_http2:  # (only where gunicorn is configured for it)
                self.handle_http2(conn)
                return
            # Also while stopping: a request already on its way over a kept-alive
            # connection is answered, with "Connection: close".
            while req := next(conn.parser):
                with self._answering:
                    keep = self._keepalive_after(conn, self.handle_request(req, conn))
                if not keep:
                    break
                req = None  # answered: an error reading the next one is not about it
        except (StopIteration, TimeoutError, http.errors.NoMoreData):
            pass  # the client closed, went quiet, or was answered "Connection: close"
        except OSError as e:
            if e.errno not in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN):
                self.log.exception("Socket error processing request.")
        except Exception as e:
            self.handle_error(req, conn.sock, conn.client, e)
        finally:
            conn.close()
            self._slots.release()
