"""Polls: community polls, email-confirmed votes, results and the embeddable widget."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from flask import Flask

from services.common.app import create_service_app

from .models import db

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(config: Mapping | None = None) -> Flask:
    """The polls service app."""
    return create_service_app(
        "polls",
        db=db,
        blueprints=[],
        config=config,
        migrations=MIGRATIONS,
        title="Viche polls",
        description="Community polls, email-confirmed votes, results and the embeddable widget.",
    )
