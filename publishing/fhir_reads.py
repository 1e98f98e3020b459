"""What the FHIR interface reads: our GPs, sites, slots and walk-in hours as FHIR views.

The handlers in ``publishing.fhir_views`` parse the request and shape the answer; the
queries live here and hand back the pure views of ``publishing.fhir`` (frozen
dataclasses), so a search issues the same few statements however many slots it finds.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models import Practitioner, Site, Territory, User
from app.security import MAX_ID
from app.timeutil import now_utc
from booking import services
from booking import slots as slotlib
from publishing import fhir
from publishing.fhir import FhirError
from rota.models import ConsultationMode, Session


def row_id(text: str) -> int | None:
    """A database id written in a resource id, or ``None`` (not digits, or beyond any id)."""
    if not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


def desk_territories(user: User) -> list[Territory]:
    """The territories a token answers for: its regulation service's (every territory
    the administrator attached), else its account's own; by id, the first one's clock
    reading the dates sent without an offset."""
    return services.booker_territories(user)


def cpts_of(territory: Territory) -> fhir.Cpts:
    return fhir.Cpts(
        id=territory.id,
        name=territory.name,
        finess=territory.fhir_finess,
        phone=territory.phone,
        email=territory.email,
    )


def doctor_of(practitioner: Practitioner) -> fhir.Doctor:
    return fhir.Doctor(
        id=practitioner.id,
        rpps=practitioner.rpps,
        family_name=practitioner.family_name,
        given_name=practitioner.given_name,
    )


def place_of(site: Site) -> fhir.Place:
    return fhir.Place(
        id=site.id,
        name=site.name,
        address_line=site.address_line,
        postal_code=site.postal_code,
        city=site.commune.name,
        phone=site.phone,
    )


class _Known:
    """Each GP's and each site's view, built once per search and shared by their slots:
    a GP has a dozen slots in a search, and each view read them again from the ORM."""

    def __init__(self) -> None:
        self._doctors: dict[int, fhir.Doctor] = {}
        self._places: dict[int, fhir.Place] = {}

    def doctor(self, practitioner: Practitioner) -> fhir.Doctor:
        found = self._doctors.get(practitioner.id)
        if found is None:
            found = self._doctors[practitioner.id] = doctor_of(practitioner)
        return found

    def place(self, site: Site) -> fhir.Place:
        found = self._places.get(site.id)
        if found is None:
            found = self._places[site.id] = place_of(site)
        return found


def free_slot_view(found: services.FreeSlot, known: _Known | None = None) -> fhir.FreeSlotView:
    """A bookable free slot as the platform sees it."""
    known = known or _Known()
    return fhir.FreeSlotView(
        id=found.id,
        start=found.slot.starts_at,
        end=found.slot.ends_at,
        doctor=known.doctor(found.practitioner),
        place=known.place(found.site),
        mode=found.session.mode.value,
        channel=found.channel,
    )


def walk_in_id(session_id: int, seat: int) -> str:
    return f"walkin-{session_id}-{seat}"


def walk_in_views(
    territory: Territory, low: datetime, high: datetime, practitioner_ids: set[int], now: datetime
) -> list[fhir.FreeSlotView]:
    """Walk-in hours held by these GPs: one Slot per GP and session, appointment type WALKIN."""
    return [
        view
        for session in services.published_sessions_in(
            [territory.id], max(low, now), high, practitioners=practitioner_ids
        )
        for view in _walk_ins(session, practitioner_ids)
    ]


def _walk_ins(
    session: Session, practitioner_ids: set[int], known: _Known | None = None
) -> list[fhir.FreeSlotView]:
    """A walk-in session's Slots: one per GP asked for (none for an appointment session)."""
    if session.mode != ConsultationMode.WALK_IN:
        return []
    known = known or _Known()
    return [
        fhir.FreeSlotView(
            id=walk_in_id(session.id, assignment.seat),
            start=session.starts_at,
            end=session.ends_at,
            doctor=known.doctor(assignment.practitioner),
            place=known.place(session.site),
            mode=session.mode.value,
            channel=None,
        )
        for assignment in sorted(session.assignments, key=lambda a: a.seat)
        if assignment.practitioner_id in practitioner_ids
    ]


def practitioners_by_rpps(territory: Territory, rpps: list[str]) -> list[Practitioner]:
    return list(
        db.session.scalars(
            sa.select(Practitioner)
            .where(
                Practitioner.territory_id == territory.id,
                Practitioner.rpps.in_(rpps),
                Practitioner.active,
            )
            .order_by(Practitioner.id)
            .options(selectinload(Practitioner.sites).selectinload(Site.commune))
        )
    )


def slot_view(territory: Territory, slot_id: str) -> fhir.FreeSlotView:
    """One slot, free or busy, by our id (or a walk-in Slot's)."""
    fhir.resource_id(slot_id)
    missing = FhirError("Créneau introuvable.", status=404, code="not_found")
    if slot_id.startswith("walkin-"):
        parts = slot_id.split("-")
        session_id = row_id(parts[1]) if len(parts) == 3 else None
        seat = row_id(parts[2]) if len(parts) == 3 else None
        if session_id is None or seat is None:
            raise missing
        session = db.session.get(Session, session_id)
        if (
            session is None
            or session.territory_id != territory.id
            or session.mode != ConsultationMode.WALK_IN
            or session.cancelled
        ):
            raise missing
        holder = next((a for a in session.assignments if a.seat == seat), None)
        if holder is None:
            raise missing
        return fhir.FreeSlotView(
            id=slot_id,
            start=session.starts_at,
            end=session.ends_at,
            doctor=doctor_of(holder.practitioner),
            place=place_of(session.site),
            mode=session.mode.value,
            channel=None,
            busy=session.ends_at <= now_utc(),
        )
    try:
        slot, session, holder = services.locate_slot(territory.id, slot_id)
    except services.BookingError as exc:
        raise missing from exc
    now = now_utc()
    rules = services.Rules.of(territory)
    return fhir.FreeSlotView(
        id=slot.id,
        start=slot.starts_at,
        end=slot.ends_at,
        doctor=doctor_of(holder.practitioner),
        place=place_of(session.site),
        mode=session.mode.value,
        channel=slotlib.effective_channel(slot, now, rules.release),
        busy=slot.starts_at < now + services.MARGIN or services.is_taken(slot),
    )


def schedule_pair(territory: Territory, ident: str) -> tuple[Practitioner, Site]:
    """The GP and site a Schedule or PractitionerRole id names (``practitioner-site``)."""
    fhir.resource_id(ident)
    doctor_text, _, site_text = ident.partition("-")
    doctor_id, site_id = row_id(doctor_text), row_id(site_text)
    missing = FhirError("Ressource introuvable.", status=404, code="not_found")
    if doctor_id is None or site_id is None:
        raise missing
    practitioner = db.session.get(Practitioner, doctor_id)
    if practitioner is None or practitioner.territory_id != territory.id:
        raise missing
    site = next((s for s in practitioner.sites if s.id == site_id), None)
    if site is None:
        raise missing
    return practitioner, site


def practitioner(territory: Territory, ident: str) -> Practitioner | None:
    """The territory's GP a Practitioner id names, or ``None``."""
    found_id = row_id(ident)
    found = db.session.get(Practitioner, found_id) if found_id is not None else None
    if found is None or found.territory_id != territory.id:
        return None
    return found


def practitioner_by_rpps(territory: Territory, rpps: str) -> Practitioner | None:
    return db.session.scalar(
        sa.select(Practitioner).where(
            Practitioner.territory_id == territory.id, Practitioner.rpps == rpps
        )
    )


def free_slot_views(
    territory: Territory,
    channel: str,
    window: fhir.StartRange,
    practitioner_ids: set[int],
    *,
    now: datetime,
) -> list[fhir.FreeSlotView]:
    """The SAS search: these GPs' free slots on the channel, and their walk-in hours."""
    if not practitioner_ids:
        return []
    found = services.free_slots(
        territory.id,
        channel,
        now=now,
        since=window.low,
        until=window.high,
        practitioners=practitioner_ids,
    )
    views = [free_slot_view(f) for f in found]
    views += walk_in_views(territory, window.low, window.high, practitioner_ids, now)
    views.sort(key=lambda v: (v.start, v.place.name, v.doctor.id, v.id))
    return views


def desk_free_slot_views(
    territories: list[Territory],
    channel: str,
    window: fhir.StartRange,
    rpps: list[str],
    *,
    now: datetime,
) -> list[tuple[fhir.FreeSlotView, Territory]]:
    """The SAS search over a whole regulation service in a fixed number of statements:
    the GPs of every territory at once, their free slots, then their walk-in hours; each
    view with its territory (its CPTS and clock)."""
    by_id = {t.id: t for t in territories}
    wanted = set(rpps)

    def asked(gp: Practitioner) -> bool:
        """The statement's choice below, on a loaded GP."""
        return gp.territory_id in by_id and gp.rpps in wanted and gp.active

    # Walk-in hours span [max(low, now), high], which covers the slots' booking window:
    # one read of these GPs' sessions serves both.
    sessions = services.published_sessions_in(
        list(by_id),
        max(window.low, now),
        window.high,
        practitioners=sa.select(Practitioner.id).where(
            Practitioner.territory_id.in_(list(by_id)),
            Practitioner.rpps.in_(rpps),
            Practitioner.active,
        ),
    )
    practitioner_ids = {
        a.practitioner_id for s in sessions for a in s.assignments if asked(a.practitioner)
    }
    if not practitioner_ids:
        return []
    found = services.desk_free_slots(
        list(by_id),
        channel,
        now=now,
        since=window.low,
        until=window.high,
        practitioners=practitioner_ids,
        sessions=sessions,
    )
    known = _Known()
    views = [(free_slot_view(f, known), by_id[f.session.territory_id]) for f in found]
    views += [
        (view, by_id[session.territory_id])
        for session in sessions
        for view in _walk_ins(session, practitioner_ids, known)
    ]
    views.sort(key=lambda pair: (pair[0].start, pair[0].place.name, pair[0].doctor.id, pair[0].id))
    return views
