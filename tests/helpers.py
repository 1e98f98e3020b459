"""Plain helpers for the tests: constants, builders, small data classes.

Fixtures live in ``conftest.py``; what a test imports by name lives here, so that no
test imports ``conftest`` (pytest loads it on its own, and importing it twice would
build a second copy of its module state).
"""

from __future__ import annotations

import functools
import itertools
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.extensions import db
from app.models import Practitioner, Site, Territory, User
from app.validators import luhn_complete
from rota import scenarios
from rota.models import RotaPeriod, Session

PASSWORD = "correct horse battery staple"
POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "")
REQUIRE_POSTGRES = os.environ.get("REQUIRE_POSTGRES") == "1"

# Luhn-valid fictitious RPPS numbers for tests (computed, not real people).
_rpps_counter = itertools.count(1)


def next_rpps() -> str:
    """A fresh fictitious RPPS number (prefix 1999)."""
    return luhn_complete(f"1999{next(_rpps_counter):06d}")


@functools.cache
def password_hash() -> str:
    """PASSWORD hashed once, with cheap argon2id parameters.

    Verification reads the parameters from the hash, so each of the suite's ~1,500 logins
    costs under a millisecond instead of ~100–200 ms with the production parameters (which
    the app still uses for every password it hashes itself, and tests/test_auth.py checks).
    """
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)


def count(model: Any, *where: Any) -> int:
    """How many rows of ``model`` (matching ``where``) the database holds."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0


# --- the app -------------------------------------------------------------------------------------


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


def build_app(url: str, **overrides: Any) -> Flask:
    """The app in test configuration on the database at ``url`` (left as it is)."""
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": url,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "SESSION_COOKIE_SECURE": False,
        "SERVER_NAME": "tdr.test",
        "REQUIRE_2FA": False,
        "MAIL_BACKEND": "log",  # production refuses to send without a chosen backend  # tests/test_totp.py turns it on where it is the subject
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


def log_in(client: FlaskClient, email: str, password: str = PASSWORD) -> FlaskClient:
    """Log ``client`` in through the login form; the test fails if the login is refused."""
    answer = client.post("/connexion", data={"email": email, "password": password})
    assert answer.status_code == 302, f"login refused for {email}"
    return client


def logged_in(app: Flask, email: str) -> FlaskClient:
    """A new client of ``app``, logged in as ``email`` (its own cookie jar)."""
    return log_in(app.test_client(), email)


class AuthActions:
    def __init__(self, client: FlaskClient) -> None:
        self._client = client

    def login(self, email: str, password: str = PASSWORD):
        return self._client.post("/connexion", data={"email": email, "password": password})

    def logout(self):
        return self._client.post("/deconnexion")


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
    period: RotaPeriod
    now: datetime
    users: dict[str, User]
    other_territory: Territory
    other_session_id: int

    def session_on(self, day: date) -> Session:
        return scenarios.session_on(self.period, day)


# Per database URL: the statements that empty it (the schema is built once per run).
_emptying: dict[str, list[sa.TextClause]] = {}


def reset_database(app: Flask) -> None:
    """Empty every table, children first, and restart the ids at 1.

    PostgreSQL's ``TRUNCATE ... RESTART IDENTITY`` gives every table and index a new file:
    ~150 ms a test. On tables of a few rows, ``DELETE`` and ``setval`` do the same in a few
    milliseconds, in one round trip each.
    """
    with app.app_context():
        engine = db.engine
        key = engine.url.render_as_string()
        if key not in _emptying:
            db.drop_all()
            with engine.begin() as conn:
                conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
            db.create_all()
            _emptying[key] = _emptying_statements(engine)
            return
        with engine.begin() as conn:
            for statement in _emptying[key]:
                conn.execute(statement)


def _emptying_statements(engine: sa.Engine) -> list[sa.TextClause]:
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    if engine.dialect.name != "postgresql":
        return [sa.text(f'DELETE FROM "{name}"') for name in tables]
    with engine.connect() as conn:
        sequences = conn.scalars(
            sa.text(
                "SELECT sequence_name FROM information_schema.sequences "
                "WHERE sequence_schema = current_schema() ORDER BY sequence_name"
            )
        ).all()
    statements = [sa.text("; ".join(f'DELETE FROM "{name}"' for name in tables))]
    if sequences:
        restart = ", ".join(f"setval('\"{name}\"', 1, false)" for name in sequences)
        statements.append(sa.text(f"SELECT {restart}"))
    return statements
