"""Auth's own settings: how its messages leave (the kit's config holds the shared ones)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from services.common.config import ConfigError, env, env_int, env_rate_limit


def auth_settings(environ: Mapping[str, str] | None = None) -> dict:
    """Mail, SMS and dev-outbox settings from the environment; console backends by default."""
    vars_ = environ if environ is not None else os.environ
    return {
        "EMAIL_BACKEND": env("VICHE_EMAIL_BACKEND", "console", vars_),
        "SMTP_HOST": env("VICHE_SMTP_HOST", "127.0.0.1", vars_),
        "SMTP_PORT": env_int("VICHE_SMTP_PORT", 25, vars_),
        "SMTP_USERNAME": env("VICHE_SMTP_USERNAME", None, vars_),
        "SMTP_PASSWORD": env("VICHE_SMTP_PASSWORD", None, vars_),
        "SMTP_TLS": env("VICHE_SMTP_TLS", "none", vars_),  # none | starttls | ssl
        "SMTP_TIMEOUT": float(env("VICHE_SMTP_TIMEOUT", "10", vars_)),
        "MAIL_FROM": env("VICHE_MAIL_FROM", "Viche <no-reply@viche.local>", vars_),
        "SMS_BACKEND": env("VICHE_SMS_BACKEND", "console", vars_),
        "KANNEL_URL": env("VICHE_KANNEL_URL", "http://127.0.0.1:13013/cgi-bin/sendsms", vars_),
        "KANNEL_USERNAME": env("VICHE_KANNEL_USERNAME", "viche", vars_),
        "KANNEL_PASSWORD": env("VICHE_KANNEL_PASSWORD", "", vars_),
        "SMS_FROM": env("VICHE_SMS_FROM", "Viche", vars_),
        # The dev outbox shows every message, codes included: never in production.
        "DEV_OUTBOX": env("VICHE_DEV_OUTBOX", "1", vars_) == "1",
        "DELIVERY_MAX_ATTEMPTS": env_int("VICHE_DELIVERY_MAX_ATTEMPTS", 8, vars_),
        # Connections to the mail relay (and to Kannel) a delivery pass sends over at once.
        "DELIVERY_CONNECTIONS": _between("VICHE_DELIVERY_CONNECTIONS", 4, 1, 32, vars_),
        # How long a settled email keeps its recipient and text (to answer "I never got
        # it"); then the outbox forgets them.
        "EMAIL_RETENTION_DAYS": retention_days(vars_),
        # Where codes may be texted: each SMS costs money, and numbers abroad cost most
        # (SMS pumping). ISO 3166 country codes.
        "SMS_COUNTRIES": sms_countries(vars_),
        # What the installation texts at most, whoever asks (a ceiling on the SMS bill).
        "SMS_PER_HOUR": env_int("VICHE_SMS_PER_HOUR", 300, vars_),
        "SMS_PER_DAY": env_int("VICHE_SMS_PER_DAY", 3000, vars_),
        # Registrations from one client address: a council office signing residents up
        # at its counter needs more than a household does.
        "REGISTRATION_LIMIT_PER_CLIENT": env_rate_limit(
            "VICHE_REGISTRATION_LIMIT_PER_CLIENT", "30/hour", vars_
        ),
    }


def retention_days(environ: Mapping[str, str]) -> int:
    return _between("VICHE_EMAIL_RETENTION_DAYS", 7, 1, 365, environ)


def _between(name: str, default: int, least: int, most: int, environ: Mapping[str, str]) -> int:
    value = env_int(name, default, environ)
    if not least <= value <= most:
        raise ConfigError(f"{name} must be {least} to {most}, not {value}")
    return value


def sms_countries(environ: Mapping[str, str]) -> frozenset[str]:
    import phonenumbers

    codes = {c.strip().upper() for c in env("VICHE_SMS_COUNTRIES", "UA", environ).split(",")}
    codes.discard("")
    unknown = sorted(c for c in codes if c not in phonenumbers.SUPPORTED_REGIONS)
    if not codes or unknown:
        raise ConfigError(f"VICHE_SMS_COUNTRIES must list country codes such as UA,HU: {unknown}")
    return frozenset(codes)
