"""The coordinator's indicators on a year of a département-size territory.

Why: the indicators page and its exports aggregate a whole contract year of bookings; they
must stay quick (targets: page p50 ≤ 300 ms, XLSX ≤ 3 s) and not grow in memory with the
number of bookings (every figure is a SQL aggregate, never a loop over bookings).

The world, inserted in bulk (not through the services, which would take an hour): one
territory, 8 sites, 100 GPs, 2026 as a published rota. Every site opens every day
08:00–12:00 and 17:00–21:00 (Europe/Paris), 15-minute slots, 4 reserved to the SAS and 2
to pharmacies per session; three sites have two GPs per session. 5,840 sessions, 128,480
slots, of which about 100,000 are booked (seeded random: channel of the slot, status
honoured / no-show / cancelled / booked, booked 0–47 h ahead, a patient commune for half).

Measured in-process through the Flask test client, logged in as the coordinator:
the year's indicators page (p50 and p90 of ``--runs``), a month's page, the XLSX and CSV
exports of the year, the CLI-equivalent ``compute`` alone, and the process's peak RSS
(VmHWM) after the warm-up and after all runs: "flat" means the second is not above the
first by more than a few MiB.

    python bench/indicators_bench.py [--runs 9] [--postgres-url postgresql+psycopg://…]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app  # noqa: E402
from app.enums import Profession, Role, SiteKind  # noqa: E402
from app.extensions import db  # noqa: E402

PASSWORD = "bench-indicators-2026"
YEAR = 2026
SITES = 8
GPS = 100
TARGET_BOOKINGS = 100_000


def vm_hwm_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def build(app) -> int:
    """Insert the world; return the number of bookings."""
    from app.models import Territory, User
    from app.passwords import hash_password
    from app.territory import services
    from booking.models import Booking
    from publishing import indicator_tallies as tally
    from rota.models import (
        Assignment,
        ConsultationMode,
        HolidayRule,
        PeriodStatus,
        RotaPeriod,
        Session,
        SessionTemplate,
    )

    rng = random.Random(2026)
    zone = ZoneInfo("Europe/Paris")
    territory = services.create_territory(
        "bench",
        services.TerritorySettings(
            name="CPTS du banc d'essai",
            finess=None,
            timezone="Europe/Paris",
            holiday_subdivision=None,
            phone=None,
            email=None,
        ),
        by=None,
    )
    for code in ("85047", "85194", "85092"):
        services.add_commune(territory, code, by=None)
    commune = territory.communes[0]
    sites = [
        services.create_site(
            territory,
            services.SiteData(
                name=f"Lieu {i + 1}",
                kind=SiteKind.MSP,
                address_line="1 rue de la Gare",
                postal_code=commune.postal_codes[0],
                commune_id=commune.id,
                phone=None,
                latitude=None,
                longitude=None,
                accessibility="",
            ),
            by=None,
        )
        for i in range(SITES)
    ]
    gps = []
    for i in range(GPS):
        gps.append(
            services.create_practitioner(
                territory,
                services.PractitionerData(
                    rpps=_rpps(i),
                    family_name=f"Medecin{i}",
                    given_name="Jo",
                    profession=Profession.GP,
                    email=None,
                    phone=None,
                    site_ids=(sites[i % SITES].id,),
                ),
                by=None,
            )
        )
    coordinator = User(
        email="coord@bench.test",
        role=Role.COORDINATOR,
        territory_id=territory.id,
        display_name="Coordination",
        session_token="x" * 32,
        password_hash=hash_password(PASSWORD),
    )
    bookers = [
        User(
            email=f"{role.value}{k}@bench.test",
            role=role,
            territory_id=territory.id,
            session_token=f"{role.value}{k}".ljust(32, "x"),
        )
        for role in (Role.REGULATOR, Role.PHARMACIST)
        for k in range(5)
    ]
    db.session.add_all([coordinator, *bookers])
    period = RotaPeriod(
        territory_id=territory.id,
        name=f"Année {YEAR}",
        start_date=date(YEAR, 1, 1),
        end_date=date(YEAR, 12, 31),
        status=PeriodStatus.PUBLISHED,
        published_at=datetime(YEAR - 1, 12, 1, tzinfo=UTC),
    )
    db.session.add(period)
    db.session.flush()
    templates = []
    for site in sites:
        template = SessionTemplate(
            territory_id=territory.id,
            site_id=site.id,
            weekday_mask=127,
            start_time=datetime.min.time(),
            end_time=datetime.min.time().replace(hour=4),
            gps_needed=1,
            slot_minutes=15,
            mode=ConsultationMode.SURGERY,
            sas_slots=4,
            pharmacy_slots=2,
            valid_from=date(YEAR, 1, 1),
            on_holidays=HolidayRule.NORMAL,
        )
        templates.append(template)
    db.session.add_all(templates)
    db.session.flush()
    # Two templates per site would be more faithful; one per site and the unique
    # (period, template, day) key mean the evening session uses a second, shadow template.
    evening = []
    for site in sites:
        t = SessionTemplate(
            territory_id=territory.id,
            site_id=site.id,
            weekday_mask=127,
            start_time=datetime.min.time().replace(hour=17),
            end_time=datetime.min.time().replace(hour=21),
            gps_needed=1,
            slot_minutes=15,
            mode=ConsultationMode.SURGERY,
            sas_slots=4,
            pharmacy_slots=2,
            valid_from=date(YEAR, 1, 1),
            on_holidays=HolidayRule.NORMAL,
        )
        evening.append(t)
    db.session.add_all(evening)
    db.session.flush()
    booker_ids = {
        "sas": [(u.id, "regulator") for u in bookers if u.role == Role.REGULATOR],
        "pharmacy": [(u.id, "pharmacist") for u in bookers if u.role == Role.PHARMACIST],
        "open": [(coordinator.id, "coordinator")],
    }
    sessions, assignments, bookings = [], [], []
    session_id = 0
    day = date(YEAR, 1, 1)
    reference = 0
    gp_cursor = 0
    while day.year == YEAR:
        for s_index, site in enumerate(sites):
            seats = 2 if s_index < 3 else 1
            for template, hour in ((templates[s_index], 8), (evening[s_index], 17)):
                session_id += 1
                start = datetime(day.year, day.month, day.day, hour, tzinfo=zone).astimezone(UTC)
                end = start + timedelta(hours=4)
                sessions.append(
                    {
                        "id": session_id,
                        "territory_id": territory.id,
                        "period_id": period.id,
                        "template_id": template.id,
                        "site_id": site.id,
                        "local_date": day,
                        "starts_at": start,
                        "ends_at": end,
                        "gps_needed": seats,
                        "category": "weekday" if day.weekday() < 5 else "weekend_holiday",
                        "cancelled": False,
                        "version": 1,
                        "slot_minutes": 15,
                        "mode": "surgery",
                        "sas_slots": 4,
                        "pharmacy_slots": 2,
                    }
                )
                for seat in range(1, seats + 1):
                    gp_cursor = (gp_cursor + 7) % GPS
                    assignments.append(
                        {
                            "session_id": session_id,
                            "practitioner_id": gps[gp_cursor].id,
                            "seat": seat,
                            "source": "generated",
                            "locked": False,
                            "created_at": start - timedelta(days=30),
                        }
                    )
                total = 16 * seats
                for k in range(total):
                    if rng.random() > TARGET_BOOKINGS / 128_480:
                        continue
                    index, seat = divmod(k, seats)
                    channel = "sas" if k < 4 else "pharmacy" if k < 6 else "open"
                    slot_start = start + timedelta(minutes=15 * index)
                    who, role = rng.choice(booker_ids[channel])
                    status = rng.choices(
                        ("honoured", "no_show", "cancelled", "booked"), (70, 8, 12, 10)
                    )[0]
                    created = slot_start - timedelta(minutes=rng.randint(10, 47 * 60))
                    reference += 1
                    bookings.append(
                        {
                            "territory_id": territory.id,
                            "reference": f"B{reference:07d}",
                            "session_id": session_id,
                            "seat": seat + 1,
                            "slot_index": index,
                            "starts_at": slot_start,
                            "ends_at": slot_start + timedelta(minutes=15),
                            "slot_channel": channel,
                            "channel": "any" if role == "coordinator" else channel,
                            "status": status,
                            "family_name": None,
                            "given_name": None,
                            "birth_date": None,
                            "phone": None,
                            "reason_code": "fievre",
                            "without_gp": rng.random() < 0.15,
                            "patient_insee": rng.choice(("85047", "85194", "75056", None, None)),
                            "booked_by_id": who,
                            "booked_by_role": role,
                            "created_at": created,
                            "updated_at": created,
                            "purged_at": slot_start + timedelta(days=90),
                            "billing": "snp" if status == "honoured" and channel == "sas" else None,
                        }
                    )
        day += timedelta(days=1)
    for table, rows in (
        (Session.__table__, sessions),
        (Assignment.__table__, assignments),
        (Booking.__table__, bookings),
    ):
        for i in range(0, len(rows), 5000):
            db.session.execute(sa.insert(table), rows[i : i + 5000])
    # Written without the ORM: every day of the territory is to count (as after the migration).
    tally.mark_all(territory.id)
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as conn:
            conn.execute(sa.text("ANALYZE"))
            conn.commit()
    else:
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()
    assert isinstance(territory, Territory)
    return len(bookings)


CHANGED_PER_DAY = 30


def change_two_days(rng: random.Random, territory) -> None:
    """Through the ORM, as the services do: mark 30 bookings of a day and the next
    honoured, absent or cancelled (the tallies' listener names both days)."""
    from booking.models import Booking, BookingStatus
    from publishing.indicator_clock import utc_bounds

    first = date(YEAR, 1, 1) + timedelta(days=rng.randrange(364))
    start, end = utc_bounds(first, first + timedelta(days=1), "Europe/Paris")
    rows = db.session.scalars(
        sa.select(Booking)
        .where(
            Booking.territory_id == territory.id,
            Booking.starts_at >= start,
            Booking.starts_at < end,
        )
        .order_by(Booking.id)
    ).all()
    for booking in rng.sample(rows, min(2 * CHANGED_PER_DAY, len(rows))):
        booking.status = rng.choice(
            (BookingStatus.HONOURED, BookingStatus.NO_SHOW, BookingStatus.CANCELLED)
        )
    db.session.commit()


def _rpps(i: int) -> str:
    from app.validators import luhn_valid

    body = f"1888{i:06d}"
    return next(body + str(d) for d in range(10) if luhn_valid(body + str(d)))


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def run(url: str, runs: int) -> None:
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench",
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,
            "SESSION_COOKIE_SECURE": False,
            "REQUIRE_2FA": False,  # the bench's coordinator logs in with a password alone
        }
    )
    with app.app_context():
        db.drop_all()
        db.create_all()
        t0 = time.perf_counter()
        count = build(app)
        print(f"  world: {count:,} bookings inserted in {time.perf_counter() - t0:.1f} s")
        from app.models import Territory
        from publishing import indicator_tallies as tally
        from publishing import indicators

        territory = db.session.scalar(sa.select(Territory))
        client = app.test_client()
        answer = client.post("/connexion", data={"email": "coord@bench.test", "password": PASSWORD})
        assert answer.status_code == 302, answer.status_code
        year = f"du={YEAR}-01-01&au={YEAR}-12-31"
        month = f"du={YEAR}-03-01&au={YEAR}-03-31"

        def get(path: str) -> bytes:
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
            return response.data

        def cold(path: str):
            def fetch() -> bytes:
                indicators.forget()  # every figure computed again, as after a change
                return get(path)

            return fetch

        t0 = time.perf_counter()
        tally.refresh(territory.id)
        first_count = time.perf_counter() - t0
        changer = random.Random(7)

        def after_changes(path: str):
            """The page after a day's work: bookings of two days marked, one cancelled."""

            def fetch() -> bytes:
                change_two_days(changer, territory)
                return cold(path)()

            return fetch

        get(f"/coordination/indicateurs?{year}")  # warm-up
        warm = vm_hwm_mib()
        page = timed(after_changes(f"/coordination/indicateurs?{year}"), runs)
        page_quiet = timed(cold(f"/coordination/indicateurs?{year}"), runs)
        page_cached = timed(lambda: get(f"/coordination/indicateurs?{year}"), runs)
        page_month = timed(after_changes(f"/coordination/indicateurs?{month}"), runs)
        compute = timed(
            lambda: indicators.compute(territory, date(YEAR, 1, 1), date(YEAR, 12, 31)), runs
        )
        xlsx = timed(after_changes(f"/coordination/indicateurs/export.xlsx?{year}"), 3)
        xlsx_after_page = timed(lambda: get(f"/coordination/indicateurs/export.xlsx?{year}"), 3)
        csv_ = timed(after_changes(f"/coordination/indicateurs/export.csv?{year}"), 3)
        rota = timed(lambda: get(f"/coordination/tableau/export.xlsx?{year}"), 3)
        for _ in range(runs):
            after_changes(f"/coordination/indicateurs?{year}")()
        after = vm_hwm_mib()
        live = indicators.compute(territory, date(YEAR, 1, 1), date(YEAR, 12, 31)).get(
            "activity.bookings.total.live"
        )

        def p(values: list[float], q: float) -> float:
            return (
                statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 2 else max(values)
            )

        print(f"  live bookings of the year (page figure): {live:,}")
        print(f"  first count of the year's bookings into the tallies: {first_count:.2f} s")
        print(
            f"  indicators page, year, after {CHANGED_PER_DAY} bookings of 2 days changed: "
            f"p50 {statistics.median(page):.0f} ms, p90 {p(page, 90):.0f} ms, computed each "
            "time (target p50 ≤ 300 ms)"
        )
        print(
            f"  indicators page, year, nothing changed, computed each time: "
            f"p50 {statistics.median(page_quiet):.0f} ms, p90 {p(page_quiet, 90):.0f} ms"
        )
        print(
            f"  indicators page, year, same figures again (remembered under the change "
            f"marker): p50 {statistics.median(page_cached):.0f} ms"
        )
        print(f"  indicators page, one month: p50 {statistics.median(page_month):.0f} ms")
        print(f"  compute() alone, year: p50 {statistics.median(compute):.0f} ms")
        print(
            f"  XLSX export, year: {min(xlsx):.0f}–{max(xlsx):.0f} ms computed, "
            f"{min(xlsx_after_page):.0f}–{max(xlsx_after_page):.0f} ms after the page "
            "(target ≤ 3 s)"
        )
        print(f"  CSV export, year: {min(csv_):.0f}–{max(csv_):.0f} ms")
        print(
            f"  rota XLSX export, year ({len(indicators.rota_lines(territory, date(YEAR, 1, 1), date(YEAR, 12, 31))):,} lines): {min(rota):.0f}–{max(rota):.0f} ms"
        )
        print(f"  peak RSS: {warm:.0f} MiB after warm-up, {after:.0f} MiB after all runs")
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--postgres-url", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    args = parser.parse_args()
    if args.only != "postgresql":
        with tempfile.TemporaryDirectory() as tmp:
            print("SQLite")
            run(f"sqlite:///{tmp}/bench.db", args.runs)
    if args.postgres_url and args.only != "sqlite":
        name = f"tdr_bench_{os.getpid()}"
        admin = sa.create_engine(args.postgres_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            print("PostgreSQL")
            run(
                sa.make_url(args.postgres_url).set(database=name).render_as_string(False), args.runs
            )
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
