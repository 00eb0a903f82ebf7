"""Configuration: safe defaults for a laptop, a refusal for an unsafe production."""

from __future__ import annotations

import pytest

from services.common.config import (
    ConfigError,
    check_production_safety,
    database_url,
    normalise_database_url,
    service_config,
)
from services.polls import create_app

STRONG = "x" * 40


def production(**overrides):
    return {
        "VICHE_ENV": "production",
        "VICHE_SECRET_KEY": STRONG,
        "VICHE_INTERNAL_TOKEN": STRONG + "i",
        "VICHE_HASH_KEY": STRONG + "h",
        "POLLS_DATABASE_URL": "postgresql://db/viche_polls",
        **overrides,
    }


def test_embedded_defaults_need_nothing(tmp_path):
    config = service_config("auth", {"VICHE_VAR_DIR": str(tmp_path)})
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'auth.db'}"
    assert config["VICHE_ENV"] == "development"
    check_production_safety(config)  # development: no complaint


def test_a_strong_production_config_starts():
    check_production_safety(service_config("polls", production()))


@pytest.mark.parametrize(
    "overrides",
    [
        {"VICHE_SECRET_KEY": ""},
        {"VICHE_SECRET_KEY": "short"},
        {"VICHE_INTERNAL_TOKEN": ""},
        {"VICHE_HASH_KEY": ""},
        {"POLLS_DATABASE_URL": ""},  # falls back to SQLite
    ],
)
def test_production_refuses_weak_or_default_settings(overrides):
    with pytest.raises(ConfigError):
        check_production_safety(service_config("polls", production(**overrides)))


def test_the_app_factory_itself_refuses(monkeypatch):
    monkeypatch.setenv("VICHE_ENV", "production")
    with pytest.raises(ConfigError, match="VICHE_SECRET_KEY"):
        create_app()


def test_plain_postgres_urls_use_psycopg():
    assert normalise_database_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert database_url("auth", {"AUTH_DATABASE_URL": "postgresql://h/a"}).startswith(
        "postgresql+psycopg://"
    )


@pytest.mark.parametrize("limit", ["lots", "30 per fortnight", "-1/hour"])
def test_a_rate_limit_that_does_not_read_stops_the_start(limit):
    """Checked when the service starts, not at the first registration (a 500 then)."""
    from services.auth.settings import auth_settings

    with pytest.raises(ConfigError, match="VICHE_REGISTRATION_LIMIT_PER_CLIENT"):
        auth_settings({"VICHE_REGISTRATION_LIMIT_PER_CLIENT": limit})
    assert auth_settings({})["REGISTRATION_LIMIT_PER_CLIENT"] == "30/hour"
    settings = auth_settings({"VICHE_REGISTRATION_LIMIT_PER_CLIENT": "300/hour"})
    assert settings["REGISTRATION_LIMIT_PER_CLIENT"] == "300/hour"


def test_the_database_pool_outnumbers_the_requests_a_worker_answers_at_once():
    """A request may hold two pooled connections (its session's and a hot statement's):
    with no more pooled than requests at once, each could hold one and all wait."""
    for threads in (4, 16, 32, 64):
        pool = service_config("polls", {"VICHE_REQUEST_THREADS": str(threads)})[
            "SQLALCHEMY_ENGINE_OPTIONS"
        ]
        assert pool["pool_size"] == threads and pool["max_overflow"] > 0
    chosen = service_config("polls", {"VICHE_REQUEST_THREADS": "32", "VICHE_DB_POOL_SIZE": "40"})
    assert chosen["SQLALCHEMY_ENGINE_OPTIONS"]["pool_size"] == 40
