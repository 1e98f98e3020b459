"""Regulation service use cases, for the platform administrator. Flush and audit; no commit."""

from __future__ import annotations

import sqlalchemy as sa

from app import audit
from app.collation import french_sorted
from app.enums import Role
from app.extensions import db
from app.models import RegulationService, Territory, User, regulation_service_territory
from app.validators import ValidationError


def _clean_name(name: str, *, service_id: int | None = None) -> str:
    cleaned = " ".join((name or "").split())
    if len(cleaned) < 2:
        raise ValidationError(
            "Le nom du service de régulation est obligatoire (2 caractères au moins)."
        )
    if len(cleaned) > 120:
        raise ValidationError("Nom du service de régulation trop long (120 caractères au plus).")
    taken = db.session.scalar(
        sa.select(RegulationService.id).where(
            sa.func.lower(RegulationService.name) == cleaned.lower(),
            RegulationService.id != (service_id or 0),
        )
    )
    if taken:
        raise ValidationError(f"Un service de régulation s'appelle déjà « {cleaned} ».")
    return cleaned


def create_service(name: str, *, by: User | None) -> RegulationService:
    """A new regulation service (e.g. "SAS 85"), attached to no territory yet."""
    service = RegulationService(name=_clean_name(name))
    db.session.add(service)
    db.session.flush()
    audit.record("regulation_service.create", by=by, target=service, detail={"name": service.name})
    return service


def rename_service(service: RegulationService, name: str, *, by: User | None) -> None:
    before = service.name
    service.name = _clean_name(name, service_id=service.id)
    db.session.flush()
    audit.record(
        "regulation_service.rename",
        by=by,
        target=service,
        detail={"before": before, "after": service.name},
    )


def attach_territory(service: RegulationService, territory: Territory, *, by: User | None) -> None:
    """Let the service's regulators search and book this territory's slots."""
    if territory in service.territories:
        raise ValidationError(f"{territory.name} est déjà rattaché à {service.name}.")
    service.territories.append(territory)
    db.session.flush()
    # Recorded under the territory too: its coordinator sees who may now book its slots.
    for territory_id in (None, territory.id):
        audit.record(
            "regulation_service.attach",
            by=by,
            territory_id=territory_id,
            target=service,
            detail={"service": service.name, "territory_id": territory.id},
        )


def detach_territory(service: RegulationService, territory: Territory, *, by: User | None) -> None:
    """Stop the service's regulators from seeing this territory (bookings already made stay)."""
    if territory not in service.territories:
        raise ValidationError(f"{territory.name} n'est pas rattaché à {service.name}.")
    service.territories.remove(territory)
    db.session.flush()
    for territory_id in (None, territory.id):
        audit.record(
            "regulation_service.detach",
            by=by,
            territory_id=territory_id,
            target=service,
            detail={"service": service.name, "territory_id": territory.id},
        )


def assign_regulator(user: User, service: RegulationService | None, *, by: User | None) -> None:
    """Make a regulator account belong to a service (or to none)."""
    if user.role != Role.REGULATOR:
        raise ValidationError(
            "Seul un compte de régulateur·rice peut appartenir à un service de régulation."
        )
    if service is None and user.territory_id is None:
        raise ValidationError(
            "Ce compte n'a pas de territoire propre : il doit rester rattaché à un service."
        )
    before = user.regulation_service_id
    user.regulation_service = service
    db.session.flush()
    audit.record(
        "regulation_service.regulator",
        by=by,
        target=user,
        detail={"before": before, "after": service.id if service else None},
    )


def service_territory_ids(service_id: int) -> list[int]:
    """Territories a service covers: the set its regulators' search will span."""
    return list(
        db.session.scalars(
            sa.select(regulation_service_territory.c.territory_id)
            .where(regulation_service_territory.c.service_id == service_id)
            .order_by(regulation_service_territory.c.territory_id)
        )
    )


def list_services() -> list[RegulationService]:
    services = db.session.scalars(sa.select(RegulationService).order_by(RegulationService.id))
    return french_sorted(services, key=lambda s: s.name)


def list_territories() -> list[Territory]:
    territories = db.session.scalars(sa.select(Territory).order_by(Territory.id))
    return french_sorted(territories, key=lambda t: t.name)


def list_regulators() -> list[User]:
    return list(
        db.session.scalars(sa.select(User).where(User.role == Role.REGULATOR).order_by(User.email))
    )
