"""Who may do what: login loading, session lifetime, roles, territory isolation, headers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import Flask, Response, abort, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, logout_user

from app.enums import Role
from app.extensions import db, login_manager
from app.models import User
from app.timeutil import now_utc

F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M")

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
    obj = db.session.scalar(
        sa.select(model).where(
            model.id == object_id,  # type: ignore[attr-defined]
            model.territory_id == current_user.territory_id,  # type: ignore[attr-defined]
        )
    )
    if obj is None:
        abort(404)
    return obj


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
    app.before_request(enforce_session_lifetime)
    app.after_request(set_security_headers)
