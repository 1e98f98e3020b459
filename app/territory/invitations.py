"""Invitations a coordinator can't tell apart: the address is new, or it is taken elsewhere.

An account belongs to one CPTS and its e-mail is unique on the platform. Refusing to invite
an address "because an account exists" told a coordinator that this person uses the
platform in another CPTS (security finding 10 of issue 15). So an address already held by
an account outside the territory gets an ``AddressInvitation`` instead of an account: the
coordinator sees the same link page, the same pending row and the same actions, keyed by
the address rather than by an account id. The platform administrator is told by e-mail;
the link, once opened, tells its owner what happened. Only addresses already known *in
the coordinator's own territory* are refused, with the message both kinds share.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import sqlalchemy as sa

from app import audit
from app.auth.services import INVITATION_DAYS, token_hash
from app.enums import Role
from app.extensions import db
from app.models import AddressInvitation, Practitioner, Territory, User
from app.outbox import notify
from app.territory import services
from app.timeutil import now_utc
from app.validators import ValidationError, normalise_email

Invited = User | AddressInvitation


class NoSuchInvitation(LookupError):
    """No pending or cancelled invitation of this territory has that address."""


def invite(
    territory: Territory,
    *,
    email: str,
    role: Role,
    display_name: str = "",
    practitioner: Practitioner | None = None,
    by: User | None,
) -> tuple[Invited, str]:
    """Invite ``email`` to ``territory``; return what to list and the one-time link token."""
    if role not in services.TERRITORY_ROLES:
        raise ValidationError("Rôle non autorisé pour une invitation.")
    address = normalise_email(email)
    holder = db.session.scalar(sa.select(User).where(User.email == address))
    if holder is None or holder.territory_id == territory.id:
        return services.invite_user(
            territory,
            email=address,
            role=role,
            display_name=display_name,
            practitioner=practitioner,
            by=by,
        )
    if practitioner is not None:
        services.check_linkable(territory, practitioner)
    return _invite_address(territory, holder, address, role, display_name, by=by)


def _invite_address(
    territory: Territory,
    holder: User,
    address: str,
    role: Role,
    display_name: str,
    *,
    by: User | None,
) -> tuple[AddressInvitation, str]:
    if _address_invitation(territory.id, address) is not None:
        raise ValidationError(f"Un compte existe déjà pour {address}.")
    invitation = AddressInvitation(
        territory_id=territory.id, email=address, role=role, display_name=display_name.strip()
    )
    token = _issue(invitation)
    db.session.add(invitation)
    db.session.flush()
    _tell_administrators(territory, holder, invitation)
    audit.record(
        "user.invite_held_address",
        by=by,
        territory_id=territory.id,
        detail={"role": role.value, "invitation": invitation.id},
    )
    return invitation, token


def _issue(invitation: AddressInvitation) -> str:
    token = secrets.token_urlsafe(32)
    invitation.token_hash = token_hash(token)
    invitation.expires_at = now_utc() + timedelta(days=INVITATION_DAYS)
    invitation.active = True
    return token


def _tell_administrators(territory: Territory, holder: User, invitation: AddressInvitation) -> None:
    where = holder.territory.name if holder.territory is not None else "la plateforme"
    body = (
        f"La CPTS « {territory.name} » a invité {invitation.email} "
        f"({invitation.role.label}). Cette adresse est déjà celle d'un compte de « {where} », "
        "et un compte n'appartient qu'à une CPTS : aucun compte n'a été créé.\n\n"
        "La coordination n'en a pas été informée (elle ne doit pas apprendre qui utilise "
        "la plateforme ailleurs). Voyez avec la personne s'il faut une autre adresse, "
        "ou déplacer son compte.\n"
    )
    for admin in db.session.scalars(
        sa.select(User).where(User.role == Role.ADMIN, User.active.is_(True))
    ):
        notify(None, admin.email, "Invitation d'une adresse déjà inscrite", body)


def _address_invitation(territory_id: int, address: str) -> AddressInvitation | None:
    return db.session.scalar(
        sa.select(AddressInvitation).where(
            AddressInvitation.territory_id == territory_id, AddressInvitation.email == address
        )
    )


def _pending_user(territory_id: int, address: str) -> User | None:
    return db.session.scalar(
        sa.select(User).where(
            User.territory_id == territory_id,
            User.email == address,
            User.password_hash.is_(None),
        )
    )


def act(territory: Territory, email: str, action: str, *, by: User | None) -> str | None:
    """``lien`` (a new link), ``annuler`` or ``relancer`` (with a new link) an invitation.

    Both kinds answer the same way; the new link token is returned for ``lien`` and
    ``relancer``. Raises ``NoSuchInvitation`` for an address with no invitation here.
    """
    address = (email or "").strip().lower()
    user = _pending_user(territory.id, address)
    if user is not None:
        return _act_on_user(user, action, by=by)
    invitation = _address_invitation(territory.id, address)
    if invitation is None:
        raise NoSuchInvitation(address)
    if action == "annuler":
        invitation.active = False
        invitation.token_hash = None
        invitation.expires_at = None
        token = None
    else:
        token = _issue(invitation)
    db.session.flush()
    audit.record(
        f"user.invitation_{action}",
        by=by,
        territory_id=territory.id,
        detail={"invitation": invitation.id},
    )
    return token


def _act_on_user(user: User, action: str, *, by: User | None) -> str | None:
    if action == "annuler":
        services.set_user_active(user, False, by=by)
        return None
    if action == "relancer" and not user.active:
        services.set_user_active(user, True, by=by)
    return services.reissue_invitation(user, by=by)


def find_address_invitation(token: str) -> AddressInvitation | None:
    """The live address invitation behind a link, if that is what the link is."""
    invitation = db.session.scalar(
        sa.select(AddressInvitation).where(AddressInvitation.token_hash == token_hash(token))
    )
    if invitation is None or not invitation.active or invitation.expires_at is None:
        return None
    return invitation if invitation.expires_at >= now_utc() else None
