"""Time in one convention: aware UTC datetimes everywhere; local time only at the edges."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def utcnow() -> datetime:
    return datetime.now(UTC)


def is_time_zone(name: str) -> bool:
    """An IANA time zone name that zoneinfo knows ("Europe/Kyiv")."""
    if not name or len(name) > 64:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):  # ValueError: "../x", an absolute path
        return False
    return True


class NonexistentLocalTime(ValueError):
    """A wall-clock time the zone skips (the hour clocks spring forward over)."""


def local_to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """A wall-clock time read in `zone` (an aware time is taken as it is) as aware UTC.

    A time in the spring-forward gap never shows on the zone's clocks: it is refused with
    NonexistentLocalTime rather than guessed. A time the autumn fall-back repeats is taken
    at its first occurrence (fold=0, still summer time): the earlier moment, as a clock
    on the wall would show it first.
    """
    if local.tzinfo is not None:
        return local.astimezone(UTC)
    aware = local.replace(tzinfo=zone, fold=0)
    if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != local:
        raise NonexistentLocalTime(f"{local.isoformat()} does not exist in {zone.key}")
    return aware.astimezone(UTC)
