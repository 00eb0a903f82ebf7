"""What the HTTP servers answer by themselves, for a request no app could read (a
request line too long, a header that does not parse): problem+json, as every other
error of the suite, instead of gunicorn's HTML or uvicorn's plain text. No request was
read, so nothing says which language to answer in: the titles stay in English.
"""

from __future__ import annotations

import json

from gunicorn import util as gunicorn_util
from gunicorn.workers.gthread import ThreadWorker

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
        super().init_process()
