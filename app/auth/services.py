"""Account use cases: authenticate, open and close a session, invitations."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import request, session
from flask_login import login_user, logout_user

from app import audit
from app.auth import sessions
from app.extensions import db
from app.models import User
from app.passwords import hash_password, verify_password
from app.timeutil import now_utc
from app.validators import check_password_strength, normalise_email

INVITATION_DAYS = 7


def new_session_token() -> str:
    return secrets.token_hex(16)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def authenticate(email: str, password: str) -> User | None:
    """The active user with these credentials, or None; same cost whether the e-mail exists or not."""
    try:
        email = normalise_email(email)
    except ValueError:
        verify_password(None, password)
        return None
    user = db.session.scalar(sa.select(User).where(User.email == email))
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        return None
    return user


def open_session(user: User, *, method: str = "password") -> None:
    """Log in with a brand-new session (no fixation), and remember when it started."""
    session.clear()
    login_user(user)
    now = now_utc()
    session["login_at"] = session["seen_at"] = now.isoformat()
    session["auth_method"] = method
    sessions.start_user_session(user, user_agent=request.user_agent.string, method=method)
    user.last_login_at = now
    audit.record("auth.login", by=user, target=user, detail={"method": method})
    db.session.commit()


def close_session(user: User) -> None:
    """Log out this browser: its session row goes, and with it every copy of its cookie.

    Other browsers stay logged in ("Mes sessions" closes them, one or all).
    """
    sessions.end_current_session(user)
    audit.record("auth.logout", by=user, target=user)
    db.session.commit()
    logout_user()
    session.clear()


def issue_invitation(user: User) -> str:
    """Give ``user`` a one-time link token (returned once, stored hashed)."""
    token = secrets.token_urlsafe(32)
    user.invitation_hash = token_hash(token)
    user.invitation_expires_at = now_utc() + timedelta(days=INVITATION_DAYS)
    return token


def find_invited_user(token: str) -> User | None:
    user = db.session.scalar(sa.select(User).where(User.invitation_hash == token_hash(token)))
    if user is None or not user.active or user.invitation_expires_at is None:
        return None
    if user.invitation_expires_at < now_utc():
        return None
    return user


def accept_invitation(user: User, password: str) -> None:
    user.password_hash = hash_password(check_password_strength(password, (user.email,)))
    user.invitation_hash = None
    user.invitation_expires_at = None
    user.session_token = new_session_token()
    audit.record("auth.invitation_accepted", by=user, target=user)
    db.session.commit()
