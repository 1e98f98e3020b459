"""Finding 5: deactivating an account revokes its API tokens and its GP calendar feed, for good."""

from __future__ import annotations

import time_machine

from app.enums import Role
from app.extensions import db
from booking import tokens
from publishing import feeds


def _toggle(client, user, action: str) -> None:
    answer = client.post(f"/coordination/comptes/{user.id}/{action}")
    assert answer.status_code == 302, answer.get_data(as_text=True)


def test_deactivation_revokes_api_tokens_and_reactivation_does_not_revive_them(
    booking_world, auth, client
):
    world = booking_world
    regulator = world.users["regulator"]
    plain, _ = tokens.create_token(regulator, "poste SAMU", by=None)
    db.session.commit()
    headers = {"Authorization": f"Bearer {plain}"}
    with time_machine.travel(world.now, tick=False):
        assert client.get("/api/v1/slots?limit=1", headers=headers).status_code == 200
        auth.login("coord@example.org")
        _toggle(client, regulator, "desactiver")
        assert client.get("/api/v1/slots?limit=1", headers=headers).status_code == 401
        _toggle(client, regulator, "activer")
        assert client.get("/api/v1/slots?limit=1", headers=headers).status_code == 401
    assert all(t.revoked_at is not None for t in tokens.territory_tokens(world.territory.id))


def test_deactivating_a_gp_account_revokes_their_feed(booking_world, auth, client):
    world = booking_world
    gp_user = world.users["gp"]
    token = feeds.issue_gp_token(gp_user.practitioner, by=None)
    db.session.commit()
    with time_machine.travel(world.now, tick=False):
        assert client.get(f"/ical/{token}.ics").status_code == 200
        auth.login("coord@example.org")
        _toggle(client, gp_user, "desactiver")
        assert client.get(f"/ical/{token}.ics").status_code == 404
        _toggle(client, gp_user, "activer")
        assert client.get(f"/ical/{token}.ics").status_code == 404


def test_deactivation_leaves_other_accounts_tokens_alone(booking_world, make_user):
    from app.territory import services

    world = booking_world
    keep, _ = tokens.create_token(world.users["regulator2"], "autre poste", by=None)
    tokens.create_token(world.users["regulator"], "poste", by=None)
    db.session.commit()
    services.set_user_active(world.users["regulator"], False, by=world.users["coordinator"])
    db.session.commit()
    assert tokens.authenticate(f"Bearer {keep}") is not None
    assert world.users["regulator2"].role == Role.REGULATOR
