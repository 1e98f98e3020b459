"""A known world for the indicators: March 2026 in Europe/Paris, with its daylight-saving
change (Sunday 29 March, 02:00 → 03:00), built row by row so that every figure can be
computed by hand (see EXPECTED, and the comments next to each row).

Local midnight of 1 March is 28 February 23:00 UTC and of 1 April is 31 March 22:00 UTC:
a session or booking between a UTC midnight and a local one tests where days are cut.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from app.enums import Profession, Role
from app.extensions import db
from app.models import Practitioner, Site, Territory, User
from booking.models import Booking, BookingStatus
from rota.models import (
    Assignment,
    AssignmentSource,
    ConsultationMode,
    HolidayRule,
    PeriodStatus,
    RotaPeriod,
    Session,
    SessionTemplate,
)

FROM, TO = date(2026, 3, 1), date(2026, 3, 31)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@dataclass
class World:
    territory: Territory
    site_a: Site
    site_b: Site
    gps: list[Practitioner]
    users: dict[str, User]
    sessions: dict[str, Session]
    bookings: dict[str, Booking]


_refs = itertools.count(1)


def _template(territory: Territory, site: Site) -> SessionTemplate:
    template = SessionTemplate(
        territory_id=territory.id,
        site_id=site.id,
        weekday_mask=127,
        start_time=time(17),
        end_time=time(20),
        gps_needed=1,
        slot_minutes=15,
        mode=ConsultationMode.SURGERY,
        sas_slots=0,
        pharmacy_slots=0,
        valid_from=date(2026, 1, 1),
        on_holidays=HolidayRule.NORMAL,
    )
    db.session.add(template)
    db.session.flush()
    return template


def _session(period, template, site, local_date, start, end, gps, **kw) -> Session:
    session = Session(
        territory_id=period.territory_id,
        period_id=period.id,
        template_id=template.id,
        site_id=site.id,
        local_date=local_date,
        starts_at=start,
        ends_at=end,
        gps_needed=kw.get("gps_needed", max(1, len(gps))),
        category="weekday",
        cancelled=kw.get("cancelled", False),
        slot_minutes=kw.get("slot_minutes", 15),
        mode=kw.get("mode", ConsultationMode.SURGERY),
        sas_slots=kw.get("sas", 0),
        pharmacy_slots=kw.get("pharmacy", 0),
    )
    db.session.add(session)
    db.session.flush()
    for seat, gp in enumerate(gps, start=1):
        db.session.add(
            Assignment(
                session_id=session.id,
                practitioner_id=gp.id,
                seat=seat,
                source=AssignmentSource.MANUAL,
            )
        )
    db.session.flush()
    return session


def _booking(session, *, seat=1, index, channel, status, created, by, **kw) -> Booking:
    starts = session.starts_at + index * timedelta(minutes=session.slot_minutes)
    booking = Booking(
        territory_id=session.territory_id,
        reference=f"T{next(_refs):07d}",
        session_id=session.id,
        seat=seat,
        slot_index=index,
        starts_at=starts,
        ends_at=starts + timedelta(minutes=session.slot_minutes),
        slot_channel=channel,
        channel=kw.get("booker_channel", "sas" if by.role == Role.REGULATOR else "open"),
        status=status,
        family_name=kw.get("family", "Durand"),
        given_name=kw.get("given", "Paul"),
        birth_date=kw.get("birth", date(1980, 5, 4)),
        phone="0601020304",
        reason_code="fievre",
        without_gp=kw.get("without_gp", False),
        patient_insee=kw.get("insee"),
        booked_by_id=by.id,
        booked_by_role=by.role.value,
        created_at=created,
        updated_at=created,
        billing=kw.get("billing"),
    )
    db.session.add(booking)
    db.session.flush()
    return booking


def build(make_territory, make_site, make_practitioner, make_user) -> World:
    territory = make_territory(communes=("85047", "85194"))
    site_a = make_site(territory, name="MSP A")
    site_b = make_site(territory, name="Cabinet B")
    g1, g2, g3, g4 = (
        make_practitioner(territory, family_name=f"Medecin{i}", given_name="Jo") for i in range(4)
    )
    g4.active = False  # inactive: not among the active GPs
    make_practitioner(territory, family_name="Pharma", profession=Profession.PHARMACIST)
    users = {
        "coordinator": make_user(Role.COORDINATOR, territory, email="coord@example.org"),
        "regulator": make_user(Role.REGULATOR, territory, email="reg@example.org"),
        "p1": make_user(Role.PHARMACIST, territory, email="p1@example.org"),
        "p2": make_user(Role.PHARMACIST, territory, email="p2@example.org"),
        "gp1": make_user(Role.GP, territory, email="gp1@example.org", practitioner=g1),
    }
    reg, p1, p2, coord = users["regulator"], users["p1"], users["p2"], users["coordinator"]

    published = RotaPeriod(
        territory_id=territory.id,
        name="Mars 2026",
        start_date=FROM,
        end_date=TO,
        status=PeriodStatus.PUBLISHED,
    )
    draft = RotaPeriod(
        territory_id=territory.id,
        name="Brouillon",
        start_date=FROM,
        end_date=TO,
        status=PeriodStatus.DRAFT,
    )
    db.session.add_all([published, draft])
    db.session.flush()
    ta, tb = _template(territory, site_a), _template(territory, site_b)

    s = {}
    # S0: 1 March 00:30–01:30 Paris (UTC+1) = 28 Feb 23:30 UTC: in March by the local day.
    s["s0"] = _session(
        published,
        tb,
        site_b,
        date(2026, 3, 1),
        utc(2026, 2, 28, 23, 30),
        utc(2026, 3, 1, 0, 30),
        [g2],
        slot_minutes=30,
    )  # 2 open slots, 1 h
    # S1: Tue 10 March 17:00–20:00 Paris = 16:00–19:00 UTC; 12 slots: 4 SAS, 2 pharmacy, 6 open.
    s["s1"] = _session(
        published,
        ta,
        site_a,
        date(2026, 3, 10),
        utc(2026, 3, 10, 16),
        utc(2026, 3, 10, 19),
        [g1],
        sas=4,
        pharmacy=2,
    )
    # S2: Sun 29 March (DST day) 09:00–12:00 Paris (UTC+2) = 07:00–10:00 UTC, two GPs:
    # 24 slots, 6 SAS, 18 open; 6 GP-hours.
    s["s2"] = _session(
        published,
        ta,
        site_a,
        date(2026, 3, 29),
        utc(2026, 3, 29, 7),
        utc(2026, 3, 29, 10),
        [g1, g2],
        sas=6,
    )
    # S3: Wed 11 March 17:00–20:00, nobody: unfilled, 3 planned hours.
    s["s3"] = _session(
        published,
        tb,
        site_b,
        date(2026, 3, 11),
        utc(2026, 3, 11, 16),
        utc(2026, 3, 11, 19),
        [],
        gps_needed=1,
    )
    # S4: Thu 12 March 17:00–19:00, cancelled (its GP, inactive now, doesn't take part).
    s["s4"] = _session(
        published,
        tb,
        site_b,
        date(2026, 3, 12),
        utc(2026, 3, 12, 16),
        utc(2026, 3, 12, 18),
        [g4],
        cancelled=True,
    )
    # S5: Sat 14 March 10:00–12:00 walk-in: held, no bookable slot.
    s["s5"] = _session(
        published,
        tb,
        site_b,
        date(2026, 3, 14),
        utc(2026, 3, 14, 9),
        utc(2026, 3, 14, 11),
        [g3],
        mode=ConsultationMode.WALK_IN,
    )
    # S8: Tue 31 March 22:00–24:00 Paris (UTC+2) = 20:00–22:00 UTC; 2 one-hour open slots.
    s["s8"] = _session(
        published,
        ta,
        site_a,
        date(2026, 3, 31),
        utc(2026, 3, 31, 20),
        utc(2026, 3, 31, 22),
        [g3],
        slot_minutes=60,
    )
    # Outside: 1 April 00:30 Paris = 31 March 22:30 UTC; 1 April evening; a draft period.
    s["s9"] = _session(
        published,
        tb,
        site_b,
        date(2026, 4, 1),
        utc(2026, 3, 31, 22, 30),
        utc(2026, 3, 31, 23, 30),
        [g2],
        slot_minutes=30,
    )
    s["s6"] = _session(
        published, ta, site_a, date(2026, 4, 1), utc(2026, 4, 1, 15), utc(2026, 4, 1, 18), [g2]
    )
    s["s10"] = _session(
        draft, ta, site_a, date(2026, 3, 10), utc(2026, 3, 10, 16), utc(2026, 3, 10, 19), [g2]
    )

    b = {}
    # On S1 (starts 16:00 UTC, 15-min slots).
    b["b1"] = _booking(
        s["s1"],
        index=0,
        channel="sas",
        status=BookingStatus.HONOURED,
        created=utc(2026, 3, 10, 9),
        by=reg,
        without_gp=True,
        insee="85047",
        billing="snp",
        family="Lefebvre",
        given="Anne",
        birth=date(1990, 2, 3),
    )  # same day, < 24 h, inside
    b["b2"] = _booking(
        s["s1"],
        index=3,
        channel="sas",
        status=BookingStatus.NO_SHOW,
        created=utc(2026, 3, 9, 20),
        by=reg,
        insee="75056",
    )  # 21:00 Paris the day before: not same day; 20 h 45: < 24 h; outside
    b["b3"] = _booking(
        s["s1"],
        index=5,
        channel="pharmacy",
        status=BookingStatus.HONOURED,
        created=utc(2026, 3, 8, 18),
        by=p1,
    )  # 47 h 15: < 48 h only
    b["b4"] = _booking(
        s["s1"],
        index=6,
        channel="open",
        status=BookingStatus.CANCELLED,
        created=utc(2026, 3, 10, 8),
        by=p2,
        without_gp=True,
        insee="75056",
    )  # cancelled: counted as cancelled only
    # On S2 (DST Sunday, starts 07:00 UTC = 09:00 Paris).
    b["b5"] = _booking(
        s["s2"],
        index=0,
        channel="sas",
        status=BookingStatus.BOOKED,
        created=utc(2026, 3, 28, 23, 30),
        by=reg,
    )  # 00:30 Paris on the 29th: same local day though the UTC dates differ
    b["b6"] = _booking(
        s["s2"],
        seat=2,
        index=4,
        channel="open",
        status=BookingStatus.HONOURED,
        created=utc(2026, 3, 29, 7, 30),
        by=coord,
        booker_channel="any",
        without_gp=True,
        insee="85194",
    )  # 10:00 Paris
    b["b7"] = _booking(
        s["s2"],
        index=8,
        channel="open",
        status=BookingStatus.TO_REPLACE,
        created=utc(2026, 3, 29, 6),
        by=coord,
        booker_channel="any",
    )  # 11:00 Paris
    # On S0: seen 00:30 Paris on 1 March, booked 23:00 Paris on 28 Feb: not the same day,
    # though both are on 28 February in UTC.
    b["b8"] = _booking(
        s["s0"],
        index=0,
        channel="open",
        status=BookingStatus.HONOURED,
        created=utc(2026, 2, 28, 22),
        by=coord,
        booker_channel="any",
    )
    # On S8: 22:00 Paris on 31 March.
    b["b11"] = _booking(
        s["s8"],
        index=0,
        channel="open",
        status=BookingStatus.BOOKED,
        created=utc(2026, 3, 31, 19),
        by=coord,
        booker_channel="any",
    )
    # Outside the period: 1 April (local) twice.
    b["b9"] = _booking(
        s["s9"],
        index=0,
        channel="open",
        status=BookingStatus.HONOURED,
        created=utc(2026, 3, 31, 21),
        by=coord,
        booker_channel="any",
    )
    b["b10"] = _booking(
        s["s6"],
        index=0,
        channel="sas",
        status=BookingStatus.HONOURED,
        created=utc(2026, 4, 1, 10),
        by=reg,
    )
    db.session.commit()
    return World(territory, site_a, site_b, [g1, g2, g3, g4], users, s, b)


def _heat() -> list[list[int]]:
    grid = [[0] * 24 for _ in range(7)]
    for day, hour, n in (
        (1, 17, 2),
        (1, 18, 1),
        (1, 22, 1),
        (6, 0, 1),
        (6, 9, 1),
        (6, 10, 1),
        (6, 11, 1),
    ):
        grid[day][hour] = n
    return grid


# Worked out by hand from the rows above.
EXPECTED_FIGURES: dict[str, float | int | None] = {
    "offer.hours_planned": 19,  # 1 + 3 + 3×2 + 3 + 2 + 2 + 2
    "offer.hours_held": 14,  # 1 + 3 + 6 + 2 + 2
    "offer.sessions_planned": 7,  # S0 S1 S2 S3 S4 S5 S8
    "offer.sessions_held": 5,  # S0 S1 S2 S5 S8
    "offer.sessions_unfilled": 1,  # S3
    "offer.sessions_cancelled": 1,  # S4
    "offer.walk_in_sessions": 1,  # S5
    "offer.slots_offered.sas": 10,  # 4 + 6
    "offer.slots_offered.pharmacy": 2,
    "offer.slots_offered.open": 28,  # 2 + 6 + 18 + 2
    "offer.slots_offered.total": 40,
    "offer.gps_taking_part": 3,  # g1 g2 g3 (g4's session was cancelled)
    "offer.gps_active": 3,
    "offer.pharmacists_taking_part": 2,  # p1, p2
    "activity.bookings.sas.booked": 1,
    "activity.bookings.sas.honoured": 1,
    "activity.bookings.sas.no_show": 1,
    "activity.bookings.sas.to_replace": 0,
    "activity.bookings.sas.cancelled": 0,
    "activity.bookings.sas.live": 3,
    "activity.bookings.pharmacy.booked": 0,
    "activity.bookings.pharmacy.honoured": 1,
    "activity.bookings.pharmacy.no_show": 0,
    "activity.bookings.pharmacy.to_replace": 0,
    "activity.bookings.pharmacy.cancelled": 0,
    "activity.bookings.pharmacy.live": 1,
    "activity.bookings.open.booked": 1,
    "activity.bookings.open.honoured": 2,
    "activity.bookings.open.no_show": 0,
    "activity.bookings.open.to_replace": 1,
    "activity.bookings.open.cancelled": 1,
    "activity.bookings.open.live": 4,
    "activity.bookings.total.booked": 2,
    "activity.bookings.total.honoured": 4,
    "activity.bookings.total.no_show": 1,
    "activity.bookings.total.to_replace": 1,
    "activity.bookings.total.cancelled": 1,
    "activity.bookings.total.live": 8,
    "activity.fill_rate.sas": 0.3,
    "activity.fill_rate.pharmacy": 0.5,
    "activity.fill_rate.open": 0.1429,  # 4 / 28
    "activity.fill_rate.total": 0.2,
    "activity.delay.same_day": 5,  # b1 b5 b6 b7 b11
    "activity.delay.within_24h": 7,  # all live but b3
    "activity.delay.within_48h": 8,
    "activity.without_gp": 2,  # b1 b6 (b4 is cancelled)
    "activity.communes.inside": 2,  # b1 b6
    "activity.communes.outside": 1,  # b2
    "activity.communes.unknown": 5,  # b3 b5 b7 b8 b11
}
EXPECTED_HEATMAP = _heat()
EXPECTED_WEEKLY = [
    ("2026-W09", date(2026, 2, 23), 1, 1),  # b8 (Sunday 1 March)
    ("2026-W10", date(2026, 3, 2), 0, 0),
    ("2026-W11", date(2026, 3, 9), 3, 2),  # b1 b2 b3
    ("2026-W12", date(2026, 3, 16), 0, 0),
    ("2026-W13", date(2026, 3, 23), 3, 1),  # b5 b6 b7
    ("2026-W14", date(2026, 3, 30), 1, 0),  # b11
]
# (name, sessions held, hours held, live bookings, honoured)
EXPECTED_SITES = [("Cabinet B", 2, 3, 1, 1), ("MSP A", 3, 11, 7, 3)]
