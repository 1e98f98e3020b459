"""Who may do what: login loading, session lifetime, roles, territory isolation, headers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import Flask, Response, abort, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, logout_user
from werkzeug.routing import IntegerConverter

from app.database import READ_ONLY_METHODS
from app.enums import Role
from app.errors import error_response
from app.extensions import db, login_manager
from app.models import User
from app.timeutil import now_utc

F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M")

# Ids are PostgreSQL ``integer`` columns: a larger number names nothing, and sending it to
# the database is an "out of range" error (a 500), not the "not found" it is.
MAX_ID = 2**31 - 1

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The cookie holds ``id:session_token``; a rotated token invalidates old cookies."""
    ident, _, token = user_id.partition(":")
    if not ident.isdigit() or not token:
        return None
    user = db.session.get(User, int(ident))
    if user is None or not user.active or user.session_token != token:
        return None
    return user


def roles_required(*roles: Role) -> Callable[[F], F]:
    """Only logged-in users with one of ``roles``; others get 403 (anonymous: login page)."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def get_in_territory_or_404(model: type[M], object_id: int) -> M:
    """Load an object of the current user's territory; anything else is "not found".

    Answering 404 rather than 403 for another territory's ids does not even confirm
    that the id exists.
    """
    if not isinstance(object_id, int) or not 0 < object_id <= MAX_ID:
        abort(404)  # a form field typed by hand, or absurd: it names nothing
    obj = db.session.scalar(
        sa.select(model).where(
            model.id == object_id,  # type: ignore[attr-defined]
            model.territory_id == current_user.territory_id,  # type: ignore[attr-defined]
        )
    )
    if obj is None:
        abort(404)
    return obj


class IdConverter(IntegerConverter):
    """``<int:…>`` in routes: only numbers an id column can hold match, others are a 404."""

    def __init__(self, url_map: Any, fixed_digits: int = 0, min: int | None = None, **kw: Any):
        kw.setdefault("max", MAX_ID)
        super().__init__(url_map, fixed_digits, min, **kw)


def refuse_nul_characters() -> Any:
    """A NUL character in the URL, the query or a form: refused before any view runs.

    No text a person types holds one, and PostgreSQL can neither store nor even compare
    it: a reference, an e-mail or a name carrying it would end in a database error (a 500)
    instead of a refusal. In the path it names no page (404); in a parameter or a form
    field it is a bad request (400). JSON bodies are checked where they are read
    (``booking.api``).
    """
    if "\x00" in request.path:
        return error_response(404)
    fields: list[str] = []
    sources = (
        [request.args] if request.method in READ_ONLY_METHODS else [request.args, request.form]
    )
    for source in sources:
        for key, values in source.lists():
            fields += [key, *values]
    if any("\x00" in field for field in fields):
        return error_response(
            400, code="invalid_characters", message="La requête contient un caractère interdit."
        )
    return None


def enforce_session_lifetime() -> Any:
    """Idle (30 min) and absolute (12 h) session limits, checked on every request."""
    if not current_user.is_authenticated:
        return None
    now = now_utc()
    started = _read_time(session.get("login_at"))
    seen = _read_time(session.get("seen_at"))
    idle = timedelta(minutes=current_app.config["SESSION_IDLE_MINUTES"])
    absolute = timedelta(hours=current_app.config["SESSION_ABSOLUTE_HOURS"])
    if started is None or seen is None or now - seen > idle or now - started > absolute:
        logout_user()
        session.clear()
        if request.path.startswith(("/api/", "/fhir/")):
            abort(401)
        flash("Votre session a expiré, merci de vous reconnecter.", "warning")
        return redirect(url_for("auth.login", next=request.full_path))
    session["seen_at"] = now.isoformat()
    return None


def _read_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None


def set_security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    response.headers.setdefault("Permissions-Policy", "geolocation=(), camera=(), microphone=()")
    if current_user.is_authenticated:
        # Pages behind a login show territory data: keep them out of shared caches.
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def init_security(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Merci de vous connecter pour accéder à cette page."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"
    app.url_map.converters["int"] = IdConverter  # before any blueprint adds its routes
    app.before_request(refuse_nul_characters)
    app.before_request(enforce_session_lifetime)
    app.after_request(set_security_headers)
