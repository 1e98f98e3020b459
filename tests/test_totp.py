"""The TOTP second factor: enrolment with a QR code, login with a code or a recovery
code, single use of each, who must have it, and its rate limit."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import sqlalchemy as sa
import time_machine

from app.auth.models import RecoveryCode
from app.enums import Role
from app.extensions import db
from tests.helpers import PASSWORD

T0 = datetime(2027, 3, 1, 9, 0, 10, tzinfo=UTC)


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def gp(make_territory, make_user):
    return make_user(Role.GP, make_territory(), email="gp@example.org")


def enrol(client) -> tuple[str, list[str]]:
    """Enrol the logged-in user's authenticator; returns its secret and recovery codes."""
    page = client.get("/compte/double-authentification").get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)
    assert "<svg" in page  # the QR code, inline
    response = client.post(
        "/compte/double-authentification", data={"code": pyotp.TOTP(secret).now()}
    )
    assert response.status_code == 200
    codes = re.findall(r"<code>([a-z2-9]{5}-[a-z2-9]{5})</code>", response.get_data(as_text=True))
    return secret, codes


def logged_in(client) -> bool:
    return client.get("/compte").status_code == 200


def test_enrolment_stores_the_secret_and_hashed_recovery_codes(client, auth, gp, clock):
    auth.login(gp.email)
    secret, codes = enrol(client)
    assert len(codes) == 10
    assert len(set(codes)) == 10
    db.session.expire_all()
    assert gp.totp_secret == secret
    assert gp.totp_enabled_at is not None
    stored = set(db.session.scalars(sa.select(RecoveryCode.code_hash)))
    assert len(stored) == 10
    assert not stored & set(codes)


def test_enrolment_refuses_a_wrong_code(client, auth, gp, clock):
    auth.login(gp.email)
    client.get("/compte/double-authentification")
    response = client.post("/compte/double-authentification", data={"code": "000000"})
    assert "Ce code ne correspond pas" in response.get_data(as_text=True)
    db.session.expire_all()
    assert gp.totp_secret is None


def test_login_asks_for_the_code_after_the_password(client, auth, gp, clock):
    auth.login(gp.email)
    secret, _ = enrol(client)
    auth.logout()
    clock.shift(timedelta(seconds=30))
    response = auth.login(gp.email)
    assert response.headers["Location"] == "/connexion/code"
    assert not logged_in(client)  # the password alone opens nothing
    wrong = client.post("/connexion/code", data={"code": "123456"})
    assert "Code incorrect" in wrong.get_data(as_text=True)
    response = client.post("/connexion/code", data={"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert logged_in(client)


def test_a_code_is_accepted_only_once(client, auth, gp, clock):
    auth.login(gp.email)
    secret, _ = enrol(client)
    auth.logout()
    clock.shift(timedelta(seconds=30))
    code = pyotp.TOTP(secret).now()
    auth.login(gp.email)
    assert client.post("/connexion/code", data={"code": code}).status_code == 302
    auth.logout()
    auth.login(gp.email)
    replay = client.post("/connexion/code", data={"code": code})
    assert "déjà utilisé" in replay.get_data(as_text=True)
    assert not logged_in(client)


def test_recovery_code_works_once(client, auth, gp, clock):
    auth.login(gp.email)
    _, codes = enrol(client)
    auth.logout()
    auth.login(gp.email)
    response = client.post("/connexion/code", data={"code": codes[3].upper().replace("-", " ")})
    assert response.status_code == 302
    assert "il vous en reste 9" in client.get("/compte").get_data(as_text=True)
    auth.logout()
    auth.login(gp.email)
    again = client.post("/connexion/code", data={"code": codes[3]})
    assert "Code incorrect" in again.get_data(as_text=True)
    assert not logged_in(client)


def test_half_login_expires(client, auth, gp, clock):
    auth.login(gp.email)
    secret, _ = enrol(client)
    auth.logout()
    auth.login(gp.email)
    clock.shift(timedelta(minutes=6))
    response = client.post("/connexion/code", data={"code": pyotp.TOTP(secret).now()})
    assert response.headers["Location"] == "/connexion"
    assert not logged_in(client)


def test_new_recovery_codes_replace_the_old(client, auth, gp, clock):
    auth.login(gp.email)
    _, old = enrol(client)
    page = client.post("/compte/double-authentification/codes-de-secours").get_data(as_text=True)
    new = re.findall(r"<code>([a-z2-9]{5}-[a-z2-9]{5})</code>", page)
    assert len(new) == 10
    assert not set(new) & set(old)
    auth.logout()
    auth.login(gp.email)
    assert "Code incorrect" in client.post("/connexion/code", data={"code": old[0]}).get_data(
        as_text=True
    )
    assert client.post("/connexion/code", data={"code": new[0]}).status_code == 302


def test_optional_factor_can_be_turned_off_with_a_code(client, auth, gp, clock):
    auth.login(gp.email)
    secret, _ = enrol(client)
    clock.shift(timedelta(seconds=30))
    client.post("/compte/double-authentification/desactiver", data={"code": "000000"})
    db.session.expire_all()
    assert gp.totp_secret is not None
    client.post(
        "/compte/double-authentification/desactiver", data={"code": pyotp.TOTP(secret).now()}
    )
    db.session.expire_all()
    assert gp.totp_secret is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RecoveryCode)) == 0


@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.ADMIN])
def test_require_2fa_sends_admins_and_coordinators_to_enrolment(
    make_app, make_territory, make_user, role
):
    app = make_app(REQUIRE_2FA=True)
    with app.app_context(), time_machine.travel(T0, tick=False):
        territory = make_territory() if role != Role.ADMIN else None
        user = make_user(role, territory, email="boss@example.org")
        client = app.test_client()
        client.post("/connexion", data={"email": user.email, "password": PASSWORD})
        response = client.get("/compte/sessions")
        assert response.headers["Location"] == "/compte/double-authentification"
        secret, _ = enrol(client)
        assert client.get("/compte/sessions").status_code == 200
        # Mandatory: it cannot be turned off.
        client.post(
            "/compte/double-authentification/desactiver",
            data={"code": pyotp.TOTP(secret).at(T0 + timedelta(seconds=30))},
        )
        db.session.expire_all()
        assert user.totp_secret is not None


def test_require_2fa_leaves_other_roles_free(make_app, make_territory, make_user):
    app = make_app(REQUIRE_2FA=True)
    with app.app_context():
        gp = make_user(Role.GP, make_territory(), email="gp@example.org")
        client = app.test_client()
        client.post("/connexion", data={"email": gp.email, "password": PASSWORD})
        assert client.get("/compte/sessions").status_code == 200


def test_territory_can_require_2fa_of_everyone(client, auth, gp, make_user, clock):
    coordinator = make_user(Role.COORDINATOR, gp.territory, email="coord@example.org")
    auth.login(coordinator.email)
    assert client.post("/coordination/connexion", data={"require_2fa": "y"}).status_code == 302
    auth.logout()
    auth.login(gp.email)
    response = client.get("/compte/sessions")
    assert response.headers["Location"] == "/compte/double-authentification"


def test_second_step_is_rate_limited_per_account(make_app, make_territory, make_user):
    app = make_app(RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT_ACCOUNT="3 per 10 minutes")
    with app.app_context(), time_machine.travel(T0, tick=False) as clock:
        gp = make_user(Role.GP, make_territory(), email="gp@example.org")
        client = app.test_client()
        client.post("/connexion", data={"email": gp.email, "password": PASSWORD})
        secret, _ = enrol(client)
        client.post("/deconnexion")
        clock.shift(timedelta(seconds=30))
        client.post("/connexion", data={"email": gp.email, "password": PASSWORD})
        codes = [
            client.post("/connexion/code", data={"code": "000000"}).status_code for _ in range(3)
        ]
        assert codes == [200, 200, 200]
        blocked = client.post("/connexion/code", data={"code": pyotp.TOTP(secret).now()})
        assert blocked.status_code == 429
