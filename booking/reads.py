"""What the booking pages and the API read: lists of bookings, a GP's day, token holders.

Views and API handlers hold no query; each function here loads what its page walks
(a booking's session and site, a day's sessions and their bookings) in a fixed number
of statements, whatever the number of bookings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import joinedload, selectinload

from app.collation import french_sorted
from app.enums import Role
from app.extensions import db
from app.models import Commune, Practitioner, Site, Territory, User
from booking import services
from booking import slots as slotlib
from booking.models import LIVE_STATUSES, Booking, BookingStatus
from booking.tokens import TOKEN_ROLES
from rota.models import Assignment, ConsultationMode, PeriodStatus, RotaPeriod, Session

LIST_LIMIT = 200  # rows of a list page; a reference search finds the others


def day_bounds(day: date, zone: str) -> tuple[datetime, datetime]:
    """``[local midnight, next local midnight)`` of ``day``, as aware datetimes."""
    tz = ZoneInfo(zone)
    start = datetime.combine(day, time(), tz)
    return start, datetime.combine(day + timedelta(days=1), time(), tz)


def _visible(user: User) -> sa.Select:
    """The user's visible bookings, each with its session and site loaded."""
    return services.visible_bookings(user).options(
        joinedload(Booking.session).joinedload(Session.site),
        # The operator's regulation service is named beside each booking it made.
        joinedload(Booking.booked_by).joinedload(User.regulation_service),
    )


def _rows(query: sa.Select) -> list[Booking]:
    return list(db.session.scalars(query))


def to_replace(user: User) -> list[Booking]:
    """Bookings whose session was cancelled: the patient needs another slot."""
    return _rows(
        _visible(user).where(Booking.status == BookingStatus.TO_REPLACE).order_by(Booking.starts_at)
    )


@dataclass(frozen=True)
class FollowedBookings:
    """The bookings a user follows: to re-place first, then coming, then the last week."""

    to_replace: list[Booking]
    coming: list[Booking]
    past: list[Booking]

    @property
    def all(self) -> list[Booking]:
        return [*self.to_replace, *self.coming, *self.past]


def followed_bookings(user: User, *, now: datetime) -> FollowedBookings:
    visible = _visible(user).where(Booking.status != BookingStatus.TO_REPLACE)
    return FollowedBookings(
        to_replace=to_replace(user),
        coming=_rows(
            visible.where(Booking.ends_at >= now).order_by(Booking.starts_at).limit(LIST_LIMIT)
        ),
        past=_rows(
            visible.where(Booking.ends_at < now, Booking.starts_at >= now - timedelta(days=7))
            .order_by(Booking.starts_at.desc())
            .limit(LIST_LIMIT)
        ),
    )


@dataclass(frozen=True)
class TerritoryDay:
    """The coordinator's list: bookings to re-place, then a day's (one status, or all)."""

    to_replace: list[Booking]
    rows: list[Booking]
    status: str  # the status filter applied, "" for all

    @property
    def all(self) -> list[Booking]:
        return [*self.to_replace, *self.rows]


def territory_day(user: User, day: date, zone: str, status: str) -> TerritoryDay:
    """The day's bookings the user may see; an unknown ``status`` filter means all."""
    start, end = day_bounds(day, zone)
    query = _visible(user).where(Booking.starts_at >= start, Booking.starts_at < end)
    if status in {s.value for s in BookingStatus}:
        query = query.where(Booking.status == BookingStatus(status))
    else:
        status = ""
    return TerritoryDay(
        to_replace=to_replace(user),
        rows=_rows(query.order_by(Booking.starts_at).limit(LIST_LIMIT)),
        status=status,
    )


# --- a GP's day ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sheet:
    """One session of the GP's day, slot by slot, each with its live booking if any."""

    session: Session
    walk_in: bool
    rows: list[tuple[slotlib.Slot, Booking | None]]


@dataclass(frozen=True)
class GpDay:
    sheets: list[Sheet]
    bookings: list[Booking]


def gp_day(practitioner: Practitioner, day: date) -> GpDay:
    """The GP's seats in published rotas on ``day``, with their live bookings (two queries)."""
    held = db.session.execute(
        sa.select(Session, Assignment.seat)
        .join(Assignment, Assignment.session_id == Session.id)
        .join(RotaPeriod, RotaPeriod.id == Session.period_id)
        .where(
            Assignment.practitioner_id == practitioner.id,
            Session.local_date == day,
            RotaPeriod.status.in_([PeriodStatus.PUBLISHED, PeriodStatus.ARCHIVED]),
        )
        .options(joinedload(Session.site).joinedload(Site.commune))
        .order_by(Session.starts_at)
    ).all()
    bookings: dict[tuple[int, int, int], Booking] = {}
    if held:
        for b in db.session.scalars(
            sa.select(Booking).where(
                Booking.session_id.in_([s.id for s, _ in held]),
                Booking.status.in_(LIVE_STATUSES),
            )
        ):
            bookings[(b.session_id, b.seat, b.slot_index)] = b
    sheets = [
        Sheet(
            session=s,
            walk_in=s.mode == ConsultationMode.WALK_IN,
            rows=[
                (slot, bookings.get((s.id, seat, slot.index)))
                for slot in slotlib.cut(services.shape(s), seats=[seat])
            ],
        )
        for s, seat in held
    ]
    return GpDay(sheets=sheets, bookings=list(bookings.values()))


# --- API tokens and communes -------------------------------------------------------------------


def token_holders(territory_id: int | None) -> list[User]:
    """The territory's active accounts whose API token its coordinator may issue: not the
    regulators of a regulation service (the administrator equips them)."""
    return list(
        db.session.scalars(
            sa.select(User)
            .where(
                User.territory_id == territory_id,
                User.active,
                User.role.in_(TOKEN_ROLES),
                sa.or_(User.regulation_service_id.is_(None), User.role != Role.REGULATOR),
            )
            .order_by(User.role, User.email)
        )
    )


def service_token_holders(service_id: int) -> list[User]:
    """The regulation service's active regulators: who may get a token on its page."""
    return list(
        db.session.scalars(
            sa.select(User)
            .where(
                User.regulation_service_id == service_id,
                User.active,
                User.role == Role.REGULATOR,
            )
            .options(joinedload(User.territory))
            .order_by(User.email)
        )
    )


def account_in_territory(user_id: int | None, territory_id: int | None) -> User | None:
    return db.session.scalar(
        sa.select(User).where(User.id == user_id, User.territory_id == territory_id)
    )


def is_local_commune(territory_id: int | None, insee_code: str) -> bool:
    """Whether the commune belongs to the territory (its slots are then ranked first)."""
    found = db.session.scalar(
        sa.select(Commune.id).where(
            Commune.territory_id == territory_id, Commune.insee_code == insee_code
        )
    )
    return found is not None


# --- a booker's desk ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Desk:
    """The territories a booker searches (a regulation service's, or their own), and
    their communes: ranked first among suggestions and offered in the autocomplete."""

    territories: list[Territory]
    local_codes: set[str]
    labels: list[str]  # "Challans (85300)", for the <datalist>

    @property
    def names(self) -> str:
        return ", ".join(t.name for t in self.territories)

    @property
    def horizon_hours(self) -> int:
        return max((t.booking_horizon_hours for t in self.territories), default=0)

    @property
    def release_minutes(self) -> int:
        return min((t.booking_release_minutes for t in self.territories), default=0)


def desk(user: User) -> Desk:
    """The user's desk in two statements (territories, then their communes)."""
    ids = services.booker_territory_ids(user)
    territories = french_sorted(
        db.session.scalars(sa.select(Territory).where(Territory.id.in_(ids))),
        key=lambda t: t.name,
    )
    communes = french_sorted(
        db.session.scalars(
            sa.select(Commune)
            .where(Commune.territory_id.in_(ids))
            .options(selectinload(Commune.postal_code_rows))
        ),
        key=lambda c: c.name,
    )
    labels = [f"{c.name} ({c.postal_codes[0]})" if c.postal_codes else c.name for c in communes]
    return Desk(
        territories=territories,
        local_codes={c.insee_code for c in communes},
        labels=list(dict.fromkeys(labels)),
    )


def is_desk_commune(user: User, insee_code: str) -> bool:
    """Whether the commune belongs to one of the user's desk territories."""
    ids = services.booker_territory_ids(user)
    found = db.session.scalar(
        sa.select(Commune.id).where(Commune.territory_id.in_(ids), Commune.insee_code == insee_code)
    )
    return found is not None
