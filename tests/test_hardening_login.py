"""Finding 2 (the login throttle counts failures only, resets on success, and delays an
account more after each failure rather than locking it) and finding 10 (failed logins are
audited: the client's address, no password, no raw e-mail)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine

from app.enums import Role
from app.extensions import db
from app.models import AuditEvent
from tests.helpers import PASSWORD

EMAIL = "coord@example.org"
START = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def throttled(make_app):
    app = make_app(
        RATELIMIT_ENABLED=True,
        LOGIN_RATE_LIMIT_ACCOUNT="3 per 10 minutes",
        LOGIN_RATE_LIMIT_IP="1000 per minute",
    )
    with app.app_context():
        yield app


@pytest.fixture
def coordinator(throttled, make_territory, make_user):
    return make_user(Role.COORDINATOR, make_territory(), email=EMAIL)


def _login(client, password: str, email: str = EMAIL) -> int:
    status = client.post("/connexion", data={"email": email, "password": password}).status_code
    if status == 302:
        client.post("/deconnexion")
    return status


def test_successful_logins_are_not_counted(throttled, coordinator):
    client = throttled.test_client()
    assert [_login(client, PASSWORD) for _ in range(8)] == [302] * 8


def test_a_success_forgets_the_failures_before_it(throttled, coordinator):
    client = throttled.test_client()
    for _ in range(4):
        assert [_login(client, "mauvais mot de passe"), _login(client, "encore faux !")] == [
            200,
            200,
        ]
        assert _login(client, PASSWORD) == 302


def test_failures_delay_the_account_more_and_more_but_never_lock_it(throttled, coordinator):
    client = throttled.test_client()
    with time_machine.travel(START, tick=False) as clock:
        assert [_login(client, "mauvais mot de passe") for _ in range(3)] == [200] * 3
        # The third failure starts a delay: even the right password waits for it.
        refused = client.post("/connexion", data={"email": EMAIL, "password": PASSWORD})
        assert refused.status_code == 429
        assert "Réessayez dans 2 secondes" in refused.get_data(as_text=True)
        assert refused.headers["Retry-After"] == "2"
        clock.shift(timedelta(seconds=3))
        assert _login(client, "mauvais mot de passe") == 200  # a fourth failure
        clock.shift(timedelta(seconds=3))
        assert _login(client, PASSWORD) == 429  # the delay has doubled
        clock.shift(timedelta(seconds=2))
        assert _login(client, PASSWORD) == 302  # waited enough: the right password works
        # ... and the slate is clean again.
        assert [_login(client, "mauvais mot de passe") for _ in range(2)] == [200] * 2


def test_unknown_and_known_accounts_are_delayed_alike(throttled, coordinator):
    client = throttled.test_client()
    with time_machine.travel(START, tick=False):
        known = [_login(client, "mauvais mot de passe") for _ in range(4)]
        unknown = [_login(client, "mauvais mot de passe", "nobody@example.org") for _ in range(4)]
    assert known == unknown == [200, 200, 200, 429]


def test_one_address_cannot_spend_another_account_s_budget(
    throttled, coordinator, make_territory, make_user
):
    client = throttled.test_client()
    make_user(Role.REGULATOR, make_territory(communes=("17369",)), email="samu@example.org")
    with time_machine.travel(START, tick=False):
        assert [_login(client, "faux mot de passe") for _ in range(4)][-1] == 429
        assert _login(client, PASSWORD, "samu@example.org") == 302


def test_the_per_address_limit_counts_failures_only(make_app):
    app = make_app(RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT_IP="3 per 10 minutes")
    with app.app_context():
        from app.models import User  # noqa: F401 (the factory needs the app context)

        client = app.test_client()
        from app.territory import services
        from tests.helpers import password_hash

        user = services.create_user(
            email="admin@example.org", role=Role.ADMIN, territory=None, by=None
        )
        user.password_hash = password_hash()
        db.session.commit()
        # A regulation room behind one NAT: many successful logins, then mistakes.
        assert [_login(client, PASSWORD, "admin@example.org") for _ in range(6)] == [302] * 6
        codes = [_login(client, "faux", f"u{i}@example.org") for i in range(4)]
        assert codes == [200, 200, 200, 429]


def test_failed_logins_are_audited_without_password_or_email(client, make_territory, make_user):
    make_user(Role.COORDINATOR, make_territory(), email=EMAIL)
    client.post(
        "/connexion",
        data={"email": EMAIL, "password": "hunter2-mauvais"},
        environ_base={"REMOTE_ADDR": "198.51.100.7"},
    )
    client.post("/connexion", data={"email": "Inconnu@Example.org", "password": "x" * 12})
    events = db.session.scalars(
        sa.select(AuditEvent)
        .where(AuditEvent.action == "auth.login_failed")
        .order_by(AuditEvent.id)
    ).all()
    assert len(events) == 2
    assert events[0].detail["address"] == "198.51.100.7"
    stored = json.dumps([e.detail for e in events]) + repr(
        [(e.target_id, e.user_id) for e in events]
    )
    for secret in ("hunter2", "coord@example.org", "inconnu", "Inconnu", "example.org"):
        assert secret not in stored
    # The same account gives the same key (failures can be grouped), another one not.
    client.post("/connexion", data={"email": " COORD@example.org", "password": "y" * 12})
    again = db.session.scalars(
        sa.select(AuditEvent)
        .where(AuditEvent.action == "auth.login_failed")
        .order_by(AuditEvent.id)
    ).all()[-1]
    assert again.detail["account"] == events[0].detail["account"] != events[1].detail["account"]
