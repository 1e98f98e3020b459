"""The outbox: notifications written in the same transaction as the change that caused them.

Every feature queues its messages here (``notify`` for e-mails to staff,
``notify_patient`` for a patient's e-mail or SMS); ``app.mail`` delivers them later
(``flask outbox send``), e-mails through the mail backend and SMS through ``app.sms``.
Keeping the table in the shell lets any layer notify without knowing the others.

A patient's message is patient data: it carries the booking it belongs to
(``booking_id``, a plain number: the shell knows no bookings) and the moment it may be
kept until (``purge_after``), and ``purge_patient_messages`` deletes it with the booking's
patient data.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db_types import UTCDateTime
from app.extensions import db
from app.timeutil import now_utc


class Channel(enum.StrEnum):
    EMAIL = "email"
    SMS = "sms"


class OutboxMessage(db.Model):
    """E-mails and SMS waiting for the pluggable senders (in development: read them here)."""

    __tablename__ = "outbox_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    territory_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("territory.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[Channel] = mapped_column(
        sa.Enum(
            Channel,
            name="outbox_channel",
            native_enum=False,
            create_constraint=True,
            length=8,
            values_callable=lambda members: [m.value for m in members],
            validate_strings=True,
        ),
        default=Channel.EMAIL,
        server_default=Channel.EMAIL.value,
    )
    # E-mail address, or E.164 mobile number for an SMS.
    recipient: Mapped[str] = mapped_column(sa.String(254))
    subject: Mapped[str] = mapped_column(sa.String(200))  # empty for an SMS
    body: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    meta: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    # Patient messages only: the booking whose patient data this is, and when it goes.
    booking_id: Mapped[int | None] = mapped_column(index=True)
    purge_after: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)

    __table_args__ = (
        sa.CheckConstraint(
            "purge_after IS NULL OR booking_id IS NOT NULL", name="purge_needs_booking"
        ),
    )

    def __repr__(self) -> str:
        return f"<OutboxMessage {self.id} {self.channel} to={self.recipient!r}>"


def notify(territory_id: int | None, recipient: str, subject: str, body: str) -> OutboxMessage:
    """Queue an e-mail for the sender; it leaves only if the caller's transaction commits."""
    message = OutboxMessage(
        territory_id=territory_id,
        channel=Channel.EMAIL,
        recipient=recipient,
        subject=subject,
        body=body,
    )
    db.session.add(message)
    return message


def notify_patient(
    territory_id: int,
    *,
    channel: Channel,
    recipient: str,
    subject: str,
    body: str,
    booking_id: int,
    purge_after: datetime,
) -> OutboxMessage:
    """Queue a patient's e-mail or SMS, tied to the booking whose data it is.

    ``recipient`` is already normalised by the caller (``app.sms.normalise_mobile`` for an
    SMS, ``app.validators.normalise_email`` for an e-mail).
    """
    message = OutboxMessage(
        territory_id=territory_id,
        channel=channel,
        recipient=recipient,
        subject=subject if channel == Channel.EMAIL else "",
        body=body,
        booking_id=booking_id,
        purge_after=purge_after,
    )
    db.session.add(message)
    return message


def purge_patient_messages(
    *, booking_ids: Collection[int] = (), now: datetime | None = None
) -> int:
    """Delete patients' messages of these bookings, and every one past its ``purge_after``.

    Sent or not: an unsent message of a purged booking must not leave afterwards. Flushes,
    does not commit (the caller purges the booking in the same transaction). Returns the
    number of rows deleted.
    """
    moment = now or now_utc()
    condition = OutboxMessage.purge_after <= moment
    if booking_ids:
        condition = sa.or_(condition, OutboxMessage.booking_id.in_(list(booking_ids)))
    result = db.session.execute(
        sa.delete(OutboxMessage)
        .where(OutboxMessage.booking_id.is_not(None), condition)
        .execution_options(synchronize_session=False)
    )
    db.session.flush()
    return result.rowcount or 0
