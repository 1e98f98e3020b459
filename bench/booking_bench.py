"""Booking under load through gunicorn (4 workers) on SQLite and on PostgreSQL.

Why: the booking API is the one place where many clients write at once (a regulation desk
with several operators, pharmacies, the coordinator), and SQLite is a supported
single-machine engine. This bench checks, with real processes and real sockets rather than
the test client, that the database settles races (a slot is never booked twice), that no
request fails (no 5xx, no "database is locked"), and how fast search and booking are
compared with the cheapest request the app serves.

For each engine it builds a throw-away database (SQLite: a file in a temporary directory;
PostgreSQL: ``tdr_bench_<pid>`` next to the ``--postgres-url`` database, dropped at the
end), runs the migrations (``flask db upgrade``) and loads, in-process, a territory valid
at any time of day: commune 85047, 2 sites, templates 00:00–12:00 and 12:00–00:00 every
day (6 GPs, 5-minute slots, 24 reserved to the SAS and 12 to pharmacies per session),
40 GPs, minimum rest 0, a period from yesterday to three days ahead, generated and
published; booking horizon 24 h; 50 regulators with one API token each. It then starts
``gunicorn -w 4`` (``TOURDEROLE_ENV=production``, ``RATELIMIT_ENABLED=0`` so nothing is
throttled) and measures:

(a) the race: 50 clients, each trying to book the same 20 free slots in its own (seeded)
    random order. Must give 20 bookings, 0 slots with two live bookings (checked in the
    database), 0 answers 5xx, 0 "database is locked" (answers and gunicorn's log);
(b) sustained load: ``--clients`` threads for ``--seconds`` on GET /healthz, GET
    /api/v1/slots (a regulator's whole 24 h search), GET /disponibilites (the public page)
    and POST /api/v1/bookings (each thread books its own free slots): requests/s, p50 and
    p99 latency, and the ratio of requests/s to /healthz's in the same run (targets: ≥ 0.5
    for the search and the public page, ≥ 0.4 for booking);
(c) peak memory (VmHWM) of each gunicorn worker, read from /proc.

Clients use only the standard library: one ``http.client`` connection per thread (gunicorn's
sync workers close it after each answer, so it reconnects as a browser would). Clients and
server share the machine, so figures are noisy on a small one: compare ratios, not
absolute rates. Exits non-zero if a must-be-zero figure is not zero.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as clock
from pathlib import Path

import sqlalchemy as sa

from app import create_app
from app.enums import Profession, Role, SiteKind
from app.extensions import db
from app.territory import services as territory_services
from app.territory.services import PractitionerData, SiteData, TerritorySettings
from app.timeutil import local, now_utc
from app.validators import luhn_complete
from booking import services as booking_services
from booking import tokens
from booking.models import LIVE_STATUSES, Booking
from rota import scenarios
from rota.models import Assignment

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ZONE = "Europe/Paris"
COMMUNE = "85047"  # Challans (Vendée)
SITES = 2
GPS = 40
GPS_PER_SESSION = 6
SLOT_MINUTES = 5
SAS_SLOTS = 24
PHARMACY_SLOTS = 12
REGULATORS = 50
WORKERS = 4
RACE_CLIENTS = 50
RACE_SLOTS = 20
SEED = 2026
# Slots booked in the race or under load start at least this far ahead, so that none
# leaves the bookable window (now + 5 min) while the bench runs.
LEAD = timedelta(minutes=20)
RATIO_TARGETS = {"search": 0.5, "public": 0.5, "booking": 0.4}
PATIENT = {
    "family_name": "Banc",
    "given_name": "Essai",
    "birth_date": "1980-02-29",
    "phone": "06 12 34 56 78",
}
LOCKED = "database is locked"


# --- HTTP client ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int  # 0: no answer (connection refused, reset or timed out)
    body: bytes
    seconds: float
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case


class Client:
    """One HTTP/1.1 connection (re-opened when the server closes it) with a bearer token."""

    def __init__(self, port: int, token: str | None = None, *, timeout: float = 120) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def call(
        self,
        method: str,
        path: str,
        payload: dict | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        headers = {**self.headers, **(headers or {})}
        body = None
        if payload is not None:
            body = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        start = time.perf_counter()
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            data = response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()
            return Answer(0, repr(exc).encode(), time.perf_counter() - start)
        if response.will_close:
            self.conn.close()
        received = {name.lower(): value for name, value in response.getheaders()}
        return Answer(status, data, time.perf_counter() - start, received)

    def close(self) -> None:
        self.conn.close()


def booking_body(slot_id: str) -> dict:
    return {
        "slot_id": slot_id,
        "patient": PATIENT,
        "reason": "Fièvre depuis hier",
        "reason_code": "fievre",
        "without_gp": False,
    }


def free_slot_ids(port: int, token: str, *, lead: timedelta = LEAD) -> list[str]:
    """Ids of the slots the API offers this regulator now, starting ``lead`` or more ahead.

    Pages through the answer (``limit`` 500, ``from`` moved past the last slot seen).
    """
    client = Client(port, token)
    start = now_utc() + lead
    ids: list[str] = []
    while True:
        query = urllib.parse.urlencode({"limit": 500, "from": start.isoformat()})
        answer = client.call("GET", f"/api/v1/slots?{query}")
        if answer.status != 200:
            raise SystemExit(f"GET /api/v1/slots answered {answer.status}: {answer.body[:300]!r}")
        page = json.loads(answer.body)
        fresh = [s for s in page["slots"] if s["id"] not in set(ids)]
        ids.extend(s["id"] for s in fresh)
        if not page["more"] or not fresh:
            break
        start = datetime.fromisoformat(page["slots"][-1]["start"])
    client.close()
    return ids


# --- databases and data --------------------------------------------------------------------------


@contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="tdr_bench_") as tmp:
        yield f"sqlite:///{tmp}/bench.sqlite3"


def postgres_reachable(admin_url: str) -> bool:
    engine = sa.create_engine(admin_url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A database of this run's own on the server of ``admin_url``, dropped at the end."""
    name = f"tdr_bench_{os.getpid()}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def server_env(url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "SECRET_KEY": "booking-bench-not-a-secret",
        "TOURDEROLE_ENV": "production",
        "RATELIMIT_ENABLED": "0",
        # The bench's accounts log in with a password alone (a real coordinator enrols TOTP).
        "REQUIRE_2FA": "0",
    }


def migrate(url: str) -> None:
    """Build the schema as an operator would: ``flask db upgrade``."""
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=server_env(url),
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"flask db upgrade failed:\n{done.stderr[-3000:]}")


def rpps(n: int) -> str:
    return luhn_complete(f"1998{n:06d}")


@dataclass
class World:
    slug: str
    tokens: list[str]
    seats: int  # GP places of the period
    filled: int  # places the generated rota filled
    free_now: int  # slots a regulator may book right now


def load_world(url: str) -> World:
    """The territory, its published rota and the regulators' tokens (see module docstring)."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    with app.app_context():
        territory = territory_services.create_territory(
            "cpts-banc",
            TerritorySettings(
                name="CPTS du Marais breton (banc d'essai)",
                finess=None,
                timezone=ZONE,
                holiday_subdivision=None,
                phone=None,
                email=None,
                min_rest_hours=0,
                booking_horizon_hours=24,
            ),
            by=None,
        )
        commune = territory_services.add_commune(territory, COMMUNE, by=None)
        sites = [
            territory_services.create_site(
                territory,
                SiteData(
                    name=f"Maison de santé {n}",
                    kind=SiteKind.MSP,
                    address_line=f"{n} rue de la Gare",
                    postal_code=commune.postal_codes[0],
                    commune_id=commune.id,
                    phone="02 51 00 00 00",
                    latitude=None,
                    longitude=None,
                    accessibility="",
                ),
                by=None,
            )
            for n in range(1, SITES + 1)
        ]
        for n in range(1, GPS + 1):
            territory_services.create_practitioner(
                territory,
                PractitionerData(
                    rpps=rpps(n),
                    family_name=f"Médecin{n}",
                    given_name="Camille",
                    profession=Profession.GP,
                    email=f"medecin{n}@example.org",
                    phone=None,
                    site_ids=[s.id for s in sites],
                ),
                by=None,
            )
        today = local(now_utc(), ZONE).date()
        start = today - timedelta(days=1)
        period = scenarios.publish_period(
            territory,
            name="Banc d'essai",
            start=start,
            end=today + timedelta(days=3),
            templates=[
                scenarios.template(
                    site,
                    weekdays=range(7),
                    start=begin,
                    end=end,
                    valid_from=start,
                    gps_needed=GPS_PER_SESSION,
                    slot_minutes=SLOT_MINUTES,
                    sas_slots=SAS_SLOTS,
                    pharmacy_slots=PHARMACY_SLOTS,
                )
                for site in sites
                for begin, end in ((clock(0), clock(12)), (clock(12), clock(0)))
            ],
        )
        plain = []
        for n in range(1, REGULATORS + 1):
            user = territory_services.create_user(
                email=f"regulation{n}@example.org",
                role=Role.REGULATOR,
                territory=territory,
                password=None,
                by=None,
            )
            plain.append(tokens.create_token(user, "banc d'essai", by=None)[0])
        db.session.commit()
        world = World(
            slug=territory.slug,
            tokens=plain,
            seats=sum(s.gps_needed for s in period.sessions),
            filled=db.session.scalar(sa.select(sa.func.count(Assignment.id))) or 0,
            free_now=len(booking_services.free_slots(territory.id, "sas")),
        )
        db.session.remove()
        db.engine.dispose()
    return world


@dataclass(frozen=True)
class DatabaseCheck:
    live_on_race_slots: int
    race_slots_booked_twice: int
    doubly_booked_slots: int  # anywhere in the database
    live_bookings: int


def check_database(url: str, race_slots: list[str]) -> DatabaseCheck:
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    with app.app_context():
        live = Booking.status.in_(LIVE_STATUSES)
        position = (Booking.session_id, Booking.seat, Booking.slot_index)
        per_slot = Counter(
            f"{s}-{seat}-{i}" for s, seat, i in db.session.execute(sa.select(*position).where(live))
        )
        doubles = db.session.execute(
            sa.select(*position).where(live).group_by(*position).having(sa.func.count() > 1)
        ).all()
        result = DatabaseCheck(
            live_on_race_slots=sum(per_slot[s] for s in race_slots),
            race_slots_booked_twice=sum(per_slot[s] > 1 for s in race_slots),
            doubly_booked_slots=len(doubles),
            live_bookings=sum(per_slot.values()),
        )
        db.session.remove()
        db.engine.dispose()
    return result


# --- gunicorn ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``gunicorn -w 4 wsgi:app`` on a free port; its stderr (the app's log) goes to a file."""

    def __init__(self, url: str, log: Path) -> None:
        self.port = free_port()
        self.log = log
        self._log_file = log.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-w",
                str(WORKERS),
                "-b",
                f"127.0.0.1:{self.port}",
                "--no-control-socket",
                "wsgi:app",
            ],
            cwd=ROOT,
            env=server_env(url),
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        self.workers_at_start: set[int] = set()

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        client = Client(self.port)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited:\n{self.log.read_text()[-3000:]}")
            if client.call("GET", "/healthz").status == 200 and len(self.workers()) == WORKERS:
                self.workers_at_start = set(self.workers())
                return
            time.sleep(0.2)
        raise SystemExit(
            f"gunicorn not ready after {timeout:.0f} s:\n{self.log.read_text()[-3000:]}"
        )

    def workers(self) -> list[int]:
        """Pids of the master's children (the workers)."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # "pid (comm) state ppid ...": comm may hold spaces, so split after its ")".
            if int(stat.rpartition(")")[2].split()[1]) == self.process.pid:
                found.append(int(entry.name))
        return sorted(found)

    def peak_memory(self) -> dict[int, int]:
        """VmHWM (peak resident set, KiB) of each worker."""
        peaks = {}
        for pid in self.workers():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
            if match:
                peaks[pid] = int(match.group(1))
        return peaks

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()


# --- (a) the race --------------------------------------------------------------------------------


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)  # API error codes, e.g. slot_taken
    locked: int = 0  # answers mentioning "database is locked"
    latencies: list[float] = field(default_factory=list)
    response_bytes: int = 0

    def add(self, answer: Answer) -> None:
        self.statuses[answer.status] += 1
        self.latencies.append(answer.seconds)
        self.response_bytes += len(answer.body)
        if LOCKED.encode() in answer.body.lower():
            self.locked += 1
        if answer.status >= 400 and answer.body.startswith(b"{"):
            try:
                self.codes[str(json.loads(answer.body).get("code"))] += 1
            except ValueError:
                pass

    def merge(self, other: Tally) -> None:
        self.statuses.update(other.statuses)
        self.codes.update(other.codes)
        self.locked += other.locked
        self.latencies.extend(other.latencies)
        self.response_bytes += other.response_bytes

    @property
    def count(self) -> int:
        return len(self.latencies)

    def between(self, low: int, high: int) -> int:
        return sum(n for status, n in self.statuses.items() if low <= status <= high)

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile of the latencies, in milliseconds."""
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        rank = max(1, min(len(ordered), -(-p * len(ordered) // 100)))
        return ordered[int(rank) - 1] * 1000


def race(port: int, world: World, slots: list[str]) -> tuple[Tally, float]:
    """50 clients book the same slots, each in its own seeded random order, all at once."""
    barrier = threading.Barrier(RACE_CLIENTS)

    def client(n: int) -> Tally:
        order = list(slots)
        random.Random(SEED + n).shuffle(order)
        http_client = Client(port, world.tokens[n % len(world.tokens)])
        tally = Tally()
        barrier.wait(timeout=60)
        for slot_id in order:
            tally.add(http_client.call("POST", "/api/v1/bookings", booking_body(slot_id)))
        http_client.close()
        return tally

    total = Tally()
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=RACE_CLIENTS) as pool:
        for tally in pool.map(client, range(RACE_CLIENTS)):
            total.merge(tally)
    return total, time.perf_counter() - start


# --- (b) sustained load --------------------------------------------------------------------------

# What a client thread asks next: (method, path, JSON body), or None when it has nothing left.
Request = tuple[str, str, dict | None] | None


@dataclass
class LoadResult:
    label: str
    tally: Tally
    seconds: float
    ran_out: bool = False  # a booking thread used up its slots before the time was up

    @property
    def rps(self) -> float:
        return self.tally.count / self.seconds if self.seconds else 0.0


def sustained(
    port: int,
    label: str,
    bearers: list[str],
    next_request: Callable[[int], Request],
    *,
    seconds: float,
    clients: int,
    warm_up: int = 2,
) -> LoadResult:
    """``clients`` threads send ``next_request(thread)`` back to back for ``seconds``."""
    window: list[float] = []  # start and deadline, set once every thread has warmed up

    def go() -> None:
        now = time.perf_counter()
        window[:] = [now, now + seconds]

    barrier = threading.Barrier(clients, action=go)
    ran_out = threading.Event()

    def client(n: int) -> Tally:
        http_client = Client(port, bearers[n % len(bearers)])
        for _ in range(warm_up):  # imports, templates and caches of every worker
            request = next_request(n)
            if request is not None:
                http_client.call(*request)
        tally = Tally()
        barrier.wait(timeout=120)
        while time.perf_counter() < window[1]:
            request = next_request(n)
            if request is None:
                ran_out.set()
                break
            tally.add(http_client.call(*request))
        http_client.close()
        return tally

    total = Tally()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        for tally in pool.map(client, range(clients)):
            total.merge(tally)
    elapsed = time.perf_counter() - window[0]
    return LoadResult(label, total, elapsed, ran_out.is_set())


def load_phase(port: int, world: World, *, seconds: float, clients: int) -> dict[str, LoadResult]:
    results: dict[str, LoadResult] = {}

    def get(path: str) -> Callable[[int], Request]:
        return lambda _n: ("GET", path, None)

    results["healthz"] = sustained(
        port, "GET /healthz", world.tokens, get("/healthz"), seconds=seconds, clients=clients
    )
    results["search"] = sustained(
        port,
        "GET /api/v1/slots",
        world.tokens,
        get("/api/v1/slots"),
        seconds=seconds,
        clients=clients,
    )
    public = Client(port).call("GET", "/disponibilites")
    if public.status == 200:
        results["public"] = sustained(
            port,
            "GET /disponibilites",
            world.tokens,
            get("/disponibilites"),
            seconds=seconds,
            clients=clients,
        )
    else:
        print(f"  GET /disponibilites answered {public.status}: not measured")
    # Each thread books its own share of the free slots, so none is refused as taken.
    ids = free_slot_ids(port, world.tokens[0])
    random.Random(SEED).shuffle(ids)
    shares = [iter(ids[n::clients]) for n in range(clients)]

    def next_booking(n: int) -> Request:
        slot_id = next(shares[n], None)
        return None if slot_id is None else ("POST", "/api/v1/bookings", booking_body(slot_id))

    results["booking"] = sustained(
        port, "POST /api/v1/bookings", world.tokens, next_booking, seconds=seconds, clients=clients
    )
    return results


# --- one engine ----------------------------------------------------------------------------------


class Report:
    """Prints figures as aligned rows and remembers which must-be figures are wrong."""

    def __init__(self, engine: str) -> None:
        self.engine = engine
        self.section = ""
        self.failures: list[str] = []

    def heading(self, section: str, text: str) -> None:
        self.section = section
        print(text)

    def must(self, label: str, value: int, expected: int = 0) -> None:
        ok = value == expected
        if not ok:
            self.failures.append(
                f"{self.engine}, {self.section}: {label} = {value} (must be {expected})"
            )
        print(f"  {label:<34}{value:>6}   must be {expected:<3} {'ok' if ok else 'FAILED'}")

    def info(self, label: str, value: int) -> None:
        print(f"  {label:<34}{value:>6}")


def log_figures(log: Path) -> dict[str, int]:
    text = log.read_text(errors="replace")
    return {
        "locked": text.lower().count(LOCKED),
        "tracebacks": text.count("Traceback (most recent call last)"),
        "worker_timeouts": text.count("WORKER TIMEOUT"),
    }


def print_load_table(results: dict[str, LoadResult]) -> None:
    base = results["healthz"].rps
    print(
        f"  {'endpoint':<24}{'requests':>9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'KiB/ans':>9}{'× healthz':>11}{'target':>8}  non-2xx"
    )
    for key, result in results.items():
        t = result.tally
        ratio = result.rps / base if base else float("nan")
        target = RATIO_TARGETS.get(key)
        mark = "" if target is None else f"≥{target:g} {'ok' if ratio >= target else 'LOW'}"
        bad = {s: n for s, n in sorted(t.statuses.items()) if not 200 <= s < 300}
        print(
            f"  {result.label:<24}{t.count:>9}{result.rps:>9.1f}{t.percentile(50):>9.1f}"
            f"{t.percentile(99):>9.1f}{t.response_bytes / max(t.count, 1) / 1024:>9.1f}"
            f"{ratio:>11.2f}{mark:>8}  {bad or '-'}"
            + ("  (ran out of free slots)" if result.ran_out else "")
        )


def run_engine(name: str, url: str, *, seconds: float, clients: int, tmp: Path) -> list[str]:
    """Everything for one engine; returns the must-be figures that are wrong."""
    report = Report(name)
    print(f"\n=== {name} ===")
    start = time.perf_counter()
    migrate(url)
    world = load_world(url)
    print(
        f"setup: schema + territory, {SITES} sites, {GPS} GPs, rota {world.filled}/{world.seats} "
        f"places filled, {REGULATORS} regulator tokens, {world.free_now} slots bookable by the "
        f"SAS now: {time.perf_counter() - start:.1f} s"
    )
    log = tmp / f"gunicorn-{name.lower()}.log"
    server = Server(url, log)
    try:
        server.wait_ready()
        slots = free_slot_ids(server.port, world.tokens[0], lead=timedelta(hours=1))[:RACE_SLOTS]
        if len(slots) < RACE_SLOTS:
            raise SystemExit(f"only {len(slots)} free slots for the race")
        tally, elapsed = race(server.port, world, slots)
        check = check_database(url, slots)
        report.heading(
            "race",
            f"(a) race: {RACE_CLIENTS} clients × the same {RACE_SLOTS} slots ({tally.count} "
            f"requests) in {elapsed:.1f} s; p50 {tally.percentile(50):.0f} ms, "
            f"p99 {tally.percentile(99):.0f} ms",
        )
        report.must("bookings made (201)", tally.statuses[201], RACE_SLOTS)
        report.must("live bookings on them (database)", check.live_on_race_slots, RACE_SLOTS)
        report.must("slots with 2+ live bookings (db)", check.race_slots_booked_twice)
        report.info("409 slot_taken", tally.statuses[409])
        report.info("422", tally.statuses[422])
        other_4xx = tally.between(400, 499) - tally.statuses[409] - tally.statuses[422]
        report.must("other 4xx", other_4xx)
        report.must("5xx", tally.between(500, 599))
        report.must("no answer (connection error)", tally.statuses[0])
        report.must("'database is locked' in answers", tally.locked)
        if set(tally.codes) - {"slot_taken"}:
            print(f"  error codes: {dict(tally.codes)}")

        results = load_phase(server.port, world, seconds=seconds, clients=clients)
        report.heading("load", f"(b) load: {clients} clients, {seconds:g} s per endpoint")
        print_load_table(results)
        report.must("5xx", sum(r.tally.between(500, 599) for r in results.values()))
        report.must(
            "no answer (connection error)", sum(r.tally.statuses[0] for r in results.values())
        )
        report.must(
            "'database is locked' in answers", sum(r.tally.locked for r in results.values())
        )
        booking = results["booking"].tally
        report.must("refused bookings (4xx)", booking.between(400, 499))

        peaks = server.peak_memory()
        restarted = set(server.workers()) != server.workers_at_start
        print(
            "(c) peak memory per worker (VmHWM): "
            + ", ".join(f"{kib / 1024:.0f}" for kib in peaks.values())
            + " MiB"
            + ("  (workers were restarted during the run)" if restarted else "")
        )
    finally:
        server.stop()
    final = check_database(url, [])
    report.heading("end", f"database at the end: {final.live_bookings} live bookings")
    report.must("slots with 2+ live bookings", final.doubly_booked_slots)
    figures = log_figures(log)
    report.heading("gunicorn log", f"gunicorn log ({log.name}):")
    report.must("'database is locked'", figures["locked"])
    report.must("tracebacks", figures["tracebacks"])
    report.must("worker timeouts", figures["worker_timeouts"])
    return report.failures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engine", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--seconds", type=float, default=5.0, help="per endpoint in (b)")
    parser.add_argument("--clients", type=int, default=8, help="client threads in (b)")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TEST_DATABASE_URL") or DEFAULT_POSTGRES,
        help="a database on the server where the bench creates (and drops) its own",
    )
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep gunicorn's logs (path printed at the end)"
    )
    args = parser.parse_args()
    failures: list[str] = []
    tmp = Path(tempfile.mkdtemp(prefix="tdr_bench_logs_"))
    try:
        if args.engine in ("sqlite", "both"):
            with sqlite_database() as url:
                failures += run_engine(
                    "SQLite", url, seconds=args.seconds, clients=args.clients, tmp=tmp
                )
        if args.engine in ("postgresql", "both"):
            if postgres_reachable(args.postgres_url):
                with postgres_database(args.postgres_url) as url:
                    failures += run_engine(
                        "PostgreSQL", url, seconds=args.seconds, clients=args.clients, tmp=tmp
                    )
            elif args.engine == "postgresql":
                failures.append(f"PostgreSQL does not answer at {args.postgres_url}")
            else:
                print(f"\nPostgreSQL does not answer at {args.postgres_url}: skipped")
    finally:
        if args.keep_logs:
            print(f"\ngunicorn logs kept in {tmp}")
        else:
            for path in tmp.iterdir():
                path.unlink()
            tmp.rmdir()
    if failures:
        print("\nFAILED:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("\nall must-be-zero figures are zero")


if __name__ == "__main__":
    main()
