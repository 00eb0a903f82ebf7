"""Alembic entry point: the kit runs migrations on the connection the caller opened."""

from alembic import context

from services.common.db import run_migrations_online

run_migrations_online(context)
