"""N+1 guards: the busiest pages issue as many SQL statements for a big territory as for a
small one.

Two territories live side by side in one database: the second has twice the GPs, twice
the days of rota (so twice the sessions, and each GP twice theirs), twice the swaps,
gaps and bookings. Each page is asked once of each, cold, and the statements counted
with a ``before_cursor_execute`` listener: a query run per row would show as a
difference. The counts are also bounded, so a page can't quietly grow a dozen queries.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine

from app.enums import Role
from app.extensions import db
from app.models import Practitioner, Site, Territory, User
from booking import services as booking_services
from booking import tokens
from booking.models import Booking
from publishing import feeds, fhir
from rota import services as rota_services
from rota.models import (
    Assignment,
    AssignmentSource,
    ConsultationMode,
    HolidayRule,
    RotaPeriod,
    Session,
)

DAY = date(2027, 3, 1)  # a Monday: the published rota starts that day
NOW = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)  # 11:00 in Paris, the morning of DAY
BUILT_AT = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)  # everything is set up weeks before
COMMUNES = {1: "85047", 2: "17369"}  # one commune per territory (a commune has one CPTS)


@dataclass
class Scaled:
    """A territory of size ``n``: 4n GPs on two sites, 7n days of published rota after 7n
    days of an earlier one, 7n days open for wishes, n swaps offered to the bourse and n
    of mine, n gaps, 3n bookings (2n of them on my seats)."""

    n: int
    territory: Territory
    me: Practitioner
    gps: list[Practitioner]
    period: RotaPeriod
    users: dict[str, User]
    feed_token: str
    api_token: str


def _template(territory: Territory, site: Site) -> None:
    rota_services.create_template(
        territory,
        rota_services.TemplateData(
            site_id=site.id,
            weekdays=frozenset(range(7)),
            start_time=time(17),
            end_time=time(20),
            gps_needed=2,
            slot_minutes=15,
            mode=ConsultationMode.SURGERY,
            sas_slots=6,
            pharmacy_slots=4,
            valid_from=DAY - timedelta(days=28),
            valid_to=None,
            on_holidays=HolidayRule.NORMAL,
        ),
        by=None,
    )


def _period(territory: Territory, name: str, start: date, days: int) -> RotaPeriod:
    period = rota_services.create_period(
        territory, name=name, start_date=start, end_date=start + timedelta(days=days - 1), by=None
    )
    rota_services.open_wishes(period, deadline=None, by=None)
    return period


def _staff_and_publish(
    period: RotaPeriod, site_a: Site, me: Practitioner, others: list[Practitioner]
) -> None:
    """Site A: me and a colleague every day; site B: two colleagues (three distinct a day)."""
    for session in period.sessions:
        d = (session.local_date - period.start_date).days
        crew = (
            [me, others[(3 * d) % len(others)]]
            if session.site_id == site_a.id
            else [others[(3 * d + 1) % len(others)], others[(3 * d + 2) % len(others)]]
        )
        for gp in crew:
            rota_services.assign(session, gp, source=AssignmentSource.MANUAL, locked=True, by=None)
    rota_services.generate_rota(period, by=None)  # keeps the locked crews, fills nothing
    rota_services.publish_rota(period, by=None)


def build(n: int, make_territory, make_site, make_practitioner, make_user) -> Scaled:
    territory = make_territory(communes=(COMMUNES[n],), name=f"CPTS taille {n}")
    site_a = make_site(territory, name=f"MSP A{n}")
    site_b = make_site(territory, name=f"MSP B{n}")
    gps = [
        make_practitioner(
            territory,
            family_name=f"Medecin{n}x{i}",
            email=f"gp{n}x{i}@example.org",
            site_ids=[site_a.id, site_b.id],
        )
        for i in range(4 * n)
    ]
    me, others = gps[0], gps[1:]
    for site in (site_a, site_b):
        _template(territory, site)
    earlier = _period(territory, "Avant", DAY - timedelta(days=7 * n), 7 * n)
    _staff_and_publish(earlier, site_a, me, others)
    period = _period(territory, "Tableau", DAY, 7 * n)
    _staff_and_publish(period, site_a, me, others)
    _period(territory, "Souhaits", DAY + timedelta(days=7 * n), 7 * n)
    _swaps_and_gaps(period, site_a, me, n)
    users = {
        "coordinator": make_user(Role.COORDINATOR, territory, email=f"coord{n}@example.org"),
        "regulator": make_user(Role.REGULATOR, territory, email=f"samu{n}@example.org"),
        "gp": make_user(Role.GP, territory, email=f"me{n}@example.org", practitioner=me),
    }
    feed_token = feeds.issue_gp_token(me, by=None)
    api_token = tokens.create_token(users["regulator"], "SAS", by=None)[0]
    db.session.commit()
    return Scaled(n, territory, me, gps, period, users, feed_token, api_token)


def _swaps_and_gaps(period: RotaPeriod, site_a: Site, me: Practitioner, n: int) -> None:
    """n of my sessions and n colleagues' (site B) offered on the bourse; n gaps at site B."""
    later = [s for s in period.sessions if s.local_date > DAY]
    mine = [a for s in later for a in s.assignments if a.practitioner_id == me.id]
    site_b = [s for s in later if s.site_id != site_a.id]
    for assignment in mine[:n]:
        rota_services.offer_swap(assignment, to=None, message="", by=None)
    for session in site_b[:n]:
        rota_services.offer_swap(session.assignments[0], to=None, message="", by=None)
    for session in site_b[n : 2 * n]:
        rota_services.unassign(session.assignments[1], by=None)


def _book(world: Scaled) -> None:
    """2n bookings on my seats and n on colleagues', all on DAY (within the horizon)."""
    regulator = world.users["regulator"]
    free = booking_services.free_slots(world.territory.id, "sas", now=NOW)
    mine = [f for f in free if f.practitioner.id == world.me.id][: 2 * world.n]
    theirs = [f for f in free if f.practitioner.id != world.me.id][: world.n]
    for found in mine + theirs:
        booking_services.book(
            regulator,
            found.id,
            booking_services.PatientData(
                family_name="Durand",
                given_name="Léa",
                birth_date=date(1980, 1, 1),
                phone="06 12 34 56 78",
                reason_code="fievre",
            ),
            now=NOW,
        )
    db.session.commit()


@pytest.fixture
def worlds(app, make_territory, make_site, make_practitioner, make_user) -> dict[int, Scaled]:
    with time_machine.travel(BUILT_AT, tick=False):
        built = {
            n: build(n, make_territory, make_site, make_practitioner, make_user) for n in (1, 2)
        }
    with time_machine.travel(NOW, tick=False):
        for world in built.values():
            _book(world)
    return built


@contextmanager
def counting() -> Iterator[list[str]]:
    """The SQL statements run inside the block."""
    seen: list[str] = []

    def listener(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", listener)


def statements(client, auth, url: str, email: str | None, **kw: Any) -> tuple[int, bytes]:
    """The statements one request of ``url`` runs (logged in as ``email``) at NOW, and its body."""
    with time_machine.travel(NOW, tick=False):
        if email is not None:
            assert auth.login(email).status_code == 302
        db.session.remove()  # the test's app context is shared: start as a fresh request does
        with counting() as seen:
            response = client.get(url, **kw)
        if email is not None:
            auth.logout()
    assert response.status_code == 200, url
    return len(seen), response.get_data()


def assert_flat(
    client, auth, worlds: dict[int, Scaled], role, path, *, most: int, grows: bool
) -> None:
    # Read what the requests need first: the test's objects expire with each request.
    asked = [(path(w), w.users[role].email if role else None) for w in worlds.values()]
    (small, small_body), (big, big_body) = (
        statements(client, auth, url, email) for url, email in asked
    )
    assert big == small, f"{asked[1][0]}: {small} statements for size 1, {big} for size 2"
    assert small <= most, f"{asked[0][0]}: {small} statements (at most {most} expected)"
    if grows:  # the big page really lists more: the comparison is not between two empty pages
        assert len(big_body) > len(small_body), asked[1][0]


def _fhir_search(world: Scaled) -> str:
    actors = ",".join(f"{fhir.RPPS_SYSTEM}|8{gp.rpps}" for gp in world.gps)
    start = NOW.isoformat(timespec="seconds").replace("+00:00", "Z")
    end = (NOW + timedelta(hours=24)).isoformat(timespec="seconds").replace("+00:00", "Z")
    return (
        "/fhir/Slot?status=free&_include=Slot:schedule&_include:iterate=Schedule:actor"
        f"&start=ge{start}&start=le{end}&schedule.actor:Practitioner.identifier={actors}"
    )


# page: (who asks, its path, at most this many statements, whether the big page lists more)
PAGES = {
    # The home's panels (app.home): next session, offers, open places, the year's balance,
    # and the exchange proposals waiting for me (badge and home block).
    "gp home": ("gp", lambda w: "/", 19, False),
    "mes plages": ("gp", lambda w: "/mes-plages", 45, True),
    "ma journée": ("gp", lambda w: f"/ma-journee?date={DAY.isoformat()}", 14, True),
    "period page": ("coordinator", lambda w: f"/coordination/periodes/{w.period.id}", 32, True),
    "print page": ("coordinator", lambda w: f"/tableaux/{w.period.id}/impression", 10, True),
    # One more for absences "à remplacer", one more for exchanges awaiting approval.
    "gaps page": ("coordinator", lambda w: "/coordination/a-pourvoir", 11, True),
    # Two of them say when the next slot beyond the horizon opens (sessions, taken slots),
    # one reads the desk (the territories of the regulator's service).
    "regulator search": ("regulator", lambda w: "/creneaux", 13, False),
    "booking list": ("regulator", lambda w: "/rendez-vous", 14, True),
    "territory bookings": (
        "coordinator",
        lambda w: f"/coordination/rendez-vous?jour={DAY.isoformat()}",
        12,
        True,
    ),
    "public page": (None, lambda w: f"/disponibilites?cpts={w.territory.slug}", 10, False),
    "gp ical feed": (None, lambda w: f"/ical/{w.feed_token}.ics", 12, True),
    # The page's own 20, plus the recount of the days whose bookings changed since the last
    # read (publishing.indicator_tallies: a fixed 14 statements at most, whatever the data).
    "indicators": (
        "coordinator",
        lambda w: (
            f"/coordination/indicateurs?du={DAY - timedelta(days=7)}&au={DAY + timedelta(days=7)}"
        ),
        34,
        False,
    ),
}


@pytest.mark.parametrize("page", list(PAGES))
def test_page_statements_do_not_grow_with_the_data(client, auth, worlds, page):
    role, path, most, grows = PAGES[page]
    assert_flat(client, auth, worlds, role, path, most=most, grows=grows)


def test_fhir_slot_search_statements_do_not_grow_with_the_data(client, worlds):
    asked = [(_fhir_search(w), f"Bearer {w.api_token}") for w in worlds.values()]
    (small, small_body), (big, big_body) = (
        statements(client, None, url, None, headers={"Authorization": bearer})
        for url, bearer in asked
    )
    assert big == small, f"FHIR Slot search: {small} statements for size 1, {big} for size 2"
    assert small <= 18
    totals = [json.loads(body)["total"] for body in (small_body, big_body)]
    # The same day's sessions, searched over twice the GPs; the big territory's three
    # more bookings are three fewer free slots.
    assert totals[0] > 0
    assert totals[0] - totals[1] == 3


def test_the_big_territory_is_twice_the_small_one(worlds):
    """The comparison means something only if the data really doubled."""

    def count(model, *where) -> int:
        return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))

    small, big = worlds[1], worlds[2]
    for model in (Session, Booking, Practitioner):
        assert count(model, model.territory_id == big.territory.id) == 2 * count(
            model, model.territory_id == small.territory.id
        )

    def held_by_me(world: Scaled) -> int:
        return db.session.scalar(
            sa.select(sa.func.count(Assignment.id))
            .join(Session, Session.id == Assignment.session_id)
            .where(Session.period_id == world.period.id, Assignment.practitioner_id == world.me.id)
        )

    assert held_by_me(big) == 2 * held_by_me(small)
