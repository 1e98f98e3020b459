"""The rota's panels on a GP's home page (``app.events.gp_home_panels``).

What a GP looks for on their phone, first: where and when they are expected next, the
offers waiting for their answer, the places of their sites still missing a GP (the bourse),
and where they stand against their fair share of the year.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from app import events
from app.extensions import db
from app.home import BALANCE, NEXT_SESSION, OPEN_PLACES, PROPOSALS, HomePanel
from app.models import Practitioner, Territory
from app.timeutil import local
from rota import reads, services
from rota.models import Assignment, PeriodStatus, RotaPeriod, Session, SwapRequest, SwapStatus

PLACES_SHOWN = 3


def next_session(me: Practitioner, now: datetime) -> Session | None:
    """My soonest session of a published rota that has not ended (cancelled ones included:
    the GP must learn it is off)."""
    return db.session.scalars(
        reads.with_people(
            sa.select(Session)
            .join(Assignment, Assignment.session_id == Session.id)
            .join(RotaPeriod, RotaPeriod.id == Session.period_id)
            .where(
                Assignment.practitioner_id == me.id,
                RotaPeriod.status == PeriodStatus.PUBLISHED,
                Session.ends_at >= now,
            )
            .order_by(Session.starts_at, Session.id)
            .limit(1)
        )
    ).first()


def offers_for_me(me: Practitioner, now: datetime) -> list[SwapRequest]:
    """Open hand-overs named to me, or on the bourse at one of my sites."""
    my_sites = {s.id for s in me.sites}
    return [
        o
        for o in reads.live_swaps(me.territory_id, now)
        if o.status == SwapStatus.OPEN
        and o.from_practitioner_id != me.id
        and (
            o.to_practitioner_id == me.id
            if o.to_practitioner_id is not None
            else o.session.site_id in my_sites
        )
    ]


def panels(me: Practitioner, *, now: datetime) -> list[HomePanel]:
    """Next session, offers for me, open places of my sites, my year's balance."""
    places = [
        s
        for s in reads.open_places(me.territory_id, site_ids=[s.id for s in me.sites])
        if all(a.practitioner_id != me.id for a in s.assignments)
    ]
    territory = db.session.get(Territory, me.territory_id)
    today = (local(now, territory.timezone) if territory else local(now)).date()
    return [
        HomePanel(
            "next_session",
            NEXT_SESSION,
            "rota/home/_next_session.html",
            {"session": next_session(me, now), "now": now},
        ),
        HomePanel(
            "offers", PROPOSALS, "rota/home/_offers.html", {"offers": offers_for_me(me, now)}
        ),
        HomePanel(
            "open_places",
            OPEN_PLACES,
            "rota/home/_open_places.html",
            {"places": places[:PLACES_SHOWN], "more": max(0, len(places) - PLACES_SHOWN)},
        ),
        HomePanel(
            "balance",
            BALANCE,
            "rota/home/_balance.html",
            {"my_fairness": services.my_fairness(me, today=today)},
        ),
    ]


def connect() -> None:
    events.gp_home_panels.connect(panels)
