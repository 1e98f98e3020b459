"""Bookings, API tokens and idempotency records."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db_types import UTCDateTime
from app.enums import LabelledEnum
from app.extensions import db
from app.models import User, enum_column
from app.timeutil import now_utc
from rota.models import Session


class Billing(LabelledEnum):
    SNP = "snp", "Majoration SNP (patient d'un autre médecin traitant ou sans médecin traitant)"
    MRT = "mrt", "MRT (je suis son médecin traitant)"


class BookingStatus(LabelledEnum):
    BOOKED = "booked", "Réservé"
    HONOURED = "honoured", "Honoré"
    NO_SHOW = "no_show", "Patient absent"
    CANCELLED = "cancelled", "Annulé"
    TO_REPLACE = "to_replace", "À replacer"


# A booking that still holds its slot: every status but "cancelled". The partial unique
# index below names them, so keep both in step.
LIVE_STATUSES = ("booked", "honoured", "no_show", "to_replace")
_LIVE_SQL = "status IN ('booked', 'honoured', 'no_show', 'to_replace')"


class Booking(db.Model):
    """One patient in one slot. Patient fields are erased ``patient_data_days`` after it."""

    __tablename__ = "booking"

    id: Mapped[int] = mapped_column(primary_key=True)
    territory_id: Mapped[int] = mapped_column(
        sa.ForeignKey("territory.id", ondelete="CASCADE"), index=True
    )
    reference: Mapped[str] = mapped_column(sa.String(8), unique=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("snp_session.id", ondelete="CASCADE"))
    seat: Mapped[int]
    slot_index: Mapped[int]
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    slot_channel: Mapped[str] = mapped_column(sa.String(12))  # the slot's own channel
    channel: Mapped[str] = mapped_column(sa.String(12))  # the booker's channel
    status: Mapped[BookingStatus] = mapped_column(enum_column(BookingStatus, "booking_status"))
    # Minimal patient data (nullable: erased by the purge).
    family_name: Mapped[str | None] = mapped_column(sa.String(100))
    given_name: Mapped[str | None] = mapped_column(sa.String(100))
    birth_date: Mapped[date | None]
    phone: Mapped[str | None] = mapped_column(sa.String(20))
    reason: Mapped[str | None] = mapped_column(sa.String(200))
    reason_code: Mapped[str] = mapped_column(sa.String(30), default="autre")
    without_gp: Mapped[bool] = mapped_column(default=False)
    # The patient's commune (INSEE code) when the booker gave it: counts only, for the
    # indicators (inside or outside the territory). Not an identity; kept after the purge.
    patient_insee: Mapped[str | None] = mapped_column(sa.String(5))
    # Who booked, and what happened next.
    booked_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    booked_by_role: Mapped[str] = mapped_column(sa.String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    cancel_reason: Mapped[str | None] = mapped_column(sa.String(200))
    cancelled_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="SET NULL")
    )
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A booking made by the national SAS platform through FHIR: the platform's own
    # identifier of the appointment (its key for later updates) and who booked there.
    # The platform sends no patient identity: the regulator keeps it.
    external_system: Mapped[str | None] = mapped_column(sa.String(200))
    external_id: Mapped[str | None] = mapped_column(sa.String(200))
    operator: Mapped[str | None] = mapped_column(sa.String(250))
    # Said by the GP when marking the patient honoured: "snp" (not their médecin traitant,
    # majoration SNP) or "mrt" (their own patient). Evidence for the CPAM, never a name.
    billing: Mapped[str | None] = mapped_column(sa.String(3))
    # How the patient is told of the booking (optional, with their consent): an e-mail
    # address and/or a mobile number (E.164). Patient data: erased by the purge.
    patient_email: Mapped[str | None] = mapped_column(sa.String(254))
    patient_mobile: Mapped[str | None] = mapped_column(sa.String(20))
    contact_consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The SHA-256 of the cancellation link's token sent to the patient (the link itself is
    # only in the message); valid until the slot starts.
    patient_token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    # The patient cancelled through that link (no account: ``cancelled_by_id`` stays empty).
    cancelled_by_patient: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # The reminder (``flask booking remind``) was queued: never twice.
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    session: Mapped[Session] = relationship(viewonly=True)
    booked_by: Mapped[User | None] = relationship(foreign_keys=[booked_by_id], viewonly=True)

    __table_args__ = (
        # One live booking per slot: the database, not the code, settles a race.
        sa.Index(
            "uq_booking_live_slot",
            "session_id",
            "seat",
            "slot_index",
            unique=True,
            sqlite_where=sa.text(_LIVE_SQL),
            postgresql_where=sa.text(_LIVE_SQL),
        ),
        sa.CheckConstraint("ends_at > starts_at", name="time_order"),
        sa.CheckConstraint("seat >= 1 AND slot_index >= 0", name="slot_position"),
        sa.CheckConstraint("slot_channel IN ('sas', 'pharmacy', 'open')", name="slot_channel"),
        sa.CheckConstraint("channel IN ('sas', 'pharmacy', 'open', 'any')", name="channel"),
        sa.CheckConstraint(
            "purged_at IS NOT NULL OR external_id IS NOT NULL OR (family_name IS NOT NULL "
            "AND given_name IS NOT NULL AND birth_date IS NOT NULL AND phone IS NOT NULL)",
            name="patient_until_purged",
        ),
        sa.CheckConstraint(
            "(external_system IS NULL AND external_id IS NULL) "
            "OR (external_system IS NOT NULL AND external_id IS NOT NULL)",
            name="external_pair",
        ),
        sa.UniqueConstraint("territory_id", "external_system", "external_id"),
        sa.CheckConstraint("billing IS NULL OR billing IN ('snp', 'mrt')", name="billing_known"),
        # No contact without the patient's consent to be written to.
        sa.CheckConstraint(
            "(patient_email IS NULL AND patient_mobile IS NULL) OR contact_consent_at IS NOT NULL",
            name="contact_needs_consent",
        ),
        # The indicators read a territory's bookings over a period: every column they
        # aggregate is in the index, so a year is read from it alone (no table lookups).
        sa.Index(
            "ix_booking_indicators",
            "territory_id",
            "starts_at",
            "status",
            "slot_channel",
            "created_at",
            "session_id",
            "without_gp",
            "patient_insee",
            "booked_by_role",
            "booked_by_id",
        ),
    )

    @property
    def slot_id(self) -> str:
        return f"{self.session_id}-{self.seat}-{self.slot_index}"

    @property
    def status_label(self) -> str:
        """ "Annulé par le patient" when the patient used the link; else the status's label."""
        if self.status == BookingStatus.CANCELLED and self.cancelled_by_patient:
            return "Annulé par le patient"
        return self.status.label

    @property
    def patient_name(self) -> str:
        if self.purged_at is not None:
            return "(données effacées)"
        if self.family_name is None and self.external_id is not None:
            return "Patient orienté par le SAS (identité auprès de la régulation)"
        return f"{(self.family_name or '').upper()} {self.given_name or ''}".strip()

    def __repr__(self) -> str:
        return f"<Booking {self.reference} {self.status.value}>"


class ApiToken(db.Model):
    """A bearer token for the JSON API: only its SHA-256 is stored."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str] = mapped_column(sa.String(100), default="")
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(8))  # shown to tell tokens apart
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(viewonly=True)

    def __repr__(self) -> str:
        return f"<ApiToken {self.prefix}… user={self.user_id}>"


class IdempotencyRecord(db.Model):
    """The first answer to a POST carrying an ``Idempotency-Key``, replayed on retries."""

    __tablename__ = "idempotency_record"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(sa.String(200))
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    status_code: Mapped[int]
    body: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)

    __table_args__ = (sa.UniqueConstraint("user_id", "key"),)
