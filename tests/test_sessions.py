"""My open sessions: listed with their device and last use, closed one by one or all at
once; logout closes only this browser's; CSRF tokens live as long as a session."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine
from flask import g

from app.auth.models import UserSession
from app.auth.sessions import describe_device
from app.enums import Role
from app.extensions import db
from app.timeutil import now_utc
from tests.helpers import PASSWORD

FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)


@pytest.mark.parametrize(
    ("agent", "device"),
    [
        (FIREFOX_WINDOWS, "Firefox sous Windows"),
        (SAFARI_IPHONE, "Safari sous iPhone"),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36",
            "Chrome sous Linux",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
            "Edge sous Windows",
        ),
        ("curl/8.5.0", "Appareil inconnu"),
        ("", "Appareil inconnu"),
    ],
)
def test_device_is_named_from_the_user_agent(agent, device):
    assert describe_device(agent) == device


@pytest.fixture
def gp(make_territory, make_user):
    return make_user(Role.GP, make_territory(), email="gp@example.org")


def login_as(app, email: str, agent: str):
    """A browser of its own; the same User-Agent on every request, as a real one sends."""
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = agent
    response = client.post("/connexion", data={"email": email, "password": PASSWORD})
    assert response.status_code == 302
    return client


def session_ids(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'name="session" value="(\d+)"', page)]


def test_sessions_page_lists_my_devices(app, gp):
    desktop = login_as(app, gp.email, FIREFOX_WINDOWS)
    login_as(app, gp.email, SAFARI_IPHONE)
    page = desktop.get("/compte/sessions")
    text = page.get_data(as_text=True)
    assert "Firefox sous Windows <strong>(cette session)</strong>" in text
    assert "Safari sous iPhone" in text
    assert len(session_ids(text)) == 2


def test_closing_one_session_logs_that_device_out_only(app, gp):
    desktop = login_as(app, gp.email, FIREFOX_WINDOWS)
    phone = login_as(app, gp.email, SAFARI_IPHONE)
    phone_id = db.session.scalar(
        sa.select(UserSession.id).where(UserSession.user_agent == SAFARI_IPHONE)
    )
    response = desktop.post("/compte/sessions/fermer", data={"session": phone_id})
    assert response.headers["Location"] == "/compte/sessions"
    assert phone.get("/compte").status_code == 302
    assert desktop.get("/compte").status_code == 200


def test_someone_elses_session_cannot_be_closed(app, gp, make_user):
    other = make_user(Role.GP, gp.territory, email="other@example.org")
    login_as(app, other.email, SAFARI_IPHONE)
    theirs = db.session.scalar(sa.select(UserSession.id).where(UserSession.user_id == other.id))
    mine = login_as(app, gp.email, FIREFOX_WINDOWS)
    assert mine.post("/compte/sessions/fermer", data={"session": theirs}).status_code == 404
    assert db.session.get(UserSession, theirs) is not None


def test_log_out_everywhere(app, gp):
    desktop = login_as(app, gp.email, FIREFOX_WINDOWS)
    phone = login_as(app, gp.email, SAFARI_IPHONE)
    token = gp.session_token
    assert desktop.post("/compte/sessions/tout-fermer").headers["Location"] == "/connexion"
    assert phone.get("/compte").status_code == 302
    assert desktop.get("/compte").status_code == 302
    db.session.expire_all()
    assert gp.session_token != token
    assert db.session.scalar(sa.select(sa.func.count()).select_from(UserSession)) == 0


def test_logout_closes_only_this_browser(app, gp):
    desktop = login_as(app, gp.email, FIREFOX_WINDOWS)
    phone = login_as(app, gp.email, SAFARI_IPHONE)
    desktop.post("/deconnexion")
    assert desktop.get("/compte").status_code == 302
    assert phone.get("/compte").status_code == 200


def test_last_use_is_kept(app, gp):
    with time_machine.travel(now_utc(), tick=False) as clock:
        client = login_as(app, gp.email, FIREFOX_WINDOWS)
        row = db.session.scalar(sa.select(UserSession))
        first = row.last_seen_at
        clock.shift(timedelta(minutes=5))
        client.get("/compte")
        db.session.expire_all()
        assert db.session.scalar(sa.select(UserSession)).last_seen_at - first == timedelta(
            minutes=5
        )


def test_csrf_token_lives_as_long_as_a_session(make_app, make_territory, make_user):
    app = make_app(WTF_CSRF_ENABLED=True)
    assert app.config["WTF_CSRF_TIME_LIMIT"] == app.config["SESSION_ABSOLUTE_HOURS"] * 3600
    with app.app_context(), time_machine.travel(now_utc(), tick=False) as clock:
        make_user(Role.COORDINATOR, make_territory(), email="coord@example.org")
        client = app.test_client()
        headers = {"Referer": "https://tdr.test/connexion"}

        def form_token() -> str:
            # Flask-WTF caches a request's token on ``g``, which the test's open app
            # context would carry over to the next request.
            g.pop("csrf_token", None)
            page = client.get("/connexion").get_data(as_text=True)
            return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)

        def post(token: str):
            form = {"email": "coord@example.org", "password": PASSWORD, "csrf_token": token}
            return client.post("/connexion", data=form, headers=headers)

        old = form_token()
        clock.shift(timedelta(hours=11))
        fresh = form_token()
        clock.shift(timedelta(hours=1, minutes=1))
        assert post(fresh).status_code == 302  # 1 h 01 old: still good
        response = post(old)  # 12 h 01 old: expired
        assert response.status_code == 400
        assert "formulaire a expiré" in response.get_data(as_text=True)
