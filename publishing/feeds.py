"""iCalendar feeds: secret addresses, what each feed shows, and events taken from a GP.

Three feeds, one shape of work. ``load_*`` runs a few small queries and returns plain
frozen data: exactly what the body will be made of. ``etag`` digests that data, so the
HTTP layer answers 304 before any rendering and an ETag can never go stale. ``build``
turns the data into ``publishing.ical`` events (the French wording lives here), and
``publishing.ical.render`` writes the bytes.

Services flush and audit; the caller (view or CLI) commits once.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from app import audit
from app.enums import Profession
from app.extensions import db
from app.models import Commune, Practitioner, Site, Territory, User
from app.timeutil import local, now_utc
from app.validators import ValidationError, display_phone
from booking.models import Booking, BookingStatus
from publishing import ical
from publishing.models import MAX_ALARM_MINUTES, CalendarFeed, FeedTombstone
from rota.models import Assignment, ConsultationMode, PeriodStatus, RotaPeriod, Session

# How far back a feed goes, and how long an event taken from a GP stays as CANCELLED.
WINDOW = timedelta(days=30)
TOKEN_BYTES = 32  # 256 bits, above the 128 a guess must beat
# Part of every ETag: bump it when the rendering changes, so clients fetch the new bodies.
FORMAT_VERSION = "1"
# Periods whose sessions GPs were told about; archived ones were published first.
SHOWN_PERIODS = (PeriodStatus.PUBLISHED, PeriodStatus.ARCHIVED)
# Bookings a GP will see on their sheet ("to replace" ones belong to a cancelled session).
SEEN_BOOKINGS = (BookingStatus.BOOKED, BookingStatus.HONOURED, BookingStatus.NO_SHOW)
ALARM_CHOICES = (15, 30, 60, 120, 24 * 60)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- addresses ------------------------------------------------------------------------------------


def gp_feed(practitioner: Practitioner) -> CalendarFeed | None:
    return db.session.scalar(
        sa.select(CalendarFeed).where(CalendarFeed.practitioner_id == practitioner.id)
    )


def territory_feed(territory: Territory) -> CalendarFeed | None:
    return db.session.scalar(
        sa.select(CalendarFeed).where(
            CalendarFeed.territory_id == territory.id, CalendarFeed.practitioner_id.is_(None)
        )
    )


def _gp_row(practitioner: Practitioner) -> CalendarFeed:
    feed = gp_feed(practitioner)
    if feed is None:
        feed = CalendarFeed(territory_id=practitioner.territory_id, practitioner_id=practitioner.id)
        db.session.add(feed)
    return feed


def _issue(feed: CalendarFeed) -> str:
    """A new token for the feed; the previous one (if any) stops working at once."""
    plain = secrets.token_urlsafe(TOKEN_BYTES)
    feed.token_hash = hash_token(plain)
    feed.issued_at = now_utc()
    feed.revoked_at = None
    db.session.flush()
    return plain


def issue_gp_token(practitioner: Practitioner, *, by: User | None) -> str:
    """Issue (or rotate) a GP's feed token and return it: it is shown once, never stored."""
    if not practitioner.active or practitioner.profession != Profession.GP:
        raise ValidationError("Seul un médecin actif du territoire peut s'abonner à ses plages.")
    feed = _gp_row(practitioner)
    rotated = feed.live
    plain = _issue(feed)
    audit.record(
        "ical.rotate" if rotated else "ical.issue",
        by=by,
        territory_id=practitioner.territory_id,
        target=feed,
    )
    return plain


def issue_territory_token(territory: Territory, *, by: User | None) -> str:
    """Issue (or rotate) the territory feed's token (coordination, Centre 15)."""
    feed = territory_feed(territory)
    if feed is None:
        feed = CalendarFeed(territory_id=territory.id)
        db.session.add(feed)
    rotated = feed.live
    plain = _issue(feed)
    audit.record(
        "ical.rotate" if rotated else "ical.issue", by=by, territory_id=territory.id, target=feed
    )
    return plain


def revoke(feed: CalendarFeed | None, *, by: User | None) -> None:
    """Kill a feed's address; a new one can be issued later."""
    if feed is None or not feed.live:
        raise ValidationError("Aucune adresse d'abonnement active à révoquer.")
    feed.token_hash = None
    feed.revoked_at = now_utc()
    db.session.flush()
    audit.record("ical.revoke", by=by, territory_id=feed.territory_id, target=feed)


def revoke_gp_feed(practitioner: Practitioner, *, by: User | None = None) -> None:
    """Revoke a GP's feed if it is live (the GP is deactivated: nothing to say if none)."""
    feed = gp_feed(practitioner)
    if feed is not None and feed.live:
        revoke(feed, by=by)


def set_alarm(practitioner: Practitioner, minutes: int | None, *, by: User | None) -> None:
    """The reminder a GP's calendar shows before each session (``None``: no reminder)."""
    if minutes is not None and not 0 <= minutes <= MAX_ALARM_MINUTES:
        raise ValidationError("Le rappel se règle entre 0 minute et une semaine avant la plage.")
    feed = _gp_row(practitioner)
    feed.alarm_minutes = minutes
    db.session.flush()
    audit.record(
        "ical.alarm",
        by=by,
        territory_id=practitioner.territory_id,
        target=feed,
        detail={"minutes": minutes},
    )


def find_live_feed(token: str) -> CalendarFeed | None:
    """The feed a token opens, or ``None``.

    Looked up by the token's hash: the comparison the database makes is on a digest an
    attacker cannot steer, so its timing reveals nothing about valid tokens. A GP who is
    no longer active has no feed, even if the revocation was somehow missed.
    """
    if not token or len(token) > 128:
        return None
    feed = db.session.scalar(
        sa.select(CalendarFeed)
        .where(CalendarFeed.token_hash == hash_token(token))
        .options(joinedload(CalendarFeed.territory), joinedload(CalendarFeed.practitioner))
    )
    if feed is None:
        return None
    if feed.practitioner_id is not None and (
        feed.practitioner is None or not feed.practitioner.active
    ):
        return None
    return feed


# --- events taken from a GP -----------------------------------------------------------------------


def _shown(session: Session) -> bool:
    return session.period.status in SHOWN_PERIODS


def _tombstone(practitioner_id: int, assignment_id: int, session: Session) -> None:
    row = db.session.scalar(
        sa.select(FeedTombstone).where(
            FeedTombstone.practitioner_id == practitioner_id,
            FeedTombstone.assignment_id == assignment_id,
        )
    )
    # The highest SEQUENCE the GP's feed can have given this event so far (see ``_sequence``).
    shown = _sequence(session.version, row.sequence if row else None)
    if row is None:
        row = FeedTombstone(practitioner_id=practitioner_id, assignment_id=assignment_id)
        db.session.add(row)
    row.session_id = session.id
    row.sequence = shown + 1
    row.cancelled_at = now_utc()
    db.session.flush()


def record_departure(assignment: Assignment) -> None:
    """The assignment is about to leave its GP: their feed will show it cancelled.

    Call it before the change (swap, replacement, removal), while ``practitioner_id`` is
    still the GP who loses the session.
    """
    if _shown(assignment.session):
        _tombstone(assignment.practitioner_id, assignment.id, assignment.session)


def record_cancellation(session: Session) -> None:
    """The session is cancelled: remember when, for each GP who held it."""
    if _shown(session):
        for assignment in session.assignments:
            _tombstone(assignment.practitioner_id, assignment.id, session)


def purge_tombstones(*, now: datetime | None = None) -> int:
    """Delete the tombstones no feed serves any more (older than the window, and a day)."""
    limit = (now or now_utc()) - WINDOW - timedelta(days=1)
    result = db.session.execute(sa.delete(FeedTombstone).where(FeedTombstone.cancelled_at < limit))
    return result.rowcount or 0


def _sequence(version: int, tombstone_sequence: int | None) -> int:
    """A live event's SEQUENCE: the session's version, which every amendment increments,
    kept above the CANCELLED the GP saw if the same assignment came back to them."""
    if tombstone_sequence is None:
        return version
    return max(version, tombstone_sequence + 1)


# --- what a feed is made of -----------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    name: str
    address: str
    phone: str | None
    geo: tuple[float, float] | None


@dataclass(frozen=True)
class Occurrence:
    """One session as any feed sees it; ``changed_at`` is its last known change."""

    session_id: int
    starts_at: datetime
    ends_at: datetime
    version: int
    cancelled: bool
    cancel_reason: str | None
    holiday_name: str | None
    mode: ConsultationMode
    gps_needed: int
    place: Place
    changed_at: datetime


@dataclass(frozen=True)
class Entry:
    """One future event. ``key`` makes the UID; ``gone`` marks one taken from the GP."""

    key: str
    occurrence: Occurrence
    sequence: int
    modified_at: datetime
    gone: bool = False
    bookings: int = 0
    gps: tuple[str, ...] = ()


@dataclass(frozen=True)
class FeedSource:
    """Everything a feed's body depends on, apart from the links (see ``Links``)."""

    kind: str  # "gp", "territory" or "site"
    name: str
    timezone: str
    window_start: date
    entries: tuple[Entry, ...]
    alarm_minutes: int | None = None

    @property
    def last_modified(self) -> datetime | None:
        return max((e.modified_at for e in self.entries), default=None)


@dataclass(frozen=True)
class Links:
    """Addresses the events point to; they depend on the host the feed was asked from."""

    uid_domain: str
    home: str  # the GP's sessions page, or the public availability page
    day: str = ""  # the GP's day sheet, to which ``?date=YYYY-MM-DD`` is appended


def _window_start(zone: str) -> tuple[date, datetime]:
    """The first local day a feed shows, and its midnight (aware)."""
    first = local(now_utc(), zone).date() - WINDOW
    return first, datetime.combine(first, time(), ZoneInfo(zone))


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _latest(*moments: datetime | None) -> datetime:
    latest = EPOCH
    for moment in moments:
        if moment is not None and moment > latest:
            latest = moment
    return latest


# Session and site columns every feed reads; ``_occurrence`` unpacks them in this order.
SESSION_COLUMNS = (
    Session.id,
    Session.starts_at,
    Session.ends_at,
    Session.version,
    Session.cancelled,
    Session.cancel_reason,
    Session.holiday_name,
    Session.mode,
    Session.gps_needed,
    Site.name,
    Site.address_line,
    Site.postal_code,
    Commune.name,
    Site.phone,
    Site.latitude,
    Site.longitude,
    RotaPeriod.published_at,
)
WIDTH = len(SESSION_COLUMNS)


def _sessions_query(*extra: sa.ColumnElement) -> sa.Select:
    """Sessions of shown periods, with their site; filters and joins are the caller's."""
    return (
        sa.select(*SESSION_COLUMNS, *extra)
        .join(RotaPeriod, RotaPeriod.id == Session.period_id)
        .join(Site, Site.id == Session.site_id)
        .join(Commune, Commune.id == Site.commune_id)
        .where(RotaPeriod.status.in_(SHOWN_PERIODS))
    )


@dataclass(frozen=True)
class _SessionFacts:
    """Per session: when an assignment or a tombstone last touched it, how many GPs hold it."""

    changed: dict[int, datetime]
    staffed: dict[int, int]


def _session_facts(session_ids: sa.Select) -> _SessionFacts:
    """Two grouped queries over the sessions ``session_ids`` selects (not one per session)."""
    changed: dict[int, datetime] = {}
    staffed: dict[int, int] = {}
    for session_id, last, count in db.session.execute(
        sa.select(Assignment.session_id, sa.func.max(Assignment.created_at), sa.func.count())
        .where(Assignment.session_id.in_(session_ids))
        .group_by(Assignment.session_id)
    ):
        changed[session_id], staffed[session_id] = last, count
    for session_id, last in db.session.execute(
        sa.select(FeedTombstone.session_id, sa.func.max(FeedTombstone.cancelled_at))
        .where(FeedTombstone.session_id.in_(session_ids))
        .group_by(FeedTombstone.session_id)
    ):
        changed[session_id] = _latest(changed.get(session_id), last)
    return _SessionFacts(changed, staffed)


def _occurrence(row: sa.Row, facts: _SessionFacts | None) -> Occurrence:
    (sid, starts, ends, version, cancelled, reason, holiday, mode, needed) = row[:9]
    (name, address, postal_code, commune, phone, lat, lon, published) = row[9:WIDTH]
    return Occurrence(
        session_id=sid,
        starts_at=starts,
        ends_at=ends,
        version=version,
        cancelled=cancelled,
        cancel_reason=reason,
        holiday_name=holiday,
        mode=mode,
        gps_needed=needed,
        place=Place(
            name=name,
            address=f"{name}, {address}, {postal_code} {commune}",
            phone=phone,
            geo=(lat, lon) if lat is not None and lon is not None else None,
        ),
        changed_at=_latest(published, facts.changed.get(sid) if facts else None),
    )


def load_gp_feed(feed: CalendarFeed) -> FeedSource:
    """A GP's sessions from 30 days back, and the ones taken from them in the last 30 days."""
    practitioner = feed.practitioner
    territory = feed.territory
    assert practitioner is not None
    first_day, window = _window_start(territory.timezone)
    mine = (
        sa.select(Assignment.session_id)
        .join(Session, Session.id == Assignment.session_id)
        .where(Assignment.practitioner_id == practitioner.id, Session.starts_at >= window)
    )
    held = db.session.execute(
        _sessions_query(Assignment.id, Assignment.seat)
        .join(Assignment, Assignment.session_id == Session.id)
        .where(Assignment.practitioner_id == practitioner.id, Session.starts_at >= window)
    ).all()
    # Bookings on the GP's own seats: how many they will see, and when that last changed.
    bookings = {
        (session_id, seat): (count, last)
        for session_id, seat, count, last in db.session.execute(
            sa.select(
                Booking.session_id,
                Booking.seat,
                sa.func.sum(sa.case((Booking.status.in_(SEEN_BOOKINGS), 1), else_=0)),
                sa.func.max(Booking.updated_at),
            )
            .join(
                Assignment,
                sa.and_(
                    Assignment.session_id == Booking.session_id, Assignment.seat == Booking.seat
                ),
            )
            .where(Assignment.practitioner_id == practitioner.id, Booking.starts_at >= window)
            .group_by(Booking.session_id, Booking.seat)
        )
    }
    facts = _session_facts(mine) if held else None
    tombstones = db.session.execute(
        _sessions_query(
            FeedTombstone.assignment_id, FeedTombstone.sequence, FeedTombstone.cancelled_at
        )
        .join(FeedTombstone, FeedTombstone.session_id == Session.id)
        .where(FeedTombstone.practitioner_id == practitioner.id)
    ).all()
    # The highest SEQUENCE each assignment had as a tombstone, whenever it was recorded.
    floors = {row[WIDTH]: row[WIDTH + 1] for row in tombstones}
    entries = []
    for row in held:
        assignment_id, seat = row[WIDTH:]
        occurrence = _occurrence(row, facts)
        count, booked_at = bookings.get((occurrence.session_id, seat), (0, None))
        entries.append(
            Entry(
                key=f"gp-{assignment_id}-{practitioner.id}",
                occurrence=occurrence,
                sequence=_sequence(occurrence.version, floors.get(assignment_id)),
                modified_at=_latest(occurrence.changed_at, booked_at),
                bookings=int(count or 0),
            )
        )
    held_ids = {row[WIDTH] for row in held}
    for row in tombstones:
        assignment_id, sequence, cancelled_at = row[WIDTH:]
        # Shown for 30 days after it was recorded, whatever the session's date; an
        # assignment that came back to this GP is shown live instead.
        if cancelled_at < window or assignment_id in held_ids:
            continue
        entries.append(
            Entry(
                key=f"gp-{assignment_id}-{practitioner.id}",
                occurrence=_occurrence(row, None),
                sequence=sequence,
                modified_at=cancelled_at,
                gone=True,
            )
        )
    return FeedSource(
        kind="gp",
        name=f"Mes plages SNP – {territory.name}",
        timezone=territory.timezone,
        window_start=first_day,
        entries=_ordered(entries),
        alarm_minutes=feed.alarm_minutes,
    )


def _ordered(entries: list[Entry]) -> tuple[Entry, ...]:
    return tuple(sorted(entries, key=lambda e: (e.occurrence.starts_at, e.key)))


def load_territory_feed(feed: CalendarFeed) -> FeedSource:
    """Every session of the territory, with its GPs (coordination, Centre 15)."""
    territory = feed.territory
    first_day, window = _window_start(territory.timezone)
    in_window = (Session.territory_id == territory.id, Session.starts_at >= window)
    rows = db.session.execute(_sessions_query().where(*in_window)).all()
    names: dict[int, list[str]] = {}
    facts = None
    if rows:
        ids = (
            sa.select(Session.id)
            .join(RotaPeriod, RotaPeriod.id == Session.period_id)
            .where(*in_window, RotaPeriod.status.in_(SHOWN_PERIODS))
        )
        facts = _session_facts(ids)
        for session_id, given, family, profession in db.session.execute(
            sa.select(
                Assignment.session_id,
                Practitioner.given_name,
                Practitioner.family_name,
                Practitioner.profession,
            )
            .join(Practitioner, Practitioner.id == Assignment.practitioner_id)
            .where(Assignment.session_id.in_(ids))
            .order_by(Assignment.session_id, Assignment.seat)
        ):
            prefix = "Dr " if profession == Profession.GP else ""
            names.setdefault(session_id, []).append(f"{prefix}{given} {family}")
    entries = []
    for row in rows:
        occurrence = _occurrence(row, facts)
        entries.append(
            Entry(
                key=f"territory-{occurrence.session_id}",
                occurrence=occurrence,
                sequence=occurrence.version,
                modified_at=occurrence.changed_at,
                gps=tuple(names.get(occurrence.session_id, ())),
            )
        )
    return FeedSource(
        kind="territory",
        name=f"Tableau SNP – {territory.name}",
        timezone=territory.timezone,
        window_start=first_day,
        entries=_ordered(entries),
    )


def load_feed(feed: CalendarFeed) -> FeedSource:
    return load_gp_feed(feed) if feed.practitioner_id is not None else load_territory_feed(feed)


def load_feed_by_id(feed_id: int) -> FeedSource:
    """``load_feed`` of a feed ``lookup_live_feed`` found (it hands back only the id)."""
    feed = db.session.get(CalendarFeed, feed_id)
    assert feed is not None
    return load_feed(feed)


def public_site(site_id: int) -> Site | None:
    """A site whose public feed may be served: it exists and is open."""
    site = db.session.get(Site, site_id)
    return site if site is not None and site.active else None


def load_site_feed(site: Site) -> FeedSource:
    """The site's public SNP hours. Never GP names: anyone may read this feed."""
    territory = site.territory
    first_day, window = _window_start(territory.timezone)
    in_window = (Session.site_id == site.id, Session.starts_at >= window)
    rows = db.session.execute(_sessions_query().where(*in_window)).all()
    facts = None
    if rows:
        facts = _session_facts(
            sa.select(Session.id)
            .join(RotaPeriod, RotaPeriod.id == Session.period_id)
            .where(*in_window, RotaPeriod.status.in_(SHOWN_PERIODS))
        )
    entries = []
    for row in rows:
        occurrence = _occurrence(row, facts)
        entries.append(
            Entry(
                key=f"site-{occurrence.session_id}",
                occurrence=occurrence,
                sequence=occurrence.version,
                modified_at=occurrence.changed_at,
                # Nobody to hold it is, for the public, the same as cancelled.
                gone=not (facts and facts.staffed.get(occurrence.session_id)),
            )
        )
    return FeedSource(
        kind="site",
        name=f"Consultations SNP – {site.name}",
        timezone=territory.timezone,
        window_start=first_day,
        entries=_ordered(entries),
    )


@dataclass(frozen=True)
class LiveFeed:
    """What answering a feed needs before its data: which feed, and the change marker."""

    id: int
    territory_id: int
    for_gp: bool
    marker: tuple[object, ...]


@functools.cache
def _live_feed_query() -> sa.Select:
    """Built once: on the path of every poll, building the statement cost as much as
    running it."""
    return (
        sa.select(
            CalendarFeed.id,
            CalendarFeed.territory_id,
            CalendarFeed.practitioner_id,
            Practitioner.active,
            audit.newest_event(CalendarFeed.territory_id),
            audit.newest_unowned_event(),
        )
        .outerjoin(Practitioner, Practitioner.id == CalendarFeed.practitioner_id)
        .where(CalendarFeed.token_hash == sa.bindparam("token_hash"))
    )


@functools.cache
def _public_site_query() -> sa.Select:
    return sa.select(
        Site.territory_id,
        audit.newest_event(Site.territory_id),
        audit.newest_unowned_event(),
    ).where(Site.id == sa.bindparam("site_id"), Site.active)


def lookup_public_site(site_id: int) -> tuple[object, ...] | None:
    """The change marker of an open site's territory, or ``None``: one query per poll."""
    row = db.session.execute(_public_site_query(), {"site_id": site_id}).first()
    return None if row is None else (row[1], row[2])


def lookup_live_feed(token: str) -> LiveFeed | None:
    """``find_live_feed``'s answer and the territory's change marker (``audit.change_marker``),
    in one small query.

    The path of every poll: most end in a 304 decided from these few columns alone.
    """
    if not token or len(token) > 128:
        return None
    row = db.session.execute(_live_feed_query(), {"token_hash": hash_token(token)}).first()
    if row is None or (row[2] is not None and not row[3]):
        return None
    return LiveFeed(
        id=row[0], territory_id=row[1], for_gp=row[2] is not None, marker=(row[4], row[5])
    )


def etag(source: FeedSource, links: Links) -> str:
    """A strong validator: a digest of everything the body is made of.

    The frozen dataclasses' ``repr`` is deterministic and cheap, and covers every field;
    no rendering is needed to compare it with what the client holds.
    """
    digest = hashlib.sha256(repr((FORMAT_VERSION, source, links)).encode())
    return digest.hexdigest()[:40]


# --- what a feed says (French) --------------------------------------------------------------------


def _hours(o: Occurrence, zone: ZoneInfo) -> str:
    return f"{o.starts_at.astimezone(zone):%H:%M} à {o.ends_at.astimezone(zone):%H:%M}"


def _facts(o: Occurrence) -> list[str]:
    lines = [f"Mode : {o.mode.label}."]
    if o.holiday_name:
        lines.append(f"Jour férié : {o.holiday_name}.")
    return lines


def _gp_event(entry: Entry, zone: ZoneInfo, links: Links) -> ical.Event:
    o = entry.occurrence
    day = o.starts_at.astimezone(zone).date().isoformat()
    day_link = f"{links.day}?date={day}" if links.day else links.home
    if entry.gone:
        summary = f"Retirée : SNP – {o.place.name}"
        lines = [
            f"Cette plage de {_hours(o, zone)} n'est plus à votre charge "
            "(échange, remplacement ou retrait par la coordination).",
            f"Vos plages : {links.home}",
        ]
        status, url = ical.CANCELLED, links.home
    elif o.cancelled:
        summary = f"Annulée : SNP – {o.place.name}"
        lines = [
            f"Plage de {_hours(o, zone)} annulée"
            + (f" : {o.cancel_reason}." if o.cancel_reason else "."),
            f"Vos plages : {links.home}",
        ]
        status, url = ical.CANCELLED, links.home
    else:
        summary = f"SNP – {o.place.name}"
        lines = [f"Plage de soins non programmés de {_hours(o, zone)}.", *_facts(o)]
        if o.mode != ConsultationMode.WALK_IN:
            lines.append(f"Rendez-vous pris sur votre place : {entry.bookings}.")
        lines.append(f"Votre journée : {day_link}")
        status, url = ical.CONFIRMED, day_link
    return _event(entry, links, summary, "\n".join(lines), status, url)


def _territory_event(entry: Entry, zone: ZoneInfo, links: Links) -> ical.Event:
    o = entry.occurrence
    missing = max(o.gps_needed - len(entry.gps), 0)
    who = ", ".join(entry.gps) if entry.gps else "à pourvoir"
    lines = [f"Plage de soins non programmés de {_hours(o, zone)}.", *_facts(o)]
    if entry.gps:
        lines.append(f"Médecin(s) : {', '.join(entry.gps)}.")
    if missing and not o.cancelled:
        lines.append(f"Place(s) à pourvoir : {missing}.")
    if o.place.phone:
        lines.append(f"Téléphone du lieu : {display_phone(o.place.phone)}.")
    if o.cancelled:
        summary = f"Annulée : SNP – {o.place.name}"
        lines.insert(0, "Plage annulée" + (f" : {o.cancel_reason}." if o.cancel_reason else "."))
        status = ical.CANCELLED
    else:
        summary = f"SNP – {o.place.name} – {who}"
        status = ical.CONFIRMED if entry.gps else ical.TENTATIVE
    return _event(entry, links, summary, "\n".join(lines), status, links.home)


def _site_event(entry: Entry, zone: ZoneInfo, links: Links) -> ical.Event:
    o = entry.occurrence
    if o.cancelled or entry.gone:
        summary = f"Annulée : consultations SNP – {o.place.name}"
        lines = [f"Les consultations de {_hours(o, zone)} n'auront pas lieu."]
        status = ical.CANCELLED
    else:
        summary = f"Consultations SNP – {o.place.name}"
        lines = [f"Consultations de soins non programmés de {_hours(o, zone)}.", *_facts(o)]
        status = ical.CONFIRMED
    lines += [
        f"Créneaux disponibles : {links.home}",
        "Urgence vitale : appelez le 15.",
    ]
    return _event(entry, links, summary, "\n".join(lines), status, links.home)


def _event(
    entry: Entry, links: Links, summary: str, description: str, status: str, url: str
) -> ical.Event:
    o = entry.occurrence
    return ical.Event(
        uid=f"{entry.key}@{links.uid_domain}",
        sequence=entry.sequence,
        summary=summary,
        starts_at=o.starts_at,
        ends_at=o.ends_at,
        modified_at=entry.modified_at,
        status=status,
        location=o.place.address,
        description=description,
        url=url or None,
        geo=o.place.geo,
    )


_EVENT_MAKERS = {"gp": _gp_event, "territory": _territory_event, "site": _site_event}
_DESCRIPTIONS = {
    "gp": "Vos plages de soins non programmés (SNP), publiées par la CPTS. "
    "Une plage qui vous est retirée reste 30 jours, annulée.",
    "territory": "Toutes les plages SNP publiées du territoire, avec leurs médecins.",
    "site": "Horaires publics des consultations de soins non programmés.",
}


def build(source: FeedSource, links: Links) -> ical.Feed:
    """The calendar a feed's data reads as."""
    zone = ZoneInfo(source.timezone)
    make = _EVENT_MAKERS[source.kind]
    return ical.Feed(
        name=source.name,
        timezone=source.timezone,
        events=tuple(make(entry, zone, links) for entry in source.entries),
        description=_DESCRIPTIONS[source.kind],
        alarm_minutes=source.alarm_minutes,
    )
