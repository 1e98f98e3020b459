"""Helpers every feature's views share: commit a service call, the user's territory."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import flash
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import Territory
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
    """The logged-in user's territory (every non-admin account has one: a CHECK says so)."""
    territory = db.session.get(Territory, current_user.territory_id)
    assert territory is not None
    return territory
