"""Rota data: templates, periods, dated sessions, assignments, declarations, the outbox."""

from __future__ import annotations

from datetime import date, datetime, time

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db_types import UTCDateTime
from app.enums import LabelledEnum
from app.extensions import db
from app.models import Practitioner, Site, enum_column
from app.timeutil import now_utc


class ConsultationMode(LabelledEnum):
    SURGERY = "surgery", "Consultation au cabinet"
    WALK_IN = "walk_in", "Sans rendez-vous uniquement"
    HOME = "home", "Visites à domicile"
    VIDEO = "video", "Téléconsultation"


class HolidayRule(LabelledEnum):
    SKIP = "skip", "Pas de plage les jours fériés"
    NORMAL = "normal", "Plage maintenue les jours fériés"
    ONLY = "only", "Plage des jours fériés uniquement"


class PeriodStatus(LabelledEnum):
    DRAFT = "draft", "Brouillon"
    WISHES_OPEN = "wishes_open", "Recueil des souhaits"
    GENERATED = "generated", "Généré, à relire"
    PUBLISHED = "published", "Publié"
    ARCHIVED = "archived", "Archivé"


class AssignmentSource(LabelledEnum):
    VOLUNTEERED = "volunteered", "Volontaire"
    GENERATED = "generated", "Généré"
    MANUAL = "manual", "Affecté par la coordination"
    SWAPPED = "swapped", "Échange"
    BOURSE = "bourse", "Pris sur la bourse"


WEEKDAY_LABELS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")


def mask_to_weekdays(mask: int) -> frozenset[int]:
    return frozenset(d for d in range(7) if mask & (1 << d))


def weekdays_to_mask(days: set[int] | frozenset[int] | list[int]) -> int:
    return sum(1 << d for d in set(days))


class SessionTemplate(db.Model):
    """A recurring SNP session at a site ("MSP Challans, Mon–Fri 17:00–20:00, 1 GP")."""

    __tablename__ = "session_template"

    id: Mapped[int] = mapped_column(primary_key=True)
    territory_id: Mapped[int] = mapped_column(
        sa.ForeignKey("territory.id", ondelete="CASCADE"), index=True
    )
    site_id: Mapped[int]
    weekday_mask: Mapped[int]
    start_time: Mapped[time] = mapped_column(sa.Time)
    end_time: Mapped[time] = mapped_column(sa.Time)
    gps_needed: Mapped[int] = mapped_column(default=1)
    slot_minutes: Mapped[int] = mapped_column(default=15)
    mode: Mapped[ConsultationMode] = mapped_column(
        enum_column(ConsultationMode, "consultation_mode")
    )
    sas_slots: Mapped[int] = mapped_column(default=0)
    pharmacy_slots: Mapped[int] = mapped_column(default=0)
    valid_from: Mapped[date]
    valid_to: Mapped[date | None]
    on_holidays: Mapped[HolidayRule] = mapped_column(enum_column(HolidayRule, "holiday_rule"))
    active: Mapped[bool] = mapped_column(default=True)

    site: Mapped[Site] = relationship(viewonly=True)

    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["territory_id", "site_id"],
            ["site.territory_id", "site.id"],
            name="fk_session_template_site_same_territory",
        ),
        sa.CheckConstraint("weekday_mask >= 0 AND weekday_mask < 128", name="weekday_mask_range"),
        sa.CheckConstraint("gps_needed >= 1 AND gps_needed <= 10", name="gps_needed_range"),
        sa.CheckConstraint("slot_minutes >= 5 AND slot_minutes <= 120", name="slot_minutes_range"),
        sa.CheckConstraint("sas_slots >= 0 AND pharmacy_slots >= 0", name="quotas_positive"),
        sa.CheckConstraint("start_time <> end_time", name="not_empty"),
        sa.CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="validity_order"),
    )

    @property
    def weekdays(self) -> frozenset[int]:
        return mask_to_weekdays(self.weekday_mask)

    @property
    def weekdays_label(self) -> str:
        return ", ".join(WEEKDAY_LABELS[d] for d in sorted(self.weekdays))

    def __repr__(self) -> str:
        return f"<SessionTemplate {self.id} site={self.site_id} {self.start_time}-{self.end_time}>"


class RotaPeriod(db.Model):
    """A month or a quarter of sessions, from draft to published."""

    __tablename__ = "rota_period"

    id: Mapped[int] = mapped_column(primary_key=True)
    territory_id: Mapped[int] = mapped_column(
        sa.ForeignKey("territory.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(120))
    start_date: Mapped[date]
    end_date: Mapped[date]
    status: Mapped[PeriodStatus] = mapped_column(enum_column(PeriodStatus, "period_status"))
    wishes_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(default=0)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)

    sessions: Mapped[list[Session]] = relationship(
        back_populates="period", order_by="Session.starts_at", cascade="all, delete-orphan"
    )

    __table_args__ = (
        sa.CheckConstraint("end_date >= start_date", name="dates_order"),
        sa.CheckConstraint("version >= 0", name="version_positive"),
        sa.UniqueConstraint("territory_id", "id"),
    )

    def __repr__(self) -> str:
        return f"<RotaPeriod {self.id} {self.name!r} {self.status.value}>"


class Session(db.Model):
    """One dated SNP session: a template's occurrence at a site on a day."""

    __tablename__ = "snp_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    territory_id: Mapped[int] = mapped_column(index=True)
    period_id: Mapped[int]
    template_id: Mapped[int] = mapped_column(sa.ForeignKey("session_template.id"), index=True)
    site_id: Mapped[int] = mapped_column(index=True)
    local_date: Mapped[date]
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    gps_needed: Mapped[int]
    category: Mapped[str] = mapped_column(sa.String(20))
    holiday_name: Mapped[str | None] = mapped_column(sa.String(80))
    cancelled: Mapped[bool] = mapped_column(default=False)
    cancel_reason: Mapped[str | None] = mapped_column(sa.String(200))
    version: Mapped[int] = mapped_column(default=1)
    # Copied from the template when the session is created: later template edits must not
    # re-cut the slots of a session that may already have bookings.
    slot_minutes: Mapped[int] = mapped_column(default=15, server_default="15")
    mode: Mapped[ConsultationMode] = mapped_column(
        enum_column(ConsultationMode, "consultation_mode"), server_default="surgery"
    )
    sas_slots: Mapped[int] = mapped_column(default=0, server_default="0")
    pharmacy_slots: Mapped[int] = mapped_column(default=0, server_default="0")

    period: Mapped[RotaPeriod] = relationship(back_populates="sessions")
    template: Mapped[SessionTemplate] = relationship(viewonly=True)
    site: Mapped[Site] = relationship(viewonly=True)
    assignments: Mapped[list[Assignment]] = relationship(
        back_populates="session", order_by="Assignment.seat", cascade="all, delete-orphan"
    )

    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["territory_id", "period_id"],
            ["rota_period.territory_id", "rota_period.id"],
            ondelete="CASCADE",
            name="fk_snp_session_period_same_territory",
        ),
        sa.ForeignKeyConstraint(
            ["territory_id", "site_id"],
            ["site.territory_id", "site.id"],
            name="fk_snp_session_site_same_territory",
        ),
        sa.UniqueConstraint("period_id", "template_id", "local_date"),
        sa.CheckConstraint("ends_at > starts_at", name="time_order"),
        sa.CheckConstraint("gps_needed >= 1", name="gps_needed_positive"),
        sa.CheckConstraint("category IN ('weekday', 'weekend_holiday')", name="category_known"),
        sa.CheckConstraint("slot_minutes >= 5 AND slot_minutes <= 120", name="slot_range"),
        sa.CheckConstraint("sas_slots >= 0 AND pharmacy_slots >= 0", name="quotas_positive"),
    )

    def __repr__(self) -> str:
        return f"<Session {self.id} site={self.site_id} {self.local_date}>"


class Assignment(db.Model):
    """A GP holding one seat of a session. The seat number makes over-staffing impossible."""

    __tablename__ = "assignment"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("snp_session.id", ondelete="CASCADE"))
    practitioner_id: Mapped[int] = mapped_column(
        sa.ForeignKey("practitioner.id", ondelete="CASCADE"), index=True
    )
    seat: Mapped[int]
    source: Mapped[AssignmentSource] = mapped_column(
        enum_column(AssignmentSource, "assignment_source")
    )
    locked: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)

    session: Mapped[Session] = relationship(back_populates="assignments")
    practitioner: Mapped[Practitioner] = relationship(viewonly=True)

    __table_args__ = (
        sa.UniqueConstraint("session_id", "practitioner_id"),
        sa.UniqueConstraint("session_id", "seat"),
        sa.CheckConstraint("seat >= 1 AND seat <= 10", name="seat_range"),
    )

    def __repr__(self) -> str:
        return f"<Assignment session={self.session_id} gp={self.practitioner_id} seat={self.seat}>"


class Unavailability(db.Model):
    """Days a GP can't hold any session (local dates, inclusive)."""

    __tablename__ = "unavailability"

    id: Mapped[int] = mapped_column(primary_key=True)
    practitioner_id: Mapped[int] = mapped_column(
        sa.ForeignKey("practitioner.id", ondelete="CASCADE"), index=True
    )
    start_date: Mapped[date]
    end_date: Mapped[date]
    reason: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    # Marked by the coordinator (illness, parental leave, training…): the GP's share shrinks
    # pro rata of the days it covers. A plain absence only moves duty to later periods.
    exempt: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    exempt_reason: Mapped[str | None] = mapped_column(sa.String(200))

    __table_args__ = (
        sa.CheckConstraint("end_date >= start_date", name="dates_order"),
        sa.CheckConstraint("NOT exempt OR exempt_reason IS NOT NULL", name="exempt_has_reason"),
    )

    def __repr__(self) -> str:
        return f"<Unavailability gp={self.practitioner_id} {self.start_date}..{self.end_date}>"


class Wish(db.Model):
    """A GP's answer for a period: commitment and preferences."""

    __tablename__ = "wish"

    id: Mapped[int] = mapped_column(primary_key=True)
    period_id: Mapped[int] = mapped_column(
        sa.ForeignKey("rota_period.id", ondelete="CASCADE"), index=True
    )
    practitioner_id: Mapped[int] = mapped_column(
        sa.ForeignKey("practitioner.id", ondelete="CASCADE")
    )
    weight: Mapped[float] = mapped_column(default=1.0)
    preferred_weekday_mask: Mapped[int] = mapped_column(default=0)
    preferred_site_ids: Mapped[list[int]] = mapped_column(sa.JSON, default=list)
    avoid_dates: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    # Personal limits and commitment: a fixed number of sessions replaces the weight.
    max_per_day: Mapped[int] = mapped_column(default=1, server_default="1")
    max_per_period: Mapped[int | None]
    target_sessions: Mapped[int | None]
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)

    __table_args__ = (
        sa.UniqueConstraint("period_id", "practitioner_id"),
        sa.CheckConstraint("weight >= 0 AND weight <= 3", name="weight_range"),
        sa.CheckConstraint(
            "preferred_weekday_mask >= 0 AND preferred_weekday_mask < 128", name="mask_range"
        ),
        sa.CheckConstraint("max_per_day >= 1 AND max_per_day <= 3", name="max_per_day_range"),
        sa.CheckConstraint(
            "max_per_period IS NULL OR max_per_period >= 0", name="max_per_period_positive"
        ),
        sa.CheckConstraint(
            "target_sessions IS NULL OR (target_sessions >= 0 AND target_sessions <= 100)",
            name="target_range",
        ),
        sa.CheckConstraint(
            "target_sessions IS NULL OR max_per_period IS NULL OR target_sessions <= max_per_period",
            name="target_within_max",
        ),
    )

    def __repr__(self) -> str:
        return f"<Wish period={self.period_id} gp={self.practitioner_id}>"


class FairnessLedger(db.Model):
    """A GP's fair share, load and balance in one category of a published period.

    Written at publication, then moved only by what changes hands (a hand-over, a manual
    edit): the published figures never drift when the roster or later periods change.
    Carry-over sums the balances of earlier periods; a GP with no row owes nothing.
    """

    __tablename__ = "fairness_ledger"

    id: Mapped[int] = mapped_column(primary_key=True)
    territory_id: Mapped[int] = mapped_column(
        sa.ForeignKey("territory.id", ondelete="CASCADE"), index=True
    )
    period_id: Mapped[int] = mapped_column(
        sa.ForeignKey("rota_period.id", ondelete="CASCADE"), index=True
    )
    practitioner_id: Mapped[int] = mapped_column(
        sa.ForeignKey("practitioner.id", ondelete="CASCADE"), index=True
    )
    category: Mapped[str] = mapped_column(sa.String(20))
    share: Mapped[float]  # the fair share of the period, before what was owed
    carried: Mapped[float] = mapped_column(default=0.0)  # owed coming in (target = share + carried)
    load: Mapped[int]
    balance: Mapped[float]  # share − load: what this period adds to what the GP owes
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)

    __table_args__ = (
        sa.UniqueConstraint("period_id", "practitioner_id", "category"),
        sa.CheckConstraint("category IN ('weekday', 'weekend_holiday')", name="category_known"),
        sa.CheckConstraint("load >= 0", name="load_positive"),
        sa.CheckConstraint("share >= 0", name="share_positive"),
    )

    @property
    def target(self) -> float:
        return self.share + self.carried

    def __repr__(self) -> str:
        return (
            f"<FairnessLedger period={self.period_id} gp={self.practitioner_id} "
            f"{self.category} {self.load}/{self.share:.2f}>"
        )


class SwapStatus(LabelledEnum):
    OPEN = "open", "En attente"
    PENDING = "pending", "En attente de validation"
    ACCEPTED = "accepted", "Acceptée"
    REFUSED = "refused", "Refusée par la coordination"
    CANCELLED = "cancelled", "Annulée"


class SwapRequest(db.Model):
    """A GP hands a session to a named colleague, or to anyone on the bourse (no recipient)."""

    __tablename__ = "swap_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    territory_id: Mapped[int] = mapped_column(
        sa.ForeignKey("territory.id", ondelete="CASCADE"), index=True
    )
    assignment_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("assignment.id", ondelete="SET NULL")
    )
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("snp_session.id", ondelete="CASCADE"))
    from_practitioner_id: Mapped[int] = mapped_column(
        sa.ForeignKey("practitioner.id", ondelete="CASCADE")
    )
    to_practitioner_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("practitioner.id", ondelete="CASCADE")
    )
    taken_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("practitioner.id", ondelete="SET NULL")
    )
    status: Mapped[SwapStatus] = mapped_column(enum_column(SwapStatus, "swap_status"))
    message: Mapped[str] = mapped_column(sa.String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    session: Mapped[Session] = relationship(viewonly=True)
    from_practitioner: Mapped[Practitioner] = relationship(
        foreign_keys=[from_practitioner_id], viewonly=True
    )
    to_practitioner: Mapped[Practitioner | None] = relationship(
        foreign_keys=[to_practitioner_id], viewonly=True
    )

    __table_args__ = (
        sa.CheckConstraint(
            "to_practitioner_id IS NULL OR to_practitioner_id <> from_practitioner_id",
            name="not_to_self",
        ),
        # At most one live offer (open, or taken and awaiting approval) per assignment.
        sa.Index(
            "uq_swap_request_open_assignment",
            "assignment_id",
            unique=True,
            sqlite_where=sa.text("status IN ('open', 'pending')"),
            postgresql_where=sa.text("status IN ('open', 'pending')"),
        ),
        sa.CheckConstraint(
            "status <> 'pending' OR taken_by_id IS NOT NULL",
            name="taken_when_pending",
        ),
    )

    def __repr__(self) -> str:
        return f"<SwapRequest {self.id} session={self.session_id} {self.status.value}>"


class ExchangeProposal(db.Model):
    """A GP offers one of their sessions in exchange for a colleague's (a two-way swap).

    The counterparts are either named sessions of colleagues (``ExchangeCounterpart`` rows)
    or, with ``any_in_month``, any session of any colleague in the month of the offered one.
    The colleague who accepts picks exactly one counterpart (``counterpart_*`` then set).
    """

    __tablename__ = "exchange_proposal"

    id: Mapped[int] = mapped_column(primary_key=True)
    territory_id: Mapped[int] = mapped_column(
        sa.ForeignKey("territory.id", ondelete="CASCADE"), index=True
    )
    assignment_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("assignment.id", ondelete="SET NULL")
    )
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("snp_session.id", ondelete="CASCADE"))
    from_practitioner_id: Mapped[int] = mapped_column(
        sa.ForeignKey("practitioner.id", ondelete="CASCADE"), index=True
    )
    any_in_month: Mapped[bool] = mapped_column(default=False)
    status: Mapped[SwapStatus] = mapped_column(enum_column(SwapStatus, "exchange_status"))
    taken_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("practitioner.id", ondelete="SET NULL")
    )
    counterpart_assignment_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("assignment.id", ondelete="SET NULL")
    )
    counterpart_session_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("snp_session.id", ondelete="SET NULL")
    )
    message: Mapped[str] = mapped_column(sa.String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    session: Mapped[Session] = relationship(foreign_keys=[session_id], viewonly=True)
    counterpart_session: Mapped[Session | None] = relationship(
        foreign_keys=[counterpart_session_id], viewonly=True
    )
    from_practitioner: Mapped[Practitioner] = relationship(
        foreign_keys=[from_practitioner_id], viewonly=True
    )
    taken_by: Mapped[Practitioner | None] = relationship(foreign_keys=[taken_by_id], viewonly=True)
    counterparts: Mapped[list[ExchangeCounterpart]] = relationship(
        back_populates="proposal", cascade="all, delete-orphan", order_by="ExchangeCounterpart.id"
    )
    declines: Mapped[list[ExchangeDecline]] = relationship(
        viewonly=True, order_by="ExchangeDecline.id"
    )

    __table_args__ = (
        # At most one live exchange (open, or accepted and awaiting approval) per assignment.
        sa.Index(
            "uq_exchange_proposal_live_assignment",
            "assignment_id",
            unique=True,
            sqlite_where=sa.text("status IN ('open', 'pending')"),
            postgresql_where=sa.text("status IN ('open', 'pending')"),
        ),
        sa.CheckConstraint(
            "status NOT IN ('pending', 'accepted') OR taken_by_id IS NOT NULL",
            name="taken_when_chosen",
        ),
        sa.CheckConstraint(
            "taken_by_id IS NULL OR taken_by_id <> from_practitioner_id",
            name="not_with_self",
        ),
        sa.CheckConstraint(
            "counterpart_session_id IS NULL OR counterpart_session_id <> session_id",
            name="two_sessions",
        ),
    )

    def __repr__(self) -> str:
        return f"<ExchangeProposal {self.id} session={self.session_id} {self.status.value}>"


class ExchangeCounterpart(db.Model):
    """One colleague's session offered against the proposal's (the colleague may accept it)."""

    __tablename__ = "exchange_counterpart"

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(
        sa.ForeignKey("exchange_proposal.id", ondelete="CASCADE"), index=True
    )
    assignment_id: Mapped[int] = mapped_column(sa.ForeignKey("assignment.id", ondelete="CASCADE"))
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("snp_session.id", ondelete="CASCADE"))
    practitioner_id: Mapped[int] = mapped_column(
        sa.ForeignKey("practitioner.id", ondelete="CASCADE"), index=True
    )

    proposal: Mapped[ExchangeProposal] = relationship(back_populates="counterparts")
    session: Mapped[Session] = relationship(viewonly=True)
    practitioner: Mapped[Practitioner] = relationship(viewonly=True)

    __table_args__ = (sa.UniqueConstraint("proposal_id", "assignment_id"),)


class ExchangeDecline(db.Model):
    """A colleague said no to a proposal: it leaves their list (and their badge) for good.

    A named proposal that every named colleague has declined closes (``exchanges.decline``);
    an "any session this month" one stays open for the others.
    """

    __tablename__ = "exchange_decline"

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(
        sa.ForeignKey("exchange_proposal.id", ondelete="CASCADE")
    )
    practitioner_id: Mapped[int] = mapped_column(
        sa.ForeignKey("practitioner.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)

    practitioner: Mapped[Practitioner] = relationship(viewonly=True)

    __table_args__ = (sa.UniqueConstraint("proposal_id", "practitioner_id"),)
