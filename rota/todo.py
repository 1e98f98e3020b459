"""The rota's answers to the coordinator's "À faire" (``app.events.todo_items``)."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import url_for

from app import events
from app.enums import Profession
from app.extensions import db
from app.models import Practitioner, Territory
from app.todo import TodoItem
from rota.models import (
    Assignment,
    ExchangeProposal,
    PeriodStatus,
    RotaPeriod,
    Session,
    SwapRequest,
    SwapStatus,
    Unavailability,
    Wish,
)

SOON = timedelta(hours=48)
AHEAD = timedelta(days=14)


def _staffing() -> sa.Subquery:
    return (
        sa.select(Assignment.session_id, sa.func.count().label("gps"))
        .group_by(Assignment.session_id)
        .subquery()
    )


def _live_published(territory_id: int, start: datetime, end: datetime):
    staffed = _staffing()
    return (
        sa.select(sa.func.count(Session.id))
        .join(RotaPeriod, RotaPeriod.id == Session.period_id)
        .outerjoin(staffed, staffed.c.session_id == Session.id)
        .where(
            Session.territory_id == territory_id,
            RotaPeriod.status == PeriodStatus.PUBLISHED,
            ~Session.cancelled,
            Session.starts_at >= start,
            Session.starts_at < end,
        ),
        staffed,
    )


def unfilled_sessions(territory_id: int, now: datetime) -> int:
    """Published sessions of the next 14 days with fewer GPs than they need."""
    query, staffed = _live_published(territory_id, now, now + AHEAD)
    return int(
        db.session.scalar(query.where(sa.func.coalesce(staffed.c.gps, 0) < Session.gps_needed)) or 0
    )


def sessions_without_gp_soon(territory_id: int, now: datetime) -> int:
    """Published sessions starting within 48 h with no GP at all."""
    query, staffed = _live_published(territory_id, now, now + SOON)
    return int(db.session.scalar(query.where(staffed.c.gps.is_(None))) or 0)


def pending_swaps(territory_id: int, now: datetime) -> int:
    """Hand-overs and exchanges accepted by a colleague, waiting for the coordinator."""
    total = 0
    for model in (SwapRequest, ExchangeProposal):
        total += int(
            db.session.scalar(
                sa.select(sa.func.count(model.id))
                .join(Session, Session.id == model.session_id)
                .where(
                    model.territory_id == territory_id,
                    model.status == SwapStatus.PENDING,
                    Session.starts_at >= now,
                )
            )
            or 0
        )
    return total


def unanswered_wishes(territory_id: int) -> list[tuple[int, str, int]]:
    """Per period open for wishes: (id, name, active GPs who haven't answered)."""
    answered = (
        sa.select(Wish.practitioner_id).where(Wish.period_id == RotaPeriod.id).correlate(RotaPeriod)
    )
    silent = (
        sa.select(sa.func.count(Practitioner.id))
        .where(
            Practitioner.territory_id == territory_id,
            Practitioner.active,
            Practitioner.profession == Profession.GP,
            Practitioner.id.not_in(answered),
        )
        .correlate(RotaPeriod)
        .scalar_subquery()
    )
    rows = db.session.execute(
        sa.select(RotaPeriod.id, RotaPeriod.name, silent)
        .where(
            RotaPeriod.territory_id == territory_id,
            RotaPeriod.status == PeriodStatus.WISHES_OPEN,
        )
        .order_by(RotaPeriod.start_date)
    ).all()
    return [(pid, name, int(n)) for pid, name, n in rows]


def unavailable_but_rostered(territory_id: int, now: datetime) -> int:
    """Upcoming assignments on a day their GP has since declared unavailable."""
    return int(
        db.session.scalar(
            sa.select(sa.func.count(sa.distinct(Assignment.id)))
            .join(Session, Session.id == Assignment.session_id)
            .join(
                Unavailability,
                sa.and_(
                    Unavailability.practitioner_id == Assignment.practitioner_id,
                    Unavailability.start_date <= Session.local_date,
                    Unavailability.end_date >= Session.local_date,
                ),
            )
            .where(
                Session.territory_id == territory_id,
                ~Session.cancelled,
                Session.starts_at >= now,
            )
        )
        or 0
    )


def todo(territory: Territory, *, now: datetime) -> list[TodoItem]:
    gaps = url_for("rota.gaps")
    items = [
        TodoItem(
            "sessions_without_gp_48h",
            sessions_without_gp_soon(territory.id, now),
            "plage(s) commençant dans les 48 h sans aucun médecin",
            gaps,
            order=10,
        ),
        TodoItem(
            "unfilled_sessions_14d",
            unfilled_sessions(territory.id, now),
            "plage(s) à pourvoir dans les 14 prochains jours",
            gaps,
            order=20,
        ),
        TodoItem(
            "swaps_pending",
            pending_swaps(territory.id, now),
            "échange(s) de plage en attente de votre validation",
            gaps,
            order=30,
        ),
        TodoItem(
            "unavailable_rostered",
            unavailable_but_rostered(territory.id, now),
            "plage(s) à remplacer : le médecin s'est déclaré indisponible ce jour-là",
            url_for("rota.gaps", _anchor="a-remplacer"),
            order=35,
        ),
    ]
    for period_id, name, silent in unanswered_wishes(territory.id):
        items.append(
            TodoItem(
                f"wishes_unanswered_{period_id}",
                silent,
                f"médecin(s) n'ont pas encore répondu au recueil des souhaits « {name} »",
                url_for("rota.period", period_id=period_id),
                order=60,
            )
        )
    return items


def connect() -> None:
    events.todo_items.connect(todo)
