"""Requests sent at once, to find what two people acting together can break."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy.orm import Session
from werkzeug.test import Client


def released_together(calls: list[Callable[[], object]]) -> list:
    """Run each call in its own thread, all released at one moment; their results."""
    start = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(n: int, call: Callable[[], object]) -> None:
        start.wait()
        results[n] = call()

    threads = [threading.Thread(target=run, args=(n, call)) for n, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def at_once(gateway, requests: list[tuple[str, str, dict, dict]]) -> list[int]:
    """Send the requests from as many threads, released together; their statuses."""

    def sender(method, path, body, headers) -> Callable[[], int]:
        client = Client(gateway)
        return lambda: client.open(path, method=method, json=body, headers=headers).status_code

    return released_together([sender(*request) for request in requests])


def as_processes_at_once(app, job: Callable[[Session], object], processes: int = 2) -> list:
    """Run `job(session)` as that many processes running a periodic job would, released
    together: each in its own thread, request context and database session. Their
    results; an exception a job raised stands in its place."""
    with app.app_context():
        engine = app.extensions["sqlalchemy"].engine

    def one() -> object:
        with app.test_request_context("/"), Session(engine) as session:
            try:
                return job(session)
            except Exception as exc:
                return exc

    return released_together([one] * processes)


def failures(results: list) -> list[Exception]:
    return [result for result in results if isinstance(result, Exception)]


def while_row_locked(app, statement, job: Callable[[Session], object], seconds: float = 5) -> list:
    """Run `job(session)` as a periodic job would, while another transaction holds the
    row lock `statement` (a SELECT … FOR UPDATE) takes; [its result], or [] when it was
    still waiting after `seconds` (it finishes once the lock goes)."""
    with app.app_context():
        engine = app.extensions["sqlalchemy"].engine
    finished: list = []

    def run() -> None:
        with app.test_request_context("/"), Session(engine) as session:
            finished.append(job(session))

    with engine.connect() as holder:
        holder.execute(statement).all()
        worker = threading.Thread(target=run)
        worker.start()
        worker.join(seconds)
        answered = list(finished)
        holder.rollback()
    worker.join()
    return answered
