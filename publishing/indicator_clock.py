"""Local time in SQL, for the indicators: days cut at the territory's local midnight.

PostgreSQL knows zones (``timezone()``). SQLite doesn't: there, a timestamp's local time is
its Julian day plus the zone's UTC offset in force at that instant, a CASE over the
zone's daylight-saving changes in the period (``offsets``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from app.extensions import db

# Bookings made further ahead than this still get their local date right in SQLite.
LOOKBACK = timedelta(days=60)
# Julian day number of 31 December of year 0: a JDN minus this is a ``date`` ordinal.
_JDN_ORDINAL = 1_721_425


def utc_bounds(date_from: date, date_to: date, zone: str) -> tuple[datetime, datetime]:
    """``[local midnight of date_from, local midnight after date_to)`` as UTC instants."""
    tz = ZoneInfo(zone)
    start = datetime.combine(date_from, time(0), tz).astimezone(UTC)
    end = datetime.combine(date_to + timedelta(days=1), time(0), tz).astimezone(UTC)
    return start, end


def offsets(zone: str, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """The zone's UTC offset (seconds) from ``start``, then at each change before ``end``.

    Daily steps find the changes, a bisection to the second pins each one down.
    ``start`` must be a whole second (local midnights are).
    """
    tz = ZoneInfo(zone)

    def offset(at: datetime) -> int:
        delta = at.astimezone(tz).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    result = [(start, offset(start))]
    day = start
    while day < end:
        nxt = min(day + timedelta(days=1), end)
        if offset(nxt) != offset(day):
            # Whole seconds: the zone database changes offsets on a second.
            lo, hi = int(day.timestamp()), int(nxt.timestamp())
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if offset(datetime.fromtimestamp(mid, UTC)) == offset(day):
                    lo = mid
                else:
                    hi = mid
            at = datetime.fromtimestamp(hi, UTC)
            result.append((at, offset(at)))
        day = nxt
    return result


class LocalClock:
    """SQL expressions for the local day and hour of a UTC timestamp column.

    PostgreSQL knows zones: ``timezone(zone, ts)``. SQLite doesn't: there, a timestamp's
    local hours since the Julian epoch are ``julianday(ts) × 24`` plus the offset in force
    at that instant (a CASE over the period's daylight-saving changes, compared as the
    stored text) plus 12 (the Julian day starts at noon). One ``julianday`` call per row,
    integer arithmetic after: a year of bookings stays fast.
    """

    def __init__(self, zone: str, start: datetime, end: datetime) -> None:
        self.dialect = db.engine.dialect.name
        self.zone = zone
        self.changes = offsets(zone, start, end)

    def _local_hours(self, column: Any) -> ColumnElement[Any]:
        cases = [
            (column < at, prev / 3600)
            for (at, _), (_, prev) in zip(self.changes[1:], self.changes, strict=False)
        ]
        last = self.changes[-1][1] / 3600
        offset = sa.case(*cases, else_=sa.literal(last)) if cases else sa.literal(last)
        # The epsilon keeps 17:00:00.000 from reading 16:59:59.999 after the float product.
        return sa.func.julianday(column) * 24.0 + offset + 12.000001

    def day(self, column: Any) -> ColumnElement[Any]:
        """The local date (PostgreSQL: a date; SQLite: its Julian day number)."""
        if self.dialect == "postgresql":
            return sa.cast(sa.func.timezone(self.zone, column), sa.Date)
        return sa.cast(self._local_hours(column) / 24, sa.Integer)

    def hour_key(self, column: Any) -> ColumnElement[Any]:
        """The local hour a timestamp falls in, as a value to group on (``split`` reads it).

        PostgreSQL: the naive local datetime truncated to the hour. SQLite: the local hours
        since the Julian epoch, an integer (one ``julianday`` a row).
        """
        if self.dialect == "postgresql":
            return sa.func.date_trunc("hour", sa.func.timezone(self.zone, column))
        return sa.cast(self._local_hours(column), sa.Integer)

    def split(self, key: Any) -> tuple[date, int]:
        """A ``hour_key`` value as its local date and hour of the day."""
        if isinstance(key, datetime):
            return key.date(), key.hour
        days, hour = divmod(int(key), 24)
        return date.fromordinal(days - _JDN_ORDINAL), hour


def days_between(start: Any, end: Any) -> ColumnElement[Any]:
    """``end - start`` in days (a float), on either engine."""
    if db.engine.dialect.name == "postgresql":
        return sa.extract("epoch", end - start) / 86400
    return sa.func.julianday(end) - sa.func.julianday(start)


def minutes_between(start: Any, end: Any) -> ColumnElement[int]:
    """Whole minutes from ``start`` to ``end``, as an integer, on either engine."""
    if db.engine.dialect.name == "postgresql":
        seconds: ColumnElement[Any] = sa.extract("epoch", end - start)
    else:
        seconds = (sa.func.julianday(end) - sa.func.julianday(start)) * 86400
    return sa.cast(sa.func.round(seconds / 60), sa.Integer)
