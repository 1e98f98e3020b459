"""Another user's objects in the SAME territory (ASVS 4.2.1, insecure direct object references).

``tests/test_authorization.py`` proves roles and territories apart; here everyone is of
one territory and holds a perfectly valid id, just not their own: a pharmacist with a
colleague's or the regulation's booking reference, a GP with a colleague's assignment, swap
or feed, a non-coordinator with someone's API token id. Each attempt must answer 403 or
404, and the database must be exactly as before (``dump_database``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine

from app.enums import Role
from app.extensions import db
from booking import services as booking_services
from booking import tokens
from booking.models import ApiToken
from booking.slots import PHARMACY
from publishing import feeds
from rota import services as rota_services
from rota.models import SwapStatus
from tests.helpers import logged_in
from tests.test_security_pages import changes, dump_database

PATIENT = booking_services.PatientData(
    family_name="Secretpatient",
    given_name="Zoé",
    birth_date=date(1980, 5, 17),
    phone="06 12 34 56 78",
    reason="Fièvre",
    reason_code="fievre",
)


@dataclass
class Team:
    """One territory: two pharmacists, two regulators, two GPs with accounts, bookings."""

    world: Any
    users: dict[str, Any]
    bookings: dict[str, str]  # name -> reference
    api: dict[str, str]  # role -> bearer token

    def client(self, app, role: str):
        return logged_in(app, self.users[role].email)


@pytest.fixture
def team(app, booking_world, make_user):
    world = booking_world
    with time_machine.travel(world.now, tick=False):
        users = dict(world.users)
        today = world.period.sessions[0]
        seats = {a.seat: a.practitioner for a in today.assignments}
        assert users["gp"].practitioner_id == seats[1].id
        users["gp2"] = make_user(
            Role.GP, world.territory, email="gp2@example.org", practitioner=seats[2]
        )
        free = booking_services.free_slots(world.territory.id, "any", now=world.now)

        def book(role: str, holder, channel: str) -> str:
            slot = next(f for f in free if f.practitioner.id == holder.id and f.channel == channel)
            free.remove(slot)
            return booking_services.book(users[role], slot.id, PATIENT, now=world.now).reference

        bookings = {
            "pharmacist": book("pharmacist", seats[2], PHARMACY),
            "regulator": book("regulator", seats[1], "sas"),
            "regulator_on_gp2": book("regulator", seats[2], "open"),
        }
        api = {
            role: tokens.create_token(users[role], "idor", by=None)[0]
            for role in ("pharmacist", "pharmacist2", "regulator", "regulator2", "coordinator")
        }
        db.session.commit()
        yield Team(world=world, users=users, bookings=bookings, api=api)


# (viewer, booking) pairs the viewer may not see (booking.services.visible_bookings): a
# pharmacist sees their own bookings, the regulation its own, a GP those of their seats.
FORBIDDEN = [
    ("pharmacist2", "pharmacist"),  # a colleague pharmacist's booking
    ("pharmacist", "regulator"),  # the regulation's booking
    ("regulator", "pharmacist"),  # a pharmacy's booking
    ("gp", "pharmacist"),  # booked on the other GP's seat
    ("gp", "regulator_on_gp2"),
    ("gp2", "regulator"),  # booked on the first GP's seat
]
OWNER = {"pharmacist": "pharmacist", "regulator": "regulator", "regulator_on_gp2": "regulator"}


def test_another_users_booking_is_not_found_through_pages(app, team):
    for viewer, booking in FORBIDDEN:  # one world for all the pairs: it costs more than they do
        _pages_refuse(app, team, viewer, booking)


def _pages_refuse(app, team, viewer: str, booking: str) -> None:
    reference = team.bookings[booking]
    owner = team.client(app, OWNER[booking])
    assert owner.get(f"/rendez-vous/{reference}").status_code == 200  # the URL is right
    client = team.client(app, viewer)
    before = dump_database()

    for path in (f"/rendez-vous/{reference}", f"/rendez-vous/{reference.lower()}"):
        assert client.get(path).status_code == 404
    assert client.post(f"/rendez-vous/{reference}/annuler", data={"reason": "x"}).status_code == 404
    marked = client.post(f"/rendez-vous/{reference}/presence", data={"presence": "absent"})
    assert marked.status_code == (404 if viewer.startswith("gp") else 403)
    jump = client.get(f"/rendez-vous?ref={reference}")
    assert jump.status_code == 200  # no redirect to the booking: "not visible here"
    assert "Aucun rendez-vous visible" in jump.get_data(as_text=True)
    listing = client.get("/rendez-vous").get_data(as_text=True)
    assert reference not in listing
    assert "Secretpatient" not in listing
    if not viewer.startswith("gp"):  # bookers: re-placing someone else's patient
        slot = booking_services.free_slots(
            team.world.territory.id,
            booking_services.booker_channel(team.users[viewer]),
            now=team.world.now,
        )[0]
        assert client.get(f"/reserver?creneau={slot.id}&remplace={reference}").status_code == 404
        form = {
            "creneau": slot.id,
            "remplace": reference,
            "family_name": "Durand",
            "given_name": "Léa",
            "birth_date": "04/05/1990",
            "phone": "06 12 34 56 78",
            "reason_code": "autre",
        }
        assert client.post("/reserver", data=form).status_code == 404

    assert not changes(before, dump_database())


API_FORBIDDEN = [(v, b) for v, b in FORBIDDEN if not v.startswith("gp")]


def test_another_users_booking_is_not_found_through_the_api(client, team):
    for viewer, booking in API_FORBIDDEN:
        _api_refuses(client, team, viewer, booking)


def _api_refuses(client, team, viewer: str, booking: str) -> None:
    reference = team.bookings[booking]
    owner = {"Authorization": f"Bearer {team.api[OWNER[booking]]}"}
    assert client.get(f"/api/v1/bookings/{reference}", headers=owner).status_code == 200
    headers = {"Authorization": f"Bearer {team.api[viewer]}"}
    before = dump_database()

    answers = [
        client.get(f"/api/v1/bookings/{reference}", headers=headers),
        client.get(f"/api/v1/bookings/{reference.lower()}", headers=headers),
        client.delete(f"/api/v1/bookings/{reference}", headers=headers),
        client.delete(f"/api/v1/bookings/{reference}", json={"reason": "x"}, headers=headers),
    ]

    for answer in answers:
        assert answer.status_code == 404
        assert answer.get_json() == {
            "code": "not_found",
            "message": "Aucun rendez-vous avec cette référence.",
        }
    assert not changes(before, dump_database())


def test_a_gp_cannot_act_on_a_colleagues_assignment_or_swap(app, team):
    world = team.world
    with time_machine.travel(world.now, tick=False):
        mine, theirs = team.users["gp"].practitioner, team.users["gp2"].practitioner
        third = next(p for p in world.gps if p.id not in (mine.id, theirs.id))
        later = [s for s in world.period.sessions if s.starts_at > world.now]
        held = [a for s in later for a in s.assignments if a.practitioner_id == theirs.id]
        # gp2 offers one session to a named third GP, another on the bourse.
        named = rota_services.offer_swap(held[0], to=third, message="", by=None)
        bourse = rota_services.offer_swap(held[1], to=None, message="", by=None)
        db.session.commit()
        client = team.client(app, "gp")
        before = dump_database()

        for data in ({}, {"to": mine.id}, {"to": third.id, "message": "pirate"}):
            answer = client.post(f"/mes-plages/{held[2].id}/ceder", data=data)
            assert answer.status_code == 404  # not my assignment: not even "forbidden"
        refused = client.post(f"/echanges/{named.id}/accepter", follow_redirects=True)
        assert "adressée à un autre médecin" in refused.get_data(as_text=True)
        for swap in (named, bourse):  # only the GP who offered may withdraw
            assert client.post(f"/echanges/{swap.id}/annuler").status_code == 404
        assert client.post(f"/coordination/echanges/{named.id}/valider").status_code == 403

        assert not changes(before, dump_database())
        db.session.refresh(named)
        assert named.status == SwapStatus.OPEN
        assert {a.practitioner_id for a in held} == {theirs.id}


def test_a_gp_cannot_rotate_revoke_or_tune_a_colleagues_feed(app, team):
    world = team.world
    with time_machine.travel(world.now, tick=False):
        colleague = team.users["gp"].practitioner
        token = feeds.issue_gp_token(colleague, by=None)
        feeds.set_alarm(colleague, 30, by=None)
        territory_token = feeds.issue_territory_token(world.territory, by=None)
        db.session.commit()
        feed_id = feeds.gp_feed(colleague).id
        smuggled = {"practitioner_id": colleague.id, "feed_id": feed_id, "token": token}

        def colleague_feed() -> tuple:
            db.session.expire_all()
            feed = feeds.gp_feed(colleague)
            return feed.token_hash, feed.revoked_at, feed.alarm_minutes

        kept = colleague_feed()
        gp2 = team.client(app, "gp2")
        for action in ({"action": "nouvelle-adresse"}, {"action": "rappel", "alarm": "60"}):
            assert gp2.post("/mes-plages/agenda", data={**action, **smuggled}).status_code < 400
        revoked = gp2.post(
            "/mes-plages/agenda", data={"action": "revoquer", "confirmed": "1", **smuggled}
        )
        assert revoked.status_code == 302
        assert colleague_feed() == kept
        own = feeds.gp_feed(team.users["gp2"].practitioner)  # gp2 changed their own feed
        assert own is not None
        assert (own.live, own.alarm_minutes) == (False, 60)

        for role in ("regulator", "pharmacist"):
            other = team.client(app, role)
            assert other.post("/mes-plages/agenda", data={"action": "revoquer"}).status_code == 403
        coordinator = team.client(app, "coordinator")
        assert (
            coordinator.post(
                "/coordination/agenda", data={"action": "revoquer", "confirmed": "1", **smuggled}
            ).status_code
            == 302
        )
        assert colleague_feed() == kept  # the territory feed went, the GP's stayed
        assert feeds.find_live_feed(territory_token) is None
        assert app.test_client().get(f"/ical/{token}.ics").status_code == 200


def test_only_the_coordinator_revokes_or_issues_api_tokens(app, team):
    token = db.session.scalar(
        sa.select(ApiToken).where(ApiToken.user_id == team.users["regulator"].id)
    )
    roles = ("regulator", "regulator2", "pharmacist", "gp")  # the owner too
    clients = {role: team.client(app, role) for role in roles}  # logging in writes
    before = dump_database()

    for role, client in clients.items():
        assert client.post(f"/coordination/jetons-api/{token.id}/revoquer").status_code == 403
        issue = {"user_id": team.users[role].id, "label": "mine"}
        assert client.post("/coordination/jetons-api", data=issue).status_code == 403
        assert client.get("/coordination/jetons-api").status_code == 403

    assert not changes(before, dump_database())
    assert tokens.authenticate(f"Bearer {team.api['regulator']}") == team.users["regulator"]


def test_the_coordinator_cannot_issue_a_token_to_a_gp_or_an_admin(app, team, make_user):
    admin = make_user(Role.ADMIN, None, email="admin@example.org")
    client = team.client(app, "coordinator")
    before = dump_database()

    for user in (team.users["gp"], admin):
        answer = client.post("/coordination/jetons-api", data={"user_id": user.id, "label": "x"})
        assert answer.status_code in (200, 404)
        assert not re.search(r"tdr_[A-Za-z0-9_-]{43}", answer.get_data(as_text=True))

    assert not changes(before, dump_database())


# --- regulation services: service × territory × role -----------------------------------------------


@pytest.fixture
def desks(booking_world, make_user):
    """Service "SAS 85" over both territories (one regulator with no territory, one of the
    Marais), service "SAS 17" over the island only; a coordinator, a pharmacist and a GP
    account on each side. One booking by SAS 85 in each territory."""
    from app.regulation import services as regulation

    world = booking_world
    marais, island = world.territory, world.other_territory
    sas85 = regulation.create_service("SAS 85", by=None)
    sas17 = regulation.create_service("SAS 17", by=None)
    for territory in (marais, island):
        regulation.attach_territory(sas85, territory, by=None)
    regulation.attach_territory(sas17, island, by=None)
    people = {
        "sas85": make_user(Role.REGULATOR, marais, email="sas85@example.org"),
        "sas85_marais": world.users["regulator"],
        "sas17": make_user(Role.REGULATOR, island, email="sas17@example.org"),
        "no_service_marais": world.users["regulator2"],
        "coordinator_marais": world.users["coordinator"],
        "coordinator_island": make_user(Role.COORDINATOR, island, email="ci@example.org"),
        "pharmacist_marais": world.users["pharmacist"],
        "pharmacist_island": make_user(Role.PHARMACIST, island, email="pi@example.org"),
        "gp_marais": world.users["gp"],
    }
    regulation.assign_regulator(people["sas85"], sas85, by=None)
    regulation.assign_regulator(people["sas85_marais"], sas85, by=None)
    regulation.assign_regulator(people["sas17"], sas17, by=None)
    people["sas85"].territory_id = None
    db.session.commit()
    with time_machine.travel(world.now, tick=False):
        references = {}
        for name, territory in (("marais", marais), ("island", island)):
            slot = booking_services.free_slots(territory.id, "sas", now=world.now)[0]
            booking = booking_services.book(people["sas85"], slot.id, PATIENT, now=world.now)
            references[name] = booking.reference
        db.session.commit()
        yield people, references


# (viewer, booking's territory) -> may see it. SAS 85 sees its own bookings in both
# territories; each coordinator those in their territory only; the other desk, a regulator
# of no service and the pharmacists nothing; the GP only bookings on their own seat.
DESK_VISIBILITY = {
    ("sas85", "marais"): True,
    ("sas85", "island"): True,
    ("sas85_marais", "marais"): True,
    ("sas85_marais", "island"): True,
    ("sas17", "marais"): False,
    ("sas17", "island"): False,
    ("no_service_marais", "marais"): False,
    ("no_service_marais", "island"): False,
    ("coordinator_marais", "marais"): True,
    ("coordinator_marais", "island"): False,
    ("coordinator_island", "marais"): False,
    ("coordinator_island", "island"): True,
    ("pharmacist_marais", "marais"): False,
    ("pharmacist_marais", "island"): False,
    ("pharmacist_island", "marais"): False,
    ("pharmacist_island", "island"): False,
}


@pytest.mark.parametrize(("viewer", "where"), sorted(DESK_VISIBILITY))
def test_service_territory_role_visibility_of_a_desk_booking(app, desks, viewer, where):
    people, references = desks
    page = logged_in(app, people[viewer].email).get(f"/rendez-vous/{references[where]}")
    assert page.status_code == (200 if DESK_VISIBILITY[(viewer, where)] else 404)


# (booker, slot's territory) -> may book there: a service's regulators across the territories
# attached to it, everyone else in their own territory only (pharmacists stay per territory).
DESK_BOOKING = {
    ("sas85", "marais"): True,
    ("sas85", "island"): True,
    ("sas17", "marais"): False,
    ("sas17", "island"): True,
    ("no_service_marais", "marais"): True,
    ("no_service_marais", "island"): False,
    ("pharmacist_marais", "marais"): True,
    ("pharmacist_marais", "island"): False,
    ("coordinator_island", "marais"): False,
    ("coordinator_island", "island"): True,
}


@pytest.mark.parametrize(("booker", "where"), sorted(DESK_BOOKING))
def test_service_territory_role_booking_of_a_slot(app, booking_world, desks, booker, where):
    people, _ = desks
    territory = booking_world.territory if where == "marais" else booking_world.other_territory
    user = people[booker]
    slot = booking_services.free_slots(
        territory.id, booking_services.booker_channel(user), now=booking_world.now
    )[-1]
    before = dump_database()
    try:
        booking_services.book(user, slot.id, PATIENT, now=booking_world.now)
        db.session.commit()
        booked = True
    except booking_services.NotFound:
        db.session.rollback()
        booked = False
    assert booked == DESK_BOOKING[(booker, where)]
    if not booked:
        assert changes(before, dump_database()) == {}
