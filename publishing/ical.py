"""iCalendar rendering of a feed: plain frozen data in, RFC 5545 bytes out.

Pure: no Flask, no SQLAlchemy, no clock. What an event says is decided by ``publishing.feeds``;
this module only knows how calendar clients want it written: CRLF lines folded at
75 octets and escaped (the ``icalendar`` library does both), times in the territory's
zone with the matching VTIMEZONE, and the refresh hints subscribed clients read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar

PRODID = "-//CPTS//Tour de role//FR"
# Asked of subscribed clients; Google ignores it and polls every 8 to 24 hours.
REFRESH = timedelta(hours=1)

CONFIRMED = "CONFIRMED"
TENTATIVE = "TENTATIVE"
CANCELLED = "CANCELLED"
STATUSES = (CONFIRMED, TENTATIVE, CANCELLED)
# RFC 5545 §3.3.11: TEXT holds no CONTROL character but HTAB; line breaks are written "\n".
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class Event:
    """One VEVENT. ``modified_at`` is both LAST-MODIFIED and DTSTAMP (see ``render``)."""

    uid: str
    sequence: int
    summary: str
    starts_at: datetime
    ends_at: datetime
    modified_at: datetime
    status: str = CONFIRMED
    location: str = ""
    description: str = ""
    url: str | None = None
    geo: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        for name in ("starts_at", "ends_at", "modified_at"):
            if getattr(self, name).tzinfo is None:
                raise ValueError(f"Event.{name} must be an aware datetime")
        if self.status not in STATUSES:
            raise ValueError(f"unknown event status {self.status!r}")
        if self.sequence < 0:
            raise ValueError("SEQUENCE cannot be negative")


@dataclass(frozen=True)
class Feed:
    """A whole calendar: its name, its zone, its events and the reminder, if any."""

    name: str
    timezone: str
    events: tuple[Event, ...]
    description: str = ""
    alarm_minutes: int | None = None


def _text(value: str) -> icalendar.vText:
    """A TEXT value, escaped whatever the property (RFC 5545 §3.3.11).

    Names come from forms (a site, a territory): control characters are dropped and line
    breaks kept as escaped ``\\n``, never written raw, so a name can neither break the
    stream nor add lines to it. ``icalendar`` escapes only the properties it knows as
    TEXT; ``NAME`` (RFC 7986) and the ``X-WR-`` ones would go out raw without this.
    """
    lines = value.replace("\r\n", "\n").replace("\r", "\n")
    return icalendar.vText(_CONTROL.sub("", lines))


def render(feed: Feed) -> bytes:
    """The feed as an iCalendar stream (UTF-8, CRLF, folded).

    Without METHOD-level scheduling semantics a published feed's DTSTAMP is "when the
    information was last revised" (RFC 5545 §3.8.7.2), so it equals LAST-MODIFIED. That
    keeps the body a function of the data alone: two renders of unchanged data are
    byte-identical, which a strong ETag promises.
    """
    zone = ZoneInfo(feed.timezone)
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("name", _text(feed.name))
    cal.add("x-wr-calname", _text(feed.name))
    cal.add("x-wr-timezone", feed.timezone)
    if feed.description:
        cal.add("description", _text(feed.description))
        cal.add("x-wr-caldesc", _text(feed.description))
    cal.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", "PT1H")
    events = sorted(feed.events, key=lambda e: (e.starts_at, e.uid))
    if events:
        first = min(e.starts_at for e in events).astimezone(zone).date()
        last = max(e.ends_at for e in events).astimezone(zone).date()
        cal.add_component(vtimezone(feed.timezone, first, last))
    for event in events:
        cal.add_component(_vevent(event, zone, feed.alarm_minutes))
    return cal.to_ical()


def _vevent(event: Event, zone: ZoneInfo, alarm_minutes: int | None) -> icalendar.Event:
    vevent = icalendar.Event()
    vevent.add("uid", event.uid)
    vevent.add("sequence", event.sequence)
    vevent.add("dtstamp", event.modified_at.astimezone(UTC))
    vevent.add("last-modified", event.modified_at.astimezone(UTC))
    vevent.add("dtstart", event.starts_at.astimezone(zone))
    vevent.add("dtend", event.ends_at.astimezone(zone))
    vevent.add("summary", _text(event.summary))
    if event.location:
        vevent.add("location", _text(event.location))
    if event.geo is not None:
        vevent.add("geo", event.geo)
    if event.description:
        vevent.add("description", _text(event.description))
    if event.url:
        vevent.add("url", event.url)
    vevent.add("status", event.status)
    vevent.add("transp", "TRANSPARENT" if event.status == CANCELLED else "OPAQUE")
    if alarm_minutes is not None and event.status != CANCELLED:
        alarm = icalendar.Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", _text(event.summary))
        alarm.add("trigger", timedelta(minutes=-alarm_minutes))
        vevent.add_component(alarm)
    return vevent


# --- VTIMEZONE ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _State:
    offset: timedelta
    name: str
    dst: bool


def _state(zone: ZoneInfo, moment: datetime) -> _State:
    here = moment.astimezone(zone)
    return _State(here.utcoffset() or timedelta(0), here.tzname() or "", bool(here.dst()))


def transitions(zone: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """The UTC instants in ``[start, end)`` where the zone's offset or name changes.

    ``zoneinfo`` does not expose its transitions: scan day by day, then bisect to the
    second. Two changes within one day (which no French zone has) would be missed.
    """
    found = []
    day = timedelta(days=1)
    moment = start
    while moment < end:
        following = min(moment + day, end)
        if _state(zone, moment) != _state(zone, following):
            low, high = int(moment.timestamp()), int(following.timestamp())
            before = _state(zone, moment)
            while high - low > 1:
                middle = (low + high) // 2
                if _state(zone, datetime.fromtimestamp(middle, UTC)) == before:
                    low = middle
                else:
                    high = middle
            found.append(datetime.fromtimestamp(high, UTC))
        moment = following
    return found


def vtimezone(name: str, first: date, last: date) -> icalendar.Timezone:
    """A VTIMEZONE valid from the day before ``first`` to the day after ``last``.

    Each observance is written with an explicit onset rather than an RRULE: exact for
    the range the feed covers, and immune to rule changes. An onset's DTSTART is the
    wall-clock time *before* the change (02:00 for the spring change in Paris), as
    RFC 5545 §3.6.5 requires.
    """
    zone = ZoneInfo(name)
    start = datetime.combine(first - timedelta(days=1), time(), zone).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=2), time(), zone).astimezone(UTC)
    vtz = icalendar.Timezone()
    vtz.add("tzid", name)
    initial = _state(zone, start)
    vtz.add_component(_observance(start.astimezone(zone).replace(tzinfo=None), initial, initial))
    for moment in transitions(zone, start, end):
        before = _state(zone, moment - timedelta(seconds=1))
        after = _state(zone, moment)
        onset = (moment + before.offset).replace(tzinfo=None)
        vtz.add_component(_observance(onset, before, after))
    return vtz


def _observance(onset: datetime, before: _State, after: _State) -> icalendar.cal.Component:
    part = icalendar.TimezoneDaylight() if after.dst else icalendar.TimezoneStandard()
    part.add("dtstart", onset)
    part.add("tzoffsetfrom", before.offset)
    part.add("tzoffsetto", after.offset)
    if after.name:
        part.add("tzname", after.name)
    return part


# --- reading back ---------------------------------------------------------------------------------


def parse(data: bytes) -> icalendar.Calendar:
    """Parse a feed back (tests, the benchmark, support): raises on malformed input."""
    return icalendar.Calendar.from_ical(data)
