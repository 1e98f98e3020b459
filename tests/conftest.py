"""Fixtures: the app on each database engine, a clean database per test, factories, auth.

Every test that takes ``app`` (or anything built on it) runs twice: on SQLite and on
PostgreSQL (``TEST_DATABASE_URL``). Without that variable the PostgreSQL half is
skipped, unless ``REQUIRE_POSTGRES=1`` turns the absence into a failure.

Fixtures only: the constants, builders and data classes that tests import by name are in
``tests/helpers.py``; rotas are opened and published through ``rota.scenarios``, like the
demo and the benches do.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app.enums import Profession, Role, SiteKind
from app.extensions import db
from app.models import Practitioner, Site, Territory, User
from app.territory import services
from app.territory.services import PractitionerData, SiteData, TerritorySettings
from rota import scenarios
from rota.models import RotaPeriod
from tests import fast_routing, world_cache
from tests.feed_world import FeedWorld, build_feed_world
from tests.helpers import (
    BOOKING_DAY,
    BOOKING_NOW,
    POSTGRES_URL,
    REQUIRE_POSTGRES,
    AuthActions,
    BookingWorld,
    build_app,
    next_rpps,
    password_hash,
    reset_database,
)

fast_routing.install()


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
        app = build_app(database_urls[backend], **overrides)
        if not built:
            reset_database(app)
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
def empty_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A brand-new database beside the test's own (migrations, backups): a file on SQLite,
    a throw-away database on PostgreSQL, dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path}/empty.sqlite3"
        return
    name = f"tdr_empty_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


# --- factories -----------------------------------------------------------------------------


def _taken(*where: Any) -> bool:
    """Whether a row matches: the factories' numbering skips what a reused world holds."""
    return db.session.scalar(sa.select(sa.literal(1)).where(sa.exists().where(*where))) is not None


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
        while slug is None and _taken(Territory.slug == f"cpts-{n}"):
            n = next(counter)  # a reused world (tests/world_cache.py) holds the first ones
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
        name = kw.get("name")
        while name is None or (
            "name" not in kw and _taken(Site.territory_id == territory.id, Site.name == name)
        ):
            name = f"MSP test {next(counter)}"
        data = SiteData(
            name=name,
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


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)


@pytest.fixture
def project_root() -> Path:
    return Path(__file__).resolve().parent.parent


# --- published rotas ----------------------------------------------------------------------------


@pytest.fixture
def published_period(app: Flask) -> Callable[..., RotaPeriod]:
    """Publish a rota through the rota's services and commit it.

    Takes ``rota.scenarios.publish_period``'s arguments: ``territory, *, name, start, end,
    templates, volunteers``.
    """

    def _publish(territory: Territory, **kw: Any) -> RotaPeriod:
        period = scenarios.publish_period(territory, **kw)
        db.session.commit()
        return period

    return _publish


@pytest.fixture
def booking_world(
    app, make_territory, make_site, make_practitioner, make_user, published_period
) -> BookingWorld:
    """Two territories with a published week each; see ``tests.helpers.BookingWorld``.

    Built once per process and engine, then restored (``tests/world_cache.py``)."""
    return world_cache.reuse(
        "booking_world",
        lambda: _build_booking_world(
            make_territory, make_site, make_practitioner, make_user, published_period
        ),
    )


def _build_booking_world(
    make_territory, make_site, make_practitioner, make_user, published_period
) -> BookingWorld:
    def publish(territory: Territory, site: Site) -> RotaPeriod:
        return published_period(
            territory,
            name="Semaine",
            start=BOOKING_DAY,
            end=BOOKING_DAY + timedelta(days=6),
            templates=[
                scenarios.template(
                    site,
                    weekdays=range(7),
                    start=time(17),
                    end=time(20),
                    gps_needed=2,
                    sas_slots=6,
                    pharmacy_slots=4,
                    valid_from=BOOKING_DAY,
                )
            ],
        )

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
    period = publish(territory, site)
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
    for _ in range(2):
        make_practitioner(other, site_ids=[other_site.id])
    other_period = publish(other, other_site)
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


@pytest.fixture
def feed_rota(app, make_territory, make_site, make_practitioner, published_period) -> FeedWorld:
    """The March 2027 rota of the iCalendar tests (see ``tests/feed_world.py``), built once
    per process and engine, then restored (``tests/world_cache.py``)."""
    return world_cache.reuse(
        "feed_rota",
        lambda: build_feed_world(make_territory, make_site, make_practitioner, published_period),
    )
