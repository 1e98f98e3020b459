"""Password policy, self-service reset by e-mail, and change of password."""

from __future__ import annotations

import re
import statistics
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine

from app.auth.models import PasswordReset
from app.auth.password_policy import password_problem
from app.enums import Role
from app.extensions import db
from app.outbox import OutboxMessage
from app.passwords import verify_password
from app.timeutil import now_utc
from tests.helpers import PASSWORD

NEW_PASSWORD = "tilleul fanfare quinoa 77 brume"


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short-1A!", "au moins 12 caractères"),
        ("password1234", "mots de passe courants ou divulgués"),
        ("qwertyuiop123", "mots de passe courants ou divulgués"),
        ("aaaaaaaaaaaa", "trop facile à deviner"),
        ("motdepasse123", "trop facile à deviner"),
        ("azertyuiop12", "trop facile à deviner"),
        ("Motdepasse2024", "trop facile à deviner"),
        ("tourderole2026", "trop facile à deviner"),
    ],
)
def test_weak_passwords_are_refused_with_a_french_reason(password, reason):
    assert reason in (password_problem(password) or "")


@pytest.mark.parametrize("password", [NEW_PASSWORD, PASSWORD, "vQ7#mLp2!xZr"])
def test_strong_passwords_pass(password):
    assert password_problem(password) is None


def test_password_built_from_the_email_is_refused():
    assert password_problem("claire.martin1985", ["claire.martin@example.org"]) is not None


@pytest.fixture
def gp(make_territory, make_user):
    return make_user(Role.GP, make_territory(), email="gp@example.org")


def reset_link(recipient: str) -> str:
    body = db.session.scalar(
        sa.select(OutboxMessage.body)
        .where(OutboxMessage.recipient == recipient)
        .order_by(OutboxMessage.id.desc())
    )
    return re.search(r"https?://\S+/mot-de-passe/(\S+)", body).group(1)


def test_reset_link_sets_a_new_password_once(client, auth, gp):
    response = client.post("/mot-de-passe-oublie", data={"email": "GP@example.org "})
    assert response.status_code == 302
    token = reset_link("gp@example.org")
    assert db.session.scalar(sa.select(PasswordReset.token_hash)) != token  # stored hashed
    page = client.get(f"/mot-de-passe/{token}")
    assert page.status_code == 200
    weak = client.post(
        f"/mot-de-passe/{token}", data={"password": "password1234", "confirm": "password1234"}
    )
    assert "mots de passe courants" in weak.get_data(as_text=True)
    done = client.post(
        f"/mot-de-passe/{token}", data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )
    assert done.headers["Location"] == "/connexion"
    db.session.expire_all()
    assert verify_password(gp.password_hash, NEW_PASSWORD)
    assert client.get(f"/mot-de-passe/{token}").status_code == 404  # single use
    assert auth.login(gp.email, PASSWORD).status_code == 200  # the old one is gone
    assert auth.login(gp.email, NEW_PASSWORD).status_code == 302


def test_reset_link_expires_after_an_hour(client, gp):
    with time_machine.travel(now_utc(), tick=False) as clock:
        client.post("/mot-de-passe-oublie", data={"email": gp.email})
        token = reset_link(gp.email)
        clock.shift(timedelta(minutes=59))
        assert client.get(f"/mot-de-passe/{token}").status_code == 200
        clock.shift(timedelta(minutes=2))
        assert client.get(f"/mot-de-passe/{token}").status_code == 404


def test_reset_logs_out_every_session(app, client, auth, gp):
    auth.login(gp.email)
    elsewhere = app.test_client()
    elsewhere.post("/connexion", data={"email": gp.email, "password": PASSWORD})
    assert elsewhere.get("/compte").status_code == 200
    client.post("/mot-de-passe-oublie", data={"email": gp.email})
    token = reset_link(gp.email)
    client.post(f"/mot-de-passe/{token}", data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert elsewhere.get("/compte").status_code == 302


def test_unknown_email_gets_the_same_answer_and_no_mail(client, gp):
    known = client.post("/mot-de-passe-oublie", data={"email": gp.email}, follow_redirects=True)
    unknown = client.post(
        "/mot-de-passe-oublie", data={"email": "nobody@example.org"}, follow_redirects=True
    )
    assert known.status_code == unknown.status_code == 200
    assert known.get_data(as_text=True) == unknown.get_data(as_text=True)
    recipients = db.session.scalars(sa.select(OutboxMessage.recipient)).all()
    assert recipients == [gp.email]


def test_unknown_email_takes_a_similar_time(client, gp):
    """No timing oracle: both answers write and commit alike, in the same order of time."""

    def median(email: str) -> float:
        times = []
        for _ in range(7):
            start = time.perf_counter()
            client.post("/mot-de-passe-oublie", data={"email": email})
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    known, unknown = median(gp.email), median("nobody@example.org")
    assert abs(known - unknown) < max(0.03, 0.5 * max(known, unknown)), (known, unknown)


def test_inactive_account_gets_no_link(client, gp):
    gp.active = False
    db.session.commit()
    client.post("/mot-de-passe-oublie", data={"email": gp.email})
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0


def test_change_password_asks_for_the_current_one(app, client, auth, gp):
    auth.login(gp.email)
    elsewhere = app.test_client()
    elsewhere.post("/connexion", data={"email": gp.email, "password": PASSWORD})
    wrong = client.post(
        "/compte/mot-de-passe",
        data={"current": "not my password", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert "actuel est incorrect" in wrong.get_data(as_text=True)
    weak = client.post(
        "/compte/mot-de-passe",
        data={"current": PASSWORD, "password": "aaaaaaaaaaaa", "confirm": "aaaaaaaaaaaa"},
    )
    assert "trop facile à deviner" in weak.get_data(as_text=True)
    db.session.expire_all()
    assert verify_password(gp.password_hash, PASSWORD)
    done = client.post(
        "/compte/mot-de-passe",
        data={"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert done.headers["Location"] == "/compte"
    db.session.expire_all()
    assert verify_password(gp.password_hash, NEW_PASSWORD)
    assert client.get("/compte").status_code == 200  # this browser stays logged in
    assert elsewhere.get("/compte").status_code == 302  # the others are logged out


def test_invitation_applies_the_policy(client, make_territory):
    from app.auth.services import issue_invitation
    from app.territory import services

    user = services.create_user(
        email="new@example.org", role=Role.GP, territory=make_territory(), password=None, by=None
    )
    token = issue_invitation(user)
    db.session.commit()
    weak = client.post(
        f"/invitation/{token}", data={"password": "password1234", "confirm": "password1234"}
    )
    assert "mots de passe courants" in weak.get_data(as_text=True)
    db.session.expire_all()
    assert user.password_hash is None


def test_users_create_applies_the_policy(app, make_territory):
    territory = make_territory()
    runner = app.test_cli_runner()
    args = ["users", "create", "c@example.org", "--role", "coordinator", "--territory"]
    result = runner.invoke(args=[*args, territory.slug, "--password-stdin"], input="azertyuiop12\n")
    assert result.exit_code != 0
    assert "trop facile à deviner" in result.output
    result = runner.invoke(
        args=[*args, territory.slug, "--password-stdin"], input=NEW_PASSWORD + "\n"
    )
    assert result.exit_code == 0, result.output
