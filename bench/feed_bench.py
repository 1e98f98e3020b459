"""iCalendar feeds: cold render of a busy GP's year, and throughput of full answers and 304s.

Why: calendar clients poll every feed hourly (Google every 8–24 h), whether or not the rota
changed, so most requests should end in a 304 that costs a few small queries; a full
answer renders every event. This bench builds one GP holding a session every evening for
a year (365 sessions in two published six-month periods, 4 bookings on each, 10 sessions
taken from them by a replacement so that the feed also carries tombstones), then measures
through the Flask test client (no network, one thread: the app's own cost):

(a) cold: the first full answer of a freshly started app, then the phases of a render
    (load the data, compute the ETag, build the events, write the iCalendar bytes);
(b) throughput for ``--seconds`` each, in the same run: GET /healthz, the GP's feed in full,
    the GP's feed answered 304 (If-None-Match), and the site's public feed in full: requests/s,
    p50 and p99 latency, and the ratio to /healthz;
(c) the SAS platform's FHIR search (``GET /fhir/Slot`` with the guide's four ``_include``s)
    for 25 GPs over the next 48 h, on the demo territory (40 GPs, a published rota around
    today): p50 and p99 latency next to /healthz.

On SQLite (a temporary file) by default; ``--postgres-url`` adds a run on PostgreSQL in a
throw-away database ``tdr_feed_bench_<pid>`` next to the given one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from datetime import time as clock
from pathlib import Path

import sqlalchemy as sa

from app import create_app
from app.enums import Profession, SiteKind
from app.extensions import db
from app.territory import services as territory_services
from app.territory.services import PractitionerData, SiteData, TerritorySettings
from app.timeutil import now_utc
from app.validators import luhn_complete
from booking.models import Booking, BookingStatus
from publishing import feeds, ical
from publishing.feed_views import known_tags
from rota import scenarios
from rota import services as rota_services

DAYS = 365
BOOKINGS_PER_SESSION = 4
TAKEN = 10


def _rpps(n: int) -> str:
    return luhn_complete(f"1888{n:06d}")


def build_world() -> tuple[str, int]:
    """The busy GP's feed path and the site id (call in an app context on an empty db)."""
    territory = territory_services.create_territory(
        "bench-feeds",
        TerritorySettings(
            name="CPTS du banc d'essai",
            finess=None,
            timezone="Europe/Paris",
            holiday_subdivision=None,
            phone=None,
            email=None,
            min_rest_hours=0,
        ),
        by=None,
    )
    territory_services.add_commune(territory, "85047", by=None)
    commune = territory.communes[0]
    site = territory_services.create_site(
        territory,
        SiteData(
            name='MSP "Les Pins"; Bât. B, 2e',
            kind=SiteKind.MSP,
            address_line="3 rue des Pins",
            postal_code=commune.postal_codes[0],
            commune_id=commune.id,
            phone=None,
            latitude=46.78,
            longitude=-1.88,
            accessibility="",
        ),
        by=None,
    )
    gp, other = (
        territory_services.create_practitioner(
            territory,
            PractitionerData(
                rpps=_rpps(n),
                family_name=f"Médecin{n}",
                given_name="Claire",
                profession=Profession.GP,
                email=None,
                phone=None,
                site_ids=[site.id],
            ),
            by=None,
        )
        for n in (1, 2)
    )
    templates = [
        scenarios.template(
            site,
            weekdays=range(7),
            start=clock(20),
            end=clock(23),
            sas_slots=4,
            pharmacy_slots=2,
            valid_from=date(2020, 1, 1),
        )
    ]
    start = now_utc().date() + timedelta(days=1)
    half = DAYS // 2
    for first, last in (
        (start, start + timedelta(days=half - 1)),
        (start + timedelta(days=half), start + timedelta(days=DAYS - 1)),
    ):
        # The GP volunteers for every evening; the generated rota keeps them all.
        period = scenarios.publish_period(
            territory,
            name=f"Du {first}",
            start=first,
            end=last,
            templates=templates if first == start else (),
            volunteers=lambda period: [(session, gp) for session in period.sessions],
        )
        # Bookings written directly: the booking rules are the booking tests' business.
        for session in period.sessions:
            for index in range(BOOKINGS_PER_SESSION):
                begins = session.starts_at + timedelta(minutes=15 * index)
                db.session.add(
                    Booking(
                        territory_id=territory.id,
                        reference=f"B{session.id:05d}{index}"[:8],
                        session_id=session.id,
                        seat=1,
                        slot_index=index,
                        starts_at=begins,
                        ends_at=begins + timedelta(minutes=15),
                        slot_channel="open",
                        channel="sas",
                        status=BookingStatus.BOOKED,
                        family_name="Patient",
                        given_name="Anonyme",
                        birth_date=date(1980, 1, 1),
                        phone="0600000000",
                        booked_by_role="regulator",
                    )
                )
        db.session.flush()
        if first == start:
            for session in period.sessions[:TAKEN]:
                rota_services.replace_gp(session.assignments[0], other, by=None)
    token = feeds.issue_gp_token(gp, by=None)
    db.session.commit()
    return f"/ical/{token}.ics", site.id


def _timed(call: Callable[[], object], seconds: float) -> list[float]:
    durations = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        began = time.perf_counter()
        call()
        durations.append(time.perf_counter() - began)
    return durations


def _ms(value: float) -> str:
    return f"{value * 1000:.2f} ms"


def _measure(checks: dict[str, Callable[[], object]], label: str, seconds: float) -> None:
    """Each request kind for ``seconds`` in turn; the first (``/healthz``) is the yardstick."""
    base = None
    for name, call in checks.items():
        durations = _timed(call, seconds)
        rate = len(durations) / sum(durations)
        base = base or rate
        ordered = sorted(durations)
        print(
            f"[{label}] {name:<22} {rate:8.1f} req/s  p50 {_ms(ordered[len(ordered) // 2])}  "
            f"p99 {_ms(ordered[int(len(ordered) * 0.99)])}  ({rate / base:.2f} × /healthz)"
        )


def run(url: str, label: str, seconds: float) -> None:
    # The worker's memory of ETags is keyed by feed and audit id, which the SQLite and the
    # PostgreSQL worlds share: forget the first run's, as a new worker would.
    known_tags.clear()
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench",
            "RATELIMIT_ENABLED": False,
            "SERVER_NAME": "tdr.bench",
        }
    )
    with app.app_context():
        db.create_all()
        began = time.perf_counter()
        path, site_id = build_world()
        print(f"[{label}] world built in {time.perf_counter() - began:.1f} s")
        db.session.remove()
    # (a) cold: a new app, so nothing is warm but the database file.
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench",
            "RATELIMIT_ENABLED": False,
            "SERVER_NAME": "tdr.bench",
        }
    )
    client = app.test_client()
    began = time.perf_counter()
    first = client.get(path)
    cold = time.perf_counter() - began
    assert first.status_code == 200, first.status_code
    body = first.get_data()
    calendar = ical.parse(body)
    events = calendar.walk("VEVENT")
    cancelled = sum(1 for e in events if str(e["STATUS"]) == "CANCELLED")
    print(
        f"[{label}] cold first answer: {_ms(cold)}; {len(body) / 1024:.0f} KiB, "
        f"{len(events)} events ({cancelled} cancelled), parsed back with icalendar"
    )
    with app.test_request_context(path):
        from publishing.feed_views import _links

        feed = feeds.find_live_feed(path.removeprefix("/ical/").removesuffix(".ics"))
        links = _links(gp=True)
        phases: dict[str, list[float]] = {"load": [], "etag": [], "build": [], "render": []}
        for _ in range(20):
            t0 = time.perf_counter()
            source = feeds.load_feed(feed)
            t1 = time.perf_counter()
            feeds.etag(source, links)
            t2 = time.perf_counter()
            built = feeds.build(source, links)
            t3 = time.perf_counter()
            ical.render(built)
            t4 = time.perf_counter()
            for name, value in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                phases[name].append(value)
            db.session.expire_all()
        print(
            f"[{label}] render phases (median of 20): "
            + ", ".join(f"{name} {_ms(statistics.median(v))}" for name, v in phases.items())
        )
    # (b) throughput, one after the other in the same run.
    tag = first.headers["ETag"]
    checks = {
        "GET /healthz": lambda: client.get("/healthz"),
        "GP feed, full 200": lambda: client.get(path),
        "GP feed, 304": lambda: client.get(path, headers={"If-None-Match": tag}),
        "site feed, full 200": lambda: client.get(f"/ical/site/{site_id}.ics"),
    }
    assert client.get(path, headers={"If-None-Match": tag}).status_code == 304
    _measure(checks, label, seconds)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def run_fhir(url: str, label: str, seconds: float) -> None:
    """(c): the SAS search on the demo data, through a regulator's API token."""
    from app.models import Practitioner, User
    from booking import tokens
    from demo.loader import load_demo

    config = {
        "SQLALCHEMY_DATABASE_URI": url,
        "SECRET_KEY": "bench",
        "RATELIMIT_ENABLED": False,
        "SERVER_NAME": "tdr.bench",
    }
    app = create_app(config)
    with app.app_context():
        db.create_all()
        load_demo()
        regulator = db.session.scalar(sa.select(User).where(User.email.like("regulation1@%")))
        token, _ = tokens.create_token(regulator, "bench", by=None)
        rpps = db.session.scalars(
            sa.select(Practitioner.rpps)
            .where(Practitioner.territory_id == regulator.territory_id)
            .order_by(Practitioner.id)
            .limit(25)
        ).all()
        db.session.commit()
        db.session.remove()
    now = now_utc()
    query = {
        "_include": ["Slot:schedule", "Slot:service-type-reference"],
        "_include:iterate": ["Schedule:actor", "HealthcareService:organization"],
        "start": [f"ge{now.isoformat()}", f"le{(now + timedelta(hours=48)).isoformat()}"],
        "schedule.actor:Practitioner.identifier": ",".join(
            f"urn:oid:1.2.250.1.71.4.2.1|8{r}" for r in rpps
        ),
        "status": "free",
    }
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}
    app = create_app(config)
    client = app.test_client()
    first = client.get("/fhir/Slot", query_string=query, headers=headers)
    assert first.status_code == 200, first.get_data(as_text=True)
    bundle = first.get_json()
    print(
        f"[{label}] FHIR search, 25 GPs over 48 h: {bundle['total']} slots, "
        f"{len(bundle['entry'])} entries, {len(first.get_data()) / 1024:.0f} KiB"
    )
    checks = {
        "GET /healthz": lambda: client.get("/healthz"),
        "FHIR Slot search": lambda: client.get("/fhir/Slot", query_string=query, headers=headers),
    }
    _measure(checks, label, seconds)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _on_postgres(admin_url: str, label: str, seconds: float, bench: Callable) -> None:
    name = f"tdr_feed_bench_{os.getpid()}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        url = sa.make_url(admin_url).set(database=name)
        bench(url.render_as_string(hide_password=False), label, seconds)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per measured request kind")
    parser.add_argument("--postgres-url", help="also run on PostgreSQL (a throw-away database)")
    args = parser.parse_args()
    os.environ.setdefault("RATELIMIT_ENABLED", "0")
    for bench in (run, run_fhir):
        with tempfile.TemporaryDirectory() as tmp:
            bench(f"sqlite:///{Path(tmp) / 'feeds.sqlite3'}", "sqlite", args.seconds)
        if args.postgres_url:
            _on_postgres(args.postgres_url, "postgresql", args.seconds, bench)


if __name__ == "__main__":
    main()
