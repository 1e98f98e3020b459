"""The coordinator's "À faire": what waits for them, gathered from every layer.

The shell knows neither rota nor bookings: the home page sends ``events.todo_items`` and
each layer answers the items it owns (``rota.todo``, ``booking.todo``, and the shell's own
below), each a count, a French label and the page that resolves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import url_for

from app import events
from app.extensions import db
from app.models import Territory
from app.outbox import OutboxMessage
from app.timeutil import now_utc


@dataclass(frozen=True)
class TodoItem:
    key: str  # stable, for tests and scripts
    count: int
    label: str  # French, read after the count: "3 plages sans médecin…"
    url: str
    order: int = 50  # most urgent first


def collect(territory: Territory, now: datetime | None = None) -> list[TodoItem]:
    """Every layer's pending items with a count above zero, most urgent first."""
    found: list[TodoItem] = []
    for answer in events.answers(events.todo_items, territory, now=now or now_utc()):
        found.extend(answer)
    return sorted((i for i in found if i.count > 0), key=lambda i: (i.order, i.key))


def abandoned_messages(territory: Territory, *, now: datetime) -> list[TodoItem]:
    """E-mails the sender gave up on: someone was not told of a change."""
    count = db.session.scalar(
        sa.select(sa.func.count(OutboxMessage.id)).where(
            OutboxMessage.territory_id == territory.id,
            OutboxMessage.sent_at.is_(None),
            OutboxMessage.meta["abandoned"].as_boolean().is_(True),
        )
    )
    return [
        TodoItem(
            "outbox_abandoned",
            int(count or 0),
            "message(s) e-mail non remis après plusieurs essais : vérifiez les adresses des "
            "comptes concernés",
            url_for("territory.users"),
            order=70,
        )
    ]


def connect() -> None:
    events.todo_items.connect(abandoned_messages)
