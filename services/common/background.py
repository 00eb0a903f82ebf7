"""Periodic jobs in a daemon thread, inside the app's context.

Embedded mode and each gunicorn worker of a service run their jobs this way; a job must
therefore be safe to run in several processes at once (they lock what they change).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from flask import Flask

log = logging.getLogger("viche.background")


class PeriodicTask:
    """Call `job()` every `interval` seconds until stopped; a failure is logged, not fatal."""

    def __init__(self, app: Flask, name: str, interval: float, job: Callable[[], object]) -> None:
        self.app, self.name, self.interval, self.job = app, name, interval, job
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> object:
        with self.app.app_context():
            try:
                return self.job()
            finally:
                self.app.extensions["sqlalchemy"].session.remove()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:
                log.exception("background job %s failed", self.name)

    def start(self) -> PeriodicTask:
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
