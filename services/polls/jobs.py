"""What moves by itself: votes folded, the clock's transitions, expiry, final counts,
and auth told which of its links were used."""

from __future__ import annotations

from flask import Flask

from services.common.background import PeriodicTask

from .lifecycle import advance_by_clock
from .models import db
from .tallies import fold_votes, reconcile_closed
from .voting import expire_pending, tell_auth_links_used


def start_jobs(app: Flask) -> list[PeriodicTask]:
    """Start the polls service's periodic jobs in this process."""
    return [
        PeriodicTask(app, "fold-tallies", 0.5, lambda: fold_votes(db.session)).start(),
        PeriodicTask(app, "poll-clock", 5, lambda: advance_by_clock(db.session)).start(),
        PeriodicTask(app, "reconcile-polls", 5, lambda: reconcile_closed(db.session)).start(),
        PeriodicTask(app, "expire-votes", 300, lambda: expire_pending(db.session)).start(),
        PeriodicTask(app, "links-used", 1, tell_auth_links_used).start(),
    ]
