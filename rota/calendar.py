"""Expanding session templates into dated sessions: local wall-clock times, DST, holidays.

Pure: frozen dataclasses in and out; no Flask, no SQLAlchemy, so generation and its tests
need no database.

A template says "17:00–20:00" in the territory's zone, so a session stays 17:00–20:00 local on
both daylight-saving days and its UTC instants move by an hour across the change. Local times
are resolved with ``zoneinfo`` and ``fold=0``, which gives two deterministic rules:

- a time that does not exist (02:30 on the spring-forward night, 29 March 2026 in Paris) is read
  with the offset in force *before* the jump (+01:00), i.e. 01:30 UTC, which is 03:30 local
  summer time: the session is pushed one hour later, by the length of the gap;
- an ambiguous time (02:30 on the fall-back night, 25 October 2026) takes its first occurrence
  (summer time, +02:00, i.e. 00:30 UTC).

A session whose whole wall-clock range lies inside the missing hour (say 02:00–03:00 on the
spring-forward night) would last zero or negative time once resolved: it does not exist that
night and is left out.

French public holidays come from the ``holidays`` package for the territory's subdivision, given
as that package's codes ("57" Moselle, "6AE" Alsace: Good Friday and 26 December; "971"…"976"
overseas: abolition of slavery, ...).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays

WEEKDAY_NAMES = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
HOLIDAY_RULES = ("skip", "normal", "only")


@dataclass(frozen=True)
class TemplateSpec:
    """A weekly session pattern of one site, as the territory's coordinator set it up."""

    id: int
    site_id: int
    weekdays: frozenset[int]  # 0 = Monday … 6 = Sunday
    start: time  # local wall-clock
    end: time  # local; end <= start means the session ends the next day
    gps_needed: int
    valid_from: date
    valid_to: date | None
    on_holidays: str = "skip"  # skip | normal | only


@dataclass(frozen=True, order=True)
class SessionSpec:
    """One dated session; field order makes sorting go by (starts_at, site_id, template_id)."""

    starts_at: datetime  # aware UTC
    site_id: int
    template_id: int
    ends_at: datetime  # aware UTC
    local_date: date
    gps_needed: int
    is_holiday: bool
    holiday_name: str | None
    is_weekend: bool
    category: str  # "weekday" | "weekend_holiday"


@cache
def _holidays(years: tuple[int, ...], subdivision: str | None) -> tuple[tuple[date, str], ...]:
    # Cached because building the table is slow; a tuple so no caller can alter the cache.
    table = holidays.country_holidays("FR", subdiv=subdivision, years=years, language="fr")
    return tuple(sorted(table.items()))


def public_holidays(years: Iterable[int], subdivision: str | None) -> dict[date, str]:
    """French public holidays (French names) of ``years`` for a ``holidays`` subdivision code."""
    return dict(_holidays(tuple(sorted(set(years))), subdivision or None))


def wall_clock(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time, with the DST rules of the module docstring."""
    local = datetime.combine(day, at, tzinfo=zone)  # fold=0
    return local.astimezone(UTC)


def _days(start: date, end: date) -> Iterable[date]:
    """Every date from ``start`` to ``end`` inclusive."""
    for offset in range((end - start).days + 1):
        yield start + timedelta(days=offset)


def _held_on(template: TemplateSpec, day: date, is_holiday: bool) -> bool:
    """Whether ``template`` yields a session on ``day``, honouring validity and its holiday rule."""
    if day < template.valid_from or (template.valid_to is not None and day > template.valid_to):
        return False
    if template.on_holidays == "only":
        return is_holiday
    if is_holiday and template.on_holidays == "skip":
        return False
    return day.weekday() in template.weekdays


def expand(
    templates: Sequence[TemplateSpec],
    *,
    start: date,
    end: date,
    timezone: str,
    holiday_subdivision: str | None,
) -> list[SessionSpec]:
    """Every session the templates produce between ``start`` and ``end`` (local dates, inclusive)."""
    if end < start:
        return []
    zone = ZoneInfo(timezone)
    feries = public_holidays(range(start.year, end.year + 1), holiday_subdivision)
    sessions: list[SessionSpec] = []
    for day in _days(start, end):
        name = feries.get(day)
        for template in templates:
            if not _held_on(template, day, name is not None):
                continue
            starts_at = wall_clock(day, template.start, zone)
            end_day = day + timedelta(days=1) if template.end <= template.start else day
            ends_at = wall_clock(end_day, template.end, zone)
            if ends_at <= starts_at:  # wholly inside a spring-forward gap: see module docstring
                continue
            weekend = day.weekday() >= 5
            sessions.append(
                SessionSpec(
                    starts_at=starts_at,
                    site_id=template.site_id,
                    template_id=template.id,
                    ends_at=ends_at,
                    local_date=day,
                    gps_needed=template.gps_needed,
                    is_holiday=name is not None,
                    holiday_name=name,
                    is_weekend=weekend,
                    category="weekend_holiday" if weekend or name else "weekday",
                )
            )
    return sorted(sessions)


DAY_MINUTES = 24 * 60
WEEK_MINUTES = 7 * DAY_MINUTES


def _weekly_ranges(template: TemplateSpec) -> list[tuple[int, int]]:
    """Minutes since Monday 00:00 of each weekly occurrence (may run past Sunday midnight).

    A holiday-only template may fall on any weekday, so it counts as every day.
    """
    start = template.start.hour * 60 + template.start.minute
    length = (template.end.hour * 60 + template.end.minute - start) % DAY_MINUTES or DAY_MINUTES
    days = range(7) if template.on_holidays == "only" else sorted(template.weekdays)
    return [(d * DAY_MINUTES + start, d * DAY_MINUTES + start + length) for d in days]


def _first_overlap(a: TemplateSpec, b: TemplateSpec) -> int | None:
    """Weekday (0 = Monday) where the weekly ranges of ``a`` and ``b`` first overlap, if any.

    Ranges are compared modulo one week so that a Sunday night overlaps a Monday morning.
    """
    starts = [
        max(a0, b0 + shift)
        for a0, a1 in _weekly_ranges(a)
        for b0, b1 in _weekly_ranges(b)
        for shift in (-WEEK_MINUTES, 0, WEEK_MINUTES)
        if a0 < b1 + shift and b0 + shift < a1
    ]
    return min(s % WEEK_MINUTES for s in starts) // DAY_MINUTES if starts else None


def _label(template: TemplateSpec) -> str:
    # Callers validate a template not yet saved under id 0 (or a negative placeholder).
    return f"n° {template.id}" if template.id > 0 else "en cours de saisie"


def check_templates(templates: Sequence[TemplateSpec]) -> list[str]:
    """French reasons why these templates (of one territory) can't stand together.

    Overlaps are always reported: two templates of one site at the same hour double-book the
    site; the right tool is a higher ``gps_needed``. A "skip" template never shares a day
    with a holiday-only one, so that pair is not compared.
    """
    problems: list[str] = []
    for t in templates:
        if t.start == t.end:
            problems.append("L'heure de fin doit être différente de l'heure de début.")
        if not t.weekdays and t.on_holidays != "only":
            problems.append("Choisissez au moins un jour de la semaine.")
        if t.gps_needed < 1:
            problems.append("Il faut au moins un médecin par plage.")
        if t.valid_to is not None and t.valid_to < t.valid_from:
            problems.append("La fin de validité doit suivre son début.")
        if t.on_holidays not in HOLIDAY_RULES:
            problems.append("Règle des jours fériés inconnue.")
    for i, a in enumerate(templates):
        for b in templates[i + 1 :]:
            if a.site_id != b.site_id or {a.on_holidays, b.on_holidays} == {"skip", "only"}:
                continue
            if a.valid_from > (b.valid_to or date.max) or b.valid_from > (a.valid_to or date.max):
                continue
            weekday = _first_overlap(a, b)
            if weekday is not None:
                problems.append(
                    f"Les plages types {_label(a)} ({a.start:%H:%M}–{a.end:%H:%M}) et "
                    f"{_label(b)} ({b.start:%H:%M}–{b.end:%H:%M}) du même lieu se chevauchent "
                    f"le {WEEKDAY_NAMES[weekday]} : augmentez plutôt le nombre de médecins."
                )
    return problems
