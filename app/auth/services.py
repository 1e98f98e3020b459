"""Account use cases: authenticate, open and close a session, invitations."""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from datetime import timedelta

import limits
import sqlalchemy as sa
from flask import current_app, request, session
from flask_login import login_user, logout_user

from app import audit
from app.auth import sessions
from app.extensions import db, limiter
from app.models import User
from app.passwords import hash_password, verify_password
from app.timeutil import now_utc
from app.validators import check_password_strength, normalise_email

INVITATION_DAYS = 7


def new_session_token() -> str:
    return secrets.token_hex(16)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- the login throttle (ASVS 2.2.1) ---------------------------------------------------------
#
# Failures only are counted, per account (per e-mail typed, whether an account has it or
# not: the answers never tell). ``LOGIN_RATE_LIMIT_ACCOUNT`` ("5 per 10 minutes") reads
# as: five failures in a row are free; after that each failure makes the account wait
# before its next attempt, twice as long each time (2 s, 4 s, 8 s… up to the window), and
# a failure-free window or one successful login clears the slate. Nobody is ever locked
# out for good: knowing an e-mail address only delays its owner by seconds to minutes,
# while guessing a password costs an attacker hours. Counted in the rate limiter's
# storage (Redis with several workers), like the per-address limit.
FIRST_DELAY_SECONDS = 2


class LoginThrottled(Exception):
    """An attempt during the account's delay: refused before the password is checked."""

    def __init__(self, seconds: int) -> None:
        super().__init__(seconds)
        self.seconds = seconds


def account_key(email: str) -> str:
    """A keyed hash of the e-mail as typed (trimmed, lower case): groups an account's
    attempts in the throttle and the audit trail without writing the address down."""
    typed = (email or "").strip().lower().encode()
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, b"login:" + typed, hashlib.sha256).hexdigest()[:24]


def _throttle() -> tuple[limits.storage.Storage, limits.RateLimitItem] | None:
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return None
    return limiter.storage, limits.parse(current_app.config["LOGIN_RATE_LIMIT_ACCOUNT"])


def login_wait(email: str) -> int:
    """Seconds this account must still wait before its next attempt (0: none)."""
    throttle = _throttle()
    if throttle is None:
        return 0
    storage, _ = throttle
    key = f"login-wait:{account_key(email)}"
    if not storage.get(key):
        return 0
    return max(1, math.ceil(storage.get_expiry(key) - time.time()))


def _delay_account(email: str) -> None:
    throttle = _throttle()
    if throttle is None:
        return
    storage, rule = throttle
    window = rule.get_expiry()
    failures = storage.incr(f"login-failures:{account_key(email)}", window)
    if failures >= rule.amount:
        delay = min(FIRST_DELAY_SECONDS * 2 ** (failures - rule.amount), window)
        storage.incr(f"login-wait:{account_key(email)}", delay)


def _forget_failures(email: str) -> None:
    throttle = _throttle()
    if throttle is None:
        return
    storage, _ = throttle
    storage.clear(f"login-failures:{account_key(email)}")
    storage.clear(f"login-wait:{account_key(email)}")


def record_login_failure(email: str, user: User | None) -> None:
    """Audit a failed login (the client's address and the account's keyed hash, never the
    e-mail or the password) and lengthen the account's delay."""
    _delay_account(email)
    audit.record(
        "auth.login_failed",
        by=None,
        territory_id=user.territory_id if user is not None else None,
        detail={"address": request.remote_addr or "", "account": account_key(email)},
    )
    db.session.commit()


def authenticate(email: str, password: str) -> User | None:
    """The active user with these credentials, or None; same cost whether the e-mail exists or not.

    Raises ``LoginThrottled`` during the account's delay after repeated failures. A
    failure is audited and counted; a success clears the account's failures.
    """
    if wait := login_wait(email):
        raise LoginThrottled(wait)
    try:
        normalised = normalise_email(email)
    except ValueError:
        verify_password(None, password)
        record_login_failure(email, None)
        return None
    user = db.session.scalar(sa.select(User).where(User.email == normalised))
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        record_login_failure(email, user)
        return None
    _forget_failures(email)
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
