"""The outbox: notifications written in the same transaction as the change that caused them.

Every feature queues its e-mails here with ``notify``; ``app.mail`` delivers them later
(``flask outbox send``). Keeping the table in the shell lets any layer notify without
knowing the others.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db_types import UTCDateTime
from app.extensions import db
from app.timeutil import now_utc


class OutboxMessage(db.Model):
    """E-mails waiting for the pluggable sender (in development: read them here)."""

    __tablename__ = "outbox_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    territory_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("territory.id", ondelete="CASCADE"), index=True
    )
    recipient: Mapped[str] = mapped_column(sa.String(254))
    subject: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    meta: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)

    def __repr__(self) -> str:
        return f"<OutboxMessage {self.id} to={self.recipient!r}>"


def notify(territory_id: int | None, recipient: str, subject: str, body: str) -> OutboxMessage:
    """Queue an e-mail for the sender; it leaves only if the caller's transaction commits."""
    message = OutboxMessage(
        territory_id=territory_id, recipient=recipient, subject=subject, body=body
    )
    db.session.add(message)
    return message
