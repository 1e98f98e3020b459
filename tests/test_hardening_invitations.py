"""Finding 10 (issue 15): a coordinator can't learn that an address has an account elsewhere.

Inviting an address held by an account of another CPTS used to answer "Un compte existe
déjà pour …". Now the coordinator gets exactly what a new address gets: the link page, a
pending row, the same actions; the platform administrator is told, and the link tells its
owner. Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from app.enums import Role
from app.extensions import db
from app.models import AddressInvitation, User
from app.outbox import OutboxMessage
from tests.helpers import PASSWORD, AuthActions, count

NEW = "nouvelle@example.org"
HELD = "deja.ailleurs@example.org"


@pytest.fixture
def setting(make_territory, make_user):
    ours, theirs = make_territory(), make_territory(communes=("85194",))
    coordinator = make_user(Role.COORDINATOR, ours, email="coord@example.org")
    make_user(Role.GP, theirs, email=HELD)
    make_user(Role.ADMIN, None, email="admin@example.org")
    db.session.commit()
    return ours, coordinator


def invite(client: FlaskClient, email: str):
    return client.post(
        "/coordination/comptes/inviter",
        data={"email": email, "role": "gp", "display_name": "Dr Test", "practitioner_id": 0},
    )


def link_of(page: str) -> str:
    return re.search(r'value="(https?://[^"]+/invitation/[^"]+)"', page).group(1)


def path_of(link: str) -> str:
    return "/" + link.split("/", 3)[3]


def neutral(page: str, email: str) -> str:
    """The page with what legitimately differs (the address, the token) blanked."""
    page = page.replace(email, "ADDRESS")
    return re.sub(r"/invitation/[A-Za-z0-9_-]+", "/invitation/TOKEN", page)


def test_inviting_an_address_held_elsewhere_looks_like_inviting_a_new_one(
    client: FlaskClient, auth: AuthActions, setting
):
    auth.login("coord@example.org", PASSWORD)
    fresh, held = invite(client, NEW), invite(client, HELD)

    assert fresh.status_code == held.status_code == 200
    assert neutral(held.get_data(as_text=True), HELD) == neutral(fresh.get_data(as_text=True), NEW)
    assert "existe déjà" not in held.get_data(as_text=True)
    # No account was created for the held address: it keeps its one account elsewhere.
    assert count(User, User.email == HELD) == 1
    assert count(AddressInvitation) == 1


def test_both_invitations_are_listed_alike_with_the_same_actions(
    client: FlaskClient, auth: AuthActions, setting
):
    auth.login("coord@example.org", PASSWORD)
    invite(client, NEW)
    invite(client, HELD)
    page = client.get("/coordination/comptes").get_data(as_text=True)
    rows = {
        email: neutral(
            re.search(rf"<tr[^>]*>\s*<td>{re.escape(email)}</td>.*?</tr>", page, re.S).group(0),
            email,
        )
        for email in (NEW, HELD)
    }
    assert rows[NEW] == rows[HELD]
    assert "invitation en attente" in rows[NEW]


@pytest.mark.parametrize("email", [NEW, HELD])
def test_invitation_actions_work_by_address_for_both_kinds(
    client: FlaskClient, auth: AuthActions, setting, email
):
    auth.login("coord@example.org", PASSWORD)
    first = link_of(invite(client, email).get_data(as_text=True))

    again = client.post("/coordination/comptes/invitation", data={"email": email, "action": "lien"})
    second = link_of(again.get_data(as_text=True))
    assert second != first
    assert client.get(path_of(first)).status_code == 404

    cancelled = client.post(
        "/coordination/comptes/invitation", data={"email": email, "action": "annuler"}
    )
    assert cancelled.status_code == 302
    page = client.get("/coordination/comptes").get_data(as_text=True)
    assert "invitation annulée" in page
    assert client.get(path_of(second)).status_code == 404

    restarted = client.post(
        "/coordination/comptes/invitation", data={"email": email, "action": "relancer"}
    )
    assert client.get(path_of(link_of(restarted.get_data(as_text=True)))).status_code == 200


def test_inviting_the_same_address_twice_gives_one_message_for_both_kinds(
    client: FlaskClient, auth: AuthActions, setting
):
    auth.login("coord@example.org", PASSWORD)
    invite(client, NEW)
    invite(client, HELD)
    answers = [invite(client, email).get_data(as_text=True) for email in (NEW, HELD)]
    assert f"Un compte existe déjà pour {NEW}." in answers[0]
    assert f"Un compte existe déjà pour {HELD}." in answers[1]
    assert neutral(answers[0], NEW) == neutral(answers[1], HELD)


def test_the_link_tells_its_owner_and_the_administrator_is_told(
    client: FlaskClient, auth: AuthActions, setting
):
    ours, _ = setting
    auth.login("coord@example.org", PASSWORD)
    link = link_of(invite(client, HELD).get_data(as_text=True))
    auth.logout()

    page = client.get(path_of(link))
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Votre adresse a déjà un compte" in text
    assert ours.name in text
    assert 'name="password"' not in text  # no second account can be activated from it
    mail = db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.recipient == "admin@example.org")
    ).one()
    assert HELD in mail.body
    assert ours.name in mail.body
    # The coordinator's own mail (none) and the held account are untouched.
    assert count(OutboxMessage, OutboxMessage.recipient == "coord@example.org") == 0
    held = db.session.scalars(sa.select(User).where(User.email == HELD)).one()
    assert held.territory_id != ours.id


def test_an_unknown_address_has_no_invitation_to_act_on(
    client: FlaskClient, auth: AuthActions, setting
):
    auth.login("coord@example.org", PASSWORD)
    for email in ("personne@example.org", HELD):
        answer = client.post(
            "/coordination/comptes/invitation", data={"email": email, "action": "lien"}
        )
        assert answer.status_code == 404


def test_another_territorys_invitation_is_out_of_reach(
    client: FlaskClient, auth: AuthActions, setting, make_territory
):
    from app.territory import services

    elsewhere = make_territory(communes=("85092",))
    services.invite_user(elsewhere, email="attente@example.org", role=Role.GP, by=None)
    db.session.commit()
    auth.login("coord@example.org", PASSWORD)
    for action in ("lien", "annuler", "relancer"):
        answer = client.post(
            "/coordination/comptes/invitation",
            data={"email": "attente@example.org", "action": action},
        )
        assert answer.status_code == 404
    pending = db.session.scalars(sa.select(User).where(User.email == "attente@example.org")).one()
    assert pending.active
    assert pending.invitation_hash is not None
