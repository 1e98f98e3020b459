"""iCalendar feed tables: each feed's secret address, and the events taken from a GP.

A feed's token is never stored, only its SHA-256: a leaked database does not leak the
addresses, and rotating a token is overwriting one hash, so the old address dies at once.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db_types import UTCDateTime
from app.extensions import db
from app.models import Practitioner, Territory
from app.timeutil import now_utc

# Longest reminder a GP may ask for: a week before the session.
MAX_ALARM_MINUTES = 7 * 24 * 60


class CalendarFeed(db.Model):
    """The secret feed of one GP (``practitioner_id`` set) or of a whole territory (unset).

    One row per owner, kept across rotations: it also holds the GP's feed settings (the
    reminder), which must survive a new address.
    """

    __tablename__ = "calendar_feed"

    id: Mapped[int] = mapped_column(primary_key=True)
    territory_id: Mapped[int] = mapped_column(
        sa.ForeignKey("territory.id", ondelete="CASCADE"), index=True
    )
    practitioner_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("practitioner.id", ondelete="CASCADE"), unique=True
    )
    # NULL until issued, and again once revoked: a lookup by hash then finds nothing.
    token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    alarm_minutes: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)

    territory: Mapped[Territory] = relationship(viewonly=True)
    practitioner: Mapped[Practitioner | None] = relationship(viewonly=True)

    __table_args__ = (
        # One territory feed per territory (GP feeds are unique by practitioner_id).
        sa.Index(
            "uq_calendar_feed_territory",
            "territory_id",
            unique=True,
            sqlite_where=sa.text("practitioner_id IS NULL"),
            postgresql_where=sa.text("practitioner_id IS NULL"),
        ),
        sa.CheckConstraint("token_hash IS NULL OR revoked_at IS NULL", name="live_not_revoked"),
        sa.CheckConstraint(
            f"alarm_minutes IS NULL OR (alarm_minutes >= 0 AND alarm_minutes <= {MAX_ALARM_MINUTES})",
            name="alarm_range",
        ),
    )

    @property
    def live(self) -> bool:
        return self.token_hash is not None

    def __repr__(self) -> str:
        owner = f"gp={self.practitioner_id}" if self.practitioner_id else "territory"
        return f"<CalendarFeed {self.id} {owner} {'live' if self.live else 'off'}>"


class FeedTombstone(db.Model):
    """An event a GP's feed showed and must now show cancelled, so that clients remove it.

    Recorded when an assignment leaves a GP (swap, replacement, removal) or its session is
    cancelled. ``sequence`` is the SEQUENCE the cancelled event carries: above any the GP's
    feed ever gave that event. ``assignment_id`` is part of the event's UID, not a reference:
    the assignment row may be gone when the tombstone is still served.
    """

    __tablename__ = "calendar_feed_tombstone"

    id: Mapped[int] = mapped_column(primary_key=True)
    practitioner_id: Mapped[int] = mapped_column(
        sa.ForeignKey("practitioner.id", ondelete="CASCADE")
    )
    session_id: Mapped[int] = mapped_column(
        sa.ForeignKey("snp_session.id", ondelete="CASCADE"), index=True
    )
    assignment_id: Mapped[int]
    sequence: Mapped[int]
    cancelled_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc, index=True)

    __table_args__ = (
        sa.UniqueConstraint("practitioner_id", "assignment_id"),
        sa.CheckConstraint("sequence >= 0", name="sequence_positive"),
    )

    def __repr__(self) -> str:
        return (
            f"<FeedTombstone gp={self.practitioner_id} assignment={self.assignment_id} "
            f"seq={self.sequence}>"
        )
