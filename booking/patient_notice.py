"""Telling the patient: the confirmation with its cancellation link, and the reminder.

A booker may give the patient's mobile number and/or e-mail address, with the patient's
consent; the messages then go through the outbox (``app.outbox.notify_patient``): e-mail
by SMTP, SMS through ``app.sms``. They say where, when and what to bring, that a vital
emergency is the 15, and how to cancel: never the reason of the visit nor the GP's
specialty (``booking.patient_messages`` builds them from a ``Confirmation``, which has no
field for either).

The cancellation link carries a random token; only its SHA-256 is stored on the booking,
so the link exists only in the patient's message. It is valid until the slot starts.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa

from app.extensions import db
from app.models import Site, Territory
from app.outbox import Channel, notify_patient
from app.timeutil import local
from app.urls import public_url
from booking import patient_messages as texts
from booking.models import Booking, BookingStatus

# The reminder goes this long before the slot (``flask booking remind``, run every few
# minutes by cron, queues those whose moment has come and not yet passed).
REMINDER_BEFORE = timedelta(hours=2)
CANCEL_ENDPOINT = "booking.patient_cancel"


def new_token() -> tuple[str, str]:
    """``(token, sha256)``: the token goes in the link, the hash in the database."""
    token = secrets.token_urlsafe(24)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def has_contact(booking: Booking) -> bool:
    return bool(booking.patient_email or booking.patient_mobile)


def _confirmation(
    booking: Booking, site: Site, territory: Territory, cancel_url: str
) -> texts.Confirmation:
    return texts.Confirmation(
        territory_name=territory.name,
        site_name=site.name,
        address_line=site.address_line,
        postal_code=site.postal_code,
        commune_name=site.commune.name,
        starts_at=local(booking.starts_at, territory.timezone),
        cancel_url=cancel_url,
        site_phone=_phone(site.phone),
    )


def _phone(number: str | None) -> str:
    """ "02 51 93 12 34" from a stored number; empty when the site has none."""
    digits = "".join(c for c in (number or "") if c.isdigit() or c == "+")
    if digits.startswith("+33") and len(digits) == 12:
        digits = "0" + digits[3:]
    if len(digits) == 10 and digits.isdigit():
        return " ".join(digits[i : i + 2] for i in range(0, 10, 2))
    return number or ""


def _queue(booking: Booking, territory: Territory, sms: str, subject: str, body: str) -> int:
    """One message per contact the patient gave; kept until the booking's data is purged."""
    purge_after = booking.ends_at + timedelta(days=territory.patient_data_days)
    queued = 0
    if booking.patient_mobile:
        notify_patient(
            territory.id,
            channel=Channel.SMS,
            recipient=booking.patient_mobile,
            subject="",
            body=sms,
            booking_id=booking.id,
            purge_after=purge_after,
        )
        queued += 1
    if booking.patient_email:
        notify_patient(
            territory.id,
            channel=Channel.EMAIL,
            recipient=booking.patient_email,
            subject=subject,
            body=body,
            booking_id=booking.id,
            purge_after=purge_after,
        )
        queued += 1
    return queued


def inform(booking: Booking, site: Site, territory: Territory) -> int:
    """Give the booking a cancellation token and queue the patient's confirmation.

    Does nothing without a contact. Flushes; the caller's commit sends (or its rollback
    drops) the messages with the booking. Returns the number of messages queued.
    """
    if not has_contact(booking):
        return 0
    token, digest = new_token()
    booking.patient_token_hash = digest
    db.session.flush()
    confirmation = _confirmation(booking, site, territory, public_url(CANCEL_ENDPOINT, token=token))
    subject, body = texts.confirmation_email(confirmation)
    return _queue(booking, territory, texts.confirmation_sms(confirmation), subject, body)


def due_reminders(now: datetime) -> list[Booking]:
    """Live bookings with a contact, starting within ``REMINDER_BEFORE``, not yet reminded."""
    return list(
        db.session.scalars(
            sa.select(Booking)
            .where(
                Booking.status == BookingStatus.BOOKED,
                Booking.reminded_at.is_(None),
                Booking.purged_at.is_(None),
                sa.or_(Booking.patient_email.is_not(None), Booking.patient_mobile.is_not(None)),
                Booking.starts_at > now,
                Booking.starts_at <= now + REMINDER_BEFORE,
            )
            .order_by(Booking.starts_at, Booking.id)
            .with_for_update(skip_locked=True)
        )
    )


def remind(now: datetime) -> int:
    """Queue the reminder of every booking due one; each at most once (``reminded_at``).

    The reminder carries no cancellation link (the confirmation's still works until the
    slot starts; a new token would silently void it): it says to use that one. Flushes;
    the caller commits. Returns the number of bookings reminded.
    """
    count = 0
    for booking in due_reminders(now):
        territory = db.session.get(Territory, booking.territory_id)
        assert territory is not None
        confirmation = _confirmation(booking, booking.session.site, territory, cancel_url="")
        subject, body = texts.reminder_email(confirmation)
        _queue(booking, territory, texts.reminder_sms(confirmation), subject, body)
        booking.reminded_at = now
        count += 1
    db.session.flush()
    return count
