"""Expanding session templates into dated sessions: local wall-clock times, DST, holidays.

Pure: frozen dataclasses in and out; no Flask, no SQLAlchemy.

A template says "17:00–20:00" in the territory's zone, so a session stays 17:00–20:00 on
both daylight-saving days and its UTC instants move by an hour across the change. Two
wall-clock times need a rule:
- a time that does not exist (02:30 on the spring-forward night) is read with ``fold=0``
  and normalised by a round trip through UTC, which lands it one hour later (03:30);
- an ambiguous time (02:30 on the fall-back night) takes its first occurrence (``fold=0``,
  summer time).
French public holidays come from the ``holidays`` package for the territory's subdivision
(Alsace-Moselle: Good Friday and 26 December; overseas: abolition of slavery, ...).
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
def _holidays(years: tuple[int, ...], subdivision: str | None) -> dict[date, str]:
    table = holidays.country_holidays("FR", subdiv=subdivision, years=years, language="fr")
    return dict(table.items())


def public_holidays(years: Iterable[int], subdivision: str | None) -> dict[date, str]:
    """French public holidays of ``years`` for a subdivision code of the ``holidays`` package."""
    return _holidays(tuple(sorted(set(years))), subdivision or None)


def wall_clock(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time, with the DST rules of the module docstring."""
    local = datetime.combine(day, at, tzinfo=zone)  # fold=0
    return local.astimezone(UTC)


def _days(start: date, end: date) -> Iterable[date]:
    for offset in range((end - start).days + 1):
        yield start + timedelta(days=offset)


def _held_on(template: TemplateSpec, day: date, is_holiday: bool) -> bool:
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
    sessions = []
    for day in _days(start, end):
        name = feries.get(day)
        for template in templates:
            if not _held_on(template, day, name is not None):
                continue
            starts_at = wall_clock(day, template.start, zone)
            end_day = day + timedelta(days=1) if template.end <= template.start else day
            ends_at = wall_clock(end_day, template.end, zone)
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


def _minutes(template: TemplateSpec) -> tuple[int, int]:
    start = template.start.hour * 60 + template.start.minute
    end = template.end.hour * 60 + template.end.minute
    return start, end if end > start else end + 24 * 60


def check_templates(templates: Sequence[TemplateSpec]) -> list[str]:
    """French reasons why these templates (of one territory) can't stand together."""
    problems = []
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
            if a.site_id != b.site_id or "only" in (a.on_holidays, b.on_holidays):
                continue
            a_end = a.valid_to or date.max
            b_end = b.valid_to or date.max
            if a.valid_from > b_end or b.valid_from > a_end:
                continue
            (a0, a1), (b0, b1) = _minutes(a), _minutes(b)
            common = sorted(a.weekdays & b.weekdays)
            if common and a0 < b1 and b0 < a1:
                problems.append(
                    f"Cette plage chevauche une autre plage type du même lieu le "
                    f"{WEEKDAY_NAMES[common[0]]} ({a.start:%H:%M}–{a.end:%H:%M} et "
                    f"{b.start:%H:%M}–{b.end:%H:%M}) : augmentez plutôt le nombre de médecins."
                )
    return problems
