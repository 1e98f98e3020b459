"""Cutting published sessions into bookable slots, and who may book each one (pure).

A slot is not stored: it is computed from its session, so it always follows the rota. It is
named by ``(session id, seat, index)`` — the seat is the GP's place on the session, so when
a GP hands the session to a colleague the slots (and their bookings) stay where they are and
simply show the new GP. Slots are cut in absolute time from the session's UTC start: a night
session across a daylight-saving change has one slot more or less, as the night is longer
or shorter.

Reserved slots (``sas`` for the regulators, ``pharmacy`` for pharmacists) are spread evenly
over the session rather than bunched at its start, so a late call still finds one; a
reserved slot not booked ``release`` before its start opens to every channel.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

SAS = "sas"
PHARMACY = "pharmacy"
OPEN = "open"
CHANNELS = (SAS, PHARMACY, OPEN)
CHANNEL_LABELS = {SAS: "régulation (SAS / 15)", PHARMACY: "pharmacie", OPEN: "tout professionnel"}
ANY = "any"  # the coordinator books on any channel


@dataclass(frozen=True)
class SessionShape:
    """What slot cutting needs to know about a session."""

    id: int
    starts_at: datetime  # aware UTC
    ends_at: datetime  # aware UTC
    seats: int
    slot_minutes: int
    sas_slots: int
    pharmacy_slots: int
    walk_in: bool = False


@dataclass(frozen=True, order=True)
class Slot:
    starts_at: datetime
    session_id: int
    seat: int
    index: int
    ends_at: datetime
    channel: str

    @property
    def id(self) -> str:
        return slot_id(self.session_id, self.seat, self.index)


def slot_id(session_id: int, seat: int, index: int) -> str:
    """The public name of a slot, e.g. ``"1234-1-5"``: stable while the session exists."""
    return f"{session_id}-{seat}-{index}"


# Bounds of a slot id's parts: a session id is a database integer; a session has at most
# 10 seats and, 24 hours cut in 5-minute slots, 288 slots a seat. Anything beyond names
# no slot, and would overflow the database's integers or Python's datetimes on the way.
MAX_SESSION_ID = 2**31 - 1
MAX_SEAT = 99
MAX_INDEX = 9999


def parse_slot_id(text: str) -> tuple[int, int, int] | None:
    """``(session id, seat, index)`` from a slot id, or ``None`` if it is not one."""
    parts = str(text).split("-")
    # ASCII digits only: "²" passes str.isdigit() but not int().
    if len(parts) != 3 or not all(p.isascii() and p.isdigit() and len(p) <= 12 for p in parts):
        return None
    session_id, seat, index = (int(p) for p in parts)
    if not (1 <= session_id <= MAX_SESSION_ID and 1 <= seat <= MAX_SEAT and index <= MAX_INDEX):
        return None
    return session_id, seat, index


def slots_per_seat(session: SessionShape) -> int:
    if session.walk_in or session.slot_minutes <= 0:
        return 0
    minutes = (session.ends_at - session.starts_at).total_seconds() / 60
    return max(0, int(minutes // session.slot_minutes))


def _spread(count: int, positions: Sequence[int]) -> list[int]:
    """``count`` of ``positions`` chosen evenly from first to last (deterministic)."""
    n = len(positions)
    count = min(count, n)
    return [positions[(2 * j + 1) * n // (2 * count)] for j in range(count)]


def channels(session: SessionShape) -> list[str]:
    """The channel of each slot of the session, in time order (seats interleaved).

    Ordinal ``k = index · seats + (seat − 1)``: both GPs' 17:00 slots come before either
    GP's 17:15 slot, so reserved slots are spread over time, not over one GP.
    """
    total = slots_per_seat(session) * session.seats
    result = [OPEN] * total
    sas = _spread(session.sas_slots, list(range(total)))
    for k in sas:
        result[k] = SAS
    free = [k for k in range(total) if result[k] == OPEN]
    for k in _spread(session.pharmacy_slots, free):
        result[k] = PHARMACY
    return result


def cut(
    session: SessionShape,
    seats: Iterable[int] | None = None,
    *,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> list[Slot]:
    """The slots of ``session`` for the given seats (default: all), in time order; only those
    starting within ``[not_before, not_after]`` when given (a search window)."""
    return list(iter_slots(session, seats, not_before=not_before, not_after=not_after))


def iter_slots(
    session: SessionShape,
    seats: Iterable[int] | None = None,
    *,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> Iterator[Slot]:
    """``cut`` one slot at a time, so a search that has found enough can stop early."""
    per_seat = slots_per_seat(session)
    wanted = set(range(1, session.seats + 1) if seats is None else seats)
    step = timedelta(minutes=session.slot_minutes)
    kinds = channels(session)
    first, last = 0, per_seat
    if not_before is not None and not_before > session.starts_at:
        first = min(per_seat, -(-(not_before - session.starts_at) // step))  # ceiling
    if not_after is not None:
        last = min(per_seat, max(0, (not_after - session.starts_at) // step + 1))
    for index in range(first, last):
        start = session.starts_at + index * step
        for seat in range(1, session.seats + 1):
            if seat in wanted:
                yield Slot(
                    starts_at=start,
                    session_id=session.id,
                    seat=seat,
                    index=index,
                    ends_at=start + step,
                    channel=kinds[index * session.seats + seat - 1],
                )


def effective_channel(slot: Slot, now: datetime, release: timedelta) -> str:
    """A reserved slot still free ``release`` before its start is open to every channel."""
    if slot.channel != OPEN and slot.starts_at - now <= release:
        return OPEN
    return slot.channel


def may_take(booker_channel: str, slot: Slot, now: datetime, release: timedelta) -> bool:
    if booker_channel == ANY:
        return True
    return effective_channel(slot, now, release) in (booker_channel, OPEN)


def in_window(slot: Slot, now: datetime, *, margin: timedelta, horizon: timedelta) -> bool:
    """Bookable when it starts between now + margin and now + horizon (24 h or 48 h)."""
    return now + margin <= slot.starts_at <= now + horizon


def opens_at(slot: Slot, horizon: timedelta) -> datetime:
    """When a slot beyond the horizon becomes bookable: ``horizon`` before its start.

    Every surface (public page, booking pages, API, FHIR errors) says this same moment for
    a slot shown but not bookable yet (``docs/booking.md``, "One horizon").
    """
    return slot.starts_at - horizon
