"""The territory: CPTS, communes, sites, practitioners, user accounts and the audit log."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db_types import UTCDateTime
from app.enums import Profession, Role, SiteKind
from app.extensions import db
from app.timeutil import now_utc
from app.validators import size_category


def enum_column(enum_cls: type, name: str) -> sa.Enum:
    """Store enums as short strings with a named CHECK: portable and readable in SQL."""
    return sa.Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=24,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Territory(db.Model):
    """A CPTS and its settings."""

    __tablename__ = "territory"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    slug: Mapped[str] = mapped_column(sa.String(60), unique=True)
    finess: Mapped[str | None] = mapped_column(sa.String(9))
    timezone: Mapped[str] = mapped_column(sa.String(64), default="Europe/Paris")
    holiday_subdivision: Mapped[str | None] = mapped_column(sa.String(16))
    phone: Mapped[str | None] = mapped_column(sa.String(20))
    email: Mapped[str | None] = mapped_column(sa.String(254))
    # Rota rules the coordinator sets for every GP of the territory.
    min_rest_hours: Mapped[int] = mapped_column(default=10, server_default="10")
    max_sessions_per_week: Mapped[int | None]
    # When set, a swap accepted by a colleague waits for the coordinator's approval.
    swaps_need_approval: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # A GP declaring an absence on a day they are rostered: refused (False), or accepted
    # "à remplacer" (True): their session goes to the bourse and the coordinator's to-do.
    absence_on_duty_to_replace: Mapped[bool] = mapped_column(
        default=False, server_default=sa.false()
    )
    # Booking rules: reserved slots open to every channel this long before their start;
    # slots are bookable up to this many hours ahead (24 h, or 48 h as the SAS does);
    # patient data is erased this many days after the slot.
    booking_release_minutes: Mapped[int] = mapped_column(default=120, server_default="120")
    booking_horizon_hours: Mapped[int] = mapped_column(default=24, server_default="24")
    patient_data_days: Mapped[int] = mapped_column(default=90, server_default="90")
    # PDSA hours (permanence des soins ambulatoires): weekday nights from ``pdsa_weekday_from``
    # to ``pdsa_weekday_until`` the next morning, Saturdays from ``pdsa_saturday_from``,
    # Sundays and public holidays all day. An act regulated by the SAS outside these hours
    # may carry the majoration SNP, which the CPAM caps at ``snp_weekly_cap`` acts a week.
    pdsa_weekday_from: Mapped[time] = mapped_column(
        sa.Time, default=time(20), server_default="20:00:00"
    )
    pdsa_weekday_until: Mapped[time] = mapped_column(
        sa.Time, default=time(8), server_default="08:00:00"
    )
    pdsa_saturday_from: Mapped[time] = mapped_column(
        sa.Time, default=time(12), server_default="12:00:00"
    )
    snp_weekly_cap: Mapped[int | None] = mapped_column(default=20, server_default="20")
    # Login rules the coordinator sets: GPs log in with Pro Santé Connect only; every
    # password account of the territory needs a second factor.
    require_psc_for_gps: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    require_2fa: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)

    communes: Mapped[list[Commune]] = relationship(
        back_populates="territory", order_by="Commune.name", cascade="all, delete-orphan"
    )
    sites: Mapped[list[Site]] = relationship(
        back_populates="territory", order_by="Site.name", cascade="all, delete-orphan"
    )

    __table_args__ = (
        sa.CheckConstraint("length(slug) >= 2", name="slug_length"),
        sa.CheckConstraint("finess IS NULL OR length(finess) = 9", name="finess_length"),
        sa.CheckConstraint("min_rest_hours >= 0 AND min_rest_hours <= 48", name="min_rest_range"),
        sa.CheckConstraint(
            "max_sessions_per_week IS NULL OR max_sessions_per_week >= 1",
            name="weekly_max_positive",
        ),
        sa.CheckConstraint(
            "booking_release_minutes >= 0 AND booking_release_minutes <= 1440",
            name="release_range",
        ),
        sa.CheckConstraint("booking_horizon_hours IN (24, 48)", name="horizon_known"),
        sa.CheckConstraint(
            "patient_data_days >= 1 AND patient_data_days <= 3650", name="retention_range"
        ),
        sa.CheckConstraint(
            "snp_weekly_cap IS NULL OR snp_weekly_cap >= 1", name="snp_weekly_cap_positive"
        ),
    )

    @property
    def population(self) -> int:
        return sum(c.population for c in self.communes)

    @property
    def size_category(self) -> int:
        return size_category(self.population)

    @property
    def fhir_finess(self) -> str | None:
        """FHIR's IDNST identifier is the FINESS prefixed by 1."""
        return f"1{self.finess}" if self.finess else None

    def __repr__(self) -> str:
        return f"<Territory {self.id} {self.slug!r}>"


class Commune(db.Model):
    """A commune (or the postal-code part of a split urban commune) of a territory.

    The postal codes live in ``commune_postal_code`` with a unique (INSEE, postal code)
    pair: that one constraint makes a commune belong to at most one territory, and lets
    an urban commune be split between territories postal code by postal code.
    """

    __tablename__ = "commune"

    id: Mapped[int] = mapped_column(primary_key=True)
    territory_id: Mapped[int] = mapped_column(
        sa.ForeignKey("territory.id", ondelete="CASCADE"), index=True
    )
    insee_code: Mapped[str] = mapped_column(sa.String(5))
    name: Mapped[str] = mapped_column(sa.String(120))
    department: Mapped[str] = mapped_column(sa.String(3))
    epci_code: Mapped[str | None] = mapped_column(sa.String(9))
    population: Mapped[int] = mapped_column(default=0)
    # The point distances are measured from ("à 6 km"): the town hall from the shipped
    # official data, or what the coordinator entered or imported.
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]

    territory: Mapped[Territory] = relationship(back_populates="communes")
    postal_code_rows: Mapped[list[CommunePostalCode]] = relationship(
        back_populates="commune",
        order_by="CommunePostalCode.postal_code",
        cascade="all, delete-orphan",
    )

    __table_args__ = (
        sa.UniqueConstraint("territory_id", "insee_code"),
        # Target of the composite foreign keys below and from ``site``.
        sa.UniqueConstraint("id", "insee_code"),
        sa.UniqueConstraint("territory_id", "id"),
        sa.CheckConstraint("population >= 0", name="population_positive"),
        sa.CheckConstraint("length(insee_code) = 5", name="insee_length"),
        sa.CheckConstraint("(latitude IS NULL) = (longitude IS NULL)", name="centre_complete"),
        sa.CheckConstraint(
            "latitude IS NULL OR (latitude >= -90 AND latitude <= 90)", name="latitude_range"
        ),
        sa.CheckConstraint(
            "longitude IS NULL OR (longitude >= -180 AND longitude <= 180)",
            name="longitude_range",
        ),
    )

    @property
    def postal_codes(self) -> list[str]:
        return [row.postal_code for row in self.postal_code_rows]

    def __repr__(self) -> str:
        return f"<Commune {self.insee_code} {self.name!r} territory={self.territory_id}>"


class CommunePostalCode(db.Model):
    """One postal code of a territory's commune; unique across all territories."""

    __tablename__ = "commune_postal_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    commune_id: Mapped[int] = mapped_column(index=True)
    insee_code: Mapped[str] = mapped_column(sa.String(5))
    postal_code: Mapped[str] = mapped_column(sa.String(5), index=True)

    commune: Mapped[Commune] = relationship(back_populates="postal_code_rows")

    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["commune_id", "insee_code"],
            ["commune.id", "commune.insee_code"],
            ondelete="CASCADE",
            name="fk_commune_postal_code_commune",
        ),
        sa.UniqueConstraint("insee_code", "postal_code"),
        sa.CheckConstraint("length(postal_code) = 5", name="postal_code_length"),
    )

    def __repr__(self) -> str:
        return f"<CommunePostalCode {self.insee_code}/{self.postal_code}>"


practitioner_site = sa.Table(
    "practitioner_site",
    db.metadata,
    sa.Column(
        "practitioner_id",
        sa.ForeignKey("practitioner.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("site_id", sa.ForeignKey("site.id", ondelete="CASCADE"), primary_key=True),
)


class Site(db.Model):
    """A place where SNP sessions are held."""

    __tablename__ = "site"

    id: Mapped[int] = mapped_column(primary_key=True)
    territory_id: Mapped[int] = mapped_column(
        sa.ForeignKey("territory.id", ondelete="CASCADE"), index=True
    )
    commune_id: Mapped[int]
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[SiteKind] = mapped_column(enum_column(SiteKind, "site_kind"))
    address_line: Mapped[str] = mapped_column(sa.String(200))
    postal_code: Mapped[str] = mapped_column(sa.String(5))
    phone: Mapped[str | None] = mapped_column(sa.String(20))
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    accessibility: Mapped[str] = mapped_column(sa.Text, default="")
    active: Mapped[bool] = mapped_column(default=True)

    territory: Mapped[Territory] = relationship(back_populates="sites")
    commune: Mapped[Commune] = relationship(viewonly=True)
    practitioners: Mapped[list[Practitioner]] = relationship(
        secondary=practitioner_site, back_populates="sites", viewonly=True
    )

    __table_args__ = (
        # The commune must belong to the site's own territory.
        sa.ForeignKeyConstraint(
            ["territory_id", "commune_id"],
            ["commune.territory_id", "commune.id"],
            name="fk_site_commune_same_territory",
        ),
        sa.UniqueConstraint("territory_id", "name"),
        sa.UniqueConstraint("territory_id", "id"),
        sa.CheckConstraint(
            "latitude IS NULL OR (latitude >= -90 AND latitude <= 90)", name="latitude_range"
        ),
        sa.CheckConstraint(
            "longitude IS NULL OR (longitude >= -180 AND longitude <= 180)",
            name="longitude_range",
        ),
    )

    def __repr__(self) -> str:
        return f"<Site {self.id} {self.name!r}>"


class Practitioner(db.Model):
    """A health professional of the territory, identified by their RPPS number."""

    __tablename__ = "practitioner"

    id: Mapped[int] = mapped_column(primary_key=True)
    territory_id: Mapped[int] = mapped_column(
        sa.ForeignKey("territory.id", ondelete="CASCADE"), index=True
    )
    rpps: Mapped[str] = mapped_column(sa.String(11))
    family_name: Mapped[str] = mapped_column(sa.String(120))
    given_name: Mapped[str] = mapped_column(sa.String(120))
    profession: Mapped[Profession] = mapped_column(enum_column(Profession, "profession"))
    email: Mapped[str | None] = mapped_column(sa.String(254))
    phone: Mapped[str | None] = mapped_column(sa.String(20))
    active: Mapped[bool] = mapped_column(default=True)

    sites: Mapped[list[Site]] = relationship(
        secondary=practitioner_site, back_populates="practitioners", order_by="Site.name"
    )

    __table_args__ = (
        sa.UniqueConstraint("territory_id", "rpps"),
        sa.CheckConstraint("length(rpps) = 11", name="rpps_length"),
    )

    @property
    def display_name(self) -> str:
        prefix = "Dr " if self.profession == Profession.GP else ""
        return f"{prefix}{self.given_name} {self.family_name}"

    def __repr__(self) -> str:
        return f"<Practitioner {self.id} rpps={self.rpps}>"


regulation_service_territory = sa.Table(
    "regulation_service_territory",
    db.metadata,
    sa.Column(
        "service_id",
        sa.ForeignKey("regulation_service.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "territory_id",
        sa.ForeignKey("territory.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
)


class RegulationService(db.Model):
    """A regulation desk (SAS, Centre 15, e.g. "SAS 85") answering for several territories.

    The platform administrator attaches territories to it; its regulators search and book
    across all of them. Each booking still belongs to its slot's territory.
    """

    __tablename__ = "regulation_service"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)

    territories: Mapped[list[Territory]] = relationship(
        secondary=regulation_service_territory, order_by="Territory.name"
    )
    regulators: Mapped[list[User]] = relationship(
        back_populates="regulation_service", order_by="User.email"
    )

    __table_args__ = (sa.CheckConstraint("length(name) >= 2", name="name_length"),)

    @property
    def territory_ids(self) -> list[int]:
        return [t.id for t in self.territories]

    def __repr__(self) -> str:
        return f"<RegulationService {self.id} {self.name!r}>"


class User(UserMixin, db.Model):
    """An account; its role and territory decide everything it may see."""

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    role: Mapped[Role] = mapped_column(enum_column(Role, "role"))
    territory_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("territory.id", ondelete="CASCADE"), index=True
    )
    practitioner_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("practitioner.id", ondelete="SET NULL"), unique=True
    )
    # Regulators only: the desk they work for (a service may not be deleted under them).
    regulation_service_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("regulation_service.id", ondelete="RESTRICT"), index=True
    )
    display_name: Mapped[str] = mapped_column(sa.String(200), default="")
    active: Mapped[bool] = mapped_column(default=True)
    # Part of the login cookie: changing it logs the account out everywhere.
    session_token: Mapped[str] = mapped_column(sa.String(64))
    invitation_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    invitation_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # TOTP second factor (RFC 6238): the shared secret once confirmed, and the last time
    # step accepted, so that a code is never accepted twice.
    totp_secret: Mapped[str | None] = mapped_column(sa.String(64))
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)

    territory: Mapped[Territory | None] = relationship()
    practitioner: Mapped[Practitioner | None] = relationship()
    regulation_service: Mapped[RegulationService | None] = relationship(back_populates="regulators")

    __table_args__ = (
        sa.CheckConstraint("email = lower(email)", name="email_lowercase"),
        # Every account but the administrator's has a territory, except a regulator of a
        # regulation service, who may have none of their own.
        sa.CheckConstraint(
            "role = 'admin' OR territory_id IS NOT NULL "
            "OR (role = 'regulator' AND regulation_service_id IS NOT NULL)",
            name="territory_required",
        ),
        sa.CheckConstraint(
            "regulation_service_id IS NULL OR role = 'regulator'",
            name="service_only_for_regulators",
        ),
    )

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive accounts
        return self.active

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role.value}>"


class AddressInvitation(db.Model):
    """An invitation to an address that already has an account outside the territory.

    An account belongs to one CPTS, so such an invitation can't create one. Answering
    "this address already has an account" would tell a coordinator who uses the platform
    in other CPTS. Instead the coordinator gets what any invitation gives (a link, a
    pending row in the accounts list, the same actions) and the platform administrator
    is told by e-mail; the link, once opened, explains the situation to its owner.
    """

    __tablename__ = "address_invitation"

    id: Mapped[int] = mapped_column(primary_key=True)
    territory_id: Mapped[int] = mapped_column(
        sa.ForeignKey("territory.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(sa.String(254))
    role: Mapped[Role] = mapped_column(enum_column(Role, "address_invitation_role"))
    display_name: Mapped[str] = mapped_column(sa.String(200), default="")
    active: Mapped[bool] = mapped_column(default=True)
    token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)

    territory: Mapped[Territory] = relationship()

    __table_args__ = (
        sa.UniqueConstraint("territory_id", "email"),
        sa.CheckConstraint("email = lower(email)", name="email_lowercase"),
    )

    def __repr__(self) -> str:
        return f"<AddressInvitation {self.id} territory={self.territory_id}>"


class AuditEvent(db.Model):
    """Who did what to which object, and when. Never patient data in clear."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc, index=True)
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL")
    )
    role: Mapped[str | None] = mapped_column(sa.String(24))
    territory_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("territory.id", ondelete="CASCADE")
    )
    action: Mapped[str] = mapped_column(sa.String(64))
    target_type: Mapped[str | None] = mapped_column(sa.String(64))
    target_id: Mapped[str | None] = mapped_column(sa.String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)

    __table_args__ = (
        # A territory's events, newest last: "the newest event of this territory" (the
        # change marker of the calendar feeds) is one step down this index.
        sa.Index("ix_audit_event_territory_newest", "territory_id", "id"),
    )

    def __repr__(self) -> str:
        return f"<AuditEvent {self.id} {self.action} {self.target_type}:{self.target_id}>"
