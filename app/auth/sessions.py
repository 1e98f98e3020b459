"""Open sessions: one row per logged-in browser, listed and closed by their owner.

The login cookie still carries ``user_id:session_token`` (rotating the token logs the
account out everywhere, docs/architecture.md); the Flask session also carries a random
session id whose SHA-256 names a ``UserSession`` row. Deleting the row ends that one
browser's session, every copy of its cookie included.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import session

from app import audit
from app.auth.models import UserSession
from app.extensions import db
from app.models import User
from app.timeutil import now_utc

SESSION_KEY = "sid"
# "Last use" is written at most this often: a page view is not worth a write each time.
TOUCH_EVERY = timedelta(minutes=1)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_user_session(user: User, *, user_agent: str, method: str) -> None:
    """Record this browser's new session (called once the user is logged in)."""
    token = secrets.token_urlsafe(32)
    db.session.add(
        UserSession(
            user_id=user.id,
            token_hash=_hash(token),
            user_agent=(user_agent or "")[:300],
            method=method,
        )
    )
    session[SESSION_KEY] = token


def current_user_session(user: User) -> UserSession | None:
    """This browser's session row, if it is still open."""
    token = session.get(SESSION_KEY)
    if not isinstance(token, str) or not token:
        return None
    return db.session.scalar(
        sa.select(UserSession).where(
            UserSession.token_hash == _hash(token), UserSession.user_id == user.id
        )
    )


def needs_touch(row: UserSession) -> bool:
    return now_utc() - row.last_seen_at >= TOUCH_EVERY


def touch_user_session(row: UserSession) -> None:
    row.last_seen_at = now_utc()


def end_current_session(user: User) -> None:
    """Forget this browser's session row (logout)."""
    if (row := current_user_session(user)) is not None:
        db.session.delete(row)


@dataclass(frozen=True)
class SessionView:
    id: int
    device: str
    method: str
    created_at: datetime
    last_seen_at: datetime
    current: bool


def list_user_sessions(user: User) -> list[SessionView]:
    """The user's open sessions, most recently used first."""
    current = current_user_session(user)
    rows = db.session.scalars(
        sa.select(UserSession)
        .where(UserSession.user_id == user.id)
        .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
    )
    return [
        SessionView(
            id=row.id,
            device=describe_device(row.user_agent),
            method="Pro Santé Connect" if row.method == "psc" else "Mot de passe",
            created_at=row.created_at,
            last_seen_at=row.last_seen_at,
            current=current is not None and row.id == current.id,
        )
        for row in rows
    ]


def end_user_session(user: User, session_id: int, *, by: User) -> bool:
    """Close one of ``user``'s sessions; False when it is not theirs (or gone)."""
    row = db.session.scalar(
        sa.select(UserSession).where(UserSession.id == session_id, UserSession.user_id == user.id)
    )
    if row is None:
        return False
    db.session.delete(row)
    db.session.flush()
    audit.record("auth.session_ended", by=by, target=user, detail={"session": session_id})
    return True


def end_all_user_sessions(user: User, *, by: User | None) -> None:
    """Log ``user`` out everywhere: every session row goes, and the cookie token rotates."""
    db.session.execute(sa.delete(UserSession).where(UserSession.user_id == user.id))
    user.session_token = secrets.token_hex(16)
    db.session.flush()
    audit.record("auth.sessions_ended", by=by, target=user)


BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def describe_device(user_agent: str) -> str:
    """ "Firefox sous Windows" from a User-Agent: enough to recognise one's own devices."""
    browser = next((name for marker, name in BROWSERS if marker in user_agent), None)
    system = next((name for marker, name in SYSTEMS if marker in user_agent), None)
    if browser and system:
        return f"{browser} sous {system}"
    return browser or system or "Appareil inconnu"
