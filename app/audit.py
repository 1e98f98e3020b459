"""Recording who did what. Called by services inside their transaction."""

from __future__ import annotations

from typing import Any

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
