"""Every GET route, for every role, over a territory full of hostile text (ASVS V5.3, V13).

One crawl per role checks two things at once, because both need the same pages:

- **GET changes nothing** (ASVS 13.1, 4.2.2): the database is dumped before and after
  visiting every GET route of the URL map (plus their query-string variants); the only
  writes allowed are the audit of reads of patient data (``booking.read`` events, by
  design: see ``booking.services.audit_read``), an API token's ``last_used_at`` and the
  indicators' tallies (derived counts a read of the indicators first recounts).
- **Stored and reflected text is escaped** (ASVS 5.3.3): names of practitioners, sites,
  the territory, patients, booking and cancellation reasons, period names, messages and
  labels hold ``<script>`` and attribute-breaking quotes; no HTML page may carry them raw.
  The same text must come back intact in the JSON API and in the iCalendar feeds
  (RFC 5545 escaping, read back by ``icalendar`` and by Mozilla's ical.js).

Routes are taken from ``app.url_map``: a GET route added later is crawled too, with
``1`` for an argument this file does not know.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import icalendar
import pytest
import sqlalchemy as sa
import time_machine
from flask import Flask

from app.enums import Role
from app.extensions import db
from app.territory import services as territory_services
from booking import services as booking_services
from booking import tokens
from booking.slots import PHARMACY
from publishing import feeds
from rota import services as rota_services
from tests.helpers import BookingWorld, log_in

# Breaks out of an element, out of a double-quoted attribute, and holds every character
# RFC 5545 escapes in text (``;``, ``,``, quotes): the feeds' classic trap.
EVIL = '<script>alert(1)</script>" onmouseover="alert(2)\'; MSP "Les Pins"; Bât. B, 2e'
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
RAW = ("<script>alert(1)", 'onmouseover="alert(2)')
EVIL_EMAIL = "<svg/onload=alert(3)>@example.org"  # valid for the app's e-mail rule
ICALJS_SCRIPT = Path(__file__).parent / "js" / "icaljs_events.mjs"

ALLOWED_AUDIT_ON_GET = {"booking.read"}  # reads of patient data are audited, by design
IGNORED_COLUMNS = {"api_token": {"last_used_at"}}  # "last used", refreshed by any API call
# The indicators' tallies: counts derived from the bookings, which any read of the
# indicators first brings up to date (publishing.indicator_tallies.refresh), by design.
DERIVED_TABLES = {"indicator_change", "indicator_day", "indicator_hour", "indicator_pharmacy"}


# --- the database, before and after -------------------------------------------------------------


def dump_database() -> dict[str, list[tuple]]:
    """Every committed row of every table (ignoring ``IGNORED_COLUMNS``), in key order.

    Read on a connection of its own once the test's session has let go of its
    transaction: what a request changed without committing is not a write.
    """
    db.session.rollback()
    dump: dict[str, list[tuple]] = {}
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            columns = [
                c for c in table.columns if c.name not in IGNORED_COLUMNS.get(table.name, ())
            ]
            order = list(table.primary_key.columns) or columns
            rows = conn.execute(sa.select(*columns).order_by(*order)).all()
            dump[table.name] = [tuple(row) for row in rows]
    return dump


def changes(before: dict[str, list[tuple]], after: dict[str, list[tuple]]) -> dict[str, Any]:
    """What differs, leaving out the audit events of reads (``ALLOWED_AUDIT_ON_GET``)."""
    found: dict[str, Any] = {}
    for name in before.keys() - DERIVED_TABLES:
        old, new = before[name], after[name]
        if name == "audit_event":
            action = [c.name for c in db.metadata.tables[name].columns].index("action")
            kept = new[: len(old)]
            added = new[len(old) :]
            if kept != old:
                found[name] = "existing events changed"
            unexpected = sorted({row[action] for row in added} - ALLOWED_AUDIT_ON_GET)
            if unexpected:
                found[name] = unexpected
        elif old != new:
            found[name] = {"removed": set(old) - set(new), "added": set(new) - set(old)}
    return found


# --- a territory full of hostile text ------------------------------------------------------------


@dataclass
class Hostile:
    world: BookingWorld
    users: dict[str, Any]
    values: dict[str, Any]  # URL arguments by name
    extra: list[str]  # query-string variants
    gp_feed: str
    territory_feed: str
    api_tokens: dict[str, str]
    references: dict[str, str]


def _hostile(world: BookingWorld, make_user) -> Hostile:
    territory, site = world.territory, world.site
    territory.name = "CPTS " + EVIL
    site.name, site.address_line, site.accessibility = EVIL, EVIL, EVIL
    for gp in world.gps:
        gp.family_name, gp.given_name = EVIL, EVIL
    world.gps[2].email = EVIL_EMAIL
    world.period.name = EVIL
    users = dict(world.users)
    users["regulator"].display_name = EVIL
    users["admin"] = make_user(Role.ADMIN, None, email="admin@example.org")
    holder = users["gp"].practitioner
    db.session.commit()

    patient = booking_services.PatientData(
        family_name=EVIL,
        given_name=EVIL,
        birth_date=date(1990, 5, 4),
        phone="06 12 34 56 78",
        reason=EVIL,
        reason_code="fievre",
    )
    sas = booking_services.free_slots(territory.id, "sas", now=world.now)
    on_gp_seat = next(f for f in sas if f.practitioner.id == holder.id)
    by_regulator = booking_services.book(users["regulator"], on_gp_seat.id, patient, now=world.now)
    pharmacy = next(
        f
        for f in booking_services.free_slots(territory.id, PHARMACY, now=world.now)
        if f.channel == PHARMACY
    )
    by_pharmacist = booking_services.book(users["pharmacist"], pharmacy.id, patient, now=world.now)
    spare = booking_services.free_slots(territory.id, "sas", now=world.now)[0]
    cancelled = booking_services.book(users["regulator"], spare.id, patient, now=world.now)
    booking_services.cancel(cancelled, users["regulator"], reason=EVIL, now=world.now)

    rota_services.declare_unavailability(
        holder, start_date=date(2027, 4, 1), end_date=date(2027, 4, 2), reason=EVIL, by=None
    )
    later = [s for s in world.period.sessions if s.starts_at > world.now + timedelta(days=1)]
    offered = next(a for s in later for a in s.assignments if a.practitioner_id != holder.id)
    swap = rota_services.offer_swap(offered, to=holder, message=EVIL, by=None)
    rota_services.cancel_session(later[-1], reason=EVIL, by=None)
    _, api_token_row = tokens.create_token(users["regulator"], EVIL[:100], by=None)
    api_tokens = {
        role: tokens.create_token(users[role], "crawl", by=None)[0]
        for role in ("regulator", "pharmacist", "coordinator")
    }
    _, invitation = territory_services.invite_user(
        territory, email="invitee@example.org", role=Role.PHARMACIST, display_name=EVIL, by=None
    )
    gp_feed = feeds.issue_gp_token(holder, by=None)
    territory_feed = feeds.issue_territory_token(territory, by=None)
    db.session.commit()

    session = world.period.sessions[0]
    values = {
        "reference": by_regulator.reference,
        "site_id": site.id,
        "practitioner_id": world.gps[0].id,
        "period_id": world.period.id,
        "session_id": session.id,
        "template_id": session.template_id,
        "commune_id": territory.communes[0].id,
        "insee_code": territory.communes[0].insee_code,
        "user_id": users["regulator"].id,
        "assignment_id": offered.id,
        "swap_id": swap.id,
        "token_id": api_token_row.id,
        "token": invitation,  # /invitation/<token>; the feed tokens are in ``extra``
        "filename": "style.css",
    }
    day = world.now.date().isoformat()
    extra = [
        f"/ical/{gp_feed}.ics",
        f"/ical/{territory_feed}.ics",
        f"/creneaux?commune={territory.communes[0].insee_code}",
        f"/reserver?creneau={sas[-1].id}&insee=85047",
        f"/reserver?creneau={spare.id}&remplace={by_regulator.reference}",
        f"/rendez-vous?ref={by_regulator.reference}",
        f"/coordination/rendez-vous?jour={day}&statut=booked",
        f"/coordination/rendez-vous?jour={day}&statut=cancelled",
        f"/ma-journee?date={day}",
        f"/disponibilites?cpts={territory.slug}&commune=85047",
        f"/disponibilites?cpts={territory.slug}&jour=demain",
        f"/tableaux/{world.period.id}/impression?mois=2027-03",
        # Reflected: the same text in every parameter a page may echo.
        f"/creneaux?commune={EVIL}",
        f"/reserver?creneau={EVIL}&insee={EVIL}&remplace={EVIL}",
        f"/rendez-vous?ref={EVIL}",
        f"/coordination/rendez-vous?jour={EVIL}&statut={EVIL}&ref={EVIL}",
        f"/coordination/communes?q={EVIL}",
        f"/disponibilites?q={EVIL}&cpts={territory.slug}&commune={EVIL}&jour={EVIL}",
        f"/connexion?next={EVIL}",
        f"/ma-journee?date={EVIL}",
    ]
    return Hostile(
        world=world,
        users=users,
        values=values,
        extra=extra,
        gp_feed=gp_feed,
        territory_feed=territory_feed,
        api_tokens=api_tokens,
        references={
            "regulator": by_regulator.reference,
            "pharmacist": by_pharmacist.reference,
            "cancelled": cancelled.reference,
        },
    )


@pytest.fixture
def hostile(app, booking_world, make_user):
    with time_machine.travel(booking_world.now, tick=False):
        yield _hostile(booking_world, make_user)


def get_urls(app: Flask, values: dict[str, Any]) -> list[str]:
    """One URL per GET route of the URL map (``1`` for arguments not in ``values``)."""
    urls = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if "GET" not in rule.methods:
            continue
        arguments = {name: values.get(name, 1) for name in rule.arguments}
        urls.append(app.url_for(rule.endpoint, _external=False, **arguments))
    return urls


ROLES = ["anonymous", "admin", "coordinator", "gp", "regulator", "pharmacist"]

# Pages that must show the hostile text (escaped), per role: proof that the crawl saw it.
MUST_SHOW = {
    "anonymous": {"/disponibilites"},
    "coordinator": {
        "/coordination",
        "/coordination/lieux",
        "/coordination/professionnels",
        "/coordination/comptes",
        "/coordination/a-pourvoir",
        "/coordination/jetons-api",
        "/coordination/rendez-vous",
        "/coordination/periodes",
        "/rendez-vous/{reference}",
        "/coordination/plages/{session_id}",
        "/coordination/periodes/{period_id}",
        "/tableaux/{period_id}/impression",
    },
    "gp": {"/mes-plages", "/ma-journee", "/rendez-vous/{reference}", "/rendez-vous"},
    "regulator": {"/creneaux", "/rendez-vous", "/rendez-vous/{reference}"},
    "pharmacist": {"/creneaux", "/rendez-vous"},
    "admin": {"/admin/territoires"},
}


def test_get_routes_change_nothing_and_escape_hostile_text(app, hostile):
    """Every role in turn (one world: building it costs more than crawling it)."""
    urls = get_urls(app, hostile.values) + hostile.extra
    failures, missing = [], {}
    for role in ROLES:
        client = app.test_client()
        if role != "anonymous":
            log_in(client, hostile.users[role].email)
        before = dump_database()
        shown = set()
        for url in urls:
            response = client.get(url)
            body = response.get_data(as_text=True)
            response.close()  # static files stream from disk
            if response.status_code >= 500:
                failures.append((role, url, response.status_code))
            if response.mimetype == "text/html":
                failures += [(role, url, raw) for raw in RAW if raw in body]
                if ESCAPED in body:
                    shown.add(url.split("?")[0])
        changed = changes(before, dump_database())
        if changed:
            failures.append((role, "GET wrote", changed))
        expected = {path.format(**hostile.values) for path in MUST_SHOW.get(role, set())}
        if expected - shown:
            missing[role] = sorted(expected - shown)
    assert not failures, failures
    assert not missing, missing  # the crawl must have seen the hostile text, escaped


def test_api_reads_change_nothing_and_return_hostile_text_intact(client, hostile):
    for role in ("regulator", "pharmacist", "coordinator"):
        headers = {"Authorization": f"Bearer {hostile.api_tokens[role]}"}
        before = dump_database()

        listed = client.get("/api/v1/slots?limit=500", headers=headers)
        answers = [listed, client.get("/api/v1/openapi.json")]
        answers += [
            client.get(f"/api/v1/bookings/{reference}", headers=headers)
            for reference in hostile.references.values()
        ]
        answers.append(client.get(f"/api/v1/slots?commune={EVIL}&channel={EVIL}", headers=headers))

        assert all(r.status_code < 500 for r in answers), role
        for response in answers:
            json.loads(response.get_data(as_text=True))  # valid JSON, whatever the text
        slots = listed.get_json()["slots"]
        assert slots
        assert {s["site"]["name"] for s in slots} == {EVIL}
        assert all(s["site"]["address"].startswith(EVIL + ", ") for s in slots)
        assert all(s["practitioner"]["name"] == f"Dr {EVIL} {EVIL}" for s in slots)
        own = hostile.references["pharmacist" if role == "pharmacist" else "regulator"]
        booking = client.get(f"/api/v1/bookings/{own}", headers=headers).get_json()
        assert booking["patient"]["family_name"] == EVIL
        assert booking["patient"]["given_name"] == EVIL
        assert booking["reason"] == EVIL
        if role != "pharmacist":
            cancelled = client.get(
                f"/api/v1/bookings/{hostile.references['cancelled']}", headers=headers
            ).get_json()
            assert cancelled["cancel_reason"] == EVIL
        assert not changes(before, dump_database()), role


def test_forms_echo_hostile_input_escaped(app, hostile):
    """A form sent back with its errors shows what was typed: escaped, like stored text."""
    world = hostile.world
    posts = {
        "anonymous": [("/connexion", {"email": EVIL, "password": EVIL, "next": EVIL})],
        "regulator": [
            ("/reserver", {"creneau": EVIL, "family_name": EVIL, "phone": EVIL, "reason": EVIL}),
            (f"/rendez-vous/{hostile.references['regulator']}/annuler", {"reason": EVIL * 3}),
        ],
        "coordinator": [
            ("/coordination/lieux/nouveau", {"name": EVIL, "postal_code": EVIL}),
            ("/coordination/professionnels/nouveau", {"rpps": EVIL, "family_name": EVIL}),
            ("/coordination/territoire", {"name": EVIL, "finess": EVIL, "phone": EVIL}),
            ("/coordination/comptes/inviter", {"email": EVIL, "display_name": EVIL}),
            ("/coordination/periodes", {"name": EVIL, "start_date": EVIL}),
        ],
        "gp": [
            ("/mes-plages", {"start_date": EVIL, "reason": EVIL}),
            (
                f"/periodes/{world.period.id}/souhaits",
                {f"souhaits-{world.period.id}-avoid_dates": EVIL},
            ),
        ],
    }
    failures = []
    for role, forms in posts.items():
        client = app.test_client()
        if role != "anonymous":
            log_in(client, hostile.users[role].email)
        for url, data in forms:
            response = client.post(url, data=data, follow_redirects=True)
            body = response.get_data(as_text=True)
            if response.status_code >= 500:
                failures.append((role, url, response.status_code))
            failures += [(role, url, raw) for raw in RAW if raw in body]
    assert not failures, failures


# --- iCalendar ------------------------------------------------------------------------------------

ESCAPED_TEXT = re.compile(r"^(SUMMARY|LOCATION|DESCRIPTION|NAME|X-WR-CALNAME)(;[^:]*)?:(.*)$")


def _unfolded(body: bytes) -> list[str]:
    return body.decode("utf-8").replace("\r\n ", "").split("\r\n")


def _check_rfc5545_escaping(body: bytes) -> None:
    """Text values escape ``;`` ``,`` and ``\\`` (RFC 5545 §3.3.11) and carry no control
    character but the TAB that TSAFE-CHAR allows."""
    for line in _unfolded(body):
        match = ESCAPED_TEXT.match(line)
        if not match:
            continue
        value = match[3]
        assert not re.search(r"(?<!\\)(\\\\)*[;,]", value.replace("\\\\", "")), line
        assert not re.search(r"[\x00-\x08\x0a-\x1f\x7f]", value), line


def _unescape(raw: str) -> str:
    """RFC 5545 TEXT unescaping, for properties ``icalendar`` returns raw."""
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m[1] in "nN" else m[1], raw)


def _icaljs(paths: list[Path]) -> dict[str, list[dict]]:
    node = shutil.which("node")
    assert node, "node is needed to run Mozilla's ical.js on the feeds"
    done = subprocess.run(
        [node, str(ICALJS_SCRIPT), *map(str, paths)],
        capture_output=True,
        check=True,
        text=True,
        timeout=60,
    )
    return json.loads(done.stdout)


def test_feeds_escape_hostile_text_and_read_back_intact(client, hostile, tmp_path):
    world = hostile.world
    fetched = {
        "gp": client.get(f"/ical/{hostile.gp_feed}.ics"),
        "territory": client.get(f"/ical/{hostile.territory_feed}.ics"),
        "site": client.get(f"/ical/site/{world.site.id}.ics"),
    }
    paths = []
    for name, response in fetched.items():
        assert response.status_code == 200, name
        assert response.mimetype == "text/calendar"
        _check_rfc5545_escaping(response.get_data())
        path = tmp_path / f"{name}.ics"
        path.write_bytes(response.get_data())
        paths.append(path)

    parsed = {
        name: icalendar.Calendar.from_ical(response.get_data())
        for name, response in fetched.items()
    }
    for name, calendar in parsed.items():
        events = calendar.walk("VEVENT")
        assert events, name
        for event in events:
            assert EVIL in str(event["SUMMARY"]), name
            assert str(event["LOCATION"]).startswith(f"{EVIL}, {EVIL}"), name
        for prop in ("NAME", "X-WR-CALNAME"):  # TEXT, but unknown to icalendar: read raw
            assert EVIL in _unescape(str(calendar[prop])), (name, prop)
    territory_events = parsed["territory"].walk("VEVENT")
    assert any(f"Dr {EVIL} {EVIL}" in str(e["SUMMARY"]) for e in territory_events)
    assert any(
        EVIL in str(e.get("DESCRIPTION", "")) and "Annulée" in str(e["SUMMARY"])
        for e in territory_events
    )
    assert not any(f"Dr {EVIL}" in str(e["SUMMARY"]) for e in parsed["site"].walk("VEVENT"))

    read = _icaljs(paths)  # a second parser must read the same text
    for path, (name, calendar) in zip(paths, parsed.items(), strict=True):
        expected = {str(e["UID"]): e for e in calendar.walk("VEVENT")}
        got = {e["uid"]: e for e in read[str(path)]}
        assert set(got) == set(expected), name
        for uid, event in expected.items():
            assert got[uid]["summary"] == str(event["SUMMARY"])
            assert got[uid]["location"] == str(event["LOCATION"])
            assert got[uid]["description"] == str(event.get("DESCRIPTION", ""))


def test_feeds_drop_control_characters_and_escape_line_breaks(client, hostile):
    """Names come from forms, which take any text a POST carries. A control character
    must not make a feed invalid (RFC 5545 text has none), and a line break must neither
    crash the rendering (it used to: a 500 on every feed of the territory) nor add a
    line, such as a whole event, to the calendar."""
    hostile.world.site.name = "MSP\x1b[31m des\x07 Pins\x0b\x7f"
    hostile.world.territory.name = "CPTS\r\nBEGIN:VEVENT\r\nUID:injected\r\nEND:VEVENT"
    db.session.commit()

    for path in (
        f"/ical/site/{hostile.world.site.id}.ics",
        f"/ical/{hostile.gp_feed}.ics",
        f"/ical/{hostile.territory_feed}.ics",
    ):
        response = client.get(path)

        assert response.status_code == 200, path
        _check_rfc5545_escaping(response.get_data())
        calendar = icalendar.Calendar.from_ical(response.get_data())
        assert "injected" not in {str(e["UID"]) for e in calendar.walk("VEVENT")}
        for event in calendar.walk("VEVENT"):
            assert "MSP[31m des Pins" in str(event["SUMMARY"])
        if "site" not in path:
            assert "CPTS\nBEGIN:VEVENT" in _unescape(str(calendar["NAME"]))
