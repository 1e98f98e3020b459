"""API bearer tokens: issued and revoked by the coordinator, the administrator (for a
regulation service's regulators) or the CLI; checked per request.

A token is ``tdr_`` followed by 256 random bits (``secrets.token_urlsafe(32)``): the prefix
lets people and secret scanners recognise it. Only its SHA-256 is stored, so a leaked
database does not leak usable tokens; a fast hash is enough because the token is random
and long, unlike a password. Like the other services, these functions flush and audit;
the caller commits once.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import contains_eager

from app import audit
from app.enums import Role
from app.extensions import db
from app.models import RegulationService, User
from app.timeutil import now_utc
from app.validators import ValidationError
from booking.models import ApiToken

TOKEN_PREFIX = "tdr_"
# Roles that book (or, for the coordinator, oversee bookings): the API only serves them.
TOKEN_ROLES = (Role.REGULATOR, Role.PHARMACIST, Role.COORDINATOR)
# ``last_used_at`` is refreshed at most this often, so a busy client does not cost one
# write per request.
TOUCH_INTERVAL = timedelta(minutes=1)
MAX_LABEL = 100
# A real token is 4 + 43 characters; anything much longer is not worth hashing.
MAX_TOKEN_LENGTH = 100


def hash_token(plain: str) -> str:
    return hashlib.sha256(plain.encode("utf-8")).hexdigest()


def create_token(user: User, label: str, *, by: User | None) -> tuple[str, ApiToken]:
    """Issue a token for ``user``; returns the plain token (shown once) and its row.

    ``by`` is the coordinator (who may only equip their own territory), the administrator
    (``issue_service_token``) or ``None`` for the command line.
    """
    service_regulator = user.role == Role.REGULATOR and user.regulation_service_id is not None
    if user.role not in TOKEN_ROLES or (user.territory_id is None and not service_regulator):
        raise ValidationError(
            "Seuls les comptes de régulation, de pharmacie et de coordination reçoivent un jeton d'API."
        )
    if not user.active:
        raise ValidationError(f"Le compte {user.email} est désactivé : pas de jeton d'API.")
    if by is not None and by.role != Role.ADMIN and by.territory_id != user.territory_id:
        raise ValidationError("Ce compte n'appartient pas à votre territoire.")
    if by is not None and by.role != Role.ADMIN and service_regulator:
        # Its token books in every territory of the service: a territory's coordinator,
        # who would see it once, must not hold that reach.
        raise ValidationError(
            f"{user.email} régule pour un service de régulation : ses jetons d'API sont "
            "délivrés par l'administrateur de la plateforme."
        )
    text = " ".join((label or "").split())
    if len(text) > MAX_LABEL:
        raise ValidationError(f"Le libellé tient en {MAX_LABEL} caractères au plus.")
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        label=text,
        token_hash=hash_token(plain),
        prefix=plain[:8],
        created_at=now_utc(),
    )
    db.session.add(token)
    db.session.flush()
    audit.record(
        "api_token.create",
        by=by,
        territory_id=user.territory_id,
        target=token,
        detail={"user_id": user.id, "prefix": token.prefix},
    )
    return plain, token


def issue_service_token(
    service: RegulationService, user: User | None, label: str, *, by: User | None
) -> tuple[str, ApiToken]:
    """Issue a token to one of a regulation service's regulators (the administrator's page).

    Checked here and not only by the form's choices: a forged or stale POST naming an
    account of another service (or none) changes nothing.
    """
    if user is None or user.role != Role.REGULATOR or user.regulation_service_id != service.id:
        raise ValidationError(
            f"Ce compte n'est pas un régulateur du service « {service.name} » : aucun jeton créé."
        )
    return create_token(user, label, by=by)


def revoke_token(token: ApiToken, *, by: User | None) -> None:
    """Revoke for good: the row stays, so the list still shows who had which token."""
    if token.revoked_at is not None:
        raise ValidationError(f"Le jeton {token.prefix}… est déjà révoqué.")
    token.revoked_at = now_utc()
    db.session.flush()
    owner = db.session.get(User, token.user_id)
    audit.record(
        "api_token.revoke",
        by=by,
        territory_id=owner.territory_id if owner is not None else None,
        target=token,
        detail={"user_id": token.user_id, "prefix": token.prefix},
    )


def revoke_user_tokens(user: User, *, by: User | None) -> int:
    """Revoke every live token of ``user`` (the account is deactivated); answers how many."""
    live = db.session.scalars(
        sa.select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ).all()
    for token in live:
        revoke_token(token, by=by)
    return len(live)


def parse_bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or ``None``."""
    scheme, _, value = (header or "").strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value or len(value) > MAX_TOKEN_LENGTH:
        return None
    return value


def authenticate(header: str | None, *, now: datetime | None = None) -> User | None:
    """The user behind a bearer header, or ``None`` whatever was wrong (no detail leaks).

    Refused: unknown or revoked tokens, deactivated accounts, accounts without a
    territory (unless a regulator of a regulation service: the token then answers across
    the service's territories) or whose role no longer may hold a token (a pharmacist turned GP).
    May set ``last_used_at`` (at most once a minute), left unflushed so that the caller
    sees it in ``db.session.dirty`` and commits it.
    """
    plain = parse_bearer(header)
    if plain is None or not plain.startswith(TOKEN_PREFIX):
        return None
    row = db.session.execute(
        sa.select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == hash_token(plain), ApiToken.revoked_at.is_(None))
    ).first()
    if row is None:
        return None
    token, user = row
    has_desk = user.territory_id is not None or (
        user.role == Role.REGULATOR and user.regulation_service_id is not None
    )
    if not user.active or not has_desk or user.role not in TOKEN_ROLES:
        return None
    now = now or now_utc()
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_INTERVAL:
        token.last_used_at = now
    return user


def territory_tokens(territory_id: int) -> list[ApiToken]:
    """Every token of the territory's accounts, live ones first, newest first."""
    return list(
        db.session.scalars(
            sa.select(ApiToken)
            .join(User, User.id == ApiToken.user_id)
            .where(User.territory_id == territory_id)
            .order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc(), ApiToken.id)
        )
    )


def find_in_territory(token_id: int, territory_id: int) -> ApiToken | None:
    """The token if it belongs to an account of the territory (else "not found")."""
    return db.session.scalar(
        sa.select(ApiToken)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.id == token_id, User.territory_id == territory_id)
    )


def service_tokens(service_id: int) -> list[ApiToken]:
    """Every token of the regulation service's regulators, live ones first, newest first.

    Those of a regulator without a territory appear nowhere else: no coordinator lists them.
    """
    return list(
        db.session.scalars(
            sa.select(ApiToken)
            .join(User, User.id == ApiToken.user_id)
            .where(User.regulation_service_id == service_id)
            .options(contains_eager(ApiToken.user))
            .order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc(), ApiToken.id)
        )
    )


def find_in_service(token_id: int, service_id: int) -> ApiToken | None:
    """The token if it belongs to a regulator of the service (else "not found")."""
    return db.session.scalar(
        sa.select(ApiToken)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.id == token_id, User.regulation_service_id == service_id)
    )
