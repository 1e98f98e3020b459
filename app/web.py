"""Helpers every feature's views share: commit a service call, the user's territory."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import abort, flash
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import Territory
from app.regulation.services import service_territory_ids
from app.validators import ValidationError

T = TypeVar("T")


def attempt(action: Callable[[], T]) -> tuple[bool, T | None]:
    """Run a service and commit; on a refused change, roll back and tell the user why.

    Returns ``(ok, result)``. CSRF is checked for every POST by CSRFProtect already.
    """
    try:
        result = action()
        db.session.commit()
    except ValidationError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return False, None
    except IntegrityError:
        db.session.rollback()
        flash(
            "Cette modification entre en conflit avec une donnée existante ; rien n'a été enregistré.",
            "error",
        )
        return False, None
    return True, result


def current_territory() -> Territory:
    """The logged-in user's territory (a CHECK gives every non-admin account one), or,
    for a regulator of a regulation service without one, the service's first territory:
    the clock and settings their pages are read in. A desk with no territory left: 403."""
    territory_id = current_user.territory_id
    if territory_id is None and getattr(current_user, "regulation_service_id", None):
        covered = service_territory_ids(current_user.regulation_service_id)
        territory_id = covered[0] if covered else None
    territory = db.session.get(Territory, territory_id) if territory_id is not None else None
    if territory is None:
        abort(403)
    return territory
