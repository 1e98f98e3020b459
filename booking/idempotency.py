"""Idempotency records of ``POST /api/v1/bookings``: the first answer, kept for retries.

The JSON API stores its first successful answer under the client's ``Idempotency-Key``,
in the same transaction as the booking, and replays it to retries carrying that key.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import User
from booking.models import IdempotencyRecord


def find_record(user: User, key: str) -> IdempotencyRecord | None:
    """The record this user stored under ``key``, if any."""
    return db.session.scalar(
        sa.select(IdempotencyRecord).where(
            IdempotencyRecord.user_id == user.id, IdempotencyRecord.key == key
        )
    )


def claim(user: User, key: str, request_hash: str, now: datetime) -> IdempotencyRecord | None:
    """Insert the key's record before booking, or ``None`` if a concurrent request has.

    Claiming first makes the unique (user, key) constraint settle a race between two
    retries: on PostgreSQL the second one waits for the first to commit, then finds its
    record; SQLite serialises writers anyway. The record is completed after the booking
    and rolls back with it if the booking is refused.
    """
    record = IdempotencyRecord(
        user_id=user.id, key=key, request_hash=request_hash, status_code=0, body={}, created_at=now
    )
    try:
        with db.session.begin_nested():
            db.session.add(record)
    except IntegrityError:
        return None
    return record
