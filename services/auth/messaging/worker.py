"""The delivery loop: a daemon thread in embedded mode, `viche worker` in distributed mode."""

from __future__ import annotations

import contextlib
import logging
import threading

from flask import Flask

from ..accounts.recovery import answer_mail_requests
from ..accounts.settings import Settings
from ..councils.invitations import forget_settled_invitations
from ..internal.domain import forget_expired, forget_old_batches
from ..models import db
from .outbox import DeliveryLanes, deliver_due, sweep

log = logging.getLogger("viche.messages")

POLL_SECONDS = 1.0
SWEEP_EVERY = 30  # polls


class DeliveryWorker:
    """Delivers the outbox of one auth app until stopped."""

    def __init__(
        self, app: Flask, poll_seconds: float = POLL_SECONDS, idle_seconds: float = 30.0
    ) -> None:
        self.app = app
        self.poll_seconds = poll_seconds
        # The connections to the relay (and Kannel), kept while messages keep coming.
        self.lanes = DeliveryLanes(app.config, idle_seconds)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self, sweep_too: bool = False, keep_connections: bool = False) -> dict[str, int]:
        """One pass: (optionally) sweep the outbox, forget expired verifications and old
        notification keys; then queue the emails residents asked for (a reset link…)
        and deliver what is due; its connections closed after it, or kept for the next
        pass."""
        with self.app.app_context():
            try:
                if sweep_too:
                    self._tidy(self._sweep)
                asked = self._tidy(
                    lambda: answer_mail_requests(db.session, Settings.from_config(self.app.config))
                )
                # Whatever went wrong before, what is due is delivered.
                delivered = deliver_due(db.session, self.app.config, lanes=self.lanes)
                return {"asked": asked or 0, **delivered}
            finally:
                db.session.remove()
                if not keep_connections:
                    self.lanes.close()

    def _sweep(self) -> None:
        sweep(db.session, self.app.config)
        forget_expired(db.session)
        forget_old_batches(db.session)
        forget_settled_invitations(db.session)

    @staticmethod
    def _tidy(work):
        """Run `work`; a fault in it is logged and rolled back, and the pass goes on."""
        try:
            return work()
        except Exception:
            log.exception("delivery pass: %s failed", getattr(work, "__name__", "a step"))
            db.session.rollback()
            return None

    def notify(self) -> None:
        """Something was queued: do not wait for the next poll."""
        self._wake.set()

    def run_forever(self) -> None:
        passes = 0
        try:
            while not self._stop.is_set():
                try:
                    outcomes = self.run_once(
                        sweep_too=passes % SWEEP_EVERY == 0, keep_connections=True
                    )
                except Exception:  # the database is away: keep trying, never die
                    log.exception("delivery pass failed")
                    outcomes = {}
                passes += 1
                if not any(outcomes.values()):
                    self.lanes.close_if_idle()
                    self._wake.wait(self.poll_seconds)
                    self._wake.clear()
        finally:
            self.lanes.close()

    def start(self) -> DeliveryWorker:
        self._thread = threading.Thread(target=self.run_forever, name="outbox", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)


def serve(app: Flask) -> None:
    """Run the loop in the foreground until interrupted (the `viche worker` command)."""
    log.info("delivering the outbox")
    # A message interrupted mid-delivery stays `sending`; the sweep requeues it.
    with contextlib.suppress(KeyboardInterrupt):
        DeliveryWorker(app).run_forever()
