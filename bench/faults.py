"""Fault tests: gunicorn workers killed, PostgreSQL restarted, SQLite under write load.

Why: the booking API promises that a confirmed booking (a 201) is never lost, that a
retry with the same ``Idempotency-Key`` gets the same answer, and that a booking is
written whole (row, audit event, the GP's notification, the idempotency record) or not
at all. Those promises matter most when something breaks, so this script breaks things
on purpose, through real processes and sockets (``gunicorn -w 4``), and then checks the
database row by row. It reuses ``booking_bench``'s world (a territory open round the
clock, 50 regulators with API tokens), HTTP client and server.

Phases, for each engine (SQLite: a temporary file; PostgreSQL: a private, throw-away
cluster, ``initdb`` into a temporary directory on a free port, never the machine's
shared server, since this script stops it):

kill     (SQLite, and PostgreSQL in full mode) client threads book (each booking with
         its own Idempotency-Key), cancel, read and search while a random gunicorn
         worker is SIGKILLed every ``kill_interval``. A request cut by a kill (no
         answer) or answered 503 is retried with the same key and body until a final
         answer; for 5 % of the bookings the client also hangs up on purpose after
         sending the first try (an answer lost on the way back: the retry must get the
         stored 201). Gunicorn's master must replace each worker and the others go on
         answering: no 5xx, every request ends answered.
restart  (PostgreSQL) the same traffic, plus a thread probing a page, a logged-in page,
         the JSON API, a FHIR resource and /healthz, while the cluster is stopped (``-m
         fast``, then ``-m immediate``: a crash, recovered from the WAL), left down a few
         seconds and started again. During an outage every answer that isn't served
         without the database is a 503 in French: an HTML page, ``{"code", "message"}``
         under /api/, an OperationOutcome under /fhir/. After it, the app must recover by
         itself: no request begun once the database is back may fail.
write    (SQLite, and PostgreSQL in full mode) bookings, cancellations and audited reads
         from every worker at once: no "database is locked" anywhere, no 5xx.

Then, for the engine: every 201 the clients received is in the database with the slot
asked for and the right status (booked, or cancelled if a client cancelled it); no
booking the clients were not told about; no partial booking (every booking has its
audit event, its notification to the GP, its idempotency record pointing back at it;
every cancellation its audit event and notification); no slot booked twice; replaying
every confirmed key answers 201 with the same reference; requests made after the faults
succeed; gunicorn's log holds no "database is locked", traceback or worker time-out.

``--quick`` is the reduced form run by ``tests/test_faults.py`` in CI: on SQLite 3 kills
0.6 s apart and 3 s of write load, on PostgreSQL two 1 s outages (the cluster's fsync
off); 100 keys replayed; 15–20 s per engine on 2 cores. Exits non-zero when a must-be figure is
wrong; ``--json PATH`` writes the figures. Figures and findings: bench/README.md.
"""

from __future__ import annotations

import argparse
import glob
import http.client
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from booking_bench import (
    LOCKED,
    SEED,
    WORKERS,
    Answer,
    Client,
    Report,
    Server,
    World,
    booking_body,
    free_port,
    free_slot_ids,
    load_world,
    log_figures,
    migrate,
    sqlite_database,
)

from app import create_app
from app.enums import Role
from app.extensions import db
from app.models import AuditEvent, Territory
from app.outbox import OutboxMessage
from app.territory import services as territory_services
from booking.models import LIVE_STATUSES, Booking, IdempotencyRecord
from rota.models import Assignment

COORDINATOR = "coordination@faults.example.org"
COORDINATOR_PASSWORD = "faults-tourderole-2026"
# A client waits longer than gunicorn's worker time-out (30 s): a hung worker shows up
# as killed by the master (no answer), not as a client giving up first.
CLIENT_TIMEOUT = 35.0
RETRY_PAUSE = 0.15  # seconds between retries of one request (× 0.5–1.5)
GIVE_UP_AFTER = 60.0  # a request still without a final answer after this is "given up"
SLOT_LEAD = timedelta(minutes=20)
MESSAGE_503 = "indisponible"  # in every French 503 message
HUNG_UP = -1  # Exchange.status of a request whose client hung up before the answer
REFERENCE = re.compile(r"réf\. ([A-Z2-9]{8})")
FHIR_PREFERRED = ("Slot", "Schedule", "Appointment", "PractitionerRole")


@dataclass(frozen=True)
class Plan:
    clients: int  # booking threads
    kills: int
    kill_interval: float  # seconds between two kills
    outages: tuple[tuple[str, float], ...]  # (pg_ctl stop mode, seconds down)
    lead: float  # seconds of traffic before the first outage
    between: float  # seconds of traffic between outages and after the last one
    write_seconds: float
    write_on_postgres: bool
    kill_on_postgres: bool
    replays: int | None = None  # confirmed keys resent at the end (None: all of them)
    # PostgreSQL's fsync: off saves seconds per restart (no shutdown-checkpoint or
    # data-directory sync). The faults are process restarts, not power cuts: what was
    # written survives in the OS's cache either way, so the app's promises are tested
    # the same.
    fsync: bool = True


FULL = Plan(
    clients=8,
    kills=12,
    kill_interval=1.5,
    outages=(("fast", 5.0), ("immediate", 5.0)),
    lead=2.0,
    between=3.0,
    write_seconds=20.0,
    write_on_postgres=True,
    kill_on_postgres=True,
)
QUICK = Plan(
    clients=6,
    kills=3,
    kill_interval=0.6,
    outages=(("fast", 1.0), ("immediate", 1.0)),
    lead=0.5,
    between=1.0,
    write_seconds=3.0,
    write_on_postgres=False,
    kill_on_postgres=False,
    replays=100,
    fsync=False,
)


# --- a private PostgreSQL cluster ----------------------------------------------------------------


class ClusterUnavailable(Exception):
    """No PostgreSQL server binaries, or no way to run them here."""


def postgres_bindir() -> Path:
    """The newest ``/usr/lib/postgresql/*/bin`` with ``initdb``, else ``pg_config --bindir``."""

    def version(path: str) -> float:
        try:
            return float(Path(path).parent.name)
        except ValueError:
            return 0.0

    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True):
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    if pg_config := shutil.which("pg_config"):
        bindir = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if bindir and (Path(bindir) / "initdb").exists():
            return Path(bindir)
    if initdb := shutil.which("initdb"):
        return Path(initdb).parent
    raise ClusterUnavailable("PostgreSQL server binaries (initdb, pg_ctl) not found")


class PrivateCluster:
    """A throw-away PostgreSQL cluster of this run: trust auth, 127.0.0.1 and a free port.

    ``initdb`` refuses to run as root: as root, the cluster belongs to the ``postgres``
    account and its commands run through ``runuser``.
    """

    def __init__(self, *, fsync: bool = True) -> None:
        self.fsync = fsync
        self.bindir = postgres_bindir()
        self.prefix: list[str] = []
        self.root = Path(tempfile.mkdtemp(prefix="tdr_faults_pg_"))
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                raise ClusterUnavailable("running as root without runuser")
            try:
                shutil.chown(self.root, user="postgres")
            except LookupError as exc:
                raise ClusterUnavailable("running as root and no postgres account") from exc
            self.prefix = [runuser, "-u", "postgres", "--"]
        self.data = self.root / "data"
        self.log = self.root / "postgresql.log"
        self.port = free_port()
        try:
            self._init()
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise

    def _init(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        )
        self.start()

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run(
            [*self.prefix, str(self.bindir / program), *args],
            cwd=self.root,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed ({done.returncode}):\n{done.stderr[-2000:]}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        if not self.fsync:
            options += " -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        with suppress(RuntimeError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def private_postgres(*, fsync: bool = True) -> Iterator[tuple[PrivateCluster, str]]:
    """The cluster and the URL of a database ``tourderole`` on it; all gone at the end."""
    cluster = PrivateCluster(fsync=fsync)
    try:
        admin = sa.create_engine(cluster.admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text('CREATE DATABASE "tourderole"'))
        admin.dispose()
        yield cluster, cluster.admin_url.rsplit("/", 1)[0] + "/tourderole"
    finally:
        cluster.destroy()


# --- what the clients saw ------------------------------------------------------------------------


def family(path: str) -> str:
    if path.startswith("/api/"):
        return "api"
    if path.startswith("/fhir"):
        return "fhir"
    if path == "/healthz":
        return "health"
    return "page"


def well_formed_503(path: str, answer: Answer) -> bool:
    """A 503 in French, shaped for its audience (see app/errors.py)."""
    kind = answer.headers.get("content-type", "")
    text = answer.body.decode("utf-8", "replace")
    try:
        if family(path) == "page":
            return kind.startswith("text/html") and 'lang="fr"' in text and MESSAGE_503 in text
        body = json.loads(text)
        if family(path) == "fhir":
            issue = body["issue"][0]
            return (
                kind.startswith("application/fhir+json")
                and body["resourceType"] == "OperationOutcome"
                and issue["code"] == "transient"
                and MESSAGE_503 in issue["details"]["text"]
            )
        if family(path) == "health":
            return body["status"] == "unavailable" and "base de données" in body["message"]
        return (
            kind.startswith("application/json")
            and isinstance(body["code"], str)
            and MESSAGE_503 in body["message"]
        )
    except (ValueError, KeyError, IndexError, TypeError):
        return False


@dataclass
class Exchange:
    """One request and its answer; times from ``time.monotonic()``."""

    label: str  # "POST /api/v1/bookings", "GET /disponibilites"…
    status: int
    started: float
    ended: float
    shape_ok: bool | None = None  # for 503s: French and shaped for the path
    locked: bool = False  # "database is locked" in the answer


@dataclass
class Attempt:
    """One booking, with its key, to its final answer (through retries)."""

    token: int
    key: str
    slot_id: str
    status: int | None = None  # None: given up without a final answer
    reference: str | None = None
    replayed: bool = False  # the 201 came from the idempotency record
    tries: int = 0


@dataclass
class Cancellation:
    token: int
    reference: str
    done: bool | None = None  # True: 200, or 409 already_cancelled after a retry


@dataclass
class Traffic:
    """Everything one phase's threads did (each thread appends to its own copy)."""

    exchanges: list[Exchange] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    cancellations: list[Cancellation] = field(default_factory=list)

    def merge(self, other: Traffic) -> None:
        self.exchanges += other.exchanges
        self.attempts += other.attempts
        self.cancellations += other.cancellations


def retryable(answer: Answer) -> bool:
    """No answer, a 503, or the same key still being processed by a cut request."""
    if answer.status in (0, 502, 503):
        return True
    return answer.status == 409 and b"idempotency_in_progress" in answer.body


class Caller:
    """One client thread's connection; records every exchange and retries until final."""

    def __init__(self, port: int, token: str, traffic: Traffic, rng: random.Random) -> None:
        self.client = Client(port, token, timeout=CLIENT_TIMEOUT)
        self.traffic = traffic
        self.rng = rng

    def once(self, method: str, path: str, payload: dict | None = None, **headers: str) -> Answer:
        started = time.monotonic()
        answer = self.client.call(method, path, payload, headers)
        record(self.traffic, f"{method} {path.split('?')[0]}", path, answer, started)
        return answer

    def hang_up(self, method: str, path: str, payload: dict, **headers: str) -> None:
        """Send the request and close the connection without reading the answer.

        The server still handles it (a sync worker notices the closed connection only
        when it writes the answer): for the client, a booking lost on the way back.
        """
        conn = http.client.HTTPConnection("127.0.0.1", self.client.conn.port, timeout=5)
        started = time.monotonic()
        with suppress(OSError, http.client.HTTPException):
            conn.request(
                method,
                path,
                body=json.dumps(payload).encode(),
                headers={**self.client.headers, **headers, "Content-Type": "application/json"},
            )
        conn.close()
        self.traffic.exchanges.append(
            Exchange(f"{method} {path}", HUNG_UP, started, time.monotonic())
        )

    def final(
        self,
        method: str,
        path: str,
        payload: dict | None = None,
        *,
        hang_up_first: bool = False,
        **headers: str,
    ) -> tuple[Answer | None, int]:
        """The first answer that isn't worth retrying, or ``None`` after GIVE_UP_AFTER.

        ``hang_up_first``: the first try is sent and abandoned (see ``hang_up``).
        """
        deadline = time.monotonic() + GIVE_UP_AFTER
        tries = 0
        if hang_up_first and payload is not None:
            self.hang_up(method, path, payload, **headers)
            tries += 1
            time.sleep(RETRY_PAUSE * self.rng.uniform(0.5, 1.5))
        while True:
            answer = self.once(method, path, payload, **headers)
            tries += 1
            if not retryable(answer):
                return answer, tries
            if time.monotonic() > deadline:
                return None, tries
            time.sleep(RETRY_PAUSE * self.rng.uniform(0.5, 1.5))


def record(traffic: Traffic, label: str, path: str, answer: Answer, started: float) -> None:
    traffic.exchanges.append(
        Exchange(
            label=label,
            status=answer.status,
            started=started,
            ended=time.monotonic(),
            shape_ok=well_formed_503(path, answer) if answer.status == 503 else None,
            locked=LOCKED.encode() in answer.body.lower(),
        )
    )


class SlotSource:
    """Free slots handed out once each, plus a few "hot" slots every client tries."""

    def __init__(self, ids: list[str], hot: int) -> None:
        shuffled = list(ids)
        random.Random(SEED).shuffle(shuffled)
        self.hot = shuffled[:hot]
        self._free = deque(shuffled[hot:])
        self._lock = threading.Lock()

    def take(self) -> str | None:
        with self._lock:
            return self._free.popleft() if self._free else None

    def left(self) -> int:
        return len(self._free)


@dataclass(frozen=True)
class Mix:
    """Shares of each action in a client's loop (the rest books)."""

    cancel: float
    read: float
    search: float
    hot: float  # share of bookings aimed at a hot slot (409s)
    hang_up: float  # share of bookings whose first try the client abandons


TRAFFIC_MIX = Mix(cancel=0.08, read=0.05, search=0.07, hot=0.1, hang_up=0.05)
WRITE_MIX = Mix(cancel=0.25, read=0.15, search=0.1, hot=0.05, hang_up=0.05)


def client_loop(
    n: int,
    phase: str,
    port: int,
    world: World,
    slots: SlotSource,
    mix: Mix,
    stop: threading.Event,
) -> Traffic:
    """Book, cancel, read and search until ``stop``; every booking carries a key."""
    traffic = Traffic()
    rng = random.Random(f"{SEED}-{phase}-{n}")
    token = n % len(world.tokens)
    caller = Caller(port, world.tokens[token], traffic, rng)
    hot = list(slots.hot)
    rng.shuffle(hot)
    mine: list[str] = []  # references this thread booked and may cancel or read
    count = 0
    while not stop.is_set():
        roll = rng.random()
        if mine and roll < mix.cancel:
            reference = mine.pop(rng.randrange(len(mine)))
            cancellation = Cancellation(token, reference)
            answer, tries = caller.final(
                "DELETE", f"/api/v1/bookings/{reference}", {"reason": "Essai de panne"}
            )
            if answer is not None:
                cancellation.done = answer.status == 200 or (
                    tries > 1 and answer.status == 409 and b"already_cancelled" in answer.body
                )
            traffic.cancellations.append(cancellation)
            continue
        roll -= mix.cancel
        if mine and roll < mix.read:
            caller.final("GET", f"/api/v1/bookings/{rng.choice(mine)}")
            continue
        roll -= mix.read
        if roll < mix.search:
            caller.final("GET", "/api/v1/slots?limit=5")
            continue
        slot_id = hot.pop() if hot and rng.random() < mix.hot else slots.take()
        if slot_id is None:  # no free slot left: read instead
            caller.final("GET", "/api/v1/slots?limit=5")
            continue
        count += 1
        attempt = Attempt(token, f"faults-{phase}-{n}-{count}", slot_id)
        answer, attempt.tries = caller.final(
            "POST",
            "/api/v1/bookings",
            booking_body(slot_id),
            hang_up_first=rng.random() < mix.hang_up,
            **{"Idempotency-Key": attempt.key},
        )
        if answer is not None:
            attempt.status = answer.status
            attempt.replayed = answer.headers.get("idempotent-replayed") == "true"
            if answer.status == 201:
                attempt.reference = json.loads(answer.body)["reference"]
                mine.append(attempt.reference)
        traffic.attempts.append(attempt)
    caller.client.close()
    return traffic


# --- pages with a login ------------------------------------------------------------------------


class Browser:
    """A browser stand-in: keeps cookies, fills the login form with its CSRF token."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def call(self, method: str, path: str, form: dict[str, str] | None = None) -> Answer:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=CLIENT_TIMEOUT)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        start = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            return Answer(0, repr(exc).encode(), time.perf_counter() - start)
        finally:
            conn.close()
        for cookie in response.msg.get_all("Set-Cookie") or []:
            name, _, value = cookie.split(";", 1)[0].partition("=")
            self.cookies[name.strip()] = value.strip()
        received = {name.lower(): value for name, value in response.getheaders()}
        return Answer(response.status, data, time.perf_counter() - start, received)

    def login(self, email: str, password: str) -> None:
        page = self.call("GET", "/connexion").body.decode()
        field_html = re.search(r'<input[^>]*name="csrf_token"[^>]*>', page)
        token = re.search(r'value="([^"]+)"', field_html.group(0)) if field_html else None
        if token is None:
            raise SystemExit("login form without a CSRF token")
        form = {"email": email, "password": password, "csrf_token": token.group(1), "next": ""}
        answer = self.call("POST", "/connexion", form)
        if answer.status != 302:
            raise SystemExit(f"login answered {answer.status}")


def add_coordinator(url: str, world: World) -> None:
    """A coordinator with a password, for the logged-in page probe."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "faults"})
    with app.app_context():
        territory = db.session.scalar(sa.select(Territory).where(Territory.slug == world.slug))
        territory_services.create_user(
            email=COORDINATOR,
            role=Role.COORDINATOR,
            territory=territory,
            password=COORDINATOR_PASSWORD,
            by=None,
        )
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def fhir_probe_path(url: str) -> str:
    """A FHIR search that needs the database: Slot if the FHIR blueprint has it."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "faults"})
    rules = [
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/fhir/") and "GET" in (rule.methods or ()) and not rule.arguments
    ]
    with app.app_context():
        db.engine.dispose()
    for wanted in FHIR_PREFERRED:
        for rule in rules:
            if rule.rstrip("/").endswith("/" + wanted):
                return rule
    return "/fhir/Slot"


def probe_loop(
    port: int, world: World, browser: Browser, fhir_path: str, stop: threading.Event
) -> Traffic:
    """Pages (anonymous and logged-in), the API, FHIR and /healthz, round and round."""
    traffic = Traffic()
    api = Client(port, world.tokens[-1], timeout=CLIENT_TIMEOUT)
    probes: list[tuple[str, Callable[[], Answer]]] = [
        ("/disponibilites", lambda: browser.call("GET", "/disponibilites")),
        ("/coordination", lambda: browser.call("GET", "/coordination")),
        ("/api/v1/slots?limit=5", lambda: api.call("GET", "/api/v1/slots?limit=5")),
        (fhir_path, lambda: api.call("GET", fhir_path)),
        ("/healthz", lambda: api.call("GET", "/healthz")),
    ]
    while not stop.is_set():
        for path, probe in probes:
            started = time.monotonic()
            record(traffic, f"GET {path.split('?')[0]}", path, probe(), started)
            time.sleep(0.03)
    api.close()
    return traffic


# --- phases --------------------------------------------------------------------------------------


@dataclass
class PhaseRun:
    traffic: Traffic
    started: float
    ended: float
    events: dict = field(default_factory=dict)  # what the fault side measured


def run_phase(
    phase: str,
    server: Server,
    world: World,
    slots: SlotSource,
    plan: Plan,
    mix: Mix,
    faults: Callable[[], dict],
    *,
    browser: Browser,
    fhir_path: str,
) -> PhaseRun:
    """Client threads and one probe thread run while ``faults()`` does its damage."""
    stop = threading.Event()
    results: list[Traffic] = []
    errors: list[BaseException] = []

    def run(target: Callable[..., Traffic], *args: object) -> None:
        try:
            results.append(target(*args))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [
        threading.Thread(
            target=run, args=(client_loop, n, phase, server.port, world, slots, mix, stop)
        )
        for n in range(plan.clients)
    ]
    threads.append(
        threading.Thread(
            target=run, args=(probe_loop, server.port, world, browser, fhir_path, stop)
        )
    )
    started = time.monotonic()
    for thread in threads:
        thread.start()
    try:
        events = faults()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    traffic = Traffic()
    for part in results:
        traffic.merge(part)
    return PhaseRun(traffic, started, time.monotonic(), events)


def kill_workers(server: Server, plan: Plan) -> dict:
    """SIGKILL a random worker every ``kill_interval``; time how long the master takes."""
    rng = random.Random(SEED)
    respawns: list[float] = []
    kills: list[float] = []
    time.sleep(plan.kill_interval)
    for _ in range(plan.kills):
        victim = rng.choice([pid for pid in server.workers() if not zombie(pid)])
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        kills.append(killed_at)
        while True:
            alive = [pid for pid in server.workers() if pid != victim and not zombie(pid)]
            if len(alive) == WORKERS:
                respawns.append(time.monotonic() - killed_at)
                break
            if time.monotonic() - killed_at > 30:
                raise SystemExit("gunicorn did not replace a killed worker within 30 s")
            time.sleep(0.02)
        time.sleep(max(0.0, plan.kill_interval - (time.monotonic() - killed_at)))
    return {"kills": kills, "respawns": respawns}


def zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] in ("Z", "X")


def restart_database(cluster: PrivateCluster, plan: Plan) -> dict:
    """Stop the cluster, keep it down, start it again; once per planned outage."""
    outages = []
    time.sleep(plan.lead)
    for mode, seconds in plan.outages:
        down_at = time.monotonic()
        cluster.stop(mode)
        stopped_at = time.monotonic()
        time.sleep(seconds)
        starting_at = time.monotonic()
        cluster.start()  # -w: returns once the server accepts connections
        up_at = time.monotonic()
        outages.append(
            {
                "mode": mode,
                "down_at": down_at,
                "up_at": up_at,
                "stop_seconds": stopped_at - down_at,
                "start_seconds": up_at - starting_at,
            }
        )
        time.sleep(plan.between)
    return {"outages": outages}


def just_wait(seconds: float) -> Callable[[], dict]:
    def wait() -> dict:
        time.sleep(seconds)
        return {}

    return wait


# --- figures -------------------------------------------------------------------------------------


class Figures(Report):
    """booking_bench's report, keeping every figure for ``--json``."""

    def __init__(self, engine: str) -> None:
        super().__init__(engine)
        self.values: dict[str, dict[str, float]] = {}

    def keep(self, label: str, value: float) -> None:
        self.values.setdefault(self.section, {})[label] = value

    def must(self, label: str, value: int, expected: int = 0) -> None:
        self.keep(label, value)
        super().must(label, value, expected)

    def info(self, label: str, value: int) -> None:
        self.keep(label, value)
        super().info(label, value)

    def seconds(self, label: str, value: float) -> None:
        self.keep(label, round(value, 3))
        print(f"  {label:<34}{value:>6.2f} s")

    def at_least(self, label: str, value: int, minimum: int) -> None:
        self.keep(label, value)
        ok = value >= minimum
        if not ok:
            self.failures.append(
                f"{self.engine}, {self.section}: {label} = {value} (must be ≥ {minimum})"
            )
        print(f"  {label:<34}{value:>6}   must be ≥{minimum:<2} {'ok' if ok else 'FAILED'}")


def traffic_figures(report: Figures, run: PhaseRun, outages: list[dict]) -> None:
    """Counts of a phase; 503s are excused only while the database was down."""
    exchanges = run.traffic.exchanges

    def during_outage(x: Exchange) -> bool:
        return any(x.started <= o["up_at"] and x.ended >= o["down_at"] for o in outages)

    statuses = Counter(x.status for x in exchanges)
    outage_503 = [x for x in exchanges if x.status == 503 and during_outage(x)]
    excused = {id(x) for x in outage_503}
    other_5xx = [x for x in exchanges if x.status >= 500 and id(x) not in excused]
    attempts = run.traffic.attempts
    report.info("requests sent", len(exchanges))
    report.info("bookings asked (keys)", len(attempts))
    report.info("201 booked", sum(a.status == 201 for a in attempts))
    report.info("  of which replayed on a retry", sum(a.replayed for a in attempts))
    report.info("409 (slot taken…)", statuses[409])
    report.info("cancellations", sum(bool(c.done) for c in run.traffic.cancellations))
    report.info("no answer (cut, then retried)", statuses[0])
    report.info("client hung up (then retried)", statuses[HUNG_UP])
    if outages:
        report.at_least("503 during the outages", len(outage_503), 1)
        report.must("503 not in French / wrong shape", sum(not x.shape_ok for x in outage_503))
        for kind in ("page", "api", "fhir"):
            report.info(
                f"  503 on {kind}",
                sum(family(x.label.split(" ", 1)[1]) == kind for x in outage_503),
            )
    report.must("5xx other than the outages' 503", len(other_5xx))
    if other_5xx:
        print(f"    {Counter((x.label, x.status) for x in other_5xx).most_common(5)}")
    report.must("given up without a final answer", sum(a.status is None for a in attempts))
    report.must(
        "cancellations without an answer", sum(c.done is None for c in run.traffic.cancellations)
    )
    report.must("'database is locked' in answers", sum(x.locked for x in exchanges))


def recovery_figures(report: Figures, run: PhaseRun) -> None:
    """How long the app took to serve again once the database was back.

    A request counts as "after" if it began once ``pg_ctl start`` had returned and ended
    before the next outage began: none of those may fail.
    """
    outages = run.events["outages"]
    db_requests = [
        x
        for x in run.traffic.exchanges
        if x.label in ("POST /api/v1/bookings", "GET /api/v1/slots", "GET /coordination")
    ]
    failed: list[Exchange] = []
    for n, outage in enumerate(outages, 1):
        up = outage["up_at"]
        report.seconds(f"outage {n} (-m {outage['mode']}): down for", up - outage["down_at"])
        report.seconds(f"outage {n}: pg_ctl stop took", outage["stop_seconds"])
        report.seconds(f"outage {n}: pg_ctl start took", outage["start_seconds"])
        first_ok = min(
            (x.ended for x in db_requests if x.started >= up and 200 <= x.status < 500),
            default=None,
        )
        if first_ok is None:
            report.failures.append(f"{report.engine}, restart: nothing succeeded after outage {n}")
            print(f"  outage {n}: no request succeeded after it   FAILED")
        else:
            report.seconds(f"outage {n}: seconds to recover", first_ok - up)
        next_down = outages[n]["down_at"] if n < len(outages) else run.ended
        failed += [
            x
            for x in run.traffic.exchanges
            if up <= x.started and x.ended < next_down and (x.status >= 500 or x.status == 0)
        ]
    report.must("failed once the database was back", len(failed))
    for x in failed[:5]:
        print(f"    {x.label} answered {x.status}")


def kill_figures(report: Figures, run: PhaseRun) -> None:
    report.info("workers SIGKILLed", len(run.events["kills"]))
    report.seconds("slowest worker replacement", max(run.events["respawns"], default=0.0))
    good = sorted(x.ended for x in run.traffic.exchanges if 200 <= x.status < 500)
    gaps = [b - a for a, b in zip(good, good[1:], strict=False)]
    report.seconds("longest stretch without an answer", max(gaps, default=0.0))


# --- the database, row by row --------------------------------------------------------------------


def check_database(url: str, traffic: Traffic) -> dict[str, int]:
    """Confirmed bookings present, nothing partial, nothing nobody was told about."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "faults"})
    with app.app_context():
        bookings = {b.reference: b for b in db.session.scalars(sa.select(Booking))}
        by_id = {b.id: b for b in bookings.values()}
        audited = {
            (action, target)
            for action, target in db.session.execute(
                sa.select(AuditEvent.action, AuditEvent.target_id).where(
                    AuditEvent.target_type == "Booking"
                )
            )
        }
        notified: dict[str, set[str]] = {"new": set(), "cancelled": set()}
        for subject, body in db.session.execute(
            sa.select(OutboxMessage.subject, OutboxMessage.body)
        ):
            kind = "cancelled" if "annulé" in subject else "new"
            notified[kind].update(REFERENCE.findall(body))
        holders = {
            (a.session_id, a.seat): a.practitioner.email
            for a in db.session.scalars(sa.select(Assignment))
        }
        records = list(db.session.scalars(sa.select(IdempotencyRecord)))
        position = (Booking.session_id, Booking.seat, Booking.slot_index)
        doubles = db.session.execute(
            sa.select(*position)
            .where(Booking.status.in_(LIVE_STATUSES))
            .group_by(*position)
            .having(sa.func.count() > 1)
        ).all()

        confirmed = {a.reference: a for a in traffic.attempts if a.status == 201}
        cancelled = {c.reference for c in traffic.cancellations if c.done}
        lost = [ref for ref in confirmed if ref not in bookings]
        wrong = 0
        for ref, attempt in confirmed.items():
            booking = bookings.get(ref)
            if booking is None:
                continue
            expected = "cancelled" if ref in cancelled else "booked"
            if booking.slot_id != attempt.slot_id or booking.status.value != expected:
                wrong += 1
        told = set(confirmed)
        unconfirmed = [ref for ref in bookings if ref not in told]

        partial = Counter()
        record_for: dict[str, IdempotencyRecord] = {}
        for item in records:
            reference = (item.body or {}).get("reference")
            booking = bookings.get(reference) if item.status_code == 201 else None
            if booking is None or booking.booked_by_id != item.user_id:
                partial["idempotency record pointing to nothing"] += 1
            else:
                record_for[reference] = item
        for ref, booking in bookings.items():
            complete = booking.purged_at is not None or all(
                value is not None
                for value in (
                    booking.family_name,
                    booking.given_name,
                    booking.birth_date,
                    booking.phone,
                )
            )
            if not complete or booking.booked_by_id is None or booking.created_at is None:
                partial["booking row incomplete"] += 1
            if ("booking.create", str(booking.id)) not in audited:
                partial["booking without its audit event"] += 1
            email = holders.get((booking.session_id, booking.seat))
            if email and booking.starts_at - booking.created_at <= timedelta(hours=24):
                if ref not in notified["new"]:
                    partial["booking without its notification"] += 1
            if ref not in record_for:
                partial["booking without its idempotency record"] += 1
            if booking.status.value == "cancelled":
                if booking.cancel_reason is None or booking.cancelled_by_id is None:
                    partial["cancellation incomplete"] += 1
                if ("booking.cancel", str(booking.id)) not in audited:
                    partial["cancellation without its audit event"] += 1
                if email and booking.starts_at > booking.updated_at:
                    if ref not in notified["cancelled"]:
                        partial["cancellation without its notification"] += 1
        result = {
            "bookings in the database": len(bookings),
            "cancelled in the database": sum(b.status.value == "cancelled" for b in by_id.values()),
            "confirmed bookings lost": len(lost),
            "confirmed with wrong slot/status": wrong,
            "booked, nobody told (no 201)": len(unconfirmed),
            "partial (total)": sum(partial.values()),
            "slots with 2+ live bookings": len(doubles),
        }
        result.update({f"  {label}": n for label, n in sorted(partial.items())})
        db.session.remove()
        db.engine.dispose()
    return result


def replay_all(port: int, world: World, traffic: Traffic, limit: int | None) -> tuple[int, int]:
    """Resend confirmed bookings with their keys: same 201 and reference, else a mismatch.

    ``limit``: a sample, those confirmed after a retry first (``None``: every one).
    """
    confirmed = sorted(
        (a for a in traffic.attempts if a.status == 201), key=lambda a: a.tries == 1
    )[:limit]
    lock = threading.Lock()
    mismatches = 0

    def replay(chunk: list[Attempt]) -> None:
        nonlocal mismatches
        clients: dict[int, Client] = {}
        for attempt in chunk:
            client = clients.setdefault(
                attempt.token, Client(port, world.tokens[attempt.token], timeout=CLIENT_TIMEOUT)
            )
            answer = client.call(
                "POST",
                "/api/v1/bookings",
                booking_body(attempt.slot_id),
                {"Idempotency-Key": attempt.key},
            )
            same = (
                answer.status == 201
                and answer.headers.get("idempotent-replayed") == "true"
                and json.loads(answer.body)["reference"] == attempt.reference
            )
            if not same:
                with lock:
                    mismatches += 1
        for client in clients.values():
            client.close()

    threads = [threading.Thread(target=replay, args=(confirmed[n::8],)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(confirmed), mismatches


def afterwards(port: int, world: World, slots: SlotSource, traffic: Traffic) -> int:
    """Requests once the faults are over: every one must succeed. Returns the failures."""
    client = Client(port, world.tokens[0], timeout=CLIENT_TIMEOUT)
    failures = 0
    for _ in range(3):
        failures += client.call("GET", "/healthz").status != 200
        failures += client.call("GET", "/api/v1/slots?limit=5").status != 200
        failures += Browser(port).call("GET", "/disponibilites").status != 200
        slot_id = slots.take()
        if slot_id is None:
            continue
        attempt = Attempt(0, f"faults-after-{slot_id}", slot_id, tries=1)
        answer = client.call(
            "POST", "/api/v1/bookings", booking_body(slot_id), {"Idempotency-Key": attempt.key}
        )
        attempt.status = answer.status
        if answer.status == 201:
            attempt.reference = json.loads(answer.body)["reference"]
        else:
            failures += 1
        traffic.attempts.append(attempt)
    client.close()
    return failures


# --- one engine ----------------------------------------------------------------------------------


def run_engine(
    name: str,
    url: str,
    plan: Plan,
    tmp: Path,
    cluster: PrivateCluster | None = None,
) -> Figures:
    report = Figures(name)
    print(f"\n=== {name} ===")
    start = time.monotonic()
    migrate(url)
    world = load_world(url)
    add_coordinator(url, world)
    fhir_path = fhir_probe_path(url)
    log = tmp / f"gunicorn-faults-{name.lower()}.log"
    server = Server(url, log)
    everything = Traffic()
    try:
        server.wait_ready()
        slots = SlotSource(free_slot_ids(server.port, world.tokens[0], lead=SLOT_LEAD), hot=12)
        browser = Browser(server.port)
        browser.login(COORDINATOR, COORDINATOR_PASSWORD)
        if browser.call("GET", "/coordination").status != 200:
            raise SystemExit("the coordinator's page does not answer 200 after login")
        print(
            f"setup {time.monotonic() - start:.1f} s: {slots.left()} free slots, "
            f"{plan.clients} client threads + 1 probe thread (FHIR probe: {fhir_path})"
        )

        if cluster is None or plan.kill_on_postgres:
            run = run_phase(
                "kill",
                server,
                world,
                slots,
                plan,
                TRAFFIC_MIX,
                lambda: kill_workers(server, plan),
                browser=browser,
                fhir_path=fhir_path,
            )
            report.heading(
                "kill",
                f"kill: {plan.kills} workers SIGKILLed, one every {plan.kill_interval:g} s, "
                f"{run.ended - run.started:.1f} s",
            )
            kill_figures(report, run)
            traffic_figures(report, run, [])
            everything.merge(run.traffic)

        if cluster is not None:
            run = run_phase(
                "restart",
                server,
                world,
                slots,
                plan,
                TRAFFIC_MIX,
                lambda: restart_database(cluster, plan),
                browser=browser,
                fhir_path=fhir_path,
            )
            modes = ", ".join(f"-m {mode} for {s:g} s" for mode, s in plan.outages)
            report.heading(
                "restart",
                f"restart: PostgreSQL stopped ({modes}) under load, {run.ended - run.started:.1f} s",
            )
            recovery_figures(report, run)
            traffic_figures(report, run, run.events["outages"])
            everything.merge(run.traffic)

        if cluster is None or plan.write_on_postgres:
            run = run_phase(
                "write",
                server,
                world,
                slots,
                plan,
                WRITE_MIX,
                just_wait(plan.write_seconds),
                browser=browser,
                fhir_path=fhir_path,
            )
            report.heading(
                "write",
                f"write: {plan.clients} writers (book, cancel, audited reads) on {WORKERS} "
                f"workers for {plan.write_seconds:g} s",
            )
            traffic_figures(report, run, [])
            report.must("no answer", Counter(x.status for x in run.traffic.exchanges)[0])
            everything.merge(run.traffic)

        report.heading("after", "after the faults:")
        report.must("failed requests", afterwards(server.port, world, slots, everything))
        resent, mismatches = replay_all(server.port, world, everything, plan.replays)
        report.info("confirmed keys resent", resent)
        report.must("replays with another answer", mismatches)
        if slots.left() == 0:
            print("  (the free slots ran out: later bookings read instead)")
    finally:
        server.stop()

    report.heading("database", "database, row by row:")
    for label, value in check_database(url, everything).items():
        if label in ("bookings in the database", "cancelled in the database"):
            report.info(label, value)
        else:
            report.must(label, value)
    report.heading("log", f"gunicorn log ({log.name}):")
    figures = log_figures(log)
    report.must("'database is locked'", figures["locked"])
    report.must("tracebacks", figures["tracebacks"])
    if figures["tracebacks"]:
        text = log.read_text(errors="replace")
        first = text.index("Traceback (most recent call last)")
        print("    first traceback:\n      " + "\n      ".join(text[first:].splitlines()[:60]))
    report.must("worker timeouts", figures["worker_timeouts"])
    report.info("workers SIGKILLed (log)", log.read_text(errors="replace").count("SIGKILL"))
    print(f"{name}: {time.monotonic() - start:.1f} s in all")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engine", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--quick", action="store_true", help="the reduced form CI runs")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--keep-logs", action="store_true", help="keep gunicorn's logs")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    print(f"plan ({'quick' if args.quick else 'full'}): {asdict(plan)}")
    require_postgres = args.engine == "postgresql" or os.environ.get("REQUIRE_POSTGRES") == "1"
    reports: list[Figures] = []
    failures: list[str] = []
    postgres_unavailable = None
    tmp = Path(tempfile.mkdtemp(prefix="tdr_faults_logs_"))
    try:
        if args.engine in ("sqlite", "both"):
            with sqlite_database() as url:
                reports.append(run_engine("SQLite", url, plan, tmp))
        if args.engine in ("postgresql", "both"):
            try:
                with private_postgres(fsync=plan.fsync) as (cluster, url):
                    reports.append(run_engine("PostgreSQL", url, plan, tmp, cluster))
            except ClusterUnavailable as exc:
                postgres_unavailable = str(exc)
                if require_postgres:
                    failures.append(f"PostgreSQL: {exc}")
                print(f"\nPostgreSQL: {exc}: {'FAILED' if require_postgres else 'skipped'}")
    finally:
        if args.keep_logs:
            print(f"\ngunicorn logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    for report in reports:
        failures += report.failures
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "plan": asdict(plan),
                    "figures": {r.engine: r.values for r in reports},
                    "failures": failures,
                    "postgres_unavailable": postgres_unavailable,
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    if failures:
        print("\nFAILED:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("\nall must-be figures are right")


if __name__ == "__main__":
    main()
