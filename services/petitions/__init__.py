"""Petitions: filing, moderation, signing, thresholds and official responses."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from flask import Flask

from services.common.app import create_service_app
from services.common.caching import forget_public_reads_after_writes

from .api import petitions_blp
from .models import db

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(config: Mapping | None = None, *, background: bool = False) -> Flask:
    """The petitions service app; with `background`, its periodic jobs run in this process."""
    app = create_service_app(
        "petitions",
        db=db,
        blueprints=[petitions_blp],
        config=config,
        migrations=MIGRATIONS,
        title="Viche petitions",
        description="Petitions: filing, moderation, signing, thresholds and official responses.",
    )
    forget_public_reads_after_writes(db)
    if background:
        from .jobs import start_jobs

        app.extensions["viche.jobs"] = start_jobs(app)
    return app
