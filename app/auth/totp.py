"""The TOTP second factor (RFC 6238): enrolment, verification, recovery codes.

The secret is shown once as a QR code (``otpauth://`` URI) and confirmed with a first
code before it counts. A code is accepted once only: the last time step used is kept,
so a code seen over a shoulder or in a proxy log cannot be replayed in its 30 seconds.
Recovery codes are single use and stored as SHA-256 (they are random, 50 bits each:
a fast hash is enough, and lets the login find the matching one).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime

import pyotp
import segno
import sqlalchemy as sa
from flask import current_app

from app import audit
from app.auth.models import RecoveryCode
from app.enums import Role
from app.extensions import db
from app.models import User
from app.timeutil import now_utc
from app.validators import ValidationError

RECOVERY_CODES = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread
TOTP_RE = re.compile(r"^\d{6}$")
# One step either side: a phone clock 30 s off still works.
VALID_WINDOW = 1


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(
        name=user.email, issuer_name=current_app.config["TOTP_ISSUER"]
    )


def qr_svg(uri: str) -> str:
    """The enrolment URI as an inline SVG QR code, as the calendar feed page does."""
    return segno.make(uri, error="m").svg_inline(
        scale=4, title="QR code à scanner avec l'application d'authentification", svgclass="qr"
    )


def second_factor_required(user: User) -> bool:
    """Must this password account use a second factor?

    ``REQUIRE_2FA`` (on outside development) makes it mandatory for admins and
    coordinators; a territory can require it of all its accounts.
    """
    if current_app.config.get("REQUIRE_2FA") and user.role in (Role.ADMIN, Role.COORDINATOR):
        return True
    return bool(user.territory is not None and user.territory.require_2fa)


def has_second_factor(user: User) -> bool:
    return user.totp_secret is not None and user.totp_enabled_at is not None


def _matching_step(secret: str, code: str, *, at: datetime) -> int | None:
    """The time step ``code`` belongs to within the window, or None."""
    totp = pyotp.TOTP(secret)
    step = totp.timecode(at)
    for offset in range(-VALID_WINDOW, VALID_WINDOW + 1):
        if secrets.compare_digest(totp.generate_otp(step + offset), code):
            return step + offset
    return None


def enable_totp(user: User, secret: str, code: str, *, by: User) -> list[str]:
    """Turn the factor on once ``code`` proves the app holds ``secret``; returns recovery codes."""
    code = re.sub(r"\s", "", code or "")
    step = _matching_step(secret, code, at=now_utc()) if TOTP_RE.match(code) else None
    if step is None:
        raise ValidationError(
            "Ce code ne correspond pas : vérifiez l'heure de votre téléphone et saisissez "
            "le code à 6 chiffres affiché maintenant."
        )
    user.totp_secret = secret
    user.totp_enabled_at = now_utc()
    user.totp_last_step = step
    codes = _replace_recovery_codes(user)
    audit.record("auth.totp_enabled", by=by, target=user)
    return codes


def disable_totp(user: User, *, by: User) -> None:
    if second_factor_required(user):
        raise ValidationError("La double authentification est obligatoire pour votre compte.")
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    audit.record("auth.totp_disabled", by=by, target=user)


def regenerate_recovery_codes(user: User, *, by: User) -> list[str]:
    codes = _replace_recovery_codes(user)
    audit.record("auth.recovery_codes_renewed", by=by, target=user)
    return codes


def remaining_recovery_codes(user: User) -> int:
    return (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
        )
        or 0
    )


def _replace_recovery_codes(user: User) -> list[str]:
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
    db.session.add_all(RecoveryCode(user_id=user.id, code_hash=_hash(code)) for code in codes)
    db.session.flush()
    return codes


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def _normalise_recovery(code: str) -> str:
    raw = re.sub(r"[\s-]", "", code or "").lower()
    return f"{raw[:5]}-{raw[5:]}"


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def verify_second_factor(user: User, code: str) -> str | None:
    """Check a TOTP code or a recovery code: ``"totp"``, ``"recovery"``, or None.

    Each is accepted once: the TOTP step must be newer than the last one used, and a
    recovery code is marked used (a conditional update, so two racing logins can't
    both spend it).
    """
    if not has_second_factor(user):
        return None
    compact = re.sub(r"\s", "", code or "")
    if TOTP_RE.match(compact):
        step = _matching_step(user.totp_secret or "", compact, at=now_utc())
        if step is None:
            return None
        # Conditional, like the recovery codes: of two logins racing with one code, one wins.
        moved = db.session.execute(
            sa.update(User)
            .where(
                User.id == user.id,
                sa.or_(User.totp_last_step.is_(None), User.totp_last_step < step),
            )
            .values(totp_last_step=step)
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount != 1:
            return None
        user.totp_last_step = step
        return "totp"
    if len(re.sub(r"[\s-]", "", code or "")) != 10:
        return None
    spent = db.session.execute(
        sa.update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _hash(_normalise_recovery(code)),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now_utc())
    )
    if spent.rowcount != 1:
        return None
    audit.record("auth.recovery_code_used", by=user, target=user)
    return "recovery"


def user_awaiting_second_factor(user_id: object, token: object) -> User | None:
    """The account halfway through a password login, if nothing changed since its password."""
    if not isinstance(user_id, int) or not isinstance(token, str):
        return None
    user = db.session.get(User, user_id)
    if user is None or not user.active or user.session_token != token:
        return None
    return user if has_second_factor(user) else None
