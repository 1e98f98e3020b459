"""A regulation service as one desk: search and book across its territories, isolation
everywhere else, forgiving commune search, and ranking by time and distance. Both engines.

The booking world has two territories with a published Monday (17:00–20:00): "CPTS des
Marais" (Challans, 85047) and "CPTS de l'île" (Saint-Martin-de-Ré, 17369), about 80 km
apart. The service "SAS 85" covers both; its desk regulator has no territory of its own.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine

from app.enums import Role
from app.extensions import db
from app.models import Site, Territory, User
from app.regulation import services as regulation
from booking import nearest, services, tokens
from booking.models import Booking
from publishing import fhir
from rota.models import Session
from tests.helpers import logged_in
from tests.test_fhir import appointment

NO_SLOT = re.compile(r"(?<!\d)0 créneau")
SLOT_LINK = re.compile(r"creneau=(\d+-\d+-\d+)")
MARAIS = (46.8467, -1.8781)  # MSP des Marais, Challans
ILE = (46.2030, -1.3670)  # Cabinet de l'île, Saint-Martin-de-Ré
PATIENT = {
    "family_name": "Durand",
    "given_name": "Léa",
    "birth_date": "14/07/1985",
    "phone": "06 12 34 56 78",
    "reason_code": "fievre",
}


@dataclass
class Desk:
    world: object
    service: object
    desk: User  # a regulator of the service, with no territory of their own
    other_site: Site
    other_coordinator: User


@pytest.fixture
def desk(booking_world, make_user):
    world = booking_world
    world.site.latitude, world.site.longitude = MARAIS
    other_site = db.session.scalar(
        sa.select(Site).where(Site.territory_id == world.other_territory.id)
    )
    other_site.latitude, other_site.longitude = ILE
    service = regulation.create_service("SAS 85", by=None)
    regulation.attach_territory(service, world.territory, by=None)
    regulation.attach_territory(service, world.other_territory, by=None)
    desk_user = make_user(Role.REGULATOR, world.territory, email="desk@example.org")
    regulation.assign_regulator(desk_user, service, by=None)
    desk_user.territory_id = None  # the schema lets a service's regulator have none
    other_coordinator = make_user(
        Role.COORDINATOR, world.other_territory, email="coord.ile@example.org"
    )
    db.session.commit()
    with time_machine.travel(world.now, tick=False):
        yield Desk(world, service, desk_user, other_site, other_coordinator)


def _slot_ids(page: str) -> list[str]:
    return list(dict.fromkeys(SLOT_LINK.findall(page)))


def _territory_of(slot_id: str) -> int:
    return db.session.get(Session, int(slot_id.split("-")[0])).territory_id


def _slots_of(d: Desk, user: User, territory: Territory) -> list[str]:
    found = services.user_free_slots(user, now=d.world.now)
    return [f.id for f in found if f.session.territory_id == territory.id]


# --- one desk, two territories ---------------------------------------------------------------


def test_desk_search_lists_both_territories_ranked_by_time_and_distance(app, desk):
    client = logged_in(app, desk.desk.email)
    page = client.get("/creneaux?insee=85047").get_data(as_text=True)
    assert "CPTS des Marais" in page
    assert "CPTS de l&#39;île" in page
    ids = _slot_ids(page)
    territories = [_territory_of(i) for i in ids]
    assert set(territories) == {desk.world.territory.id, desk.world.other_territory.id}
    # 80 km are worth 160 minutes: every slot of the evening in Challans comes first.
    first_island = territories.index(desk.world.other_territory.id)
    assert set(territories[:first_island]) == {desk.world.territory.id}
    assert "à moins de 1 km" in page
    assert re.search(r"à 8\d km", page)
    assert "https://www.openstreetmap.org/?mlat=46.84670&amp;mlon=-1.87810" in page
    assert not NO_SLOT.search(page)


def test_desk_search_without_commune_is_in_time_order_across_territories(app, desk):
    found = services.user_free_slots(desk.desk, now=desk.world.now)
    assert {f.session.territory_id for f in found} == {
        desk.world.territory.id,
        desk.world.other_territory.id,
    }
    starts = [f.slot.starts_at for f in found]
    assert starts == sorted(starts)
    assert all(f.km is None for f in found)


def test_desk_books_in_the_other_territory_whose_coordinator_sees_it_with_the_service(app, desk):
    island_slot = _slots_of(desk, desk.desk, desk.world.other_territory)[0]
    client = logged_in(app, desk.desk.email)
    answer = client.post("/reserver", data={"creneau": island_slot, **PATIENT})
    assert answer.status_code == 302, answer.get_data(as_text=True)
    reference = answer.headers["Location"].rsplit("/", 1)[-1]
    booking = db.session.scalar(sa.select(Booking).where(Booking.reference == reference))
    assert booking.territory_id == desk.world.other_territory.id
    assert booking.booked_by_id == desk.desk.id
    assert reference in client.get("/rendez-vous").get_data(as_text=True)

    island = logged_in(app, desk.other_coordinator.email)
    day = island.get("/coordination/rendez-vous?jour=2027-03-01").get_data(as_text=True)
    assert reference in day
    assert "SAS 85" in day
    assert "SAS 85" in island.get(f"/rendez-vous/{reference}").get_data(as_text=True)
    # The other territory's coordinator and a regulator of no service see nothing of it.
    for email in ("coord@example.org", "samu2@example.org"):
        assert logged_in(app, email).get(f"/rendez-vous/{reference}").status_code == 404


def test_bookings_of_a_service_stay_out_of_another_services_sight(app, desk, make_user):
    """Two desks may cover the same territory; each sees only its own regulators' bookings."""
    other_service = regulation.create_service("SAS 17", by=None)
    regulation.attach_territory(other_service, desk.world.other_territory, by=None)
    rival = make_user(Role.REGULATOR, desk.world.other_territory, email="sas17@example.org")
    regulation.assign_regulator(rival, other_service, by=None)
    db.session.commit()
    island_slot = _slots_of(desk, desk.desk, desk.world.other_territory)[0]
    booking = services.book(desk.desk, island_slot, _patient(), now=desk.world.now)
    db.session.commit()
    with pytest.raises(services.NotFound):
        services.get_visible(rival, booking.reference)
    assert services.get_visible(desk.desk, booking.reference) == booking
    # The rival desk books the island too, but never the Marais it does not cover.
    assert _slots_of(desk, rival, desk.world.other_territory)
    assert not _slots_of(desk, rival, desk.world.territory)
    marais_slot = _slots_of(desk, desk.desk, desk.world.territory)[0]
    with pytest.raises(services.NotFound):
        services.book(rival, marais_slot, _patient(), now=desk.world.now)


def _patient() -> services.PatientData:
    return services.PatientData(
        family_name="Durand",
        given_name="Léa",
        birth_date=date(1985, 7, 14),
        phone="06 12 34 56 78",
        reason_code="fievre",
    )


def test_a_detached_territory_leaves_the_desk_at_once(app, desk):
    regulation.detach_territory(desk.service, desk.world.other_territory, by=None)
    db.session.commit()
    assert not _slots_of(desk, desk.desk, desk.world.other_territory)
    island_slot = services.free_slots(
        desk.world.other_territory.id, services.booker_channel(desk.desk), now=desk.world.now
    )[0].id
    client = logged_in(app, desk.desk.email)
    page = client.post("/reserver", data={"creneau": island_slot, **PATIENT})
    assert page.status_code == 200
    assert "pas été pris" in page.get_data(as_text=True), page.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Booking.id))) == 0


def test_pharmacists_stay_in_their_territory(app, desk):
    pharmacist = desk.world.users["pharmacist"]
    assert services.booker_territory_ids(pharmacist) == [desk.world.territory.id]
    island_slot = _slots_of(desk, desk.desk, desk.world.other_territory)[0]
    with pytest.raises(services.NotFound):
        services.book(pharmacist, island_slot, _patient(), now=desk.world.now)


def test_lost_race_alternatives_are_nearest_in_time_and_distance(app, desk):
    """After a lost race in Challans the offers stay in Challans, not 80 km away."""
    marais = _slots_of(desk, desk.desk, desk.world.territory)
    services.book(desk.world.users["regulator"], marais[0], _patient(), now=desk.world.now)
    db.session.commit()
    with pytest.raises(services.SlotTaken) as lost:
        services.book(desk.desk, marais[0], _patient(), now=desk.world.now)
    db.session.rollback()
    offers = lost.value.alternatives
    assert len(offers) == 3
    assert {f.session.territory_id for f in offers} == {desk.world.territory.id}
    assert all(f.km is not None and f.km < 1 for f in offers)
    # From the island, the island's own slots come first.
    near_island = services.alternatives(
        desk.desk, now=desk.world.now, exclude="", near=nearest.Point(*ILE)
    )
    assert {f.session.territory_id for f in near_island} == {desk.world.other_territory.id}


def test_sites_without_coordinates_are_warned_about_and_ranked_last(app, desk):
    desk.other_site.latitude = desk.other_site.longitude = None
    db.session.commit()
    page = logged_in(app, desk.desk.email).get("/creneaux?insee=85047").get_data(as_text=True)
    assert "Lieu sans coordonnées" in page
    territories = [_territory_of(i) for i in _slot_ids(page)]
    first_island = territories.index(desk.world.other_territory.id)
    assert set(territories[first_island:]) == {desk.world.other_territory.id}


# --- commune search that forgives ------------------------------------------------------------------


def test_a_typo_suggests_the_commune_and_never_says_no_slot(app, desk):
    client = logged_in(app, desk.desk.email)
    page = client.get("/creneaux?commune=Chalans").get_data(as_text=True)
    assert "Vouliez-vous dire" in page
    assert "Challans (85300)" in page
    assert not NO_SLOT.search(page)
    link = html.unescape(re.search(r'href="([^"]*insee=85047[^"]*)"', page)[1])
    slots = client.get(link).get_data(as_text=True)  # one click: the slots, nearest first
    first = _slot_ids(slots)[0]
    assert _territory_of(first) == desk.world.territory.id
    assert client.get(f"/reserver?creneau={first}&insee=85047").status_code == 200


@pytest.mark.parametrize(
    ("typed", "meant"),
    [("st gilles", "Saint-Gilles-Croix-de-Vie"), ("st hilaire de riez", "Saint-Hilaire-de-Riez")],
)
def test_abbreviations_lead_to_the_commune_in_one_click(app, desk, typed, meant):
    client = logged_in(app, desk.desk.email)
    page = client.get("/creneaux", query_string={"commune": typed}).get_data(as_text=True)
    assert meant in page
    if "créneau" not in page.split("<h2>", 1)[-1][:40]:  # a choice among namesakes first
        insee = re.search(r'insee=(\d{5})">' + re.escape(meant), page)[1]
        page = client.get(f"/creneaux?insee={insee}").get_data(as_text=True)
    assert f"Patient de <strong>{meant}</strong>" in page
    assert _slot_ids(page)


def test_datalist_offers_the_communes_of_every_territory_of_the_desk(app, desk):
    page = logged_in(app, desk.desk.email).get("/creneaux").get_data(as_text=True)
    datalist = re.search(r'<datalist id="communes-cpts">(.*?)</datalist>', page, re.S)[1]
    assert '"Challans (85300)"' in datalist
    assert '"Saint-Martin-de-Ré (17410)"' in datalist


# --- the REST API and FHIR answer across the service ------------------------------------------------


def test_api_token_of_the_desk_lists_and_books_across_territories(app, desk, client):
    plain, _ = tokens.create_token(desk.desk, "logiciel du SAS", by=None)
    db.session.commit()
    headers = {"Authorization": f"Bearer {plain}"}
    listed = client.get("/api/v1/slots?commune=85047&limit=500", headers=headers).get_json()
    territories = {s["site"]["territory"] for s in listed["slots"]}
    assert territories == {"CPTS des Marais", "CPTS de l'île"}
    assert listed["slots"][0]["distance_km"] < 1
    assert "note" not in listed
    island = next(s for s in listed["slots"] if s["site"]["territory"] == "CPTS de l'île")
    assert 75 < island["distance_km"] < 95
    body = {
        "slot_id": island["id"],
        "patient": {
            "family_name": "Durand",
            "given_name": "Léa",
            "birth_date": "1985-07-14",
            "phone": "0612345678",
        },
        "reason_code": "fievre",
    }
    made = client.post("/api/v1/bookings", json=body, headers=headers)
    assert made.status_code == 201, made.get_data(as_text=True)
    booking = db.session.scalar(
        sa.select(Booking).where(Booking.reference == made.get_json()["reference"])
    )
    assert booking.territory_id == desk.world.other_territory.id


def test_fhir_slot_search_and_appointment_across_the_services_territories(app, desk, client):
    plain, _ = tokens.create_token(desk.desk, "SAS", by=None)
    db.session.commit()
    headers = {"Authorization": f"Bearer {plain}", "Accept": "application/fhir+json"}
    island_gps = [
        a.practitioner
        for s in services.published_sessions(
            desk.world.other_territory.id, desk.world.now, desk.world.now + timedelta(hours=24)
        )[:1]
        for a in s.assignments
    ]
    gps = [desk.world.gps[0], desk.world.gps[1], *island_gps]
    start = desk.world.now.isoformat(timespec="seconds").replace("+00:00", "Z")
    end = (
        (desk.world.now + timedelta(hours=48)).isoformat(timespec="seconds").replace("+00:00", "Z")
    )
    actors = ",".join(f"{fhir.RPPS_SYSTEM}|8{p.rpps}" for p in gps)
    query = (
        "_include=Slot:schedule&_include:iterate=Schedule:actor"
        "&_include=Slot:service-type-reference&_include:iterate=HealthcareService:organization"
        f"&start=ge{start}&start=le{end}"
        f"&schedule.actor:Practitioner.identifier={actors}&status=free"
    )
    answer = client.get(f"/fhir/Slot?{query}", headers=headers)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    entries = answer.get_json()["entry"]
    services_named = {
        e["resource"]["name"]
        for e in entries
        if e["resource"]["resourceType"] == "HealthcareService"
    }
    assert services_named == {
        "Soins non programmés – CPTS des Marais",
        "Soins non programmés – CPTS de l'île",
    }
    slots = [e["resource"] for e in entries if e["resource"]["resourceType"] == "Slot"]
    assert {_territory_of(s["id"]) for s in slots} == {
        desk.world.territory.id,
        desk.world.other_territory.id,
    }
    # The SAS platform books the island GP's slot through the same token.
    island_slot = next(s for s in slots if _territory_of(s["id"]) == desk.world.other_territory.id)
    holder = next(
        p
        for p in island_gps
        if services.slot_at(
            desk.world.other_territory.id,
            p.id,
            datetime.fromisoformat(island_slot["start"]),
            datetime.fromisoformat(island_slot["end"]),
        )
        == island_slot["id"]
    )
    body = appointment(island_slot, f"8{holder.rpps}", ident="sas-desk-1")
    made = client.post(
        "/fhir/Appointment",
        data=json.dumps(body),
        headers={**headers, "Content-Type": "application/fhir+json"},
    )
    assert made.status_code == 201, made.get_data(as_text=True)
    booking = db.session.scalar(sa.select(Booking).where(Booking.external_id == "sas-desk-1"))
    assert booking.territory_id == desk.world.other_territory.id


def test_the_coordinator_is_warned_of_sites_without_coordinates(app, desk):
    page = logged_in(app, "coord@example.org").get("/coordination/lieux").get_data(as_text=True)
    assert "sans coordonnées" not in page  # the Marais site has its position
    desk.world.site.latitude = desk.world.site.longitude = None
    db.session.commit()
    page = logged_in(app, "coord@example.org").get("/coordination/lieux").get_data(as_text=True)
    assert "1 lieu sans coordonnées" in page
    assert "MSP des Marais" in page
