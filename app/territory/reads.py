"""What the coordinator's territory pages and the admin's list read.

Views hold no query: they call these and render. Each returns loaded rows or plain
data, in a fixed number of statements.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.collation import by_family_name, by_name
from app.enums import Profession, Role
from app.extensions import db
from app.models import AddressInvitation, Commune, Practitioner, Site, Territory, User


@dataclass(frozen=True)
class TerritoryStats:
    """The territory at a glance: how many of each, active ones only."""

    communes: int
    sites: int
    gps: int
    practitioners: int
    users: int


def territory_stats(territory: Territory) -> TerritoryStats:
    def count(model: type, *where: sa.ColumnElement[bool]) -> int:
        return (
            db.session.scalar(
                sa.select(sa.func.count(model.id)).where(model.territory_id == territory.id, *where)
            )
            or 0
        )

    return TerritoryStats(
        communes=len(territory.communes),
        sites=count(Site, Site.active),
        gps=count(Practitioner, Practitioner.active, Practitioner.profession == Profession.GP),
        practitioners=count(Practitioner, Practitioner.active),
        users=count(User, User.active),
    )


def commune_owners(insee_codes: Iterable[str]) -> dict[str, list[str]]:
    """The names of the territories that already hold each commune (by INSEE code)."""
    owners: dict[str, list[str]] = {}
    codes = list(insee_codes)
    if not codes:
        return owners
    rows = db.session.execute(
        sa.select(Commune.insee_code, Territory.name)
        .join(Territory)
        .where(Commune.insee_code.in_(codes))
    )
    for insee, name in rows:
        owners.setdefault(insee, []).append(name)
    return owners


def practitioners(territory: Territory, *, query: str, profession: str) -> list[Practitioner]:
    """The territory's practitioners, by name; filtered by name or RPPS and profession."""
    stmt = (
        sa.select(Practitioner)
        .where(Practitioner.territory_id == territory.id)
        .options(selectinload(Practitioner.sites))
        .order_by(Practitioner.id)
    )
    if query:
        like = f"%{query.lower()}%"
        stmt = stmt.where(
            sa.or_(
                sa.func.lower(Practitioner.family_name).like(like),
                sa.func.lower(Practitioner.given_name).like(like),
                Practitioner.rpps.like(like),
            )
        )
    if profession in {p.value for p in Profession}:
        stmt = stmt.where(Practitioner.profession == Profession(profession))
    return by_family_name(db.session.scalars(stmt))


@dataclass(frozen=True)
class AccountRow:
    """A line of the accounts page: an account, or an invitation to an address held
    elsewhere (``app.territory.invitations``), drawn the same way."""

    email: str
    display_name: str
    role: Role
    last_login_at: datetime | None
    state: str  # "active", "inactive", "pending" (invited) or "cancelled" (invitation)
    user_id: int | None

    @property
    def by_address(self) -> bool:
        """Whether its actions go by address (an invitation), not by account id."""
        return self.state in ("pending", "cancelled")


def _user_state(user: User) -> str:
    if user.password_hash is None:
        return "pending" if user.active else "cancelled"
    return "active" if user.active else "inactive"


def accounts(territory: Territory) -> list[AccountRow]:
    rows = [
        AccountRow(u.email, u.display_name, u.role, u.last_login_at, _user_state(u), u.id)
        for u in db.session.scalars(sa.select(User).where(User.territory_id == territory.id))
    ]
    rows += [
        AccountRow(
            i.email, i.display_name, i.role, None, "pending" if i.active else "cancelled", None
        )
        for i in db.session.scalars(
            sa.select(AddressInvitation).where(AddressInvitation.territory_id == territory.id)
        )
    ]
    return sorted(rows, key=lambda row: (row.role.value, row.email))


def account_row(territory: Territory, email: str) -> AccountRow | None:
    """The accounts page's line for ``email``, if the territory has one."""
    address = email.strip().lower()
    return next((row for row in accounts(territory) if row.email == address), None)


def unlinked_practitioners(territory: Territory) -> list[Practitioner]:
    """Active GPs and pharmacists without an account yet: whom an invitation may name."""
    linked = sa.select(User.practitioner_id).where(User.practitioner_id.is_not(None))
    return by_family_name(
        db.session.scalars(
            sa.select(Practitioner).where(
                Practitioner.territory_id == territory.id,
                Practitioner.active,
                Practitioner.profession.in_([Profession.GP, Profession.PHARMACIST]),
                Practitioner.id.not_in(linked),
            )
        )
    )


def territories() -> list[Territory]:
    return by_name(db.session.scalars(sa.select(Territory).order_by(Territory.id)))
