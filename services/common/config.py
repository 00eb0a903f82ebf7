"""Configuration from environment variables, with defaults that make embedded mode just run.

Every setting a service reads is declared here once. `service_config(name)` turns the
environment into a Flask config mapping; `check_production_safety` refuses to start a
production deployment that still carries a development secret.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from .timeutil import is_time_zone

REPO_ROOT = Path(__file__).resolve().parents[2]

# Secrets that ship in the repository: fine on a laptop, fatal in production.
DEV_SECRET_KEY = "dev-only-secret-change-me"
DEV_INTERNAL_TOKEN = "dev-only-internal-token"
DEV_HASH_KEY = "dev-only-hash-key"

SERVICES = ("auth", "polls", "petitions")
SUPPORTED_LOCALES = ("uk", "en", "ru", "tr", "hu")


class ConfigError(RuntimeError):
    """The environment describes a deployment that must not start."""


def env(name: str, default: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    value = (environ if environ is not None else os.environ).get(name)
    return default if value in (None, "") else value  # type: ignore[return-value]


def env_int(name: str, default: int, environ: Mapping[str, str] | None = None) -> int:
    raw = env(name, str(default), environ)
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from exc


def env_rate_limit(name: str, default: str, environ: Mapping[str, str] | None = None) -> str:
    """A rate limit such as "30/hour", checked now rather than at the first request."""
    from limits import parse

    raw = env(name, default, environ)
    try:
        parse(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a rate such as 30/hour, not {raw!r}") from exc
    return raw


def var_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where embedded mode keeps its SQLite files and other local state."""
    return Path(env("VICHE_VAR_DIR", str(REPO_ROOT / "var"), environ))


def database_url(service: str, environ: Mapping[str, str] | None = None) -> str:
    """`<SERVICE>_DATABASE_URL`, or a SQLite file under var/ for embedded mode."""
    explicit = env(f"{service.upper()}_DATABASE_URL", None, environ)
    if explicit:
        return normalise_database_url(explicit)
    return f"sqlite:///{var_dir(environ) / (service + '.db')}"


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for plain postgres:// URLs, as compose files and hosting panels write them."""
    for plain in ("postgres://", "postgresql://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    return url


def service_url(service: str, environ: Mapping[str, str] | None = None) -> str | None:
    """Base URL of a service in distributed mode (`AUTH_URL`...); None in embedded mode."""
    return env(f"{service.upper()}_URL", None, environ)


def default_time_zone(environ: Mapping[str, str] | None = None) -> str:
    """`VICHE_DEFAULT_TIME_ZONE`: a new council's time zone unless it names one, and
    the one migration 0007 gave the councils that existed before councils had one."""
    name = env("VICHE_DEFAULT_TIME_ZONE", "Europe/Kyiv", environ)
    if not is_time_zone(name):
        raise ConfigError(f"VICHE_DEFAULT_TIME_ZONE must be an IANA time zone, not {name!r}")
    return name


# Set by the gunicorn workers (services.common.server): how many requests a worker
# answers at once.
REQUEST_THREADS = "VICHE_REQUEST_THREADS"


def service_config(service: str, environ: Mapping[str, str] | None = None) -> dict:
    """The Flask config for one service, read from the environment."""
    vars_ = environ if environ is not None else os.environ
    mode = env("VICHE_ENV", "development", vars_)
    return {
        "SERVICE_NAME": service,
        "VICHE_ENV": mode,
        "SECRET_KEY": env("VICHE_SECRET_KEY", DEV_SECRET_KEY, vars_),
        "INTERNAL_TOKEN": env("VICHE_INTERNAL_TOKEN", DEV_INTERNAL_TOKEN, vars_),
        "HASH_KEY": env("VICHE_HASH_KEY", DEV_HASH_KEY, vars_),
        "SQLALCHEMY_DATABASE_URI": database_url(service, vars_),
        "SQLALCHEMY_ENGINE_OPTIONS": {
            # A connection for each request a worker answers at once (its --threads, told
            # by services.common.server), and 8 more for the background jobs and for a
            # request's second one: its session holds one while a hot statement takes
            # another (services.common.db). With no more than the requests, each could
            # hold one and all wait for a second. (A smaller pool also opens and closes
            # a connection per request.)
            "pool_size": env_int("VICHE_DB_POOL_SIZE", env_int(REQUEST_THREADS, 16, vars_), vars_),
            "max_overflow": 8,
        },
        "MAX_CONTENT_LENGTH": env_int("VICHE_MAX_BODY_BYTES", 1024 * 1024, vars_),
        "REDIS_URL": env("REDIS_URL", None, vars_),
        "PUBLIC_URL": env("VICHE_PUBLIC_URL", "http://127.0.0.1:8000", vars_).rstrip("/"),
        "DEFAULT_LOCALE": env("VICHE_DEFAULT_LOCALE", "en", vars_),
        "DEFAULT_TIME_ZONE": default_time_zone(vars_),
        "LOG_LEVEL": env("LOG_LEVEL", "INFO", vars_),
        "JWT_ISSUER": env("VICHE_JWT_ISSUER", "viche-auth", vars_),
        "JWT_AUDIENCE": env("VICHE_JWT_AUDIENCE", "viche", vars_),
        "JWKS_CACHE_SECONDS": env_int("VICHE_JWKS_CACHE_SECONDS", 300, vars_),
        "JWKS_MIN_REFETCH_SECONDS": float(env("VICHE_JWKS_MIN_REFETCH_SECONDS", "1", vars_)),
        # How often each process reads the access tokens auth took back.
        "ACCESS_WITHDRAWALS_SECONDS": float(env("VICHE_ACCESS_WITHDRAWALS_SECONDS", "5", vars_)),
        "SERVICE_TIMEOUT_SECONDS": float(env("VICHE_SERVICE_TIMEOUT", "5", vars_)),
        "BEHIND_GATEWAY": env("VICHE_BEHIND_GATEWAY", "0", vars_) == "1",
        "SERVICE_URLS": {name: service_url(name, vars_) for name in (*SERVICES, "web")},
    }


def check_production_safety(config: Mapping) -> None:
    """Refuse to run production with a secret that is published in this repository."""
    if config.get("VICHE_ENV") != "production":
        return
    shipped = {  # config key -> (environment variable, the development value)
        "SECRET_KEY": ("VICHE_SECRET_KEY", DEV_SECRET_KEY),
        "INTERNAL_TOKEN": ("VICHE_INTERNAL_TOKEN", DEV_INTERNAL_TOKEN),
        "HASH_KEY": ("VICHE_HASH_KEY", DEV_HASH_KEY),
    }
    weak = [
        variable
        for key, (variable, dev_value) in shipped.items()
        if config.get(key) in (None, "", dev_value) or len(str(config.get(key))) < 32
    ]
    if weak:
        names = ", ".join(sorted(weak))
        raise ConfigError(
            f"refusing to start in production: {names} must be set to secrets of 32+ characters"
        )
    if str(config.get("SQLALCHEMY_DATABASE_URI", "")).startswith("sqlite"):
        raise ConfigError("refusing to start in production on SQLite: set <SERVICE>_DATABASE_URL")
