"""The SNP indicators of a territory over a period: offer (sessions, hours, slots) and
activity (bookings), for the coordinator's annual review with the CPAM and the ARS.

Every figure is a SQL aggregate, never a loop over bookings, so a year of a
département-size territory stays fast: the offer sums the period's sessions, and the
activity sums the bookings' counts per site and local day that
``publishing.indicator_tallies`` keeps (a year is a few thousand rows, not 100,000). Days
are cut at local midnight in the territory's zone: the sessions' bounds are local midnights
turned into UTC instants, and the heat map, the weekly trend and "same day" read the
*local* date and hour of each booking (``publishing.indicator_clock``).

The result is frozen dataclasses whose ``as_json()`` has stable keys: the page, the
exports, the CLI and the API all print the same object. ``FIGURES`` lists every scalar
figure by its dotted key with its French label and definition (docs/indicators.md).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import groupby
from threading import Lock
from time import monotonic
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from app import audit
from app.collation import french_key, french_sorted
from app.enums import Profession
from app.extensions import db
from app.models import Practitioner, Site, Territory
from app.timeutil import now_utc
from booking.models import LIVE_STATUSES
from publishing import indicator_tallies as tally
from publishing.indicator_clock import minutes_between, utc_bounds
from rota.models import Assignment, ConsultationMode, PeriodStatus, RotaPeriod, Session

CHANNELS = ("sas", "pharmacy", "open")
CHANNEL_LABELS = {
    "sas": "Régulation (SAS / 15)",
    "pharmacy": "Pharmacie",
    "open": "Tout professionnel",
    "total": "Total",
}
STATUSES = ("booked", "honoured", "no_show", "to_replace", "cancelled")
STATUS_LABELS = {
    "booked": "Réservé (à venir ou non renseigné)",
    "honoured": "Honoré",
    "no_show": "Patient absent",
    "to_replace": "À replacer",
    "cancelled": "Annulé",
    "live": "Rendez-vous (hors annulés)",
}
LIVE = LIVE_STATUSES  # every status but "cancelled" (a test holds it)
WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
# Rota periods whose sessions count as planned: what was published to the territory.
SHOWN = (PeriodStatus.PUBLISHED, PeriodStatus.ARCHIVED)


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    definition: str
    unit: str = "nombre"


def _figures() -> dict[str, Figure]:
    out: list[Figure] = [
        Figure(
            "offer.hours_planned",
            "Heures SNP prévues",
            "Heures-médecin des plages des tableaux publiés : durée × médecins requis, "
            "plages annulées comprises.",
            "heures",
        ),
        Figure(
            "offer.hours_held",
            "Heures SNP tenues",
            "Heures-médecin tenues : durée × médecins affectés, plages non annulées.",
            "heures",
        ),
        Figure(
            "offer.sessions_planned",
            "Plages prévues",
            "Plages des tableaux publiés débutant dans la période, annulées comprises.",
        ),
        Figure(
            "offer.sessions_held",
            "Plages tenues",
            "Plages non annulées ayant au moins un médecin affecté.",
        ),
        Figure(
            "offer.sessions_unfilled",
            "Plages non pourvues",
            "Plages non annulées sans aucun médecin affecté.",
        ),
        Figure("offer.sessions_cancelled", "Plages annulées", "Plages publiées puis annulées."),
        Figure(
            "offer.walk_in_sessions",
            "Plages sans rendez-vous tenues",
            "Plages tenues en accès libre (sans créneaux réservables).",
        ),
    ]
    for channel in (*CHANNELS, "total"):
        out.append(
            Figure(
                f"offer.slots_offered.{channel}",
                f"Créneaux offerts : {CHANNEL_LABELS[channel].lower()}",
                "Créneaux des sièges tenus des plages tenues, par canal du créneau "
                "(quotas SAS puis pharmacie, le reste ouvert à tous).",
            )
        )
    out += [
        Figure(
            "offer.gps_taking_part",
            "Médecins participants",
            "Médecins distincts affectés à au moins une plage tenue.",
        ),
        Figure(
            "offer.gps_active",
            "Médecins actifs du territoire",
            "Médecins généralistes actifs du territoire aujourd'hui.",
        ),
        Figure(
            "offer.pharmacists_taking_part",
            "Pharmacies participantes",
            "Comptes pharmacie distincts ayant pris au moins un rendez-vous de la période.",
        ),
    ]
    for channel in (*CHANNELS, "total"):
        for status in (*STATUSES, "live"):
            out.append(
                Figure(
                    f"activity.bookings.{channel}.{status}",
                    f"Rendez-vous {CHANNEL_LABELS[channel].lower()} : "
                    f"{STATUS_LABELS[status].lower()}",
                    "Rendez-vous dont le créneau débute dans la période, par canal du créneau "
                    "et statut (« live » : tous sauf les annulés).",
                )
            )
    for channel in (*CHANNELS, "total"):
        out.append(
            Figure(
                f"activity.fill_rate.{channel}",
                f"Taux de remplissage : {CHANNEL_LABELS[channel].lower()}",
                "Rendez-vous non annulés ÷ créneaux offerts du même canal (vide si aucun "
                "créneau offert).",
                "ratio",
            )
        )
    out += [
        Figure(
            "activity.delay.same_day",
            "Vus le jour même",
            "Rendez-vous non annulés pris le même jour (local) que la consultation.",
        ),
        Figure(
            "activity.delay.within_24h",
            "Vus en moins de 24 h",
            "Rendez-vous non annulés dont la consultation débute moins de 24 h après la prise.",
        ),
        Figure(
            "activity.delay.within_48h",
            "Vus en moins de 48 h",
            "Rendez-vous non annulés dont la consultation débute moins de 48 h après la prise.",
        ),
        Figure(
            "activity.without_gp",
            "Patients sans médecin traitant",
            "Rendez-vous non annulés de patients déclarés sans médecin traitant.",
        ),
        Figure(
            "activity.communes.inside",
            "Patients du territoire",
            "Rendez-vous non annulés d'un patient domicilié dans une commune du territoire.",
        ),
        Figure(
            "activity.communes.outside",
            "Patients hors territoire",
            "Rendez-vous non annulés d'un patient domicilié hors du territoire.",
        ),
        Figure(
            "activity.communes.unknown",
            "Commune du patient non renseignée",
            "Rendez-vous non annulés sans commune de patient (plateforme SAS, qui ne transmet "
            "pas le patient ; données effacées ; commune non saisie).",
        ),
    ]
    return {f.key: f for f in out}


FIGURES: dict[str, Figure] = _figures()


# --- the result ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteRow:
    site_id: int
    name: str
    sessions_held: int
    hours_held: float
    bookings: int
    honoured: int


@dataclass(frozen=True)
class WeekRow:
    week: str  # ISO week "2026-W05"
    start: date  # its Monday
    bookings: int
    honoured: int


@dataclass(frozen=True)
class Indicators:
    """Every figure of a territory over ``[date_from, date_to]`` (local dates, inclusive)."""

    territory_slug: str
    territory_name: str
    timezone: str
    date_from: date
    date_to: date
    site_id: int | None
    site_name: str | None
    figures: dict[str, float | int | None]
    sites: tuple[SiteRow, ...]
    heatmap: tuple[tuple[int, ...], ...]  # 7 weekdays (Monday first) × 24 local hours
    weekly: tuple[WeekRow, ...]
    generated_at: datetime = field(compare=False)

    def get(self, key: str) -> float | int | None:
        return self.figures[key]

    def as_json(self) -> dict[str, Any]:
        """Nested by the dotted keys of ``FIGURES``; the same keys in every version."""
        tree: dict[str, Any] = {}
        for key, value in self.figures.items():
            node = tree
            *path, last = key.split(".")
            for part in path:
                node = node.setdefault(part, {})
            node[last] = value
        return {
            "territory": self.territory_slug,
            "timezone": self.timezone,
            "from": self.date_from.isoformat(),
            "to": self.date_to.isoformat(),
            "site_id": self.site_id,
            "offer": tree["offer"],
            "activity": {
                **tree["activity"],
                "per_site": [
                    {
                        "site_id": s.site_id,
                        "name": s.name,
                        "sessions_held": s.sessions_held,
                        "hours_held": s.hours_held,
                        "bookings": s.bookings,
                        "honoured": s.honoured,
                    }
                    for s in self.sites
                ],
                "heatmap": [list(row) for row in self.heatmap],
                "weekly": [
                    {
                        "week": w.week,
                        "start": w.start.isoformat(),
                        "bookings": w.bookings,
                        "honoured": w.honoured,
                    }
                    for w in self.weekly
                ],
            },
        }


def site_choices(territory_id: int) -> list[tuple[int, str]]:
    """The territory's sites (active or not: past figures may name a closed one)."""
    rows = db.session.execute(
        sa.select(Site.id, Site.name).where(Site.territory_id == territory_id).order_by(Site.id)
    )
    return french_sorted(((i, n) for i, n in rows), key=lambda row: row[1])


# --- the queries ------------------------------------------------------------------------------


def _sessions(territory_id: int, start: datetime, end: datetime, site_id: int | None) -> Any:
    """Sessions of the published rota starting in the period, with their assigned GPs."""
    held = (
        sa.select(Assignment.session_id, sa.func.count().label("gps"))
        .group_by(Assignment.session_id)
        .subquery()
    )
    minutes = minutes_between(Session.starts_at, Session.ends_at)
    query = (
        sa.select(
            Session.id,
            Session.site_id,
            Session.cancelled,
            Session.gps_needed,
            Session.slot_minutes,
            Session.sas_slots,
            Session.pharmacy_slots,
            (Session.mode == ConsultationMode.WALK_IN).label("walk_in"),
            minutes.label("minutes"),
            sa.func.coalesce(held.c.gps, 0).label("gps"),
        )
        .join(RotaPeriod, RotaPeriod.id == Session.period_id)
        .outerjoin(held, held.c.session_id == Session.id)
        .where(
            Session.territory_id == territory_id,
            RotaPeriod.status.in_(SHOWN),
            Session.starts_at >= start,
            Session.starts_at < end,
        )
    )
    if site_id is not None:
        query = query.where(Session.site_id == site_id)
    return query.subquery()


def _offer(s: Any) -> dict[str, Any]:
    held = sa.and_(~s.c.cancelled, s.c.gps > 0)
    per_seat = sa.case((s.c.walk_in, 0), else_=s.c.minutes // s.c.slot_minutes)
    # Slots of the held seats: the reserved quotas first, the rest open to every channel.
    total = sa.case((held, per_seat * s.c.gps), else_=0)
    sas = sa.case((s.c.sas_slots < total, s.c.sas_slots), else_=total)
    pharmacy = sa.case((s.c.pharmacy_slots < total - sas, s.c.pharmacy_slots), else_=total - sas)
    zero = sa.literal(0)
    row = db.session.execute(
        sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(s.c.minutes * s.c.gps_needed), zero),
            sa.func.coalesce(
                sa.func.sum(sa.case((~s.c.cancelled, s.c.minutes * s.c.gps), else_=0)), zero
            ),
            sa.func.coalesce(sa.func.sum(sa.case((held, 1), else_=0)), zero),
            sa.func.coalesce(
                sa.func.sum(sa.case((sa.and_(~s.c.cancelled, s.c.gps == 0), 1), else_=0)), zero
            ),
            sa.func.coalesce(sa.func.sum(sa.case((s.c.cancelled, 1), else_=0)), zero),
            sa.func.coalesce(sa.func.sum(sa.case((sa.and_(held, s.c.walk_in), 1), else_=0)), zero),
            sa.func.coalesce(sa.func.sum(sas), zero),
            sa.func.coalesce(sa.func.sum(pharmacy), zero),
            sa.func.coalesce(sa.func.sum(total), zero),
        )
    ).one()
    planned, min_planned, min_held, n_held, unfilled, cancelled, walk_in, n_sas, n_ph, n_all = (
        int(v) for v in row
    )
    return {
        "offer.hours_planned": round(min_planned / 60, 2),
        "offer.hours_held": round(min_held / 60, 2),
        "offer.sessions_planned": planned,
        "offer.sessions_held": n_held,
        "offer.sessions_unfilled": unfilled,
        "offer.sessions_cancelled": cancelled,
        "offer.walk_in_sessions": walk_in,
        "offer.slots_offered.sas": n_sas,
        "offer.slots_offered.pharmacy": n_ph,
        "offer.slots_offered.open": n_all - n_sas - n_ph,
        "offer.slots_offered.total": n_all,
    }


def _people(territory_id: int, s: Any, counts: tally.BookingCounts) -> dict:
    gps = db.session.scalar(
        sa.select(sa.func.count(sa.distinct(Assignment.practitioner_id)))
        .join(s, s.c.id == Assignment.session_id)
        .where(~s.c.cancelled)
    )
    active = db.session.scalar(
        sa.select(sa.func.count(Practitioner.id)).where(
            Practitioner.territory_id == territory_id,
            Practitioner.active,
            Practitioner.profession == Profession.GP,
        )
    )
    return {
        "offer.gps_taking_part": int(gps or 0),
        "offer.gps_active": int(active or 0),
        "offer.pharmacists_taking_part": counts.pharmacies,
    }


def _activity(counts: tally.BookingCounts, offered: dict) -> dict[str, Any]:
    """Bookings by channel and status, fill rates, delays, patients' communes."""
    got = counts.totals
    out: dict[str, Any] = {}
    for channel in (*CHANNELS, "total"):
        chans = CHANNELS if channel == "total" else (channel,)
        for status in STATUSES:
            out[f"activity.bookings.{channel}.{status}"] = sum(got[f"{c}_{status}"] for c in chans)
        live_count = sum(got[f"{c}_{st}"] for c in chans for st in LIVE)
        out[f"activity.bookings.{channel}.live"] = live_count
        slots = offered[f"offer.slots_offered.{channel}"]
        out[f"activity.fill_rate.{channel}"] = round(live_count / slots, 4) if slots else None
    out |= {
        "activity.without_gp": got["without_gp"],
        "activity.delay.same_day": got["same_day"],
        "activity.delay.within_24h": got["within_24h"],
        "activity.delay.within_48h": got["within_48h"],
        "activity.communes.inside": got["commune_inside"],
        "activity.communes.outside": got["commune_outside"],
        "activity.communes.unknown": got["commune_unknown"],
    }
    return out


def _sites(territory_id: int, s: Any, counts: tally.BookingCounts) -> tuple[SiteRow, ...]:
    offer = {
        site_id: (int(n), int(m or 0))
        for site_id, n, m in db.session.execute(
            sa.select(
                s.c.site_id,
                sa.func.sum(sa.case((sa.and_(~s.c.cancelled, s.c.gps > 0), 1), else_=0)),
                sa.func.sum(sa.case((~s.c.cancelled, s.c.minutes * s.c.gps), else_=0)),
            ).group_by(s.c.site_id)
        )
    }
    # Sites with only cancelled bookings have a day row but nothing to show.
    activity = {site_id: got for site_id, got in counts.per_site.items() if got[0]}
    names = dict(
        db.session.execute(
            sa.select(Site.id, Site.name).where(Site.territory_id == territory_id)
        ).all()
    )
    ids = sorted(set(offer) | set(activity), key=lambda i: (french_key(names.get(i)), i))
    return tuple(
        SiteRow(
            site_id=i,
            name=names.get(i, "?"),
            sessions_held=offer.get(i, (0, 0))[0],
            hours_held=round(offer.get(i, (0, 0))[1] / 60, 2),
            bookings=activity.get(i, (0, 0))[0],
            honoured=activity.get(i, (0, 0))[1],
        )
        for i in ids
    )


def _days(date_from: date, date_to: date) -> Iterator[date]:
    day = date_from
    while day <= date_to:
        yield day
        day += timedelta(days=1)


def _weekly(
    per_day: dict[date, tuple[int, int]], date_from: date, date_to: date
) -> tuple[WeekRow, ...]:
    """Bookings not cancelled and honoured, by ISO week of the period."""
    weeks: dict[date, list[int]] = {}
    for d in _days(date_from, date_to):
        monday = d - timedelta(days=d.weekday())
        tally_ = weeks.setdefault(monday, [0, 0])
        got = per_day.get(d, (0, 0))
        tally_[0] += got[0]
        tally_[1] += got[1]
    return tuple(
        WeekRow(
            week=f"{monday.isocalendar().year}-W{monday.isocalendar().week:02d}",
            start=monday,
            bookings=n,
            honoured=h,
        )
        for monday, (n, h) in sorted(weeks.items())
    )


def compute(
    territory: Territory,
    date_from: date,
    date_to: date,
    *,
    site_id: int | None = None,
    now: datetime | None = None,
) -> Indicators:
    """Every indicator of ``territory`` from ``date_from`` to ``date_to`` (local, inclusive)."""
    start, end = utc_bounds(date_from, date_to, territory.timezone)
    tally.refresh(territory.id)
    counts = tally.read(territory.id, date_from, date_to, site_id)
    s = _sessions(territory.id, start, end, site_id)
    figures: dict[str, Any] = _offer(s)
    figures.update(_people(territory.id, s, counts))
    figures.update(_activity(counts, figures))
    site_name = None
    if site_id is not None:
        site_name = db.session.scalar(
            sa.select(Site.name).where(Site.id == site_id, Site.territory_id == territory.id)
        )
    ordered = {key: figures[key] for key in FIGURES}
    return Indicators(
        territory_slug=territory.slug,
        territory_name=territory.name,
        timezone=territory.timezone,
        date_from=date_from,
        date_to=date_to,
        site_id=site_id,
        site_name=site_name,
        figures=ordered,
        sites=_sites(territory.id, s, counts),
        heatmap=counts.grid,
        weekly=_weekly(counts.per_day, date_from, date_to),
        generated_at=now or now_utc(),
    )


# --- the published rota, for its export -----------------------------------------------------


ROTA_HEADER = ("Lieu", "Date", "Début", "Fin", "Médecin", "RPPS", "Statut")


@dataclass(frozen=True)
class RotaLine:
    site: str
    day: date
    start: time
    end: time
    gp: str | None
    rpps: str | None
    cancelled: bool

    def cells(self) -> tuple[str, ...]:
        status = "annulée" if self.cancelled else ("à pourvoir" if self.gp is None else "tenue")
        return (
            self.site,
            self.day.strftime("%d/%m/%Y"),
            self.start.strftime("%H:%M"),
            self.end.strftime("%H:%M"),
            self.gp or "",
            self.rpps or "",
            status,
        )


def rota_lines(territory: Territory, date_from: date, date_to: date) -> list[RotaLine]:
    """Every seat of the published rota's sessions in the period: one line per GP, or one
    "à pourvoir" line per empty seat, in time order."""
    zone = ZoneInfo(territory.timezone)
    rows = db.session.execute(
        sa.select(
            Site.name,
            Session.id,
            Session.starts_at,
            Session.ends_at,
            Session.gps_needed,
            Session.cancelled,
            Practitioner.given_name,
            Practitioner.family_name,
            Practitioner.rpps,
        )
        .join(RotaPeriod, RotaPeriod.id == Session.period_id)
        .join(Site, Site.id == Session.site_id)
        .outerjoin(Assignment, Assignment.session_id == Session.id)
        .outerjoin(Practitioner, Practitioner.id == Assignment.practitioner_id)
        .where(
            Session.territory_id == territory.id,
            RotaPeriod.status.in_(SHOWN),
            Session.local_date >= date_from,
            Session.local_date <= date_to,
        )
        .order_by(Session.starts_at, Session.id, Assignment.seat)
    ).all()
    lines: list[RotaLine] = []
    for _, group in groupby(rows, key=lambda r: r[1]):
        seats = list(group)
        site, _, starts, ends, needed, cancelled = seats[0][:6]
        start, end = starts.astimezone(zone), ends.astimezone(zone)
        gps = [(f"Dr {r[6]} {r[7]}", r[8]) for r in seats if r[7] is not None]
        gps += [(None, None)] * max(0, needed - len(gps))
        for gp, rpps in gps:
            lines.append(
                RotaLine(site, start.date(), start.time(), end.time(), gp, rpps, bool(cancelled))
            )
    # Sessions starting together: their sites in French order (a stable sort keeps the seats).
    return sorted(lines, key=lambda line: (line.day, line.start, french_key(line.site)))


# --- a short memory of recent computations ------------------------------------------------------

CACHE_SECONDS = 60.0
CACHE_SIZE = 64
_cache: OrderedDict[tuple[object, ...], tuple[float, Indicators]] = OrderedDict()
_cache_lock = Lock()


def cached(
    territory: Territory, date_from: date, date_to: date, *, site_id: int | None = None
) -> Indicators:
    """``compute``, remembered by each worker under the territory's change marker.

    Every change to a territory's rota or bookings writes an audit event, so the figures of
    an unchanged marker are unchanged (``audit.change_marker``); entries are still kept a
    minute at most, as the marker is not exact on PostgreSQL. The page, its exports and the
    API of the same period then read one computation. The command line always computes.
    """
    key = (
        territory.id,
        territory.created_at,  # a recreated database reuses ids: never its creation time
        territory.timezone,
        date_from,
        date_to,
        site_id,
        audit.change_marker(territory.id),
    )
    now = monotonic()
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None and now - hit[0] < CACHE_SECONDS:
            _cache.move_to_end(key)
            return hit[1]
    result = compute(territory, date_from, date_to, site_id=site_id)
    with _cache_lock:
        _cache[key] = (now, result)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return result


def forget() -> None:
    """Drop every remembered computation (tests, benchmarks)."""
    with _cache_lock:
        _cache.clear()
