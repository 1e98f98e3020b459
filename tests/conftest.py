"""Fixtures: the app on each database engine, a clean database per test, factories, auth.

Every test that takes ``app`` (or anything built on it) runs twice: on SQLite and on
PostgreSQL (``TEST_DATABASE_URL``). Without that variable the PostgreSQL half is
skipped, unless ``REQUIRE_POSTGRES=1`` turns the absence into a failure.
"""

from __future__ import annotations

import functools
import itertools
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.enums import Profession, Role, SiteKind
from app.extensions import db
from app.models import Practitioner, Site, Territory, User
from app.territory import services
from app.territory.services import PractitionerData, SiteData, TerritorySettings

PASSWORD = "correct horse battery staple"
POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "")
REQUIRE_POSTGRES = os.environ.get("REQUIRE_POSTGRES") == "1"

# Luhn-valid fictitious RPPS numbers for tests (computed, not real people).
_rpps_counter = itertools.count(1)


def luhn_complete(body: str) -> str:
    """Append the Luhn check digit to ``body``."""
    from app.validators import luhn_valid

    return next(body + str(d) for d in range(10) if luhn_valid(body + str(d)))


def next_rpps() -> str:
    return luhn_complete(f"1999{next(_rpps_counter):06d}")


def _postgres_available(url: str) -> bool:
    try:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
        return True
    except sa.exc.OperationalError:
        return False


@pytest.fixture(scope="session")
def database_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A fresh SQLite file, and a PostgreSQL database of this run's own.

    Each run (and each xdist worker) creates its own database next to TEST_DATABASE_URL's
    and drops it at the end, so two runs on one server never truncate each other's tables.
    """
    sqlite_path = tmp_path_factory.mktemp("db") / "test.sqlite3"
    urls = {"sqlite": f"sqlite:///{sqlite_path}"}
    name = None
    if POSTGRES_URL and _postgres_available(POSTGRES_URL):
        name = f"tdr_run_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        urls["postgresql"] = (
            sa.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
        )
    elif POSTGRES_URL:
        urls["postgresql"] = POSTGRES_URL  # unreachable: the backend fixture reports it
    yield urls
    if name is not None:
        admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


_schema_ready: set[str] = set()


class IsolatedClient(FlaskClient):
    """A test client whose requests don't inherit the logged-in user of earlier requests.

    Tests keep an app context open (so they can use ``db.session``), and Flask reuses it
    for requests; Flask-Login caches the user on ``g``, which would then leak from one
    request, or one client, to the next. Forgetting it makes every request load its own
    user from its own cookie, as in production.
    """

    def open(self, *args: Any, **kwargs: Any):
        from flask import g

        try:
            g.pop("_login_user", None)
        except RuntimeError:  # no app context: nothing cached
            pass
        return super().open(*args, **kwargs)


def _make_app(url: str, **overrides: Any) -> Flask:
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": url,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "SESSION_COOKIE_SECURE": False,
        "SERVER_NAME": "tdr.test",
        "MAIL_BACKEND": "log",  # production refuses to send without a chosen backend
    }
    config.update(overrides)
    app = create_app(config)
    app.test_client_class = IsolatedClient
    from booking.page_cache import public_pages, slot_searches
    from publishing.feed_views import known_tags

    public_pages.clear()  # per-process: a page of an earlier test's database must not leak
    slot_searches.clear()
    known_tags.clear()  # likewise an ETag computed under the same audit id
    return app


def _reset_database(app: Flask) -> None:
    with app.app_context():
        engine = db.engine
        if engine.url.render_as_string() not in _schema_ready:
            db.drop_all()
            with engine.begin() as conn:
                conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
            db.create_all()
            _schema_ready.add(engine.url.render_as_string())
            return
        tables = list(reversed(db.metadata.sorted_tables))
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                names = ", ".join(f'"{t.name}"' for t in tables)
                conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    conn.execute(table.delete())


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, database_urls: dict[str, str]) -> str:
    if request.param not in database_urls:
        if REQUIRE_POSTGRES:
            pytest.fail("REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set")
        pytest.skip("PostgreSQL not configured (set TEST_DATABASE_URL)")
    if request.param == "postgresql" and not _postgres_available(database_urls["postgresql"]):
        if REQUIRE_POSTGRES:
            pytest.fail(f"REQUIRE_POSTGRES=1 but PostgreSQL does not answer at {POSTGRES_URL}")
        pytest.skip("PostgreSQL does not answer")
    return request.param


@pytest.fixture
def make_app(backend: str, database_urls: dict[str, str]) -> Iterator[Callable[..., Flask]]:
    """Build an app on this test's engine, with config overrides; the database starts empty."""
    built: list[Flask] = []

    def _build(**overrides: Any) -> Flask:
        app = _make_app(database_urls[backend], **overrides)
        if not built:
            _reset_database(app)
        built.append(app)
        return app

    yield _build
    for app in built:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Iterator[Flask]:
    app = make_app()
    with app.app_context():
        yield app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


# --- factories -----------------------------------------------------------------------------


@pytest.fixture
def make_territory(app: Flask) -> Callable[..., Territory]:
    counter = itertools.count(1)

    def _make(
        slug: str | None = None,
        *,
        communes: tuple[str, ...] = ("85047",),
        name: str | None = None,
    ) -> Territory:
        n = next(counter)
        slug = slug or f"cpts-{n}"
        territory = services.create_territory(
            slug,
            TerritorySettings(
                name=name or f"CPTS test {n}",
                finess=None,
                timezone="Europe/Paris",
                holiday_subdivision=None,
                phone=None,
                email=None,
            ),
            by=None,
        )
        for code in communes:
            services.add_commune(territory, code, by=None)
        db.session.commit()
        return territory

    return _make


@pytest.fixture
def make_site(app: Flask) -> Callable[..., Site]:
    counter = itertools.count(1)

    def _make(territory: Territory, **kw: Any) -> Site:
        commune = territory.communes[0]
        data = SiteData(
            name=kw.get("name", f"MSP test {next(counter)}"),
            kind=kw.get("kind", SiteKind.MSP),
            address_line=kw.get("address_line", "1 rue de la Gare"),
            postal_code=kw.get("postal_code", commune.postal_codes[0]),
            commune_id=kw.get("commune_id", commune.id),
            phone=kw.get("phone", "02 51 00 00 00"),
            latitude=kw.get("latitude"),
            longitude=kw.get("longitude"),
            accessibility=kw.get("accessibility", ""),
        )
        site = services.create_site(territory, data, by=None)
        db.session.commit()
        return site

    return _make


@pytest.fixture
def make_practitioner(app: Flask) -> Callable[..., Practitioner]:
    def _make(territory: Territory, **kw: Any) -> Practitioner:
        data = PractitionerData(
            rpps=kw.get("rpps") or next_rpps(),
            family_name=kw.get("family_name", "Martin"),
            given_name=kw.get("given_name", "Claire"),
            profession=kw.get("profession", Profession.GP),
            email=kw.get("email"),
            phone=kw.get("phone"),
            site_ids=kw.get("site_ids", ()),
        )
        practitioner = services.create_practitioner(territory, data, by=None)
        db.session.commit()
        return practitioner

    return _make


@functools.cache
def password_hash() -> str:
    """PASSWORD hashed once, with cheap argon2id parameters.

    Verification reads the parameters from the hash, so each of the suite's ~1,500 logins
    costs under a millisecond instead of ~100–200 ms with the production parameters (which
    the app still uses for every password it hashes itself, and tests/test_auth.py checks).
    """
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)


@pytest.fixture
def make_user(app: Flask) -> Callable[..., User]:
    counter = itertools.count(1)

    def _make(role: Role = Role.COORDINATOR, territory: Territory | None = None, **kw: Any) -> User:
        user = services.create_user(
            email=kw.get("email", f"{role.value}{next(counter)}@example.org"),
            role=role,
            territory=territory,
            display_name=kw.get("display_name", ""),
            password=None,
            practitioner=kw.get("practitioner"),
            by=None,
        )
        user.password_hash = password_hash()
        db.session.commit()
        return user

    return _make


class AuthActions:
    def __init__(self, client: FlaskClient) -> None:
        self._client = client

    def login(self, email: str, password: str = PASSWORD):
        return self._client.post("/connexion", data={"email": email, "password": password})

    def logout(self):
        return self._client.post("/deconnexion")


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)


@pytest.fixture
def project_root() -> Path:
    return Path(__file__).resolve().parent.parent


# --- a published rota with bookable slots (booking tests) ----------------------------------------

BOOKING_DAY = date(2027, 3, 1)  # a Monday; 17:00–20:00 Paris = 16:00–19:00 UTC
BOOKING_NOW = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)  # 11:00 Paris, the morning of that day


@dataclass
class BookingWorld:
    """One territory with a published week: every day 17:00–20:00, two GPs, 15-min slots
    (12 per GP), 6 reserved to the SAS and 4 to pharmacies; release 120 min, horizon 24 h.
    Freeze the clock at ``now`` (time-machine) to book through pages or the API."""

    territory: Territory
    site: Site
    gps: list[Practitioner]
    period: Any
    now: datetime
    users: dict[str, User]
    other_territory: Territory
    other_session_id: int

    def session_on(self, day: date) -> Any:
        return next(s for s in self.period.sessions if s.local_date == day)


@pytest.fixture
def booking_world(app, make_territory, make_site, make_practitioner, make_user) -> BookingWorld:
    from rota import services as rota_services
    from rota.models import ConsultationMode, HolidayRule

    def published(territory, site, gps):
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
                valid_from=BOOKING_DAY,
                valid_to=None,
                on_holidays=HolidayRule.NORMAL,
            ),
            by=None,
        )
        period = rota_services.create_period(
            territory,
            name="Semaine",
            start_date=BOOKING_DAY,
            end_date=BOOKING_DAY + timedelta(days=6),
            by=None,
        )
        rota_services.open_wishes(period, deadline=None, by=None)
        rota_services.generate_rota(period, by=None)
        rota_services.publish_rota(period, by=None)
        db.session.commit()
        return period

    territory = make_territory(name="CPTS des Marais")
    site = make_site(territory, name="MSP des Marais")
    gps = [
        make_practitioner(
            territory,
            family_name=f"Medecin{i}",
            email=f"medecin{i}@example.org",
            site_ids=[site.id],
        )
        for i in range(3)
    ]
    period = published(territory, site, gps)
    users = {
        "coordinator": make_user(Role.COORDINATOR, territory, email="coord@example.org"),
        "regulator": make_user(Role.REGULATOR, territory, email="samu1@example.org"),
        "regulator2": make_user(Role.REGULATOR, territory, email="samu2@example.org"),
        "pharmacist": make_user(Role.PHARMACIST, territory, email="pharma1@example.org"),
        "pharmacist2": make_user(Role.PHARMACIST, territory, email="pharma2@example.org"),
    }
    holder = period.sessions[0].assignments[0].practitioner
    users["gp"] = make_user(Role.GP, territory, email="gp@example.org", practitioner=holder)
    other = make_territory(communes=("17369",), name="CPTS de l'île")
    other_site = make_site(other, name="Cabinet de l'île")
    other_gps = [make_practitioner(other, site_ids=[other_site.id]) for _ in range(2)]
    other_period = published(other, other_site, other_gps)
    return BookingWorld(
        territory=territory,
        site=site,
        gps=gps,
        period=period,
        now=BOOKING_NOW,
        users=users,
        other_territory=other,
        other_session_id=other_period.sessions[0].id,
    )
