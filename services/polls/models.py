"""Polls's tables."""

from __future__ import annotations

from services.common.db import new_database

db = new_database()
