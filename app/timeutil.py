"""The one clock and the one way to show a time to a person."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, available_timezones

DEFAULT_ZONE = "Europe/Paris"


def now_utc() -> datetime:
    """Aware current time in UTC; the only clock the app reads (tests travel it)."""
    return datetime.now(UTC)


def local(value: datetime, zone: str = DEFAULT_ZONE) -> datetime:
    """Convert an aware datetime to a territory's wall-clock time."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: refusing to guess its time zone")
    return value.astimezone(ZoneInfo(zone))


def is_valid_zone(name: str) -> bool:
    return name in available_timezones()


def format_local(
    value: datetime | None, zone: str = DEFAULT_ZONE, fmt: str = "%d/%m/%Y %H:%M"
) -> str:
    """Jinja filter body: an empty string for ``None`` keeps templates short."""
    if value is None:
        return ""
    return local(value, zone).strftime(fmt)
