"""Publishing tables: the iCalendar feeds (each feed's secret address, the events taken
from a GP), the contract's indicator targets, and the bookings counted for the indicators.

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
from booking.models import BookingStatus
from booking.slots import CHANNELS as SLOT_CHANNELS

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


class IndicatorTarget(db.Model):
    """One SNP indicator of the territory's ACI contract, as the coordinator wrote it down.

    The ACI leaves the indicators to each local contract: a target reads one computed figure
    (``figure_key``, a key of ``publishing.indicators.FIGURES``) or, for what the app can't
    know, a value the coordinator types in each year (``figure_key`` NULL).
    """

    __tablename__ = "indicator_target"

    id: Mapped[int] = mapped_column(primary_key=True)
    territory_id: Mapped[int] = mapped_column(
        sa.ForeignKey("territory.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(200))
    figure_key: Mapped[str | None] = mapped_column(sa.String(60))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)

    years: Mapped[list[IndicatorTargetYear]] = relationship(
        back_populates="indicator",
        order_by="IndicatorTargetYear.year",
        cascade="all, delete-orphan",
    )

    __table_args__ = (
        sa.UniqueConstraint("territory_id", "name"),
        sa.CheckConstraint("length(name) >= 1", name="name_present"),
    )

    def __repr__(self) -> str:
        return f"<IndicatorTarget {self.id} {self.name!r} {self.figure_key or 'manual'}>"


class IndicatorTargetYear(db.Model):
    """The target of one contract year (a calendar year), and the manual value if any."""

    __tablename__ = "indicator_target_year"

    id: Mapped[int] = mapped_column(primary_key=True)
    target_id: Mapped[int] = mapped_column(sa.ForeignKey("indicator_target.id", ondelete="CASCADE"))
    year: Mapped[int]
    goal: Mapped[float]
    manual_value: Mapped[float | None]

    indicator: Mapped[IndicatorTarget] = relationship(back_populates="years")

    __table_args__ = (
        sa.UniqueConstraint("target_id", "year"),
        sa.CheckConstraint("year >= 2000 AND year <= 2100", name="year_range"),
    )

    def __repr__(self) -> str:
        return f"<IndicatorTargetYear target={self.target_id} {self.year}>"


# --- the indicators' tallies ----------------------------------------------------------------
#
# A contract year is ~100,000 bookings; summing them row by row on every page load cost the
# indicators page most of its time. The bookings are therefore also counted per site and
# local day (and per local hour, for the heat map), and those few thousand rows are what
# the page sums. They are derived data, written and read in bulk by Core statements, never
# as objects: plain tables, their count columns generated from the channels and statuses.
# ``publishing.indicator_tallies`` keeps them true (its docstring says how).

TALLY_STATUSES = tuple(status.value for status in BookingStatus)
# Channel × status counts first, then the counts of live bookings (every status but
# "cancelled") with a property.
TALLY_COUNTS: tuple[str, ...] = (
    *(f"{channel}_{status}" for channel in SLOT_CHANNELS for status in TALLY_STATUSES),
    "without_gp",
    "same_day",
    "within_24h",
    "within_48h",
    "commune_inside",
    "commune_outside",
    "commune_unknown",
)


def _territory_fk() -> sa.Column[int]:
    return sa.Column(
        "territory_id",
        sa.ForeignKey("territory.id", ondelete="CASCADE"),
        nullable=False,
        primary_key=True,
    )


def _site_fk() -> sa.Column[int]:
    return sa.Column(
        "site_id", sa.ForeignKey("site.id", ondelete="CASCADE"), nullable=False, primary_key=True
    )


# One row per change to a booking (or to what its counts depend on), appended in the
# change's own transaction: the local day whose counts are stale, or NULL for every day (the
# territory's zone or communes changed; a migrated database). Appended, never updated, so
# bookings never wait on one another for it; the refresh deletes exactly the rows it read.
indicator_change = sa.Table(
    "indicator_change",
    db.metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "territory_id",
        sa.ForeignKey("territory.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("local_date", sa.Date, nullable=True),
)

# The bookings whose slot starts on a local day at a site, counted.
indicator_day = sa.Table(
    "indicator_day",
    db.metadata,
    _territory_fk(),
    sa.Column("local_date", sa.Date, nullable=False, primary_key=True),
    _site_fk(),
    *(sa.Column(name, sa.Integer, nullable=False) for name in TALLY_COUNTS),
    *(sa.CheckConstraint(f"{name} >= 0", name=f"{name}_counted") for name in TALLY_COUNTS),
)

# Live bookings by local hour of their start: the heat map.
indicator_hour = sa.Table(
    "indicator_hour",
    db.metadata,
    _territory_fk(),
    sa.Column("local_date", sa.Date, nullable=False, primary_key=True),
    sa.Column("hour", sa.SmallInteger, nullable=False, primary_key=True),
    _site_fk(),
    sa.Column("live", sa.Integer, nullable=False),
    sa.CheckConstraint("hour >= 0 AND hour <= 23", name="hour_of_day"),
    sa.CheckConstraint("live > 0", name="live_counted"),
)

# Which pharmacy accounts booked on a local day at a site (any status): "pharmacies
# participantes" is a count of distinct accounts, which no sum of day counts can give. A
# deleted account leaves with its rows, as its bookings then name no booker.
indicator_pharmacy = sa.Table(
    "indicator_pharmacy",
    db.metadata,
    _territory_fk(),
    sa.Column("local_date", sa.Date, nullable=False, primary_key=True),
    _site_fk(),
    sa.Column(
        "user_id",
        sa.ForeignKey("user_account.id", ondelete="CASCADE"),
        nullable=False,
        primary_key=True,
    ),
)
