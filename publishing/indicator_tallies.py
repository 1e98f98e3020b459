"""The bookings of each territory counted per site and local day: what the indicators sum.

A contract year of a département-size territory is ~100,000 bookings. Aggregating them on
every page load cost the indicators page most of its time (bench/README.md), so they are
also kept counted in ``indicator_day`` (channel × status and the other booking figures),
``indicator_hour`` (the heat map) and ``indicator_pharmacy`` (who booked): a year is then a
few thousand rows to sum. Those counts stay exact by three rules:

- every flush that adds, changes or deletes a booking appends an ``indicator_change`` row
  naming its local day, in the same transaction (an ``after_flush`` listener, so no service
  can forget it); a change of a territory's zone or communes names every day;
- ``refresh``, called before any figure is read, recounts the named days from the bookings
  and deletes exactly the change rows it read, in one transaction. Refreshes of a territory
  take turns: SQLite's write lock, a PostgreSQL advisory lock;
- a change committing while a refresh runs is either read by the recount (it reads the
  changes first, then the bookings, each statement seeing what is committed) or left in
  ``indicator_change`` for the next refresh. Appended rows, never updated: bookings never
  wait on one another for them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session as OrmSession

from app.database import write_transactions
from app.enums import Role
from app.extensions import db
from app.models import Commune, Territory
from booking.models import Booking, BookingStatus
from publishing.indicator_clock import LOOKBACK, LocalClock, days_between, utc_bounds
from publishing.models import (
    SLOT_CHANNELS,
    TALLY_COUNTS,
    TALLY_STATUSES,
    indicator_change,
    indicator_day,
    indicator_hour,
    indicator_pharmacy,
)
from rota.models import Session

# pg_advisory_xact_lock(class, territory id): one refresh of a territory at a time.
LOCK_CLASS = 0x7461_6C79  # "taly"
CHUNK = 500  # ids per DELETE … IN (…)

# Positions in TALLY_COUNTS of the channel × status counts that are live, and honoured.
_LIVE = tuple(
    i
    for i, name in enumerate(TALLY_COUNTS)
    if name.split("_", 1)[0] in SLOT_CHANNELS and not name.endswith("_cancelled")
)
_HONOURED = tuple(i for i, name in enumerate(TALLY_COUNTS) if name.endswith("_honoured"))


# --- noting changes ----------------------------------------------------------------------------


def _note_changes(session: OrmSession, _context: Any) -> None:
    """Append the stale days of this flush's bookings (after_flush: history still there)."""
    starts: set[tuple[int, datetime]] = set()
    everything: set[int] = set()
    for obj in (*session.new, *session.deleted):
        _note_written(obj, starts, everything)
    for obj in session.dirty:
        _note_changed(session, obj, starts, everything)
    if starts or everything:
        _append(session.connection(), starts, everything)


def _note_written(obj: object, starts: set, everything: set[int]) -> None:
    """A booking or commune added or deleted."""
    if isinstance(obj, Booking):
        at = obj.__dict__.get("starts_at")
        if at is None:
            everything.add(obj.territory_id)
        else:
            starts.add((obj.territory_id, at))
    elif isinstance(obj, Commune):
        everything.add(obj.territory_id)


def _note_changed(session: OrmSession, obj: object, starts: set, everything: set[int]) -> None:
    """A booking changed (both days if its start moved), a commune moved or recoded, a
    territory's zone changed."""
    if isinstance(obj, Booking) and session.is_modified(obj):
        history = sa_inspect(obj).attrs.starts_at.history
        starts.update((obj.territory_id, at) for at in history.sum())
    elif isinstance(obj, Commune):
        attrs = sa_inspect(obj).attrs
        if attrs.territory_id.history.has_changes() or attrs.insee_code.history.has_changes():
            everything.update(attrs.territory_id.history.sum())
    elif isinstance(obj, Territory) and sa_inspect(obj).attrs.timezone.history.has_changes():
        everything.add(obj.id)


def _append(conn: sa.Connection, starts: set[tuple[int, datetime]], everything: set[int]) -> None:
    ids = {t for t, _ in starts}
    zones: dict[int, str] = {}
    if ids:
        query = sa.select(Territory.id, Territory.timezone).where(Territory.id.in_(ids))
        zones = {t: zone for t, zone in conn.execute(query)}
    rows = {(t, None) for t in everything if t is not None}
    rows |= {
        (t, at.astimezone(ZoneInfo(zones[t])).date())
        for t, at in starts
        if t in zones and t not in everything
    }
    if rows:
        conn.execute(
            indicator_change.insert(),
            [{"territory_id": t, "local_date": d} for t, d in sorted(rows, key=_row_order)],
        )


def _row_order(row: tuple[int, date | None]) -> tuple[int, date]:
    return row[0], row[1] or date.min


def listen() -> None:
    """Note every session's booking changes (once per process, whatever the app count)."""
    if not event.contains(OrmSession, "after_flush", _note_changes):
        event.listen(OrmSession, "after_flush", _note_changes)


def mark_all(territory_id: int) -> None:
    """Every day of the territory to recount (bookings written without the ORM)."""
    db.session.execute(indicator_change.insert().values(territory_id=territory_id, local_date=None))


# --- recounting --------------------------------------------------------------------------------


def refresh(territory_id: int) -> None:
    """Recount the days changed since the last refresh; nothing when none changed.

    Commits: the caller's reads end first (SQLite then takes its write lock up front, as a
    GET must to write), and the recount is its own transaction.
    """
    pending = sa.exists().where(indicator_change.c.territory_id == territory_id)
    if not db.session.scalar(sa.select(pending)):
        return
    db.session.commit()
    with write_transactions():
        try:
            _recount(territory_id)
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise


def _recount(territory_id: int) -> None:
    if db.engine.dialect.name == "postgresql":
        db.session.execute(sa.select(sa.func.pg_advisory_xact_lock(LOCK_CLASS, territory_id)))
    changes = db.session.execute(
        sa.select(indicator_change.c.id, indicator_change.c.local_date).where(
            indicator_change.c.territory_id == territory_id
        )
    ).all()
    if not changes:
        return  # another refresh took them while this one waited
    zone = db.session.scalar(sa.select(Territory.timezone).where(Territory.id == territory_id))
    assert zone is not None
    named = {day for _, day in changes}
    days = None if None in named else sorted(d for d in named if d is not None)
    for table in (indicator_day, indicator_hour, indicator_pharmacy):
        stale = table.delete().where(table.c.territory_id == territory_id)
        if days is not None:
            stale = stale.where(table.c.local_date.in_(days))
        db.session.execute(stale)
    counted = count_bookings(territory_id, zone, days)
    for table, rows in (
        (indicator_day, counted.days),
        (indicator_hour, counted.hours),
        (indicator_pharmacy, counted.pharmacies),
    ):
        if rows:
            db.session.execute(table.insert(), rows)
    ids = [change_id for change_id, _ in changes]
    for i in range(0, len(ids), CHUNK):
        db.session.execute(
            indicator_change.delete().where(indicator_change.c.id.in_(ids[i : i + CHUNK]))
        )


@dataclass(frozen=True)
class Counted:
    """Rows to insert, as dicts keyed by column name."""

    days: list[dict[str, Any]]
    hours: list[dict[str, Any]]
    pharmacies: list[dict[str, Any]]


def _spans(days: Sequence[date]) -> list[tuple[date, date]]:
    """Runs of consecutive days, as (first, last)."""
    spans: list[tuple[date, date]] = []
    for day in days:
        if spans and spans[-1][1] + timedelta(days=1) == day:
            spans[-1] = (spans[-1][0], day)
        else:
            spans.append((day, day))
    return spans


def count_bookings(territory_id: int, zone: str, days: Sequence[date] | None) -> Counted:
    """The tally rows of ``days`` (local dates; None: every day with a booking).

    Two grouped statements over the days' bookings: by site and local hour of the start
    (the channel × status and other counts, folded into days here), and the pharmacy
    accounts by site and day.
    """
    b = Booking
    if days is None:
        lo, hi = db.session.execute(
            sa.select(sa.func.min(b.starts_at), sa.func.max(b.starts_at)).where(
                b.territory_id == territory_id
            )
        ).one()
        if lo is None:
            return Counted([], [], [])
        window: Any = b.territory_id == territory_id
        clock = LocalClock(zone, lo - LOOKBACK, hi + timedelta(days=1))
    else:
        if not days:
            return Counted([], [], [])
        bounds = [utc_bounds(first, last, zone) for first, last in _spans(days)]
        window = sa.and_(
            b.territory_id == territory_id,
            sa.or_(*(sa.and_(b.starts_at >= s, b.starts_at < e) for s, e in bounds)),
        )
        clock = LocalClock(zone, bounds[0][0] - LOOKBACK, bounds[-1][1])
    key = clock.hour_key(b.starts_at)
    rows = db.session.execute(
        sa.select(
            Session.site_id,
            key,
            *(sa.func.count().filter(c) for c in _conditions(clock, territory_id)),
        )
        .select_from(b)
        .join(Session, Session.id == b.session_id)
        .where(window)
        .group_by(Session.site_id, key)
    ).all()
    per_day: dict[tuple[int, date], list[int]] = {}
    per_hour: dict[tuple[int, date, int], int] = {}
    for site_id, raw, *counts in rows:
        day, hour = clock.split(raw)
        tally = per_day.setdefault((site_id, day), [0] * len(TALLY_COUNTS))
        for i, n in enumerate(counts):
            tally[i] += n
        live = sum(counts[i] for i in _LIVE)
        if live:
            per_hour[(site_id, day, hour)] = per_hour.get((site_id, day, hour), 0) + live
    booked = db.session.execute(
        sa.select(Session.site_id, key, b.booked_by_id)
        .select_from(b)
        .join(Session, Session.id == b.session_id)
        .where(window, b.booked_by_role == Role.PHARMACIST.value, b.booked_by_id.is_not(None))
        .group_by(Session.site_id, key, b.booked_by_id)
    ).all()
    pharmacies = {(site_id, clock.split(raw)[0], user_id) for site_id, raw, user_id in booked}
    return Counted(
        days=[
            {"territory_id": territory_id, "site_id": s, "local_date": d}
            | dict(zip(TALLY_COUNTS, tally, strict=True))
            for (s, d), tally in sorted(per_day.items())
        ],
        hours=[
            {"territory_id": territory_id, "site_id": s, "local_date": d, "hour": h, "live": n}
            for (s, d, h), n in sorted(per_hour.items())
        ],
        pharmacies=[
            {"territory_id": territory_id, "site_id": s, "local_date": d, "user_id": u}
            for s, d, u in sorted(pharmacies)
        ],
    )


def _conditions(clock: LocalClock, territory_id: int) -> list[Any]:
    """One filter per TALLY_COUNTS column, in its order."""
    b = Booking
    live = b.status != BookingStatus.CANCELLED
    delay = days_between(b.created_at, b.starts_at)
    ours = sorted(
        db.session.scalars(
            sa.select(Commune.insee_code).where(Commune.territory_id == territory_id)
        )
    )
    by_name: dict[str, Any] = {
        f"{channel}_{status}": sa.and_(b.slot_channel == channel, b.status == BookingStatus(status))
        for channel in SLOT_CHANNELS
        for status in TALLY_STATUSES
    }
    by_name |= {
        "without_gp": sa.and_(live, b.without_gp),
        "same_day": sa.and_(live, clock.day(b.created_at) == clock.day(b.starts_at)),
        "within_24h": sa.and_(live, delay < 1),
        "within_48h": sa.and_(live, delay < 2),
        "commune_inside": sa.and_(live, b.patient_insee.in_(ours)),
        "commune_outside": sa.and_(
            live, b.patient_insee.is_not(None), b.patient_insee.not_in(ours)
        ),
        "commune_unknown": sa.and_(live, b.patient_insee.is_(None)),
    }
    return [by_name[name] for name in TALLY_COUNTS]


# --- reading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BookingCounts:
    """The bookings of a period (and site), from the tallies."""

    totals: dict[str, int]  # by TALLY_COUNTS name
    pharmacies: int  # distinct pharmacy accounts
    per_site: dict[int, tuple[int, int]]  # site id: live, honoured
    per_day: dict[date, tuple[int, int]]  # local date: live, honoured
    grid: tuple[tuple[int, ...], ...]  # live, 7 weekdays (Monday first) × 24 local hours


def _where(
    table: sa.Table, territory_id: int, date_from: date, date_to: date, site_id: int | None
) -> list[Any]:
    where = [
        table.c.territory_id == territory_id,
        table.c.local_date >= date_from,
        table.c.local_date <= date_to,
    ]
    if site_id is not None:
        where.append(table.c.site_id == site_id)
    return where


def _sum(columns: Iterable[sa.Column[Any]]) -> Any:
    total: Any = None
    for column in columns:
        total = column if total is None else total + column
    return sa.func.coalesce(sa.func.sum(total), 0)


def read(territory_id: int, date_from: date, date_to: date, site_id: int | None) -> BookingCounts:
    """Four sums over the period's day rows, one over its hour rows, one distinct count."""
    d = indicator_day
    where = _where(d, territory_id, date_from, date_to, site_id)
    row = db.session.execute(
        sa.select(*(sa.func.coalesce(sa.func.sum(d.c[name]), 0) for name in TALLY_COUNTS)).where(
            *where
        )
    ).one()
    totals = {name: int(n) for name, n in zip(TALLY_COUNTS, row, strict=True)}
    live = _sum(d.c[TALLY_COUNTS[i]] for i in _LIVE)
    honoured = _sum(d.c[TALLY_COUNTS[i]] for i in _HONOURED)
    per_site = {
        site: (int(n), int(h))
        for site, n, h in db.session.execute(
            sa.select(d.c.site_id, live, honoured).where(*where).group_by(d.c.site_id)
        )
    }
    per_day = {
        day: (int(n), int(h))
        for day, n, h in db.session.execute(
            sa.select(d.c.local_date, live, honoured).where(*where).group_by(d.c.local_date)
        )
    }
    h = indicator_hour
    grid = [[0] * 24 for _ in range(7)]
    for day, hour, n in db.session.execute(
        sa.select(h.c.local_date, h.c.hour, sa.func.sum(h.c.live))
        .where(*_where(h, territory_id, date_from, date_to, site_id))
        .group_by(h.c.local_date, h.c.hour)
    ):
        grid[day.weekday()][hour] += int(n)
    p = indicator_pharmacy
    pharmacies = db.session.scalar(
        sa.select(sa.func.count(sa.distinct(p.c.user_id))).where(
            *_where(p, territory_id, date_from, date_to, site_id)
        )
    )
    return BookingCounts(
        totals=totals,
        pharmacies=int(pharmacies or 0),
        per_site=per_site,
        per_day=per_day,
        grid=tuple(tuple(r) for r in grid),
    )
