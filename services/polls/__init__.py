"""Polls: community polls, email-confirmed votes, results and the embeddable widget."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from flask import Flask

from services.common.app import create_service_app
from services.common.caching import forget_public_reads_after_writes
from services.common.config import env_rate_limit
from services.common.dates import format_datetime

from .api import polls_blp
from .models import db
from .widget import widget_blp

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(config: Mapping | None = None, *, background: bool = False) -> Flask:
    """The polls service app; with `background`, its periodic jobs run in this process."""
    config = {
        # Email vote requests: per client address (people behind one carrier NAT share
        # one) and per address (auth caps confirmation emails per address too).
        "EMAIL_VOTE_LIMIT_PER_CLIENT": env_rate_limit(
            "VICHE_EMAIL_VOTE_LIMIT_PER_CLIENT", "60/hour"
        ),
        "EMAIL_VOTE_LIMIT_PER_ADDRESS": env_rate_limit(
            "VICHE_EMAIL_VOTE_LIMIT_PER_ADDRESS", "5/hour"
        ),
        **(config or {}),
    }
    app = create_service_app(
        "polls",
        db=db,
        blueprints=[polls_blp, widget_blp],
        config=config,
        migrations=MIGRATIONS,
        title="Viche polls",
        description="Community polls, email-confirmed votes, results and the embeddable widget.",
    )
    forget_public_reads_after_writes(db)
    # The widget says when a poll opens or closed, as the web's pages do.
    app.jinja_env.filters.update(format_datetime=format_datetime)
    if background:
        from .jobs import start_jobs

        app.extensions["viche.jobs"] = start_jobs(app)
    return app
