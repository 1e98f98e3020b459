"""Evidence for the majoration SNP and the MRT: a GP's regulated consultations, month by month.

NGAP art. 14.1.3: a GP who sees, within 48 h of a regulation by the SAS or the SAMU and
outside the PDSA hours, a patient whose médecin traitant they are not, bills the majoration
SNP (their own patient: the MRT). CPAMs reject majorations without proof of the regulation,
so this lists, for each honoured booking that came through the regulation, what proves it:
the booking's reference, the SAS platform's identifier, when it was regulated (the booking's
creation) and when the patient was seen, and whether that was within 48 h and outside the
PDSA hours of the territory (a setting). The CPAM caps the majoration per week: the weekly
count is shown against the territory's cap.

A GP's list carries their own patients' initials and birth year only; the coordinator sees
per-GP counts, never a patient.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from app.collation import french_key
from app.extensions import db
from app.models import Practitioner, Territory
from app.territory.services import holiday_subdivision_code
from booking import slots as slotlib
from booking.models import Booking, BookingStatus
from rota.calendar import public_holidays
from rota.models import Assignment

WITHIN = timedelta(hours=48)


@dataclass(frozen=True)
class PdsaHours:
    """When the PDSA (permanence des soins) runs: weekday nights, Saturday afternoons and
    nights, Sundays and public holidays all day."""

    weekday_from: time = time(20)
    weekday_until: time = time(8)
    saturday_from: time = time(12)

    @classmethod
    def of(cls, territory: Territory) -> PdsaHours:
        return cls(
            territory.pdsa_weekday_from, territory.pdsa_weekday_until, territory.pdsa_saturday_from
        )


def in_pdsa(moment: datetime, hours: PdsaHours, holidays: Iterable[date]) -> bool:
    """Whether ``moment``, aware in the territory's zone, falls in the PDSA hours (pure).

    The night runs until ``weekday_until`` the next morning whatever that day is: 07:00 on
    a Monday is still Sunday's PDSA, 07:00 on a Saturday still Friday night's.
    """
    day, at = moment.date(), moment.time()
    off = set(holidays)
    if day.weekday() == 6 or day in off:
        return True
    if at < hours.weekday_until:
        return True
    if day.weekday() == 5:
        return at >= hours.saturday_from
    return at >= hours.weekday_from


@dataclass(frozen=True)
class Act:
    """One honoured, regulated consultation as the CPAM needs to see it."""

    reference: str
    external_id: str | None
    regulated_at: datetime  # local
    seen_at: datetime  # local
    billing: str | None  # "snp", "mrt" or not said
    within_48h: bool
    outside_pdsa: bool
    initials: str
    birth_year: int | None

    @property
    def eligible(self) -> bool:
        """Meets the majoration's time conditions (SNP or MRT as the GP said)."""
        return self.within_48h and self.outside_pdsa and self.billing is not None

    @property
    def week(self) -> str:
        iso = self.seen_at.isocalendar()
        return f"{iso.year}-W{iso.week:02d}"


@dataclass(frozen=True)
class Week:
    week: str
    snp: int
    mrt: int
    over_cap: bool


@dataclass(frozen=True)
class Evidence:
    month: date  # its first day
    acts: tuple[Act, ...]
    weeks: tuple[Week, ...]
    cap: int | None

    @property
    def snp_eligible(self) -> int:
        return sum(1 for a in self.acts if a.eligible and a.billing == "snp")

    @property
    def mrt_eligible(self) -> int:
        return sum(1 for a in self.acts if a.eligible and a.billing == "mrt")


def regulated() -> sa.ColumnElement[bool]:
    """Booked by the regulation: on the SAS channel, or by the SAS platform itself."""
    return sa.or_(Booking.channel == slotlib.SAS, Booking.external_id.is_not(None))


def month_bounds(month: date, zone: str) -> tuple[datetime, datetime]:
    tz = ZoneInfo(zone)
    first = month.replace(day=1)
    nxt = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return (
        datetime.combine(first, time(0), tz).astimezone(UTC),
        datetime.combine(nxt, time(0), tz).astimezone(UTC),
    )


def _initials(family: str | None, given: str | None) -> str:
    if not family and not given:
        return "—"
    return "".join(f"{(part or ' ')[0].upper()}." for part in (given, family) if part)


def _holidays(territory: Territory, month: date) -> set[date]:
    years = {month.year - 1, month.year, month.year + 1}
    return set(public_holidays(years, holiday_subdivision_code(territory.holiday_subdivision)))


def _act(row, zone: ZoneInfo, hours: PdsaHours, off: set[date]) -> Act:
    seen = row.starts_at.astimezone(zone)
    return Act(
        reference=row.reference,
        external_id=row.external_id,
        regulated_at=row.created_at.astimezone(zone),
        seen_at=seen,
        billing=row.billing,
        within_48h=row.starts_at - row.created_at <= WITHIN,
        outside_pdsa=not in_pdsa(seen, hours, off),
        initials=_initials(row.family_name, row.given_name),
        birth_year=row.birth_date.year if row.birth_date else None,
    )


def _weeks(acts: Sequence[Act], cap: int | None) -> tuple[Week, ...]:
    tally: dict[str, list[int]] = {}
    for act in acts:
        counts = tally.setdefault(act.week, [0, 0])
        if act.eligible:
            counts[0 if act.billing == "snp" else 1] += 1
    return tuple(
        Week(week, snp, mrt, cap is not None and snp > cap)
        for week, (snp, mrt) in sorted(tally.items())
    )


def gp_evidence(territory: Territory, practitioner_id: int, month: date) -> Evidence:
    """The GP's honoured, regulated consultations of a (local) month, oldest first."""
    start, end = month_bounds(month, territory.timezone)
    rows = db.session.execute(
        sa.select(
            Booking.reference,
            Booking.external_id,
            Booking.created_at,
            Booking.starts_at,
            Booking.billing,
            Booking.family_name,
            Booking.given_name,
            Booking.birth_date,
        )
        .join(
            Assignment,
            sa.and_(Assignment.session_id == Booking.session_id, Assignment.seat == Booking.seat),
        )
        .where(
            Booking.territory_id == territory.id,
            Assignment.practitioner_id == practitioner_id,
            Booking.status == BookingStatus.HONOURED,
            regulated(),
            Booking.starts_at >= start,
            Booking.starts_at < end,
        )
        .order_by(Booking.starts_at, Booking.id)
    ).all()
    zone, hours, off = (
        ZoneInfo(territory.timezone),
        PdsaHours.of(territory),
        _holidays(territory, month),
    )
    acts = tuple(_act(row, zone, hours, off) for row in rows)
    return Evidence(
        month.replace(day=1), acts, _weeks(acts, territory.snp_weekly_cap), territory.snp_weekly_cap
    )


@dataclass(frozen=True)
class GpCount:
    practitioner_id: int
    name: str
    regulated: int
    snp: int
    mrt: int
    unstated: int
    snp_eligible: int
    weeks_over_cap: int


def territory_counts(territory: Territory, month: date) -> list[GpCount]:
    """Per GP, the month's honoured regulated consultations: counts only, no patient."""
    start, end = month_bounds(month, territory.timezone)
    rows = db.session.execute(
        sa.select(
            Assignment.practitioner_id,
            Booking.billing,
            Booking.created_at,
            Booking.starts_at,
        )
        .join(
            Assignment,
            sa.and_(Assignment.session_id == Booking.session_id, Assignment.seat == Booking.seat),
        )
        .where(
            Booking.territory_id == territory.id,
            Booking.status == BookingStatus.HONOURED,
            regulated(),
            Booking.starts_at >= start,
            Booking.starts_at < end,
        )
    ).all()
    names = {
        p.id: p.display_name
        for p in db.session.scalars(
            sa.select(Practitioner).where(Practitioner.territory_id == territory.id)
        )
    }
    zone, hours, off = (
        ZoneInfo(territory.timezone),
        PdsaHours.of(territory),
        _holidays(territory, month),
    )
    per_gp: dict[int, list[Act]] = {}
    for gp, billing, created, starts in rows:
        seen = starts.astimezone(zone)
        per_gp.setdefault(gp, []).append(
            Act(
                "",
                None,
                created,
                seen,
                billing,
                starts - created <= WITHIN,
                not in_pdsa(seen, hours, off),
                "",
                None,
            )
        )
    out = []
    for gp, acts in per_gp.items():
        weeks = _weeks(acts, territory.snp_weekly_cap)
        out.append(
            GpCount(
                practitioner_id=gp,
                name=names.get(gp, "?"),
                regulated=len(acts),
                snp=sum(1 for a in acts if a.billing == "snp"),
                mrt=sum(1 for a in acts if a.billing == "mrt"),
                unstated=sum(1 for a in acts if a.billing is None),
                snp_eligible=sum(1 for a in acts if a.eligible and a.billing == "snp"),
                weeks_over_cap=sum(1 for w in weeks if w.over_cap),
            )
        )
    return sorted(out, key=lambda c: (french_key(c.name), c.practitioner_id))


def parse_month(text: str | None, today: date) -> date:
    """``YYYY-MM`` → its first day; this month when absent or malformed."""
    if text and len(text) == 7 and text[4] == "-" and text.replace("-", "").isdigit():
        year, month = int(text[:4]), int(text[5:])
        if 2000 <= year <= 2100 and 1 <= month <= 12:
            return date(year, month, 1)
    return today.replace(day=1)
