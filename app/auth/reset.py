"""Self-service password reset (by e-mail, through the outbox) and password change.

A reset link is single use, valid one hour, and stored hashed. Asking for one answers the
same whether the address has an account or not, and does the same work (a token is drawn
and hashed either way), so the page tells nobody which addresses exist.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app, url_for
from flask_login import login_user

from app import audit
from app.auth import sessions
from app.auth.models import PasswordReset
from app.extensions import db
from app.models import User
from app.outbox import notify
from app.passwords import hash_password, verify_password
from app.timeutil import now_utc
from app.validators import ValidationError, check_password_strength, normalise_email

RESET_SUBJECT = "Tour de rôle : réinitialisation de votre mot de passe"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def request_password_reset(email: str) -> None:
    """Queue a reset link for the active account at ``email``; nothing (silently) otherwise."""
    token = secrets.token_urlsafe(32)
    token_hash = _hash(token)
    try:
        email = normalise_email(email)
    except ValidationError:
        return
    user = db.session.scalar(sa.select(User).where(User.email == email, User.active.is_(True)))
    if user is None:
        # Audited too (without the address): the same kind of write and commit as a known
        # address, so the answer's timing tells nothing either.
        audit.record("auth.password_reset_requested", by=None, detail={"known": False})
        return
    minutes = current_app.config["PASSWORD_RESET_MINUTES"]
    db.session.add(
        PasswordReset(
            user_id=user.id,
            token_hash=token_hash,
            expires_at=now_utc() + timedelta(minutes=minutes),
        )
    )
    link = url_for("auth.reset_password", token=token, _external=True)
    notify(
        user.territory_id,
        user.email,
        RESET_SUBJECT,
        "Bonjour,\n\n"
        "Une réinitialisation du mot de passe de votre compte Tour de rôle a été demandée.\n"
        f"Pour choisir un nouveau mot de passe, ouvrez ce lien (valable {minutes} minutes, "
        f"une seule fois) :\n\n{link}\n\n"
        "Si vous n'êtes pas à l'origine de cette demande, ignorez ce message : votre mot "
        "de passe actuel reste valable.\n",
    )
    db.session.flush()
    audit.record(
        "auth.password_reset_requested",
        by=None,
        territory_id=user.territory_id,
        target=user,
        detail={"known": True},
    )


def find_reset(token: str) -> PasswordReset | None:
    """The unused, unexpired reset of an active account that ``token`` names."""
    reset = db.session.scalar(
        sa.select(PasswordReset).where(PasswordReset.token_hash == _hash(token))
    )
    if reset is None or reset.used_at is not None or reset.expires_at < now_utc():
        return None
    user = db.session.get(User, reset.user_id)
    if user is None or not user.active:
        return None
    return reset


def reset_password(reset: PasswordReset, password: str) -> User:
    """Set the new password, spend every pending link, and log the account out everywhere."""
    user = db.session.get(User, reset.user_id)
    assert user is not None
    user.password_hash = hash_password(check_password_strength(password, (user.email,)))
    now = now_utc()
    # Conditional: two tabs submitting the same link cannot both use it.
    spent = db.session.execute(
        sa.update(PasswordReset)
        .where(PasswordReset.id == reset.id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
    )
    if spent.rowcount != 1:
        raise ValidationError("Ce lien a déjà servi. Demandez-en un nouveau.")
    db.session.execute(
        sa.update(PasswordReset)
        .where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
    )
    # An unanswered invitation is answered by the reset too.
    user.invitation_hash = None
    user.invitation_expires_at = None
    sessions.end_all_user_sessions(user, by=user)
    audit.record("auth.password_reset", by=user, target=user)
    return user


def change_password(user: User, current: str, new: str) -> None:
    """Change the password after checking the current one; other sessions are closed."""
    if not verify_password(user.password_hash, current or ""):
        raise ValidationError("Le mot de passe actuel est incorrect.")
    if secrets.compare_digest(current.encode(), new.encode()):
        raise ValidationError("Le nouveau mot de passe doit être différent de l'actuel.")
    user.password_hash = hash_password(check_password_strength(new, (user.email,)))
    keep = sessions.current_user_session(user)
    others = sa.delete(sessions.UserSession).where(sessions.UserSession.user_id == user.id)
    if keep is not None:
        others = others.where(sessions.UserSession.id != keep.id)
    db.session.execute(others)
    # The rotated token logs out every other copy of the cookie; this browser logs in
    # again under the new one, keeping its session row.
    user.session_token = secrets.token_hex(16)
    login_user(user)
    audit.record("auth.password_changed", by=user, target=user)
