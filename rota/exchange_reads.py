"""What the exchange pages show: proposals waiting for a GP, their own, the coordinator's.

Read-only companions of ``rota.exchanges``; views hold no query. Names a person reads are
ordered with ``app.collation.french_sorted``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import joinedload, selectinload

from app.collation import french_sorted
from app.extensions import db
from app.models import Practitioner, Site
from rota.exchanges import LIVE, month_of
from rota.models import (
    Assignment,
    ExchangeCounterpart,
    ExchangeDecline,
    ExchangeProposal,
    PeriodStatus,
    RotaPeriod,
    Session,
    SwapStatus,
)


@dataclass(frozen=True)
class Offer:
    """A proposal addressed to me, and which of my sessions I may give in return."""

    proposal: ExchangeProposal
    choices: list[Assignment]


@dataclass(frozen=True)
class Colleague:
    """A colleague and their sessions I may ask for in exchange."""

    practitioner: Practitioner
    assignments: list[Assignment]


def _loaded(query: sa.Select) -> sa.Select:
    return query.options(
        joinedload(ExchangeProposal.session).joinedload(Session.site),
        joinedload(ExchangeProposal.from_practitioner),
        joinedload(ExchangeProposal.taken_by),
        joinedload(ExchangeProposal.counterpart_session).joinedload(Session.site),
        selectinload(ExchangeProposal.counterparts)
        .joinedload(ExchangeCounterpart.session)
        .joinedload(Session.site),
        selectinload(ExchangeProposal.counterparts).joinedload(ExchangeCounterpart.practitioner),
        selectinload(ExchangeProposal.declines).joinedload(ExchangeDecline.practitioner),
    )


def _my_upcoming(practitioner_id: int, now: datetime) -> list[Assignment]:
    """My assignments on sessions of published rotas still to come, in time order."""
    return list(
        db.session.scalars(
            sa.select(Assignment)
            .join(Session, Session.id == Assignment.session_id)
            .join(RotaPeriod, RotaPeriod.id == Session.period_id)
            .where(
                Assignment.practitioner_id == practitioner_id,
                RotaPeriod.status == PeriodStatus.PUBLISHED,
                Session.starts_at > now,
                ~Session.cancelled,
            )
            .options(joinedload(Assignment.session).joinedload(Session.site))
            .order_by(Session.starts_at)
        )
    )


def offers_for(practitioner: Practitioner, now: datetime) -> list[Offer]:
    """Open proposals I can answer: naming one of my sessions, or any session of a month
    in which I hold one, that I haven't declined. Soonest first."""
    named_ids = sa.select(ExchangeCounterpart.proposal_id).where(
        ExchangeCounterpart.practitioner_id == practitioner.id
    )
    declined_ids = sa.select(ExchangeDecline.proposal_id).where(
        ExchangeDecline.practitioner_id == practitioner.id
    )
    proposals = db.session.scalars(
        _loaded(
            sa.select(ExchangeProposal)
            .join(Session, Session.id == ExchangeProposal.session_id)
            .where(
                ExchangeProposal.territory_id == practitioner.territory_id,
                ExchangeProposal.status == SwapStatus.OPEN,
                ExchangeProposal.from_practitioner_id != practitioner.id,
                Session.starts_at > now,
                sa.or_(ExchangeProposal.any_in_month, ExchangeProposal.id.in_(named_ids)),
                ExchangeProposal.id.not_in(declined_ids),
            )
            .order_by(Session.starts_at, ExchangeProposal.id)
        )
    ).all()
    if not proposals:
        return []  # the common case: one statement for the nav badge
    mine = _my_upcoming(practitioner.id, now)
    offers = []
    for proposal in proposals:
        if proposal.any_in_month:
            first, following = month_of(proposal.session.local_date)
            choices = [
                a
                for a in mine
                if first <= a.session.local_date < following and a.session_id != proposal.session_id
            ]
        else:
            named = {c.assignment_id for c in proposal.counterparts}
            choices = [a for a in mine if a.id in named]
        if choices:
            offers.append(Offer(proposal, choices))
    return offers


def waiting_count(practitioner: Practitioner, now: datetime) -> int:
    """The nav badge: how many proposals wait for my answer."""
    return len(offers_for(practitioner, now))


def my_proposals(practitioner_id: int, now: datetime) -> list[ExchangeProposal]:
    """My live proposals (open, or accepted and awaiting the coordinator), soonest first."""
    return list(
        db.session.scalars(
            _loaded(
                sa.select(ExchangeProposal)
                .join(Session, Session.id == ExchangeProposal.session_id)
                .where(
                    ExchangeProposal.from_practitioner_id == practitioner_id,
                    ExchangeProposal.status.in_(LIVE),
                    Session.starts_at > now,
                )
                .order_by(Session.starts_at)
            )
        ).unique()
    )


def awaiting_approval(territory_id: int, now: datetime) -> list[ExchangeProposal]:
    """Accepted exchanges the coordinator must still approve or refuse."""
    return list(
        db.session.scalars(
            _loaded(
                sa.select(ExchangeProposal)
                .join(Session, Session.id == ExchangeProposal.session_id)
                .where(
                    ExchangeProposal.territory_id == territory_id,
                    ExchangeProposal.status == SwapStatus.PENDING,
                    Session.starts_at > now,
                )
                .order_by(Session.starts_at)
            )
        ).unique()
    )


def colleague_sessions(assignment: Assignment, now: datetime) -> list[Colleague]:
    """Colleagues' upcoming sessions in the month of ``assignment``'s session, per colleague
    (French order), each colleague's in time order: what I may ask for in exchange."""
    session = assignment.session
    first, following = month_of(session.local_date)
    rows = db.session.scalars(
        sa.select(Assignment)
        .join(Session, Session.id == Assignment.session_id)
        .join(RotaPeriod, RotaPeriod.id == Session.period_id)
        .where(
            Session.territory_id == session.territory_id,
            RotaPeriod.status == PeriodStatus.PUBLISHED,
            Session.local_date >= first,
            Session.local_date < following,
            Session.starts_at > now,
            ~Session.cancelled,
            Session.id != session.id,
            Assignment.practitioner_id != assignment.practitioner_id,
        )
        .options(
            joinedload(Assignment.session).joinedload(Session.site).joinedload(Site.commune),
            joinedload(Assignment.practitioner),
        )
        .order_by(Session.starts_at, Session.site_id)
    )
    by_gp: dict[int, list[Assignment]] = {}
    people: dict[int, Practitioner] = {}
    for a in rows:
        by_gp.setdefault(a.practitioner_id, []).append(a)
        people[a.practitioner_id] = a.practitioner
    ordered = french_sorted(people.values(), key=lambda p: f"{p.family_name} {p.given_name}")
    return [Colleague(p, by_gp[p.id]) for p in ordered]


def my_assignment(assignment_id: int, practitioner_id: int) -> Assignment | None:
    """One of my assignments (``None`` if it isn't mine: the view answers 404)."""
    return db.session.scalar(
        sa.select(Assignment).where(
            Assignment.id == assignment_id, Assignment.practitioner_id == practitioner_id
        )
    )


def assignments_by_id(ids: list[int]) -> list[Assignment]:
    return list(db.session.scalars(sa.select(Assignment).where(Assignment.id.in_(ids))))
