"""What the rota pages show: read services returning frozen dataclasses or loaded rows.

Views stay thin (parse, call, render) and hold no query; the queries here load what the
templates walk (sessions with their site, assignments and GPs) up front, so a page issues
the same few statements however many sessions, GPs or swaps it lists.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import joinedload, selectinload

from app.collation import by_name, french_sorted
from app.extensions import db
from app.models import Practitioner, Site, Territory
from app.names import Person, short_names
from app.timeutil import now_utc
from rota import services
from rota.fairness import Chart, FairnessRow, bar_chart
from rota.models import (
    Assignment,
    PeriodStatus,
    RotaPeriod,
    Session,
    SessionTemplate,
    SwapRequest,
    SwapStatus,
    Wish,
)

LIVE_SWAPS = (SwapStatus.OPEN, SwapStatus.PENDING)


def with_people(query: sa.Select) -> sa.Select:
    """A session query that also loads each session's site, commune, period and GPs."""
    return query.options(
        joinedload(Session.site).joinedload(Site.commune),
        joinedload(Session.period),
        selectinload(Session.assignments).joinedload(Assignment.practitioner),
    )


def swaps_query(territory_id: int, now: datetime) -> sa.Select:
    """Live swap requests (offered or taken, awaiting approval) of sessions still to come."""
    return (
        sa.select(SwapRequest)
        .join(Session, Session.id == SwapRequest.session_id)
        .where(
            SwapRequest.territory_id == territory_id,
            SwapRequest.status.in_(LIVE_SWAPS),
            Session.starts_at >= now,
        )
        .order_by(Session.starts_at)
        .options(
            joinedload(SwapRequest.session).joinedload(Session.site),
            joinedload(SwapRequest.from_practitioner),
            joinedload(SwapRequest.to_practitioner),
        )
    )


def live_swaps(territory_id: int, now: datetime) -> list[SwapRequest]:
    return list(db.session.scalars(swaps_query(territory_id, now)))


# The session's identity map holds objects weakly: what is loaded ahead for a service must
# stay referenced (``held``) until the service has fetched the same rows, or it is dropped
# and loaded again, lazily, one row at a time.


def open_places(territory_id: int, *, site_ids: Iterable[int] | None = None) -> list[Session]:
    """``services.open_places`` with each place's site and GPs loaded (one query, not N)."""
    held = _upcoming_published(territory_id, site_ids)
    places = services.open_places(territory_id, site_ids=site_ids)
    del held
    return places


def _upcoming_published(territory_id: int, site_ids: Iterable[int] | None) -> list[Session]:
    """The sessions ``services.open_places`` looks at, with their site and GPs."""
    query = with_people(
        sa.select(Session)
        .join(RotaPeriod, RotaPeriod.id == Session.period_id)
        .where(
            Session.territory_id == territory_id,
            RotaPeriod.status == PeriodStatus.PUBLISHED,
            Session.starts_at >= now_utc(),
            ~Session.cancelled,
        )
    )
    if site_ids is not None:
        query = query.where(Session.site_id.in_(list(site_ids)))
    return list(db.session.scalars(query).unique())


def gps_with_sites(territory_id: int) -> list[Practitioner]:
    """The active GPs (``services.active_gps``), each with their sites loaded in one query."""
    held = list(
        db.session.scalars(
            sa.select(Practitioner)
            .where(Practitioner.territory_id == territory_id)
            .options(selectinload(Practitioner.sites))
        )
    )
    gps = services.active_gps(territory_id)
    del held
    return gps


# --- coordinator lists -------------------------------------------------------------------------


def session_templates(territory_id: int) -> list[SessionTemplate]:
    templates = db.session.scalars(
        sa.select(SessionTemplate)
        .where(SessionTemplate.territory_id == territory_id)
        .order_by(SessionTemplate.start_time, SessionTemplate.id)
        .options(joinedload(SessionTemplate.site))
    )
    return french_sorted(templates, key=lambda t: t.site.name)


def periods_of(
    territory_id: int, statuses: Sequence[PeriodStatus] | None = None
) -> list[RotaPeriod]:
    """The territory's periods, latest first (only those of ``statuses`` when given)."""
    query = sa.select(RotaPeriod).where(RotaPeriod.territory_id == territory_id)
    if statuses is not None:
        query = query.where(RotaPeriod.status.in_(list(statuses)))
    return list(db.session.scalars(query.order_by(RotaPeriod.start_date.desc())))


def assignment_in_territory(assignment_id: int, territory_id: int | None) -> Assignment | None:
    assignment = db.session.get(Assignment, assignment_id)
    if assignment is None or assignment.session.territory_id != territory_id:
        return None
    return assignment


def assignment_of(assignment_id: int, practitioner_id: int) -> Assignment | None:
    """One of this GP's own assignments; anyone else's is not found."""
    assignment = db.session.get(Assignment, assignment_id)
    if assignment is None or assignment.practitioner_id != practitioner_id:
        return None
    return assignment


def months_of(period: RotaPeriod) -> list[date]:
    """First days of the months the period touches."""
    month, listed = period.start_date.replace(day=1), []
    while month <= period.end_date:
        listed.append(month)
        month = next_month(month)
    return listed


def next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def gp_names(sessions: Iterable[Session]) -> dict[int, str]:
    """The short name of every GP holding one of ``sessions`` (``app.names.short_names``):
    "É. Laurent", or the given name spelled out when two of them would read the same."""
    return short_names(
        Person(gp.id, gp.given_name, gp.family_name, f"RPPS …{gp.rpps[-4:]}")
        for s in sessions
        for gp in (a.practitioner for a in s.assignments)
    )


# --- the period's review page ------------------------------------------------------------------


@dataclass(frozen=True)
class PeriodReview:
    """The coordinator's review of a period: grid, unfilled sessions, fairness."""

    days: list[date]
    sites: list[Site]
    grid: dict[tuple[int, date], list[Session]]
    unfilled: list[Session]
    rows: list[FairnessRow]
    chart: Chart
    answered: int
    gp_count: int
    names: dict[int, str]  # practitioner id → "É. Laurent", told apart from namesakes


def load_sessions(period: RotaPeriod) -> list[Session]:
    """The period's sessions (``period.sessions``), each with its site and GPs loaded.

    Loading them first in one query means the relationship hands back objects that
    already hold their assignments: the page's cost stays flat however big the rota is.
    """
    held = list(
        db.session.scalars(
            with_people(sa.select(Session).where(Session.period_id == period.id))
        ).unique()
    )
    sessions = period.sessions
    del held
    return sessions


def fairness(period: RotaPeriod) -> list[FairnessRow]:
    """``services.period_fairness``, with what it walks loaded first, in a few queries.

    It walks the period's sessions and assignments and every GP's sites (earlier periods
    come from the fairness ledger): one query per session and per GP otherwise.
    """
    held = (load_sessions(period), gps_with_sites(period.territory_id))
    rows = services.period_fairness(period)
    del held
    return rows


def period_review(period: RotaPeriod, territory: Territory) -> PeriodReview:
    sessions = load_sessions(period)
    grid: dict[tuple[int, date], list[Session]] = defaultdict(list)
    for s in sessions:
        grid[(s.site_id, s.local_date)].append(s)
    rows = fairness(period) if sessions else []
    shown = [r for r in rows if r.total or r.total_target]
    answered = db.session.scalar(
        sa.select(sa.func.count()).select_from(Wish).where(Wish.period_id == period.id)
    )
    return PeriodReview(
        days=sorted({s.local_date for s in sessions}),
        sites=[s for s in by_name(territory.sites) if any(x.site_id == s.id for x in sessions)],
        grid=grid,
        unfilled=[s for s in sessions if not s.cancelled and len(s.assignments) < s.gps_needed],
        rows=shown,
        chart=bar_chart(shown),
        answered=answered or 0,
        gp_count=len(services.active_gps(territory.id)),
        names=gp_names(sessions),
    )


# --- the printable month -----------------------------------------------------------------------


@dataclass(frozen=True)
class PrintSheet:
    """One month of a period on one page: sites as columns, days as rows."""

    month: date
    days: list[date]
    sites: list[Site]
    cells: dict[tuple[int, date], list[Session]]
    previous: date | None
    following: date | None
    names: dict[int, str]  # practitioner id → "É. Laurent", told apart from namesakes


def print_sheet(period: RotaPeriod, territory: Territory, month: date) -> PrintSheet:
    after = next_month(month)
    sessions = [
        s for s in load_sessions(period) if month <= s.local_date < after and not s.cancelled
    ]
    site_ids = {s.site_id for s in sessions}
    cells: dict[tuple[int, date], list[Session]] = defaultdict(list)
    for s in sorted(sessions, key=lambda x: x.starts_at):
        cells[(s.site_id, s.local_date)].append(s)
    previous = (month - timedelta(days=1)).replace(day=1)
    return PrintSheet(
        month=month,
        days=sorted({s.local_date for s in sessions}),
        sites=[s for s in by_name(territory.sites) if s.id in site_ids],
        cells=cells,
        previous=previous if previous >= period.start_date.replace(day=1) else None,
        following=after if after <= period.end_date else None,
        names=gp_names(sessions),
    )
