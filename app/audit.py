"""Recording who did what. Called by services inside their transaction."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent, User


def record(
    action: str,
    *,
    by: User | None,
    territory_id: int | None = None,
    target: Any = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event to the current transaction (it commits or rolls back with it).

    ``detail`` holds identifiers and changed field names, never patient data.
    """
    if target is not None and getattr(target, "id", None) is None:
        db.session.flush()  # the target needs its id before we can name it
    event = AuditEvent(
        user_id=by.id if by is not None else None,
        role=by.role.value if by is not None else None,
        territory_id=territory_id
        if territory_id is not None
        else getattr(by, "territory_id", None),
        action=action,
        target_type=type(target).__name__ if target is not None else None,
        target_id=str(target.id) if target is not None else None,
        detail=detail or {},
    )
    db.session.add(event)
    return event


# --- the change marker ----------------------------------------------------------------------------


def newest_event(territory: sa.ColumnElement[int] | int) -> sa.ScalarSelect[int]:
    return (
        sa.select(sa.func.max(AuditEvent.id))
        .where(AuditEvent.territory_id == territory)
        .scalar_subquery()
    )


def newest_unowned_event() -> sa.ScalarSelect[int]:
    return (
        sa.select(sa.func.max(AuditEvent.id))
        .where(AuditEvent.territory_id.is_(None))
        .scalar_subquery()
    )


def change_marker(territory_id: int) -> tuple[object, ...]:
    """Changes whenever anything of the territory changes: the newest audit event's id.

    Every service writes an audit event with its change (bookings, rota, swaps, sites,
    practitioners, settings, feed settings), in the same transaction, so data derived from
    the territory under an unchanged marker is unchanged (calendar feeds, slot searches).
    Not exact on PostgreSQL, where two transactions may commit in the other order than they
    took their ids: whoever caches behind it keeps entries a minute at most. Events without
    a territory (the command line acting without a user) count too. Two index lookups.
    """
    return tuple(
        db.session.execute(sa.select(newest_event(territory_id), newest_unowned_event())).one()
    )
