"""API tokens of a regulation service's regulators, issued and revoked by the administrator
(``/admin/regulation/<id>/jetons-api``), and kept out of the coordinators' hands. Both engines.

The booking world's two territories ("CPTS des Marais", Challans; "CPTS de l'île") are
attached to "SAS 85"; its desk regulator has no territory of their own, and samu1 (an
account of the Marais) belongs to it too. "SAS 17" covers the island only.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
import time_machine

from app.enums import Role
from app.extensions import db
from app.models import AuditEvent, RegulationService, User
from app.regulation import services as regulation
from app.validators import ValidationError
from booking import tokens
from booking.models import ApiToken
from tests.helpers import count, logged_in
from tests.test_security_pages import changes, dump_database

PLAIN = re.compile(r"tdr_[A-Za-z0-9_-]{43}")


@dataclass
class Services:
    sas85: RegulationService
    sas17: RegulationService
    desk: User  # SAS 85, no territory of their own
    marais_regulator: User  # SAS 85, an account of the Marais
    island_regulator: User  # SAS 17
    admin: User
    world: object

    @property
    def url(self) -> str:
        return f"/admin/regulation/{self.sas85.id}/jetons-api"


@pytest.fixture
def sas(booking_world, make_user):
    world = booking_world
    marais, island = world.territory, world.other_territory
    sas85 = regulation.create_service("SAS 85", by=None)
    sas17 = regulation.create_service("SAS 17", by=None)
    for territory in (marais, island):
        regulation.attach_territory(sas85, territory, by=None)
    regulation.attach_territory(sas17, island, by=None)
    desk = make_user(Role.REGULATOR, marais, email="desk@example.org")
    island_regulator = make_user(Role.REGULATOR, island, email="sas17@example.org")
    regulation.assign_regulator(desk, sas85, by=None)
    regulation.assign_regulator(world.users["regulator"], sas85, by=None)
    regulation.assign_regulator(island_regulator, sas17, by=None)
    desk.territory_id = None  # the schema lets a service's regulator have none
    admin = make_user(Role.ADMIN, None, email="admin@example.org")
    db.session.commit()
    with time_machine.travel(world.now, tick=False):
        yield Services(
            sas85=sas85,
            sas17=sas17,
            desk=desk,
            marais_regulator=world.users["regulator"],
            island_regulator=island_regulator,
            admin=admin,
            world=world,
        )


def _token_actions() -> list[tuple[str, int | None, int | None]]:
    """(action, actor, territory) of every token audit row, oldest first."""
    return [
        tuple(row)
        for row in db.session.execute(
            sa.select(AuditEvent.action, AuditEvent.user_id, AuditEvent.territory_id)
            .where(AuditEvent.action.like("api_token.%"))
            .order_by(AuditEvent.id)
        )
    ]


def test_service_page_links_to_its_tokens(app, sas):
    page = logged_in(app, sas.admin.email).get(f"/admin/regulation/{sas.sas85.id}")
    assert f'href="{sas.url}"' in page.get_data(as_text=True)
    assert "Jetons d'API des régulateurs" in page.get_data(as_text=True)


def test_admin_issues_a_token_shown_once_that_books_across_the_service(app, client, sas):
    admin = logged_in(app, sas.admin.email)
    page = admin.get(sas.url).get_data(as_text=True)
    # The form offers the service's active regulators only.
    assert f'<option value="{sas.desk.id}">desk@example.org</option>' in page
    assert "samu1@example.org (CPTS des Marais)" in page
    assert "sas17@example.org" not in page
    assert "samu2@example.org" not in page  # a regulator of no service

    created = admin.post(sas.url, data={"user_id": sas.desk.id, "label": "Logiciel du SAS"})
    assert created.status_code == 200
    shown = created.get_data(as_text=True)
    plain = PLAIN.search(shown).group(0)
    assert f'href="{sas.url}"' in shown  # "Retour aux jetons" leads back here

    headers = {"Authorization": f"Bearer {plain}"}
    listed = client.get("/api/v1/slots?commune=85047&limit=500", headers=headers)
    assert listed.status_code == 200, listed.get_data(as_text=True)
    territories = {s["site"]["territory"] for s in listed.get_json()["slots"]}
    assert territories == {"CPTS des Marais", "CPTS de l'île"}

    listing = admin.get(sas.url).get_data(as_text=True)
    assert plain[:8] in listing
    assert plain not in listing  # shown once
    assert "Logiciel du SAS" in listing
    assert "jamais" not in listing  # the API call above is its last use
    # Audited with the administrator as actor, in the platform's trail (the desk has no
    # territory for a coordinator to read it in).
    assert _token_actions() == [("api_token.create", sas.admin.id, None)]


def test_admin_revokes_after_confirming_and_the_token_stops_working(app, client, sas):
    plain, token = tokens.create_token(sas.desk, "SAS", by=None)
    db.session.commit()
    headers = {"Authorization": f"Bearer {plain}"}
    admin = logged_in(app, sas.admin.email)
    revoke = f"{sas.url}/{token.id}/revoquer"

    asked = admin.post(revoke)
    assert asked.status_code == 200
    assert "Révoquer le jeton" in asked.get_data(as_text=True)
    assert client.get("/api/v1/slots", headers=headers).status_code == 200  # not yet

    done = admin.post(revoke, data={"confirmed": "1"}, follow_redirects=True)
    assert f"Jeton {token.prefix}… révoqué" in done.get_data(as_text=True)
    assert client.get("/api/v1/slots", headers=headers).status_code == 401
    again = admin.post(revoke, data={"confirmed": "1"}, follow_redirects=True)
    assert "déjà révoqué" in html.unescape(again.get_data(as_text=True))
    assert [a for a, _, _ in _token_actions()] == ["api_token.create", "api_token.revoke"]
    assert _token_actions()[-1] == ("api_token.revoke", sas.admin.id, None)


def test_a_service_regulator_with_a_territory_is_audited_in_it(app, sas):
    admin = logged_in(app, sas.admin.email)
    admin.post(sas.url, data={"user_id": sas.marais_regulator.id, "label": ""})
    # The Marais coordinator reads, in their trail, that one of their accounts got a token.
    assert _token_actions() == [("api_token.create", sas.admin.id, sas.world.territory.id)]


@pytest.mark.parametrize(
    ("who", "message"),
    [
        ("island_regulator", "n'est pas un régulateur du service « SAS 85 »"),  # SAS 17
        ("no_service", "n'est pas un régulateur du service"),
        ("coordinator", "n'est pas un régulateur du service"),
        ("deactivated", "est désactivé"),
        ("unknown", "n'est pas un régulateur du service"),
        ("not_a_number", "n'est pas un régulateur du service"),
        ("huge", "n'est pas un régulateur du service"),
    ],
)
def test_an_account_outside_the_service_is_refused_in_french(app, sas, who, message):
    if who == "deactivated":
        sas.marais_regulator.active = False
        db.session.commit()
    user_id = {
        "island_regulator": sas.island_regulator.id,
        "no_service": sas.world.users["regulator2"].id,
        "coordinator": sas.world.users["coordinator"].id,
        "deactivated": sas.marais_regulator.id,
        "unknown": 999_999,
        "not_a_number": "abc",
        "huge": "9" * 400,
    }[who]
    admin = logged_in(app, sas.admin.email)
    before = dump_database()
    answer = admin.post(sas.url, data={"user_id": user_id, "label": "x"})
    assert answer.status_code == 200
    assert message in html.unescape(answer.get_data(as_text=True))
    assert not PLAIN.search(answer.get_data(as_text=True))
    assert not changes(before, dump_database())


def test_a_label_too_long_is_refused_in_french(app, sas):
    admin = logged_in(app, sas.admin.email)
    answer = admin.post(sas.url, data={"user_id": sas.desk.id, "label": "x" * 101})
    assert "100 caractères au plus" in answer.get_data(as_text=True)
    assert count(ApiToken) == 0


def test_unknown_service_is_not_found(app, sas):
    admin = logged_in(app, sas.admin.email)
    _, token = tokens.create_token(sas.desk, "", by=None)
    db.session.commit()
    assert admin.get("/admin/regulation/999/jetons-api").status_code == 404
    refused = admin.post(f"/admin/regulation/999/jetons-api/{token.id}/revoquer")
    assert refused.status_code == 404


def test_another_services_token_is_neither_listed_nor_revoked_here(app, sas):
    plain, token = tokens.create_token(sas.island_regulator, "", by=None)
    db.session.commit()
    admin = logged_in(app, sas.admin.email)
    assert token.prefix not in admin.get(sas.url).get_data(as_text=True)
    answer = admin.post(f"{sas.url}/{token.id}/revoquer", data={"confirmed": "1"})
    assert answer.status_code == 404
    assert tokens.authenticate(f"Bearer {plain}") == sas.island_regulator
    # On its own service's page it is.
    assert token.prefix in admin.get(f"/admin/regulation/{sas.sas17.id}/jetons-api").get_data(
        as_text=True
    )


@pytest.mark.parametrize("role", ["anonymous", "coordinator", "regulator", "pharmacist", "gp"])
def test_only_the_administrator_reaches_the_page(app, sas, role):
    plain, token = tokens.create_token(sas.desk, "", by=None)
    db.session.commit()
    if role == "anonymous":
        client = app.test_client()
    else:
        email = sas.desk.email if role == "regulator" else sas.world.users[role].email
        client = logged_in(app, email)  # the desk regulator themself is refused too
    before = dump_database()
    answers = [
        client.get(sas.url),
        client.post(sas.url, data={"user_id": sas.desk.id, "label": "x"}),
        client.post(f"{sas.url}/{token.id}/revoquer", data={"confirmed": "1"}),
    ]
    for answer in answers:
        if role == "anonymous":
            assert answer.status_code == 302
            assert "/connexion" in answer.headers["Location"]
        else:
            assert answer.status_code == 403
    assert not changes(before, dump_database())
    assert tokens.authenticate(f"Bearer {plain}") == sas.desk


# --- what the coordinators' page shows of a service's tokens -------------------------------------


@pytest.mark.parametrize("coordinator", ["marais", "island"])
def test_a_territoryless_desk_token_stays_out_of_the_coordinators_hands(
    app, sas, make_user, coordinator
):
    plain, token = tokens.create_token(sas.desk, "logiciel du SAS", by=None)
    db.session.commit()
    email = (
        sas.world.users["coordinator"].email
        if coordinator == "marais"
        else make_user(Role.COORDINATOR, sas.world.other_territory, email="ci@example.org").email
    )
    client = logged_in(app, email)
    before = dump_database()
    page = client.get("/coordination/jetons-api").get_data(as_text=True)
    assert token.prefix not in page
    assert "desk@example.org" not in page  # not offered for a new token either
    revoke = client.post(f"/coordination/jetons-api/{token.id}/revoquer", data={"confirmed": "1"})
    assert revoke.status_code == 404
    issue = client.post("/coordination/jetons-api", data={"user_id": sas.desk.id, "label": "x"})
    assert not PLAIN.search(issue.get_data(as_text=True))
    assert not changes(before, dump_database())
    assert tokens.authenticate(f"Bearer {plain}") == sas.desk


def test_a_service_regulators_own_territory_still_lists_their_token(app, sas):
    """An account made in the Marais stays the Marais coordinator's to oversee (they see
    and may revoke its tokens, and deactivate it) but not to equip: only the administrator
    issues a token that books across the service. The island's coordinator, whose slots it
    also books, never sees it."""
    _, token = tokens.create_token(sas.marais_regulator, "", by=None)
    db.session.commit()
    marais = logged_in(app, sas.world.users["coordinator"].email)
    listing = marais.get("/coordination/jetons-api").get_data(as_text=True)
    assert token.prefix in listing
    # Listed, but not the coordinator's to issue: the token would book across the service.
    assert f'value="{sas.marais_regulator.id}"' not in listing
    before = dump_database()
    issue = marais.post(
        "/coordination/jetons-api", data={"user_id": sas.marais_regulator.id, "label": "x"}
    )
    assert not PLAIN.search(issue.get_data(as_text=True))
    assert not changes(before, dump_database())
    with pytest.raises(ValidationError, match="délivrés par l'administrateur"):
        tokens.create_token(sas.marais_regulator, "", by=sas.world.users["coordinator"])
    admin = logged_in(app, sas.admin.email)
    assert token.prefix in admin.get(sas.url).get_data(as_text=True)
