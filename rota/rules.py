"""The rota's hard rules, once: who may hold which session (pure).

The engine checks its rota with ``breaches()``; manual edits, hand-overs and the bourse check
one addition with ``addition_breaches()``, and an exchange with ``exchange_breaches()``. They
return ``Breach`` values (a code and the facts, no text): the services turn them into French
messages, so the rules can't drift between the generated rota and a coordinator's edit. The
data types the rules speak about (``Session``, ``Doctor``, ``Unavailability``) live here too;
``rota.engine`` re-exports them.

Imports neither Flask nor SQLAlchemy, nor the engine (import-linter holds it).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

WEEKDAY = "weekday"
WEEKEND_HOLIDAY = "weekend_holiday"


@dataclass(frozen=True)
class Session:
    id: int
    site_id: int
    starts_at: datetime  # aware
    ends_at: datetime  # aware
    local_date: date
    gps_needed: int = 1
    category: str = WEEKDAY
    site_name: str = ""


@dataclass(frozen=True)
class Unavailability:
    start: datetime  # aware, inclusive
    end: datetime  # aware, exclusive
    # An exempting absence (illness, parental leave, training…, marked by the coordinator)
    # lowers the GP's share pro rata; a plain one only moves duty to later periods.
    exempt: bool = False


@dataclass(frozen=True)
class Doctor:
    id: int
    site_ids: frozenset[int]
    weight: float = 1.0
    name: str = ""
    unavailable: tuple[Unavailability, ...] = ()
    max_per_day: int = 1
    max_per_week: int | None = None
    max_per_period: int | None = None
    # Places owed from earlier periods, per category (fair share − load so far): carried
    # over so that fairness holds over the year, not only within a month.
    owed: tuple[tuple[str, float], ...] = ()
    preferred_weekdays: frozenset[int] = frozenset()
    preferred_site_ids: frozenset[int] = frozenset()
    avoid_dates: frozenset[date] = frozenset()
    usual_site_id: int | None = None
    # A firm commitment to this many sessions in the period: replaces the share by weight
    # (and what is owed) in ``engine.targets()``.
    target_sessions: int | None = None


# Breach codes. ``limit`` and ``count`` carry the numbers a message needs.
INACTIVE = "inactive"  # not an active GP of the territory
NOT_AT_SITE = "not_at_site"
UNAVAILABLE = "unavailable"
ALREADY_HOLDING = "already_holding"  # the GP already holds this session
OVERSTAFFED = "overstaffed"  # more GPs than places
MAX_PER_DAY = "max_per_day"
MAX_PER_WEEK = "max_per_week"
MAX_PER_PERIOD = "max_per_period"
TOO_CLOSE = "too_close"  # overlap or less than the minimum rest


@dataclass(frozen=True)
class Breach:
    """One hard rule broken: what, by whom, on which session, with the numbers involved."""

    code: str
    doctor_id: int
    session_id: int
    other_session_id: int | None = None  # TOO_CLOSE: the session it clashes with
    count: int | None = None  # sessions already held (day, week, period)
    limit: int | None = None  # the maximum that applies
    rest_hours: float | None = None  # TOO_CLOSE: the minimum rest

    def __str__(self) -> str:
        extra = f" with {self.other_session_id}" if self.other_session_id is not None else ""
        return f"{self.code}: GP {self.doctor_id} on session {self.session_id}{extra}"


def is_available(doctor: Doctor, session: Session) -> bool:
    return all(session.ends_at <= u.start or session.starts_at >= u.end for u in doctor.unavailable)


def may_hold(doctor: Doctor, session: Session) -> bool:
    """The per-session hard rules: the GP's site, and not during an unavailability."""
    return session.site_id in doctor.site_ids and is_available(doctor, session)


def iso_week(day: date) -> tuple[int, int]:
    iso = day.isocalendar()
    return iso.year, iso.week


def conflicts(
    doctor: Doctor, sessions: Sequence[Session], min_rest: timedelta
) -> list[tuple[Session, Session]]:
    """Pairs of a GP's sessions that overlap or leave less than the minimum rest.

    Two sessions on one local day are allowed back to back (no rest between them) to a GP
    who accepts several a day.
    """
    ordered = sorted(sessions, key=lambda s: (s.starts_at, s.id))
    found = []
    for i, first in enumerate(ordered):
        for second in ordered[i + 1 :]:
            if second.starts_at >= first.ends_at + min_rest:
                break
            same_day_allowed = (
                doctor.max_per_day > 1
                and first.local_date == second.local_date
                and second.starts_at >= first.ends_at
            )
            if not same_day_allowed:
                found.append((first, second))
    return found


def addition_breaches(
    doctor: Doctor,
    session: Session,
    *,
    held: Sequence[Session],
    holders: Iterable[int] = (),
    taken: int = 0,
    period_count: int | None = None,
    min_rest: timedelta,
    active: bool = True,
) -> list[Breach]:
    """Why ``doctor`` may not take ``session`` on top of ``held`` (empty when they may).

    ``held`` is the GP's other sessions around it (at least its ISO week and two days either
    side, for rest); ``holders`` the GPs already on the session and ``taken`` how many of its
    places are filled (0 to skip the check); ``period_count`` the GP's sessions in the period
    (``None`` to skip it). One breach per rule, with the numbers a message needs.
    """
    found: list[Breach] = []
    d, s = doctor.id, session.id
    if not active:
        found.append(Breach(INACTIVE, d, s))
    if session.site_id not in doctor.site_ids:
        found.append(Breach(NOT_AT_SITE, d, s))
    if doctor.id in set(holders):
        found.append(Breach(ALREADY_HOLDING, d, s))
    elif taken and taken >= session.gps_needed:
        found.append(Breach(OVERSTAFFED, d, s, count=taken, limit=session.gps_needed))
    if not is_available(doctor, session):
        found.append(Breach(UNAVAILABLE, d, s))
    others = [x for x in held if x.id != session.id]
    for first, second in conflicts(doctor, [*others, session], min_rest):
        if session.id in (first.id, second.id):
            other = first if second.id == session.id else second
            found.append(
                Breach(
                    TOO_CLOSE,
                    d,
                    s,
                    other_session_id=other.id,
                    rest_hours=min_rest / timedelta(hours=1),
                )
            )
    found.extend(_count_breaches(doctor, session, others, period_count))
    return found


def exchange_breaches(
    doctor: Doctor,
    gives: Session,
    takes: Session,
    *,
    held: Sequence[Session],
    holders: Iterable[int] = (),
    period_count: int | None = None,
    min_rest: timedelta,
    active: bool = True,
) -> list[Breach]:
    """Why ``doctor`` may not give ``gives`` up and take ``takes`` in one move (a swap).

    The same rules as ``addition_breaches``, judged on the GP's rota *after* the swap: the
    session given up no longer counts against rest, daily, weekly or period limits.
    ``holders`` are the GPs who will still hold ``takes`` (its leaving holder excluded);
    ``period_count`` the GP's sessions in ``takes``'s period, ``gives`` already left out.
    The seat is the leaving holder's, so staffing is unchanged and not checked.
    """
    if gives.id == takes.id:
        return [Breach(ALREADY_HOLDING, doctor.id, takes.id)]
    return addition_breaches(
        doctor,
        takes,
        held=[x for x in held if x.id != gives.id],
        holders=holders,
        period_count=period_count,
        min_rest=min_rest,
        active=active,
    )


def _count_breaches(
    doctor: Doctor, session: Session, others: Sequence[Session], period_count: int | None
) -> list[Breach]:
    """The "at most k a day / a week / a period" rules for one more ``session``."""
    found: list[Breach] = []
    d, s = doctor.id, session.id
    same_day = sum(1 for x in others if x.local_date == session.local_date)
    if same_day >= doctor.max_per_day:
        found.append(Breach(MAX_PER_DAY, d, s, count=same_day, limit=doctor.max_per_day))
    if doctor.max_per_week is not None:
        week = iso_week(session.local_date)
        weekly = sum(1 for x in others if iso_week(x.local_date) == week)
        if weekly >= doctor.max_per_week:
            found.append(Breach(MAX_PER_WEEK, d, s, count=weekly, limit=doctor.max_per_week))
    if (
        doctor.max_per_period is not None
        and period_count is not None
        and period_count >= doctor.max_per_period
    ):
        found.append(Breach(MAX_PER_PERIOD, d, s, count=period_count, limit=doctor.max_per_period))
    return found


def breaches(
    sessions: Iterable[Session],
    doctors: Iterable[Doctor],
    assignments: Iterable[tuple[int, int, bool]],
    *,
    min_rest: timedelta,
) -> list[Breach]:
    """Every hard rule a whole rota breaks: ``assignments`` are (session id, GP id, locked).

    A locked assignment (volunteered, placed by the coordinator) is exempt from the site and
    availability rules, which the person who placed it answered for, but not from the others.
    """
    by_id = {s.id: s for s in sessions}
    doctor_of = {d.id: d for d in doctors}
    held: dict[int, list[Session]] = defaultdict(list)
    per_session: dict[int, list[int]] = defaultdict(list)
    found: list[Breach] = []
    for session_id, doctor_id, locked in assignments:
        session, doctor = by_id[session_id], doctor_of[doctor_id]
        if doctor_id in per_session[session_id]:
            found.append(Breach(ALREADY_HOLDING, doctor_id, session_id))
            continue
        per_session[session_id].append(doctor_id)
        if not locked and session.site_id not in doctor.site_ids:
            found.append(Breach(NOT_AT_SITE, doctor_id, session_id))
        if not locked and not is_available(doctor, session):
            found.append(Breach(UNAVAILABLE, doctor_id, session_id))
        held[doctor_id].append(session)
    for session_id, holders in per_session.items():
        needed = by_id[session_id].gps_needed
        if len(holders) > needed:
            found.append(
                Breach(OVERSTAFFED, holders[-1], session_id, count=len(holders), limit=needed)
            )
    for doctor_id, mine in held.items():
        doctor = doctor_of[doctor_id]
        found.extend(_load_breaches(doctor, mine))
        for first, second in conflicts(doctor, mine, min_rest):
            found.append(
                Breach(
                    TOO_CLOSE,
                    doctor_id,
                    second.id,
                    other_session_id=first.id,
                    rest_hours=min_rest / timedelta(hours=1),
                )
            )
    return found


def _load_breaches(doctor: Doctor, mine: Sequence[Session]) -> list[Breach]:
    """The "at most k a day / a week / a period" rules over a GP's whole rota."""
    found: list[Breach] = []
    per_day: dict[date, list[Session]] = defaultdict(list)
    per_week: dict[tuple[int, int], list[Session]] = defaultdict(list)
    for s in mine:
        per_day[s.local_date].append(s)
        per_week[iso_week(s.local_date)].append(s)
    for day_sessions in per_day.values():
        if len(day_sessions) > doctor.max_per_day:
            found.append(
                Breach(
                    MAX_PER_DAY,
                    doctor.id,
                    day_sessions[-1].id,
                    count=len(day_sessions),
                    limit=doctor.max_per_day,
                )
            )
    if doctor.max_per_week is not None:
        for week_sessions in per_week.values():
            if len(week_sessions) > doctor.max_per_week:
                found.append(
                    Breach(
                        MAX_PER_WEEK,
                        doctor.id,
                        week_sessions[-1].id,
                        count=len(week_sessions),
                        limit=doctor.max_per_week,
                    )
                )
    if doctor.max_per_period is not None and len(mine) > doctor.max_per_period:
        found.append(
            Breach(
                MAX_PER_PERIOD,
                doctor.id,
                mine[-1].id,
                count=len(mine),
                limit=doctor.max_per_period,
            )
        )
    return found
