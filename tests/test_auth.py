"""Login, logout, sessions, rate limits, CSRF, invitations."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine

from app.enums import Role
from app.extensions import db
from app.models import AuditEvent, User
from app.territory import services
from app.timeutil import now_utc
from tests.helpers import PASSWORD


@pytest.fixture
def coordinator(make_territory, make_user):
    return make_user(Role.COORDINATOR, make_territory(), email="coord@example.org")


def test_login_with_good_credentials_opens_a_session(client, auth, coordinator):
    response = auth.login("COORD@example.org", PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/")
    assert client.get("/coordination").status_code == 200
    db.session.refresh(coordinator)
    assert coordinator.last_login_at is not None
    assert (
        db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "auth.login")).user_id
        == coordinator.id
    )


def test_login_errors_do_not_reveal_whether_the_account_exists(client, auth, coordinator):
    wrong_password = auth.login("coord@example.org", "not the password!").get_data(as_text=True)
    unknown_email = auth.login("nobody@example.org", "not the password!").get_data(as_text=True)
    assert "Adresse e-mail ou mot de passe incorrect." in wrong_password
    strip = lambda html: re.sub(r'value="[^"]*"', "", html)  # noqa: E731 - the echoed e-mail differs
    assert strip(wrong_password) == strip(unknown_email)


def test_inactive_account_cannot_log_in(client, auth, coordinator):
    services.set_user_active(coordinator, False, by=None)
    db.session.commit()
    response = auth.login("coord@example.org", PASSWORD)
    assert "Adresse e-mail ou mot de passe incorrect." in response.get_data(as_text=True)
    assert client.get("/coordination").status_code == 302


def test_login_starts_a_new_session(client, auth, coordinator):
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    auth.login("coord@example.org")
    with client.session_transaction() as session:
        assert "planted" not in session
        assert "login_at" in session


def test_logout_invalidates_the_old_cookie(app, client, auth, coordinator):
    auth.login("coord@example.org")
    stolen = client.get_cookie("tdr_session", domain="tdr.test").value
    assert auth.logout().status_code == 302
    thief = app.test_client()
    thief.set_cookie("tdr_session", stolen, domain="tdr.test")
    assert thief.get("/coordination").status_code == 302  # back to the login page


def test_logout_needs_post(client, auth, coordinator):
    auth.login("coord@example.org")
    assert client.get("/deconnexion").status_code == 405
    assert client.get("/coordination").status_code == 200


def test_session_expires_after_30_idle_minutes(client, auth, coordinator):
    with time_machine.travel(now_utc(), tick=False) as traveller:
        auth.login("coord@example.org")
        traveller.shift(timedelta(minutes=29))
        assert client.get("/coordination").status_code == 200
        traveller.shift(timedelta(minutes=31))
        response = client.get("/coordination")
        assert response.status_code == 302
        assert "/connexion" in response.headers["Location"]


def test_session_expires_after_12_hours_even_when_active(client, auth, coordinator):
    with time_machine.travel(now_utc(), tick=False) as traveller:
        auth.login("coord@example.org")
        for _ in range(25):
            traveller.shift(timedelta(minutes=29))
            client.get("/coordination")
        assert client.get("/coordination").status_code == 302


def test_open_redirect_after_login_is_refused(client, auth, coordinator):
    response = client.post(
        "/connexion",
        data={"email": "coord@example.org", "password": PASSWORD, "next": "https://evil.example/"},
    )
    assert response.headers["Location"] == "/"


def test_login_is_rate_limited_per_account(make_app, make_territory, make_user):
    app = make_app(RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT_ACCOUNT="3 per 10 minutes")
    with app.app_context():
        make_user(Role.COORDINATOR, make_territory(), email="coord@example.org")
        client = app.test_client()
        for _ in range(3):
            assert (
                client.post(
                    "/connexion", data={"email": "coord@example.org", "password": "wrong password!"}
                ).status_code
                == 200
            )
        response = client.post(
            "/connexion", data={"email": "coord@example.org", "password": PASSWORD}
        )
        assert response.status_code == 429
        assert "Trop de tentatives" in response.get_data(as_text=True)
        # Another account from the same address is not blocked by this one.
        assert (
            client.post(
                "/connexion", data={"email": "other@example.org", "password": "x" * 12}
            ).status_code
            == 200
        )


def test_login_is_rate_limited_per_address(make_app):
    app = make_app(RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT_IP="4 per 10 minutes")
    with app.app_context():
        client = app.test_client()
        codes = [
            client.post(
                "/connexion", data={"email": f"u{i}@example.org", "password": "x" * 12}
            ).status_code
            for i in range(5)
        ]
        assert codes == [200, 200, 200, 200, 429]


def test_form_without_csrf_token_is_refused(make_app, make_territory, make_user):
    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        make_user(Role.COORDINATOR, make_territory(), email="coord@example.org")
        client = app.test_client()
        response = client.post(
            "/connexion", data={"email": "coord@example.org", "password": PASSWORD}
        )
        assert response.status_code == 400
        assert "formulaire a expiré" in response.get_data(as_text=True)

        page = client.get("/connexion").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        response = client.post(
            "/connexion",
            data={"email": "coord@example.org", "password": PASSWORD, "csrf_token": token},
            headers={"Referer": "https://tdr.test/connexion"},  # HTTPS: same-origin check too
        )
        assert response.status_code == 302


def test_invitation_lets_the_user_choose_a_password_once(client, auth, make_territory):
    territory = make_territory()
    user, token = services.invite_user(territory, email="new.gp@example.org", role=Role.GP, by=None)
    db.session.commit()
    assert auth.login("new.gp@example.org", PASSWORD).status_code == 200  # no password yet

    short = client.post(f"/invitation/{token}", data={"password": "short", "confirm": "short"})
    assert "au moins 12 caractères" in short.get_data(as_text=True)
    response = client.post(f"/invitation/{token}", data={"password": PASSWORD, "confirm": PASSWORD})
    assert response.status_code == 302
    assert client.get(f"/invitation/{token}").status_code == 404  # used up
    assert auth.login("new.gp@example.org", PASSWORD).status_code == 302


def test_expired_invitation_is_refused(client, make_territory):
    territory = make_territory()
    user, token = services.invite_user(territory, email="late@example.org", role=Role.GP, by=None)
    user.invitation_expires_at = now_utc() - timedelta(minutes=1)
    db.session.commit()
    assert client.get(f"/invitation/{token}").status_code == 404


def test_emails_are_unique_whatever_their_case(app, make_territory, make_user):
    territory = make_territory()
    make_user(Role.GP, territory, email="dr.house@example.org")
    with pytest.raises(ValueError, match="existe déjà"):
        make_user(Role.GP, territory, email="Dr.House@Example.org")
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 1


def test_login_rate_limit_is_shared_through_redis(make_app, make_territory, make_user):
    """With several workers the counter must live in Redis, not in each process."""
    import os
    import uuid

    import redis

    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url).ping()
    except redis.exceptions.ConnectionError:
        if os.environ.get("REQUIRE_REDIS") == "1":
            pytest.fail(f"REQUIRE_REDIS=1 but Redis does not answer at {url}")
        pytest.skip("Redis not running")
    email = f"{uuid.uuid4().hex[:8]}@example.org"  # fresh key: Redis outlives the test
    config = {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": url,
        "LOGIN_RATE_LIMIT_ACCOUNT": "2 per 10 minutes",
    }
    worker_a, worker_b = make_app(**config), make_app(**config)
    with worker_a.app_context():
        make_user(Role.COORDINATOR, make_territory(), email=email)
    form = {"email": email, "password": "wrong password!"}
    assert worker_a.test_client().post("/connexion", data=form).status_code == 200
    assert worker_b.test_client().post("/connexion", data=form).status_code == 200
    assert worker_a.test_client().post("/connexion", data=form).status_code == 429
