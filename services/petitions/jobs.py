"""What moves by itself: counts folded every second, deadlines, reconciliation."""

from __future__ import annotations

from flask import Flask

from services.common.background import PeriodicTask

from .counts import fold_new_signatures, reconcile_counts
from .lifecycle import close_expired
from .models import db
from .notifications import hand_over


def start_jobs(app: Flask) -> list[PeriodicTask]:
    """Start the petitions service's periodic jobs in this process."""
    return [
        PeriodicTask(app, "fold-signatures", 0.5, lambda: fold_new_signatures(db.session)).start(),
        # Often: until it runs, a petition past its deadline still looks open.
        PeriodicTask(app, "close-expired", 5, lambda: close_expired(db.session)).start(),
        PeriodicTask(app, "reconcile-counts", 300, lambda: reconcile_counts(db.session)).start(),
        PeriodicTask(app, "notify-responses", 2, lambda: hand_over(db.session)).start(),
    ]
