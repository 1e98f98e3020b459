"""What the public may know about a day: sites, SNP hours, free slots counted by channel.

The public page shows no one's name: it says where and when a GP consults and how many
slots each way of asking (the 15, a pharmacy, either) can still get, so a patient knows
whom to call. Counting is a pure function of the session and the taken positions; the
loader reads a whole day of a territory in three queries whatever the number of sites.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from app import communes_ref
from app.collation import french_key, french_sorted
from app.extensions import db
from app.models import Commune, Site, Territory
from app.timeutil import local
from booking import services
from booking import slots as slotlib
from booking.models import LIVE_STATUSES, Booking
from booking.services import MARGIN, Rules, shape
from rota.models import Assignment, ConsultationMode, PeriodStatus, RotaPeriod, Session


def count_free(
    session: slotlib.SessionShape,
    seats: Iterable[int],
    taken: set[tuple[int, int, int]],
    *,
    now: datetime,
    release: timedelta,
    margin: timedelta = MARGIN,
) -> Counter[str]:
    """Free, not yet started slots of the held ``seats``, by the channel that may take them now.

    Unlike ``services.free_slots`` this ignores the booking horizon: tomorrow evening's
    slots are not bookable yet at breakfast, but a patient planning the day wants to know
    they exist. A reserved slot within ``release`` of its start counts as open, as it is.
    """
    counts: Counter[str] = Counter()
    for slot in slotlib.cut(session, seats=list(seats)):
        if (slot.session_id, slot.seat, slot.index) in taken or slot.starts_at < now + margin:
            continue
        counts[slotlib.effective_channel(slot, now, release)] += 1
    return counts


def first_opening(
    session: slotlib.SessionShape,
    seats: Iterable[int],
    taken: set[tuple[int, int, int]],
    *,
    now: datetime,
    horizon: timedelta,
) -> datetime | None:
    """When the session's first free slot beyond the horizon becomes bookable, if any.

    The page counts tomorrow's slots that no one can book yet; it says from when they can
    (``horizon`` before each slot's start), as the booking pages, the API and FHIR do.
    """
    later = [
        slot
        for slot in slotlib.cut(session, seats=list(seats))
        if (slot.session_id, slot.seat, slot.index) not in taken and slot.starts_at > now + horizon
    ]
    if not later:
        return None
    return slotlib.opens_at(min(later, key=lambda s: s.starts_at), horizon)


@dataclass(frozen=True)
class Opening:
    """One session of a site on the day, as the public sees it."""

    starts_at: datetime
    ends_at: datetime
    mode: ConsultationMode
    ongoing: bool
    free: Counter[str] = field(default_factory=Counter)
    # Some free slots are beyond the booking horizon: when the first of them opens.
    opens_at: datetime | None = None

    @property
    def walk_in(self) -> bool:
        return self.mode == ConsultationMode.WALK_IN

    @property
    def free_total(self) -> int:
        return sum(self.free.values())


@dataclass
class SiteDay:
    site: Site
    openings: list[Opening] = field(default_factory=list)

    @property
    def free(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for opening in self.openings:
            total.update(opening.free)
        return total

    @property
    def bookable(self) -> bool:
        return any(not o.walk_in for o in self.openings)

    @property
    def walk_in(self) -> bool:
        return any(o.walk_in for o in self.openings)


def day_availability(territory: Territory, day: date, *, now: datetime) -> list[SiteDay]:
    """Sites holding a staffed, not yet finished session of a published rota on ``day``.

    A session nobody holds will not take place, so it is left out; a session already over
    is left out too. Sites come in name order, their sessions in time order.
    """
    sessions = db.session.scalars(
        sa.select(Session)
        .join(RotaPeriod, RotaPeriod.id == Session.period_id)
        .where(
            Session.territory_id == territory.id,
            Session.local_date == day,
            RotaPeriod.status == PeriodStatus.PUBLISHED,
            ~Session.cancelled,
            Session.ends_at > now,
        )
        .options(joinedload(Session.site).joinedload(Site.commune))
        .order_by(Session.starts_at, Session.id)
    ).all()
    if not sessions:
        return []
    ids = [s.id for s in sessions]
    seats: dict[int, set[int]] = {}
    for session_id, seat in db.session.execute(
        sa.select(Assignment.session_id, Assignment.seat).where(Assignment.session_id.in_(ids))
    ):
        seats.setdefault(session_id, set()).add(seat)
    taken = set(
        db.session.execute(
            sa.select(Booking.session_id, Booking.seat, Booking.slot_index).where(
                Booking.session_id.in_(ids), Booking.status.in_(LIVE_STATUSES)
            )
        ).all()
    )
    rules = Rules.of(territory)
    by_site: dict[int, SiteDay] = {}
    for session in sessions:
        held = seats.get(session.id)
        if not held or not session.site.active:
            continue
        opening = Opening(
            starts_at=session.starts_at,
            ends_at=session.ends_at,
            mode=session.mode,
            ongoing=session.starts_at <= now,
            free=count_free(shape(session), held, taken, now=now, release=rules.release),
            opens_at=first_opening(shape(session), held, taken, now=now, horizon=rules.horizon),
        )
        by_site.setdefault(session.site_id, SiteDay(site=session.site)).openings.append(opening)
    return sorted(by_site.values(), key=lambda d: (french_key(d.site.name), d.site.id))


DAYS = {"aujourdhui": 0, "demain": 1}


def free_words(counts: dict[str, int]) -> list[str]:
    """How many free slots each way of asking can get: "20 réservables en appelant le 15".

    A patient chooses whom to call, so each line is the total that call can reach: the
    slots reserved to that channel plus the open ones (which either may book). The lines
    overlap on purpose; ``free_title`` gives the number of distinct slots above them.
    """
    open_ = counts.get(slotlib.OPEN, 0)
    ways = (
        (open_ + counts.get(slotlib.SAS, 0), "en appelant le 15"),
        (open_ + counts.get(slotlib.PHARMACY, 0), "par votre pharmacie"),
    )
    return [f"{n} réservable{'s' if n > 1 else ''} {how}" for n, how in ways if n]


def free_title(counts: dict[str, int]) -> str:
    """ "24 créneaux encore libres" (distinct slots), the heading of ``free_words``."""
    total = sum(counts.values())
    return f"{total} créneau{'x' if total > 1 else ''} encore libre{'s' if total > 1 else ''}"


def opening_words(opens: datetime, now: datetime, zone: str) -> str:
    """ "17:00 aujourd'hui": when a slot shown opens to booking (as the booking pages say)."""
    return services.opening_words(opens, now, zone)


def words(now: datetime, zone: str) -> dict[str, Callable[..., str]]:
    """The page's wording helpers, for the template."""
    return {
        "free_words": free_words,
        "free_title": free_title,
        "opening_words": lambda opens: opening_words(opens, now, zone),
    }


def find_communes(text: str) -> tuple[list[Commune], str | None]:
    """Communes served by a CPTS that match what a patient typed (name or postal code)."""
    query = " ".join(text.split())[:100]
    if not query:
        return [], None
    codes = [c.insee_code for c in communes_ref.search(query, limit=50)]
    if not codes:
        return [], f"Aucune commune ne correspond à « {query} »."
    found = french_sorted(
        db.session.scalars(
            sa.select(Commune)
            .where(Commune.insee_code.in_(codes))
            .options(joinedload(Commune.territory))
            .order_by(Commune.id)
        ),
        key=lambda c: c.name,
    )
    if not found:
        return [], (
            f"Aucune CPTS de ce service ne couvre « {query} » : appelez le 15, qui vous orientera."
        )
    return list(found), None


@dataclass
class PublicPage:
    """Everything the public page shows; ``territory`` is None on the list of CPTS."""

    territories: list[Territory]
    query: str
    matches: list[Commune]
    message: str | None
    day_key: str
    territory: Territory | None = None
    day: date | None = None
    communes: list[Commune] = field(default_factory=list)
    chosen: Commune | None = None
    here: list[SiteDay] = field(default_factory=list)
    elsewhere: list[SiteDay] = field(default_factory=list)

    @property
    def single_match(self) -> Commune | None:
        """The one commune the query named: the page then goes straight to it."""
        return self.matches[0] if len(self.matches) == 1 else None


class UnknownTerritory(LookupError):
    """The ``cpts`` slug names no territory."""


def public_page(
    *, slug: str, query: str, day_key: str, commune_code: str, now: datetime
) -> PublicPage:
    """Read what the public page needs for the arguments a patient gave."""
    # Only territories with a published rota: a CPTS being set up has nothing to show
    # patients yet (and its name may still be a draft).
    shown = sa.exists().where(
        RotaPeriod.territory_id == Territory.id,
        RotaPeriod.status.in_([PeriodStatus.PUBLISHED, PeriodStatus.ARCHIVED]),
    )
    territories = french_sorted(
        db.session.scalars(sa.select(Territory).where(shown).order_by(Territory.id)),
        key=lambda t: t.name,
    )
    matches, message = find_communes(query) if query else ([], None)
    page = PublicPage(
        territories=territories, query=query, matches=matches, message=message, day_key=day_key
    )
    if page.single_match is not None:
        return page
    territory = next((t for t in territories if t.slug == slug), None)
    if slug and territory is None:
        raise UnknownTerritory(slug)
    if territory is None and len(territories) == 1 and not query:
        territory = territories[0]
    if territory is None:
        return page
    page.territory = territory
    page.day = local(now, territory.timezone).date() + timedelta(days=DAYS[day_key])
    page.communes = french_sorted(territory.communes, key=lambda c: c.name)
    page.chosen = next((c for c in page.communes if c.insee_code == commune_code), None)
    sites = day_availability(territory, page.day, now=now)
    page.here = [
        s for s in sites if page.chosen is not None and s.site.commune_id == page.chosen.id
    ]
    page.elsewhere = [s for s in sites if s not in page.here]
    return page
