"""The bookings' answer to the coordinator's "À faire" (``app.events.todo_items``)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask import url_for

from app import events
from app.extensions import db
from app.models import Territory
from app.todo import TodoItem
from booking.models import Booking, BookingStatus


def to_replace(territory_id: int) -> int:
    """Bookings whose session was cancelled: the patient needs another slot."""
    return int(
        db.session.scalar(
            sa.select(sa.func.count(Booking.id)).where(
                Booking.territory_id == territory_id,
                Booking.status == BookingStatus.TO_REPLACE,
            )
        )
        or 0
    )


def todo(territory: Territory, *, now: datetime) -> list[TodoItem]:
    return [
        TodoItem(
            "bookings_to_replace",
            to_replace(territory.id),
            "rendez-vous à replacer (plage annulée)",
            url_for("booking.territory_bookings"),
            order=15,
        )
    ]


def connect() -> None:
    events.todo_items.connect(todo)
