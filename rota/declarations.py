"""A GP's declarations of unavailability, checked against their roster.

A declaration on a day the GP is rostered either is refused (they hand the session over
first) or, where the territory chose it (``Territory.absence_on_duty_to_replace``), is
accepted "à remplacer": the session of a published rota goes to the bourse and the
coordinator's "À faire" lists it until someone holds it; a not yet published one simply
loses the GP (the generation fills the place again). Past days are refused: nothing can
change them. A GP deletes their own entries until the rota of the days they cover is
generated; after that the rota was built on them and only the coordinator can undo it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from app import audit
from app.extensions import db
from app.models import Practitioner, Territory, User
from app.outbox import notify
from app.timeutil import local, now_utc
from app.validators import ValidationError
from rota import services
from rota.models import (
    Assignment,
    PeriodStatus,
    RotaPeriod,
    Session,
    SwapRequest,
    SwapStatus,
    Unavailability,
)

# Periods whose assignments are the GP's duty (volunteered, generated or published).
ROSTERED_STATUSES = (PeriodStatus.WISHES_OPEN, PeriodStatus.GENERATED, PeriodStatus.PUBLISHED)
# Once a period is generated, its rota was computed with the declarations: they stay.
FROZEN_STATUSES = (PeriodStatus.GENERATED, PeriodStatus.PUBLISHED, PeriodStatus.ARCHIVED)
TO_REPLACE_MESSAGE = "À remplacer : indisponibilité déclarée"


def local_today(territory: Territory, now: datetime | None = None) -> date:
    """Today's date on the territory's wall clock (a declaration's days are local)."""
    return local(now or now_utc(), territory.timezone).date()


def rostered_between(practitioner: Practitioner, start: date, end: date) -> list[Assignment]:
    """The GP's upcoming, live assignments on the days ``start``..``end`` (inclusive)."""
    return list(
        db.session.scalars(
            sa.select(Assignment)
            .join(Session, Session.id == Assignment.session_id)
            .join(RotaPeriod, RotaPeriod.id == Session.period_id)
            .where(
                Assignment.practitioner_id == practitioner.id,
                Session.local_date >= start,
                Session.local_date <= end,
                Session.starts_at > now_utc(),
                ~Session.cancelled,
                RotaPeriod.status.in_(ROSTERED_STATUSES),
            )
            .order_by(Session.starts_at, Session.id)
        )
    )


def _describe(assignments: list[Assignment]) -> str:
    return ", ".join(
        f"le {a.session.local_date:%d/%m/%Y} à {a.session.site.name}" for a in assignments
    )


@dataclass(frozen=True)
class Declared:
    """What a declaration did: the entry, and the sessions it put "à remplacer"."""

    item: Unavailability
    to_replace: tuple[Assignment, ...]
    released: int  # places of unpublished rotas given back to the generation


def declare(
    practitioner: Practitioner,
    *,
    start_date: date,
    end_date: date,
    reason: str,
    by: User | None,
    now: datetime | None = None,
) -> Declared:
    """Record an absence, after the checks the module docstring explains."""
    territory = db.session.get(Territory, practitioner.territory_id)
    assert territory is not None
    today = local_today(territory, now)
    if start_date < today:
        raise ValidationError(
            "Une indisponibilité ne peut pas commencer dans le passé : choisissez une date "
            f"à partir d'aujourd'hui ({today:%d/%m/%Y})."
        )
    rostered = rostered_between(practitioner, start_date, end_date)
    if rostered and not territory.absence_on_duty_to_replace:
        raise ValidationError(
            f"Vous êtes de garde {_describe(rostered)} : cédez d'abord cette plage (à un "
            "confrère ou sur la bourse) ou contactez la coordination."
        )
    item = services.declare_unavailability(
        practitioner, start_date=start_date, end_date=end_date, reason=reason, by=by
    )
    to_replace: list[Assignment] = []
    released = 0
    for assignment in rostered:
        if assignment.session.period.status == PeriodStatus.PUBLISHED:
            _to_bourse(assignment, by=by)
            to_replace.append(assignment)
        else:
            services.unassign(assignment, by=by)
            released += 1
    if to_replace:
        _tell_coordinators(territory, practitioner, to_replace)
    if rostered:
        audit.record(
            "unavailability.on_duty",
            by=by,
            territory_id=practitioner.territory_id,
            target=item,
            detail={"to_replace": [a.id for a in to_replace], "released": released},
        )
    return Declared(item, tuple(to_replace), released)


def _tell_coordinators(
    territory: Territory, practitioner: Practitioner, to_replace: list[Assignment]
) -> None:
    """One e-mail to each coordinator: who is away, and which sessions need a GP."""
    tz = territory.timezone
    lines = "\n".join(
        f"- {a.session.local_date:%d/%m/%Y}, {local(a.session.starts_at, tz):%H:%M}–"
        f"{local(a.session.ends_at, tz):%H:%M}, {a.session.site.name}"
        for a in to_replace
    )
    for email in services.coordinator_emails(practitioner.territory_id):
        notify(
            practitioner.territory_id,
            email,
            "Tour de rôle : plage(s) à remplacer",
            f"{practitioner.display_name} a déclaré une indisponibilité un jour de garde. "
            f"Plage(s) à remplacer, proposées sur la bourse :\n{lines}\n"
            "Tant que personne ne les reprend, le médecin en reste titulaire. Suivez-les dans "
            "Tour de rôle (À faire, plages à pourvoir).",
        )


def _to_bourse(assignment: Assignment, *, by: User | None) -> None:
    """Offer the session on the bourse, unless the GP already offers it somewhere."""
    live = db.session.scalar(
        sa.select(SwapRequest.id).where(
            SwapRequest.assignment_id == assignment.id,
            SwapRequest.status.in_([SwapStatus.OPEN, SwapStatus.PENDING]),
        )
    )
    if live is None:
        services.offer_swap(assignment, to=None, message=TO_REPLACE_MESSAGE, by=by)


def deletable(item: Unavailability) -> bool:
    """Whether no rota covering the entry's days has been generated yet."""
    practitioner = db.session.get(Practitioner, item.practitioner_id)
    assert practitioner is not None
    frozen = db.session.scalar(
        sa.select(sa.func.count(RotaPeriod.id)).where(
            RotaPeriod.territory_id == practitioner.territory_id,
            RotaPeriod.status.in_(FROZEN_STATUSES),
            RotaPeriod.start_date <= item.end_date,
            RotaPeriod.end_date >= item.start_date,
        )
    )
    return not frozen


def delete(item: Unavailability, *, by: User | None) -> None:
    """The GP withdraws an entry, while no generated rota relies on it."""
    if not deletable(item):
        raise ValidationError(
            "Cette indisponibilité ne peut plus être supprimée : le tableau de ces dates est "
            "déjà généré. Contactez la coordination."
        )
    practitioner = db.session.get(Practitioner, item.practitioner_id)
    assert practitioner is not None
    audit.record(
        "unavailability.delete",
        by=by,
        territory_id=practitioner.territory_id,
        target=item,
        detail={"start": item.start_date.isoformat(), "end": item.end_date.isoformat()},
    )
    db.session.delete(item)
    db.session.flush()


@dataclass(frozen=True)
class DeclarationLine:
    item: Unavailability
    deletable: bool


def my_declarations(practitioner: Practitioner, today: date) -> list[DeclarationLine]:
    """The GP's entries not yet over, earliest first, each saying whether it can go."""
    items = db.session.scalars(
        sa.select(Unavailability)
        .where(Unavailability.practitioner_id == practitioner.id, Unavailability.end_date >= today)
        .order_by(Unavailability.start_date, Unavailability.id)
    )
    return [DeclarationLine(u, deletable(u)) for u in items]


def my_declaration(practitioner: Practitioner, item_id: int) -> Unavailability | None:
    """One of the GP's own entries (``None`` for anyone else's: a 404, not a 403)."""
    return db.session.scalar(
        sa.select(Unavailability).where(
            Unavailability.id == item_id, Unavailability.practitioner_id == practitioner.id
        )
    )


def to_replace(territory_id: int, now: datetime) -> list[Assignment]:
    """Upcoming assignments whose GP has since declared the day unavailable (the to-do)."""
    return list(
        db.session.scalars(
            sa.select(Assignment)
            .join(Session, Session.id == Assignment.session_id)
            .where(
                Session.territory_id == territory_id,
                ~Session.cancelled,
                Session.starts_at >= now,
                sa.exists().where(
                    Unavailability.practitioner_id == Assignment.practitioner_id,
                    Unavailability.start_date <= Session.local_date,
                    Unavailability.end_date >= Session.local_date,
                ),
            )
            .options(
                joinedload(Assignment.session).joinedload(Session.site),
                joinedload(Assignment.practitioner),
            )
            .order_by(Session.starts_at, Session.id)
        ).unique()
    )
