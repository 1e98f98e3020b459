"""Booking use cases: search free slots, book, cancel, mark, follow the rota, purge.

Slots are computed (``booking.slots``) from the published sessions; a booking stores its
slot's position ``(session, seat, index)`` and the database refuses a second live booking
of the same position. Each function flushes and audits; the caller commits once. Errors
are ``BookingError`` with a machine ``code`` (for the API) and a French message.
"""

from __future__ import annotations

import enum
import heapq
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.util import identity_key

from app import audit, communes_ref
from app.database import write_transactions
from app.enums import Role
from app.extensions import db
from app.models import Practitioner, Site, Territory, User, regulation_service_territory
from app.outbox import notify, purge_patient_messages
from app.regulation.services import service_territory_ids
from app.sms import normalise_mobile
from app.timeutil import local, now_utc
from app.validators import ValidationError, normalise_email, normalise_phone
from booking import nearest, patient_messages, patient_notice
from booking import slots as slotlib
from booking.models import LIVE_STATUSES, Booking, BookingStatus
from rota.models import Assignment, ConsultationMode, PeriodStatus, RotaPeriod, Session

# A slot starting in less than this can't be booked any more: the patient could not get there.
MARGIN = timedelta(minutes=5)
REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no I, O, 0, 1: read over the phone
REFERENCE_LENGTH = 8

# Common reasons for an unscheduled consultation (pick-list; the free text says more).
REASONS: dict[str, str] = {
    "fievre": "Fièvre",
    "orl": "Mal de gorge, otite, sinusite",
    "respiratoire": "Toux, gêne respiratoire modérée",
    "urinaire": "Brûlures urinaires",
    "digestif": "Douleurs abdominales, vomissements, diarrhée",
    "traumatisme": "Traumatisme bénin, entorse, plaie simple",
    "peau": "Éruption, piqûre, brûlure superficielle",
    "douleur": "Douleur (dos, dent, migraine…)",
    "ordonnance": "Renouvellement urgent d'un traitement",
    "autre": "Autre motif",
}


class BookingError(ValidationError):
    """A refused booking operation: ``code`` for the API, the message for people."""

    code = "invalid"
    status = 400
    opens_at: datetime | None = None  # a slot not bookable yet: when it will be

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


class NotFound(BookingError):
    code = "not_found"
    status = 404


class SlotTaken(BookingError):
    code = "slot_taken"
    status = 409

    def __init__(self, message: str, alternatives: list[FreeSlot]):
        super().__init__(message)
        self.alternatives = alternatives


# --- who books on which channel --------------------------------------------------------------------

BOOKER_CHANNELS = {
    Role.REGULATOR: slotlib.SAS,
    Role.PHARMACIST: slotlib.PHARMACY,
    Role.COORDINATOR: slotlib.ANY,
}


def booker_channel(user: User) -> str:
    channel = BOOKER_CHANNELS.get(user.role)
    has_desk = user.territory_id is not None or (
        user.role == Role.REGULATOR and user.regulation_service_id is not None
    )
    if channel is None or not has_desk:
        raise BookingError(
            "Seuls la régulation, les pharmacies et la coordination prennent des rendez-vous.",
            code="forbidden",
            status=403,
        )
    return channel


def booker_territory_ids(user: User) -> list[int]:
    """The territories whose slots the user searches and books.

    A regulator of a regulation service works for the whole desk: every territory the
    administrator attached to the service (and only those). Everyone else, pharmacists
    included, books in their own territory.
    """
    if (service_id := _desk_service(user)) is not None:
        return service_territory_ids(service_id)
    return [user.territory_id] if user.territory_id is not None else []


def booker_territories(user: User) -> list[Territory]:
    """``booker_territory_ids``' territories, by id, in one statement (the FHIR search
    reads them on every request)."""
    if (service_id := _desk_service(user)) is not None:
        covered = sa.select(regulation_service_territory.c.territory_id).where(
            regulation_service_territory.c.service_id == service_id
        )
        where = Territory.id.in_(covered)
    elif user.territory_id is not None:
        where = Territory.id == user.territory_id
    else:
        return []
    return list(db.session.scalars(sa.select(Territory).where(where).order_by(Territory.id)))


def _desk_service(user: User) -> int | None:
    """The regulation service whose every territory the user books in, if any."""
    return user.regulation_service_id if user.role == Role.REGULATOR else None


def home_territory(user: User) -> Territory | None:
    """The territory whose clock and settings a user's pages use: their own, else (a
    service regulator without one) the first territory of their service."""
    if user.territory_id is not None:
        return db.session.get(Territory, user.territory_id)
    ids = booker_territory_ids(user)
    return db.session.get(Territory, ids[0]) if ids else None


@dataclass(frozen=True)
class Rules:
    """A territory's booking rules, as durations."""

    release: timedelta
    horizon: timedelta
    retention: timedelta

    @classmethod
    def of(cls, territory: Territory) -> Rules:
        return cls(
            release=timedelta(minutes=territory.booking_release_minutes),
            horizon=timedelta(hours=territory.booking_horizon_hours),
            retention=timedelta(days=territory.patient_data_days),
        )


def desk_horizon(territory_ids: Sequence[int]) -> timedelta:
    """The widest booking horizon of a desk's territories (each keeps its own)."""
    hours = db.session.scalars(
        sa.select(Territory.booking_horizon_hours).where(Territory.id.in_(territory_ids))
    ).all()
    return timedelta(hours=max(hours, default=0))


def _territory(territory_id: int) -> Territory:
    territory = db.session.get(Territory, territory_id)
    assert territory is not None
    return territory


# --- slots of the published rota -------------------------------------------------------------------


def shape(session: Session) -> slotlib.SessionShape:
    return slotlib.SessionShape(
        id=session.id,
        starts_at=session.starts_at,
        ends_at=session.ends_at,
        seats=session.gps_needed,
        slot_minutes=session.slot_minutes,
        sas_slots=session.sas_slots,
        pharmacy_slots=session.pharmacy_slots,
        walk_in=session.mode == ConsultationMode.WALK_IN,
    )


@dataclass(frozen=True)
class FreeSlot:
    """A slot someone may book, with what a booker needs to choose it."""

    slot: slotlib.Slot
    session: Session
    site: Site
    practitioner: Practitioner
    channel: str  # effective channel now (a released reserved slot is "open")
    # Straight-line distance from the patient's commune, when both ends have coordinates.
    km: float | None = None

    @property
    def id(self) -> str:
        return self.slot.id

    @property
    def place(self) -> nearest.Point | None:
        """The site's position; ``None`` when the coordinator has not entered it."""
        return nearest.point_or_none(self.site.latitude, self.site.longitude)

    @property
    def distance(self) -> str:
        """ "à 6 km", or "" without a distance."""
        return nearest.format_distance(self.km)

    @property
    def map_link(self) -> str:
        """A plain OpenStreetMap link to the site, or "" without coordinates."""
        place = self.place
        return nearest.osm_link(place) if place is not None else ""


def published_sessions(territory_id: int, start: datetime, end: datetime) -> list[Session]:
    """Live sessions of published rotas overlapping ``[start, end]``."""
    return published_sessions_in([territory_id], start, end)


def published_sessions_in(
    territory_ids: Sequence[int],
    start: datetime,
    end: datetime,
    *,
    practitioners: set[int] | sa.Select[tuple[int]] | None = None,
) -> list[Session]:
    """Live sessions of published rotas of these territories overlapping ``[start, end]``:
    one statement (and its two eager loads) for a whole regulation service.

    With ``practitioners``, only sessions one of them holds a seat in: the SAS platform
    asks for 25 GPs of a service of hundreds, and loading every session of the service
    with its GPs was most of a FHIR search's time. They are ids, or the statement that
    selects them (read in the same statement then).
    """
    query = sa.select(Session).join(RotaPeriod, RotaPeriod.id == Session.period_id)
    if practitioners is not None:
        held = practitioners if isinstance(practitioners, sa.Select) else sorted(practitioners)
        query = query.where(
            sa.exists().where(
                Assignment.session_id == Session.id, Assignment.practitioner_id.in_(held)
            )
        )
    return list(
        db.session.scalars(
            query.where(
                Session.territory_id.in_(territory_ids),
                RotaPeriod.status == PeriodStatus.PUBLISHED,
                ~Session.cancelled,
                Session.starts_at <= end,
                Session.ends_at > start,
            )
            .order_by(Session.starts_at, Session.site_id, Session.id)
            .options(
                selectinload(Session.assignments).joinedload(Assignment.practitioner),
                joinedload(Session.site).joinedload(Site.commune),
            )
        )
    )


def _taken(session_ids: Sequence[int]) -> set[tuple[int, int, int]]:
    if not session_ids:
        return set()
    return set(
        db.session.execute(
            sa.select(Booking.session_id, Booking.seat, Booking.slot_index).where(
                Booking.session_id.in_(session_ids), Booking.status.in_(LIVE_STATUSES)
            )
        ).all()
    )


def free_slots(
    territory_id: int,
    channel: str,
    *,
    now: datetime | None = None,
    commune_insee: str | None = None,
    until: datetime | None = None,
    since: datetime | None = None,
    limit: int | None = None,
    practitioners: set[int] | None = None,
) -> list[FreeSlot]:
    """Free slots of one territory the channel may take now, soonest first (then the
    patient's commune first); ``desk_free_slots`` ranks by time and distance. With a
    ``limit``, sessions starting after the limit-th slot found are not even cut: a booker
    wants the soonest few, and a 409's three alternatives must not cost a full scan.
    """
    found = _free_slots_in(
        [territory_id],
        channel,
        now=now or now_utc(),
        until=until,
        since=since,
        limit=limit,
        practitioners=practitioners,
    )
    found.sort(key=lambda f: _rank(f, commune_insee))
    return found if limit is None else found[:limit]


def _territories_of(territory_ids: Sequence[int]) -> list[Territory]:
    """These territories: those the session already holds (the search page loaded them)
    without a statement, the others in one."""
    found: list[Territory] = []
    missing: list[int] = []
    for territory_id in territory_ids:
        known = db.session.identity_map.get(identity_key(Territory, territory_id))
        if known is not None:
            found.append(known)
        else:
            missing.append(territory_id)
    if missing:
        found += db.session.scalars(sa.select(Territory).where(Territory.id.in_(missing)))
    return found


def _free_slots_in(
    territory_ids: Sequence[int],
    channel: str,
    *,
    now: datetime,
    until: datetime | None,
    since: datetime | None,
    limit: int | None,
    practitioners: set[int] | None = None,
    sessions: Sequence[Session] | None = None,
) -> list[FreeSlot]:
    """Free slots of several territories in a fixed number of statements, each territory
    with its own booking window and release, and (with a ``limit``) its own soonest
    ``limit``; unsorted.

    ``sessions``: what ``published_sessions_in`` gave the caller for these territories and
    ``practitioners`` over a range that covers the search's, in its order; they are then
    not read a second time (the FHIR search reads them once for slots and walk-in hours).
    """
    searches = _searches(territory_ids, channel, now=now, until=until, since=since, limit=limit)
    if not searches:
        return []
    low = min(search.start for search, _ in searches.values())
    high = max(search.end for search, _ in searches.values())
    if sessions is None:
        sessions = published_sessions_in(list(searches), low, high, practitioners=practitioners)
    else:  # the same filter as the statement's, on a superset already read
        sessions = [
            s
            for s in sessions
            if s.territory_id in searches and s.starts_at <= high and s.ends_at > low
        ]
    taken = _taken([s.id for s in sessions])
    result: list[FreeSlot] = []
    for session in sessions:
        search, soonest = searches[session.territory_id]
        if soonest.beyond(session.starts_at) or not search.start <= session.ends_at:
            continue  # sessions come in time order: this territory has its soonest already
        holders = _holders(session, practitioners)
        if not holders:
            continue
        for slot in slotlib.iter_slots(
            shape(session), seats=holders, not_before=search.start, not_after=search.end
        ):
            if soonest.beyond(slot.starts_at):
                break  # slots come in time order: the rest of this session is later still
            if (slot.session_id, slot.seat, slot.index) not in taken and search.bookable(slot):
                result.append(search.free_slot(slot, session, holders[slot.seat]))
                soonest.add(slot.starts_at)
    return result


def _searches(
    territory_ids: Sequence[int],
    channel: str,
    *,
    now: datetime,
    until: datetime | None,
    since: datetime | None,
    limit: int | None,
) -> dict[int, tuple[_Search, _Soonest]]:
    """Each territory's terms: its booking window within ``[since, until]``, its rules."""
    searches: dict[int, tuple[_Search, _Soonest]] = {}
    for territory in _territories_of(territory_ids):
        rules = Rules.of(territory)
        end = now + rules.horizon if until is None else min(until, now + rules.horizon)
        start = now + MARGIN if since is None else max(since, now + MARGIN)
        searches[territory.id] = (
            _Search(channel, now, start, end, rules, set()),
            _Soonest(limit),
        )
    return searches


@dataclass(frozen=True)
class _Search:
    """One search's terms: who books, when, within which window, and what is taken."""

    channel: str
    now: datetime
    start: datetime
    end: datetime
    rules: Rules
    taken: set[tuple[int, int, int]]

    def bookable(self, slot: slotlib.Slot) -> bool:
        """Free, within the search's window and the booking window, and open to the channel."""
        if (slot.session_id, slot.seat, slot.index) in self.taken:
            return False
        if not self.start <= slot.starts_at <= self.end:
            return False
        if not slotlib.in_window(slot, self.now, margin=MARGIN, horizon=self.rules.horizon):
            return False
        return slotlib.may_take(self.channel, slot, self.now, self.rules.release)

    def free_slot(self, slot: slotlib.Slot, session: Session, gp: Practitioner) -> FreeSlot:
        return FreeSlot(
            slot=slot,
            session=session,
            site=session.site,
            practitioner=gp,
            channel=slotlib.effective_channel(slot, self.now, self.rules.release),
        )


class _Soonest:
    """The ``limit`` soonest slot starts found so far (a max-heap of negated timestamps).

    Once ``limit`` slots are found, anything starting after the latest of them can't
    make the answer: the search stops there.
    """

    def __init__(self, limit: int | None):
        self.limit = limit
        self.heap: list[float] = []

    def beyond(self, moment: datetime) -> bool:
        return (
            self.limit is not None
            and len(self.heap) >= self.limit
            and moment.timestamp() > -self.heap[0]
        )

    def add(self, moment: datetime) -> None:
        if self.limit is None:
            return
        heapq.heappush(self.heap, -moment.timestamp())
        if len(self.heap) > self.limit:
            heapq.heappop(self.heap)


def _holders(session: Session, practitioners: set[int] | None) -> dict[int, Practitioner]:
    """The session's GPs by seat (only those asked for, when ``practitioners`` is given)."""
    return {
        a.seat: a.practitioner
        for a in session.assignments
        if practitioners is None or a.practitioner_id in practitioners
    }


def origin_of(commune_insee: str | None) -> nearest.Point | None:
    """The centre of the patient's commune (official data), where distances start."""
    official = communes_ref.get(commune_insee) if commune_insee else None
    if official is None:
        return None
    return nearest.point_or_none(official.latitude, official.longitude)


def rank_nearest(
    found: Sequence[FreeSlot], origin: nearest.Point | None, *, now: datetime
) -> list[FreeSlot]:
    """Slots by ``booking.nearest``'s mix of waiting time and distance, each with its km.

    Without an origin, the order given is kept (time order).
    """
    if origin is None:
        return list(found)
    ranked = nearest.rank(
        found, origin=origin, now=now, start=lambda f: f.slot.starts_at, place=lambda f: f.place
    )
    return [r.item if r.km is None else replace(r.item, km=r.km) for r in ranked]


def desk_free_slots(
    territory_ids: Sequence[int],
    channel: str,
    *,
    now: datetime | None = None,
    commune_insee: str | None = None,
    until: datetime | None = None,
    since: datetime | None = None,
    limit: int | None = None,
    practitioners: set[int] | None = None,
    sessions: Sequence[Session] | None = None,
) -> list[FreeSlot]:
    """Free slots across a desk's territories (a regulation service's), in one list.

    Each territory keeps its own booking window and release. With the patient's commune
    (and its centre), the list is ranked by ``booking.nearest``'s mix of waiting time and
    straight-line distance; otherwise by start time. With a ``limit``, each territory's
    soonest ``limit`` slots are ranked and the best ``limit`` kept. ``sessions``: see
    ``_free_slots_in``.
    """
    now = now or now_utc()
    found = _free_slots_in(
        territory_ids,
        channel,
        now=now,
        until=until,
        since=since,
        limit=limit,
        practitioners=practitioners,
        sessions=sessions,
    )
    found.sort(key=lambda f: _rank(f, commune_insee))
    ranked = rank_nearest(found, origin_of(commune_insee), now=now)
    return ranked if limit is None else ranked[:limit]


def user_free_slots(
    user: User, *, now: datetime | None = None, commune_insee: str | None = None
) -> list[FreeSlot]:
    """What the user's search page lists: their desk's free slots on their channel."""
    return desk_free_slots(
        booker_territory_ids(user), booker_channel(user), now=now, commune_insee=commune_insee
    )


def territory_of_slot(user: User, slot_id: str) -> int:
    """The territory of a slot the user may book (their desk's); else ``NotFound``."""
    parsed = slotlib.parse_slot_id(slot_id)
    session = db.session.get(Session, parsed[0]) if parsed is not None else None
    if session is None or session.territory_id not in booker_territory_ids(user):
        raise NotFound("Ce créneau n'existe pas (ou plus).")
    return session.territory_id


def offer(user: User, slot_id: str, *, now: datetime) -> FreeSlot | None:
    """The free slot ``slot_id`` if the user may book it right now, else ``None``."""
    try:
        territory_id = territory_of_slot(user, slot_id)
    except NotFound:
        return None
    found = free_slots(territory_id, booker_channel(user), now=now)
    return next((f for f in found if f.id == slot_id), None)


def _rank(found: FreeSlot, commune_insee: str | None) -> tuple[datetime, int, str, int]:
    """Soonest first; at the same time, the patient's own commune first."""
    here = bool(commune_insee) and found.site.commune.insee_code == commune_insee
    return (found.slot.starts_at, 0 if here else 1, found.site.name, found.slot.seat)


def desk_next_opening(
    territory_ids: Sequence[int], channel: str, *, now: datetime | None = None
) -> tuple[FreeSlot, datetime, Territory] | None:
    """``next_opening`` over a desk's territories: the soonest, with its territory."""
    found = [
        (hit, territory_id)
        for territory_id in territory_ids
        if (hit := next_opening(territory_id, channel, now=now)) is not None
    ]
    if not found:
        return None
    (slot, opens), territory_id = min(found, key=lambda f: (f[0][0].slot.starts_at, f[1]))
    return slot, opens, _territory(territory_id)


def opening_words(opens: datetime, now: datetime, zone: str) -> str:
    """ "17:00 aujourd'hui", "08:30 demain" or "08:30 le 12/03": when a slot opens, in words."""
    moment, today = local(opens, zone), local(now, zone).date()
    if moment.date() == today:
        day = "aujourd'hui"
    elif moment.date() == today + timedelta(days=1):
        day = "demain"
    else:
        day = f"le {moment:%d/%m}"
    return f"{moment:%H:%M} {day}"


def next_opening(
    territory_id: int, channel: str, *, now: datetime | None = None
) -> tuple[FreeSlot, datetime] | None:
    """The first free slot beyond the horizon this channel will be able to take, and when.

    The booking pages and the API say it, so that what the public page shows for tomorrow
    and what a booker can take now tell the same story (``docs/booking.md``).
    """
    now = now or now_utc()
    rules = Rules.of(_territory(territory_id))
    start = now + rules.horizon
    end = start + timedelta(days=2)
    sessions = published_sessions(territory_id, start, end)
    taken = _taken([s.id for s in sessions])
    best: tuple[FreeSlot, datetime] | None = None
    for session in sessions:
        if best is not None and session.starts_at > best[0].slot.starts_at:
            break
        holders = _holders(session, None)
        for slot in slotlib.iter_slots(shape(session), seats=holders, not_before=start):
            if (slot.session_id, slot.seat, slot.index) in taken or slot.starts_at <= start:
                continue
            opens = slotlib.opens_at(slot, rules.horizon)
            if not slotlib.may_take(channel, slot, opens, rules.release):
                continue
            if best is None or slot.starts_at < best[0].slot.starts_at:
                channel_then = slotlib.effective_channel(slot, opens, rules.release)
                found = FreeSlot(slot, session, session.site, holders[slot.seat], channel_then)
                best = (found, opens)
            break  # later slots of this session start later still
    return best


def _locate(territory_id: int, slot_id: str) -> tuple[slotlib.Slot, Session, Assignment]:
    """The slot named ``slot_id`` in this territory, with its session and current GP."""
    parsed = slotlib.parse_slot_id(slot_id)
    missing = NotFound("Ce créneau n'existe pas (ou plus).")
    if parsed is None:
        raise missing
    session_id, seat, index = parsed
    session = db.session.get(Session, session_id)
    if session is None or session.territory_id != territory_id:
        raise missing
    if session.cancelled or session.period.status != PeriodStatus.PUBLISHED:
        raise BookingError(
            "Cette plage n'est plus proposée (annulée ou tableau non publié).",
            code="slot_unavailable",
            status=422,
        )
    holder = next((a for a in session.assignments if a.seat == seat), None)
    at = session.starts_at + index * timedelta(minutes=session.slot_minutes)
    window = slotlib.cut(shape(session), seats=[seat], not_before=at, not_after=at)
    slot = next((s for s in window if s.index == index), None)
    if slot is None:
        raise missing
    if holder is None:
        raise BookingError(
            "Aucun médecin n'assure ce créneau pour l'instant.", code="slot_unavailable", status=422
        )
    return slot, session, holder


def locate_slot(territory_id: int, slot_id: str) -> tuple[slotlib.Slot, Session, Assignment]:
    """The slot named ``slot_id`` in this territory, its session and the GP holding it.

    ``NotFound`` when there is no such slot here; ``BookingError`` (422) when its session
    was cancelled, is not published or has nobody on that seat.
    """
    return _locate(territory_id, slot_id)


def is_taken(slot: slotlib.Slot) -> bool:
    return (
        db.session.scalar(
            sa.select(Booking.id).where(
                Booking.session_id == slot.session_id,
                Booking.seat == slot.seat,
                Booking.slot_index == slot.index,
                Booking.status.in_(LIVE_STATUSES),
            )
        )
        is not None
    )


def slot_at(territory_id: int, practitioner_id: int, start: datetime, end: datetime) -> str | None:
    """The id of the slot this GP holds exactly from ``start`` to ``end``, if any.

    The SAS platform books by GP and time, not by our slot id.
    """
    sessions = db.session.scalars(
        sa.select(Session)
        .join(RotaPeriod, RotaPeriod.id == Session.period_id)
        .join(Assignment, Assignment.session_id == Session.id)
        .where(
            Session.territory_id == territory_id,
            RotaPeriod.status == PeriodStatus.PUBLISHED,
            ~Session.cancelled,
            Assignment.practitioner_id == practitioner_id,
            Session.starts_at <= start,
            Session.ends_at >= end,
        )
        .order_by(Session.starts_at, Session.id)
    )
    for session in sessions:
        if session.mode == ConsultationMode.WALK_IN:
            continue
        step = timedelta(minutes=session.slot_minutes)
        offset = start - session.starts_at
        if offset % step or end - start != step:
            continue
        seat = next(a.seat for a in session.assignments if a.practitioner_id == practitioner_id)
        return slotlib.slot_id(session.id, seat, offset // step)
    return None


def by_external_id(user: User, system: str, value: str) -> Booking | None:
    """The booking the SAS platform named ``system|value``, if this user may see it."""
    return db.session.scalar(
        visible_bookings(user).where(
            Booking.external_system == system, Booking.external_id == value
        )
    )


# --- booking -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PatientData:
    family_name: str
    given_name: str
    birth_date: date | None
    phone: str
    reason: str = ""
    reason_code: str = "autre"
    without_gp: bool = False
    # The patient's commune (INSEE), when the booker searched for one: for the indicators.
    commune_insee: str | None = None
    # Where the patient wants the confirmation (both optional; consent needed for either).
    email: str = ""
    mobile: str = ""
    contact_consent: bool = False

    def cleaned(self, today: date) -> PatientData:
        """Checked and normalised; raises ``BookingError`` (French) on the first problem."""
        family = " ".join(self.family_name.split())
        given = " ".join(self.given_name.split())
        if not family or not given:
            raise BookingError("Le nom et le prénom du patient sont obligatoires.")
        if len(family) > 100 or len(given) > 100:
            raise BookingError("Nom ou prénom trop long (100 caractères au plus).")
        if self.birth_date is None:
            raise BookingError("La date de naissance du patient est obligatoire.")
        if self.birth_date > today:
            raise BookingError("La date de naissance est dans le futur.")
        if self.birth_date < date(today.year - 120, 1, 1):
            raise BookingError("La date de naissance est invraisemblable.")
        try:
            phone = normalise_phone(self.phone)
        except ValidationError as exc:
            raise BookingError(str(exc)) from exc
        if self.reason_code not in REASONS:
            raise BookingError("Motif inconnu : choisissez-en un dans la liste.")
        reason = " ".join(self.reason.split())
        if len(reason) > 200:
            raise BookingError("Le motif tient en 200 caractères au plus.")
        email, mobile = self.contact()
        return PatientData(
            family_name=family,
            given_name=given,
            birth_date=self.birth_date,
            phone=phone,
            reason=reason,
            reason_code=self.reason_code,
            without_gp=bool(self.without_gp),
            commune_insee=self.commune_insee
            if self.commune_insee and len(self.commune_insee) == 5
            else None,
            email=email,
            mobile=mobile,
            contact_consent=bool(self.contact_consent) and bool(email or mobile),
        )

    def contact(self) -> tuple[str, str]:
        """``(e-mail, E.164 mobile)``, each normalised or empty; refused without consent."""
        raw_email, raw_mobile = self.email.strip(), self.mobile.strip()
        try:
            email = normalise_email(raw_email) if raw_email else ""
            mobile = normalise_mobile(raw_mobile) if raw_mobile else ""
        except ValidationError as exc:
            raise BookingError(str(exc)) from exc
        if (email or mobile) and not self.contact_consent:
            raise BookingError(
                "Cochez l'accord du patient pour recevoir la confirmation, "
                "ou laissez son portable et son e-mail vides."
            )
        return email, mobile


@dataclass(frozen=True)
class ExternalRef:
    """A booking made on the national SAS platform: its appointment identifier and who booked.

    The platform keeps the patient's identity with the regulation and sends none; the
    identifier is the key of its later updates (``PUT Appointment?identifier=``).
    """

    system: str
    value: str
    operator: str  # the regulator, as "system|value" of their national or SAS identifier


def new_reference() -> str:
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


ALTERNATIVES_SCAN = 60  # soonest free slots per territory weighed for a lost race's alternatives


def alternatives(
    user: User,
    *,
    now: datetime,
    exclude: str,
    limit: int = 3,
    commune_insee: str | None = None,
    near: nearest.Point | None = None,
) -> list[FreeSlot]:
    """The slots to offer after a lost race: the nearest in time and distance.

    Distances start from the patient's commune, else from the site of the slot just
    lost (``near``): the patient was ready to go there, so a slot at the same place an
    hour later beats one at the same time 40 km away. Ranked by ``booking.nearest``.
    """
    found = desk_free_slots(
        booker_territory_ids(user), booker_channel(user), now=now, limit=ALTERNATIVES_SCAN
    )
    origin = origin_of(commune_insee) or near
    ranked = rank_nearest(found, origin, now=now)
    return [f for f in ranked if f.id != exclude][:limit]


def book(
    user: User,
    slot_id: str,
    patient: PatientData | None,
    *,
    now: datetime | None = None,
    external: ExternalRef | None = None,
) -> Booking:
    """Book ``slot_id`` for a patient on the user's channel, or refuse and write nothing.

    Only a booking from the SAS platform (``external``) may come without the patient's
    identity.
    """
    now = now or now_utc()
    if patient is None and external is None:
        raise BookingError("Les données du patient sont obligatoires.")
    channel = booker_channel(user)
    territory = _territory(territory_of_slot(user, slot_id))
    slot, session, holder = _locate(territory.id, slot_id)
    _check_bookable(slot, channel, territory, now)
    clean = patient.cleaned(now.date()) if patient is not None else None
    booking = _insert(
        user,
        slot,
        session,
        clean,
        lambda: Booking(
            territory_id=territory.id,
            reference=new_reference(),
            session_id=session.id,
            seat=slot.seat,
            slot_index=slot.index,
            starts_at=slot.starts_at,
            ends_at=slot.ends_at,
            slot_channel=slot.channel,
            channel=channel,
            status=BookingStatus.BOOKED,
            **_patient_fields(clean),
            **_external_fields(external),
            booked_by_id=user.id,
            booked_by_role=user.role.value,
            created_at=now,
            updated_at=now,
        ),
        now=now,
    )
    audit.record(
        "booking.create",
        by=user,
        territory_id=territory.id,
        target=booking,
        detail={"slot": slot.id, "channel": channel}
        | ({"sas_operator": external.operator} if external else {}),
    )
    _tell_gp_of(booking, holder.practitioner, session, territory, now)
    patient_notice.inform(booking, session.site, territory)
    return booking


def rebook(
    replacing: Booking,
    user: User,
    slot_id: str,
    patient: PatientData,
    *,
    now: datetime | None = None,
) -> Booking:
    """Give the patient of a booking "à replacer" a new slot, and cancel the old booking.

    Both happen or neither: nothing is committed here, and a refused cancellation
    raises after the new booking was only flushed, so the caller's rollback undoes both.
    """
    now = now or now_utc()
    booking = book(user, slot_id, patient, now=now)
    cancel(replacing, user, reason=f"Replacé : nouveau rendez-vous {booking.reference}.", now=now)
    return booking


def _check_bookable(slot: slotlib.Slot, channel: str, territory: Territory, now: datetime) -> None:
    """Refuse (422) a slot outside the booking window, or reserved to another channel."""
    rules = Rules.of(territory)
    if not slotlib.in_window(slot, now, margin=MARGIN, horizon=rules.horizon):
        if slot.starts_at < now + MARGIN:
            raise BookingError(
                "Ce créneau est passé ou trop proche.", code="outside_window", status=422
            )
        opens = slotlib.opens_at(slot, rules.horizon)
        error = BookingError(
            f"Ce créneau n'est pas encore réservable : il le sera à partir de "
            f"{opening_words(opens, now, territory.timezone)} "
            f"({territory.booking_horizon_hours} h avant son début).",
            code="outside_window",
            status=422,
        )
        error.opens_at = opens
        raise error
    if not slotlib.may_take(channel, slot, now, rules.release):
        label = slotlib.CHANNEL_LABELS[slot.channel]
        raise BookingError(
            f"Ce créneau est réservé au canal « {label} » jusqu'à "
            f"{rules.release.total_seconds() / 60:.0f} min avant son début.",
            code="wrong_channel",
            status=422,
        )


TAKEN_MESSAGE = "Ce créneau vient d'être pris."


def _insert(
    user: User,
    slot: slotlib.Slot,
    session: Session,
    patient: PatientData | None,
    new_booking: Callable[[], Booking],
    *,
    now: datetime,
) -> Booking:
    """Add the booking unless the slot is taken (``SlotTaken``, with alternatives).

    The database's one-live-booking-per-slot constraint settles a race; a reference
    collision (1 in 10^12) is simply retried with a new reference.
    """
    live_here = sa.select(Booking.id).where(
        Booking.session_id == slot.session_id,
        Booking.seat == slot.seat,
        Booking.slot_index == slot.index,
        Booking.status.in_(LIVE_STATUSES),
    )
    for _ in range(5):
        if db.session.scalar(live_here) is not None:
            break
        booking = new_booking()
        try:
            with db.session.begin_nested():
                db.session.add(booking)
                db.session.flush()
        except IntegrityError:
            continue  # either the slot was taken meanwhile or the reference exists: re-check
        return booking
    raise SlotTaken(
        TAKEN_MESSAGE,
        alternatives(
            user,
            now=now,
            exclude=slot.id,
            commune_insee=patient.commune_insee if patient is not None else None,
            near=nearest.point_or_none(session.site.latitude, session.site.longitude),
        ),
    )


def _patient_fields(clean: PatientData | None) -> dict[str, Any]:
    """The booking's patient columns; all empty for the SAS platform, which sends none."""
    if clean is None:
        return {"reason_code": "autre", "without_gp": False}
    return {
        "family_name": clean.family_name,
        "given_name": clean.given_name,
        "birth_date": clean.birth_date,
        "phone": clean.phone,
        "reason": clean.reason or None,
        "reason_code": clean.reason_code,
        "without_gp": clean.without_gp,
        "patient_insee": clean.commune_insee,
        "patient_email": clean.email or None,
        "patient_mobile": clean.mobile or None,
        "contact_consent_at": now_utc() if clean.contact_consent else None,
    }


def _external_fields(external: ExternalRef | None) -> dict[str, Any]:
    if external is None:
        return {}
    return {
        "external_system": external.system,
        "external_id": external.value,
        "operator": external.operator,
    }


def _tell_gp_of(
    booking: Booking, gp: Practitioner, session: Session, territory: Territory, now: datetime
) -> None:
    """Tell the GP of a booking within the next 24 hours (later ones show in their day)."""
    if gp.email and booking.starts_at - now <= timedelta(hours=24):
        notify(
            territory.id,
            gp.email,
            "Tour de rôle : nouveau rendez-vous de soins non programmés",
            f"Un patient a rendez-vous avec vous le {_local(booking.starts_at, territory)} à "
            f"{session.site.name} (réf. {booking.reference}). Détails dans Tour de rôle.",
        )


def _local(moment: datetime, territory: Territory) -> str:
    return local(moment, territory.timezone).strftime("%d/%m/%Y à %H:%M")


# --- who sees which booking ----------------------------------------------------------------------------


def visible_bookings(user: User) -> sa.Select:
    """Bookings the user may read: the coordinator all of the territory's, a regulator those
    of the regulation, a pharmacist their own, a GP those of the seats they hold."""
    if user.role == Role.REGULATOR and user.regulation_service_id is not None:
        return service_bookings(user.regulation_service_id)
    query = sa.select(Booking).where(Booking.territory_id == user.territory_id)
    if user.role == Role.COORDINATOR:
        return query
    if user.role == Role.REGULATOR:  # a regulator of no service: their territory's desk
        return query.where(
            Booking.booked_by_role == Role.REGULATOR.value,
            sa.or_(
                Booking.booked_by_id.is_(None),
                Booking.booked_by_id.not_in(
                    sa.select(User.id).where(User.regulation_service_id.is_not(None))
                ),
            ),
        )
    if user.role == Role.PHARMACIST:
        return query.where(Booking.booked_by_id == user.id)
    if user.role == Role.GP and user.practitioner_id is not None:
        return query.join(
            Assignment,
            sa.and_(
                Assignment.session_id == Booking.session_id,
                Assignment.seat == Booking.seat,
            ),
        ).where(Assignment.practitioner_id == user.practitioner_id)
    return query.where(sa.false())


def service_bookings(service_id: int) -> sa.Select:
    """A regulation service's bookings: made by its regulators, in territories it still
    covers. Another desk's bookings in a shared territory stay out of sight."""
    return sa.select(Booking).where(
        Booking.territory_id.in_(
            sa.select(regulation_service_territory.c.territory_id).where(
                regulation_service_territory.c.service_id == service_id
            )
        ),
        Booking.booked_by_id.in_(
            sa.select(User.id).where(
                User.regulation_service_id == service_id, User.role == Role.REGULATOR
            )
        ),
    )


def get_visible(user: User, reference: str) -> Booking:
    """The booking with this reference if the user may see it; otherwise "not found"."""
    ref = (reference or "").strip().upper()
    booking = db.session.scalar(visible_bookings(user).where(Booking.reference == ref))
    if booking is None:
        raise NotFound("Aucun rendez-vous avec cette référence.")
    return booking


def holder_of(booking: Booking) -> Practitioner | None:
    """The GP who holds the booking's seat now (it follows swaps and replacements)."""
    assignment = db.session.scalar(
        sa.select(Assignment).where(
            Assignment.session_id == booking.session_id, Assignment.seat == booking.seat
        )
    )
    return assignment.practitioner if assignment is not None else None


def cancel(booking: Booking, user: User, *, reason: str, now: datetime | None = None) -> None:
    """Cancel a booking (booker, regulation, the GP or the coordinator); frees the slot."""
    now = now or now_utc()
    if booking.status == BookingStatus.CANCELLED:
        raise BookingError("Ce rendez-vous est déjà annulé.", code="already_cancelled", status=409)
    if booking.status in (BookingStatus.HONOURED, BookingStatus.NO_SHOW):
        raise BookingError("Ce rendez-vous a déjà eu lieu.", code="already_done", status=409)
    text = " ".join((reason or "").split())
    if not text:
        raise BookingError("Indiquez le motif de l'annulation.")
    if len(text) > 200:
        raise BookingError("Le motif d'annulation tient en 200 caractères au plus.")
    booking.status = BookingStatus.CANCELLED
    booking.cancel_reason = text
    booking.cancelled_by_id = user.id
    booking.updated_at = now
    db.session.flush()
    audit.record("booking.cancel", by=user, territory_id=booking.territory_id, target=booking)
    gp = holder_of(booking)
    if gp is not None and user.practitioner_id != gp.id:
        _tell_gp_cancelled(booking, gp, now)


def _tell_gp_cancelled(booking: Booking, gp: Practitioner, now: datetime) -> None:
    if gp.email and booking.starts_at > now:
        notify(
            booking.territory_id,
            gp.email,
            "Tour de rôle : rendez-vous annulé",
            f"Le rendez-vous réf. {booking.reference} du "
            f"{_local(booking.starts_at, _territory(booking.territory_id))} est annulé.",
        )


# --- the patient's cancellation link -------------------------------------------------------------

PATIENT_CANCEL_REASON = "Annulé par le patient (lien du message de confirmation)."


class LinkState(enum.StrEnum):
    """What a patient's cancellation link can do now (the page says it in French)."""

    VALID = "valid"  # the booking may be cancelled
    CANCELLED = "cancelled"  # done, by this link: asking again changes nothing
    CANCELLED_ELSEWHERE = "cancelled_elsewhere"  # the CPTS or the regulation cancelled it
    EXPIRED = "expired"  # the slot has started (or the booking is over)
    UNKNOWN = "unknown"  # no such link (mistyped, or the booking's data was erased)


def patient_link(
    token: str, *, now: datetime, lock: bool = False
) -> tuple[LinkState, Booking | None]:
    """The booking a cancellation link names, and what the link can do with it now."""
    token = (token or "").strip()
    if not token or len(token) > 100:
        return LinkState.UNKNOWN, None
    query = sa.select(Booking).where(Booking.patient_token_hash == patient_notice.token_hash(token))
    booking = db.session.scalar(query.with_for_update() if lock else query)
    if booking is None or booking.purged_at is not None:
        return LinkState.UNKNOWN, None
    if booking.status == BookingStatus.CANCELLED:
        if booking.cancelled_by_patient:
            return LinkState.CANCELLED, booking
        return LinkState.CANCELLED_ELSEWHERE, booking
    if booking.status != BookingStatus.BOOKED and booking.status != BookingStatus.TO_REPLACE:
        return LinkState.EXPIRED, booking
    if booking.starts_at <= now:
        return LinkState.EXPIRED, booking
    return LinkState.VALID, booking


def cancel_by_patient(
    token: str, *, now: datetime | None = None
) -> tuple[LinkState, Booking | None]:
    """The patient cancels through their link: the slot is free again at once.

    Idempotent: a second press (or a double click) finds the booking cancelled by the
    patient and answers ``CANCELLED`` without writing. Flushes; the caller commits.
    """
    now = now or now_utc()
    state, booking = patient_link(token, now=now, lock=True)
    if state != LinkState.VALID or booking is None:
        return state, booking
    booking.status = BookingStatus.CANCELLED
    booking.cancelled_by_patient = True
    booking.cancel_reason = PATIENT_CANCEL_REASON
    booking.updated_at = now
    db.session.flush()
    audit.record(
        "booking.cancel",
        by=None,
        territory_id=booking.territory_id,
        target=booking,
        detail={"by": "patient"},
    )
    gp = holder_of(booking)
    if gp is not None:
        _tell_gp_cancelled(booking, gp, now)
    return LinkState.CANCELLED, booking


def mark(
    booking: Booking,
    user: User,
    *,
    honoured: bool,
    billing: str | None = None,
    now: datetime | None = None,
) -> None:
    """The GP (or the coordinator) says whether the patient came, and for a patient seen,
    whether the GP is their médecin traitant ("mrt") or not ("snp"): the CPAM's evidence."""
    now = now or now_utc()
    if billing not in (None, "snp", "mrt") or (billing and not honoured):
        raise BookingError("Facturation inconnue : SNP ou MRT, pour un patient venu.")
    if booking.status not in (BookingStatus.BOOKED, BookingStatus.HONOURED, BookingStatus.NO_SHOW):
        raise BookingError("Ce rendez-vous n'est pas en cours.", code="not_live", status=409)
    if booking.starts_at > now:
        raise BookingError("Le rendez-vous n'a pas encore commencé.", code="too_early", status=409)
    booking.status = BookingStatus.HONOURED if honoured else BookingStatus.NO_SHOW
    booking.billing = billing
    booking.updated_at = now
    db.session.flush()
    audit.record(
        "booking.honoured" if honoured else "booking.no_show",
        by=user,
        territory_id=booking.territory_id,
        target=booking,
        detail={"billing": billing} if billing else None,
    )


def audit_read(user: User, bookings: Sequence[Booking], where: str) -> None:
    """Record who read which bookings' patient data (ids only), in a transaction of its own.

    Reads happen on GET requests, whose transaction only reads (SQLite: deferred); the read
    is ended first and the event written in a write transaction, then committed.
    """
    ids = sorted({b.id for b in bookings if b.purged_at is None})
    if not ids:
        return
    db.session.commit()
    with write_transactions():
        audit.record(
            "booking.read",
            by=user,
            territory_id=user.territory_id,
            detail={"bookings": ids[:500], "where": where},
        )
        db.session.commit()


# --- following the rota --------------------------------------------------------------------------------


def live_bookings_of(session_id: int, seat: int | None = None) -> list[Booking]:
    query = sa.select(Booking).where(
        Booking.session_id == session_id, Booking.status == BookingStatus.BOOKED
    )
    if seat is not None:
        query = query.where(Booking.seat == seat)
    return list(db.session.scalars(query.order_by(Booking.starts_at)))


def flag_for_replacement(session: Session, *, by: User | None) -> int:
    """A session was cancelled: its bookings become "à replacer" and everyone is told."""
    flagged = live_bookings_of(session.id)
    territory = _territory(session.territory_id)
    for booking in flagged:
        booking.status = BookingStatus.TO_REPLACE
        booking.updated_at = now_utc()
    db.session.flush()
    if not flagged:
        return 0
    recipients = set(
        db.session.scalars(
            sa.select(User.email).where(
                User.territory_id == territory.id, User.role == Role.COORDINATOR, User.active
            )
        )
    )
    recipients |= {b.booked_by.email for b in flagged if b.booked_by is not None}
    when = _local(session.starts_at, territory)
    for email in sorted(recipients):
        notify(
            territory.id,
            email,
            "Tour de rôle : rendez-vous à replacer",
            f"La plage du {when} à {session.site.name} est annulée. "
            f"{len(flagged)} rendez-vous sont à replacer : voyez-les dans Tour de rôle "
            "(références : " + ", ".join(b.reference for b in flagged) + ").",
        )
    audit.record(
        "booking.flag_session",
        by=by,
        territory_id=territory.id,
        target=session,
        detail={"bookings": [b.id for b in flagged]},
    )
    return len(flagged)


# --- retention -----------------------------------------------------------------------------------------


@dataclass
class PurgeReport:
    purged: int = 0
    per_territory: dict[int, int] = field(default_factory=dict)


def purge(*, now: datetime | None = None) -> PurgeReport:
    """Erase patient data of bookings older than their territory's retention.

    The booking row stays (status, channel, reason code, "without GP", times), so the
    indicators keep counting; names, birth date, phone and every free text (the reason and
    the cancellation's, where people write what they know of the patient) go.
    """
    now = now or now_utc()
    report = PurgeReport()
    for territory in db.session.scalars(sa.select(Territory).order_by(Territory.id)):
        limit = now - timedelta(days=territory.patient_data_days)
        rows = db.session.scalars(
            sa.select(Booking).where(
                Booking.territory_id == territory.id,
                Booking.purged_at.is_(None),
                Booking.ends_at < limit,
            )
        ).all()
        for booking in rows:
            booking.family_name = booking.given_name = booking.phone = booking.reason = None
            booking.cancel_reason = None
            booking.patient_email = booking.patient_mobile = booking.patient_token_hash = None
            booking.contact_consent_at = None
            booking.birth_date = None
            booking.purged_at = now
        if rows:
            db.session.flush()
            purge_patient_messages(booking_ids=[b.id for b in rows], now=now)
            report.per_territory[territory.id] = len(rows)
            report.purged += len(rows)
            audit.record(
                "booking.purge", by=None, territory_id=territory.id, detail={"count": len(rows)}
            )
    purge_patient_messages(now=now)  # and any message past its own date
    db.session.flush()
    return report


def when_for_patient(booking: Booking) -> str:
    """ "lundi 1er mars à 17 h 15": the booking's start as the patient's message says it."""
    zone = _territory(booking.territory_id).timezone
    return patient_messages.french_date(local(booking.starts_at, zone))
