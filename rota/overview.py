"""A GP's overview of the rota ("Mes plages"): one read service, one frozen answer.

Everything the page lists is loaded in a fixed number of queries (sessions with their
site, period and GPs; swaps with their people; every open period's wish at once), so
the page costs the same for a GP with two sessions or two hundred.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from app.collation import by_family_name
from app.extensions import db
from app.models import Practitioner
from rota import reads
from rota.fairness import FairnessRow
from rota.models import (
    Assignment,
    PeriodStatus,
    RotaPeriod,
    Session,
    SwapRequest,
    SwapStatus,
    Unavailability,
    Wish,
)

VOLUNTEER_LIMIT = 200  # sessions offered to volunteer for; the page shows the first 60


@dataclass(frozen=True)
class FairnessSummary:
    """Where the GP stands in the latest published rota, against the territory."""

    period: RotaPeriod
    me: FairnessRow
    mean_load: float
    max_gap: float


@dataclass(frozen=True)
class GpOverview:
    """What "Mes plages" shows a GP."""

    upcoming: list[Session]  # my sessions to come, in open or published rotas
    mine: dict[int, Assignment]  # my assignment of each upcoming session, by session id
    open_sessions: list[Session]  # sessions of an open wishes window I may volunteer for
    unavailability: list[Unavailability]
    for_me: list[SwapRequest]  # sessions colleagues offer me (or the bourse, at my sites)
    my_offers: dict[int, SwapRequest]  # my live offers, by assignment id
    my_takes: list[SwapRequest]  # sessions I took, awaiting approval
    bourse_places: list[Session]  # unfilled places of published rotas at my sites
    open_periods: list[tuple[RotaPeriod, Wish | None]]  # wishes windows, with my answer
    fairness: FairnessSummary | None
    colleagues: dict[int, list[Practitioner]]  # by site of my upcoming sessions
    practitioner_names: dict[int, str]


def gp_overview(practitioner: Practitioner, *, now: datetime) -> GpOverview:
    """The GP's sessions, offers, open windows and fairness, as of ``now``."""
    me = practitioner
    my_sites = [s.id for s in me.sites]
    upcoming = _upcoming(me, now)
    offers = reads.live_swaps(me.territory_id, now)
    gps = reads.gps_with_sites(me.territory_id)
    return GpOverview(
        upcoming=upcoming,
        mine={
            a.session_id: a for s in upcoming for a in s.assignments if a.practitioner_id == me.id
        },
        open_sessions=[s for s in _volunteerable(me, my_sites, now) if _wants_me(s, me)],
        unavailability=_unavailability(me, now),
        for_me=[o for o in offers if _offered_to(o, me, my_sites)],
        my_offers={o.assignment_id: o for o in offers if o.from_practitioner_id == me.id},
        my_takes=[o for o in offers if o.status == SwapStatus.PENDING and o.taken_by_id == me.id],
        bourse_places=[
            s for s in reads.open_places(me.territory_id, site_ids=my_sites) if not _holds(s, me)
        ],
        open_periods=_open_periods(me),
        fairness=_fairness(me),
        colleagues=_colleagues(me, gps, {s.site_id for s in upcoming}),
        practitioner_names={gp.id: gp.display_name for gp in gps},
    )


def _wants_me(session: Session, me: Practitioner) -> bool:
    """A session still missing GPs, which I don't hold already."""
    return len(session.assignments) < session.gps_needed and not _holds(session, me)


def _colleagues(
    me: Practitioner, gps: list[Practitioner], site_ids: set[int]
) -> dict[int, list[Practitioner]]:
    """The other GPs of each site, to whom I may hand a session there."""
    return {
        site_id: by_family_name(
            gp for gp in gps if gp.id != me.id and site_id in {x.id for x in gp.sites}
        )
        for site_id in site_ids
    }


def _holds(session: Session, me: Practitioner) -> bool:
    return any(a.practitioner_id == me.id for a in session.assignments)


def _offered_to(offer: SwapRequest, me: Practitioner, my_sites: list[int]) -> bool:
    """An open offer of someone else, named to me, or on the bourse at one of my sites."""
    if offer.status != SwapStatus.OPEN or offer.from_practitioner_id == me.id:
        return False
    if offer.to_practitioner_id is not None:
        return offer.to_practitioner_id == me.id
    return offer.session.site_id in my_sites


def _upcoming(me: Practitioner, now: datetime) -> list[Session]:
    return list(
        db.session.scalars(
            reads.with_people(
                sa.select(Session)
                .join(Assignment, Assignment.session_id == Session.id)
                .join(RotaPeriod, RotaPeriod.id == Session.period_id)
                .where(
                    Assignment.practitioner_id == me.id,
                    Session.ends_at >= now,
                    RotaPeriod.status.in_([PeriodStatus.PUBLISHED, PeriodStatus.WISHES_OPEN]),
                )
                .order_by(Session.starts_at)
            )
        ).unique()
    )


def _volunteerable(me: Practitioner, my_sites: list[int], now: datetime) -> list[Session]:
    return list(
        db.session.scalars(
            reads.with_people(
                sa.select(Session)
                .join(RotaPeriod, RotaPeriod.id == Session.period_id)
                .where(
                    RotaPeriod.territory_id == me.territory_id,
                    RotaPeriod.status == PeriodStatus.WISHES_OPEN,
                    Session.site_id.in_(my_sites),
                    Session.starts_at >= now,
                    ~Session.cancelled,
                )
                .order_by(Session.starts_at)
                .limit(VOLUNTEER_LIMIT)
            )
        ).unique()
    )


def _unavailability(me: Practitioner, now: datetime) -> list[Unavailability]:
    return list(
        db.session.scalars(
            sa.select(Unavailability)
            .where(Unavailability.practitioner_id == me.id, Unavailability.end_date >= now.date())
            .order_by(Unavailability.start_date)
        )
    )


def _open_periods(me: Practitioner) -> list[tuple[RotaPeriod, Wish | None]]:
    """Periods whose wishes window is open, each with my wish (all wishes in one query)."""
    periods = list(
        db.session.scalars(
            sa.select(RotaPeriod)
            .where(
                RotaPeriod.territory_id == me.territory_id,
                RotaPeriod.status == PeriodStatus.WISHES_OPEN,
            )
            .order_by(RotaPeriod.start_date)
        )
    )
    if not periods:
        return []
    wishes = {
        w.period_id: w
        for w in db.session.scalars(
            sa.select(Wish).where(
                Wish.practitioner_id == me.id, Wish.period_id.in_([p.id for p in periods])
            )
        )
    }
    return [(p, wishes.get(p.id)) for p in periods]


def _fairness(me: Practitioner) -> FairnessSummary | None:
    """My load against my target in the latest published rota, if I am in it."""
    latest = db.session.scalar(
        sa.select(RotaPeriod)
        .where(
            RotaPeriod.territory_id == me.territory_id, RotaPeriod.status == PeriodStatus.PUBLISHED
        )
        .order_by(RotaPeriod.start_date.desc())
        .limit(1)
    )
    if latest is None:
        return None
    rows = [r for r in reads.fairness(latest) if r.total or r.total_target]
    mine = next((r for r in rows if r.doctor_id == me.id), None)
    if mine is None:
        return None
    return FairnessSummary(
        period=latest,
        me=mine,
        mean_load=sum(r.total for r in rows) / len(rows),
        max_gap=max(abs(r.total - r.total_target) for r in rows),
    )
