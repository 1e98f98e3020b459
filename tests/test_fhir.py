"""The FHIR interface for the SAS platform, on both engines.

Every answer is validated with ``fhir.resources`` (R4B models: R4's structure) and checked
against the constraints of the ANS guide's CPTS profiles, one test per constraint.
"""

from __future__ import annotations

import io
import json
import re
import threading
from datetime import date, timedelta
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
import time_machine
from fhir.resources.R4B import get_fhir_model_class
from hypothesis import given
from hypothesis import strategies as st

from app.enums import Role
from app.extensions import db
from booking import services, tokens
from booking.models import Booking, BookingStatus
from booking.slots import PHARMACY, SAS
from publishing import fhir, fhir_views
from rota.models import ConsultationMode
from tests.helpers import PASSWORD, count

FINESS = "850012345"
OPERATOR = {
    "url": fhir.OPERATOR_EXTENSION,
    "valueReference": {
        "identifier": {
            "type": {"coding": [{"system": fhir.ID_TYPE_SYSTEM, "code": "IDNPS"}]},
            "system": fhir.RPPS_SYSTEM,
            "value": "810002909371",
        }
    },
}
SAS_IDENTIFIER_SYSTEM = "urn:oid:1.2.250.1.213.3.9"


def valid(resource: dict) -> dict:
    """The resource, after ``fhir.resources`` (R4B) accepted it."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return resource


class Fhir:
    """The test client with API tokens, on the booking world's frozen clock."""

    def __init__(self, client, world):
        self.client = client
        self.world = world
        world.territory.finess = FINESS
        self.tokens = {
            role: tokens.create_token(world.users[role], "SAS", by=None)[0]
            for role in ("regulator", "regulator2", "pharmacist", "coordinator")
        }
        db.session.commit()

    def headers(self, role: str = "regulator", **extra) -> dict:
        return {
            "Authorization": f"Bearer {self.tokens[role]}",
            "Accept": "application/fhir+json",
            **extra,
        }

    def get(self, url: str, role: str = "regulator", **kw):
        headers = {**self.headers(role), **kw.pop("headers", {})}
        return self.client.get(url, headers=headers, **kw)

    def send(self, method: str, url: str, resource, role: str = "regulator", **kw):
        data = resource if isinstance(resource, (str, bytes)) else json.dumps(resource)
        headers = self.headers(role, **{"Content-Type": "application/fhir+json"})
        return self.client.open(url, method=method, data=data, headers=headers, **kw)

    def rpps_token(self, practitioner) -> str:
        return f"{fhir.RPPS_SYSTEM}|8{practitioner.rpps}"

    def search(self, *, hours: int = 48, gps=None, role: str = "regulator", extra: str = ""):
        """The SAS query of the guide, over the next ``hours`` from the world's now."""
        start = self.world.now.astimezone().isoformat(timespec="milliseconds")
        end = (self.world.now + timedelta(hours=hours)).isoformat(timespec="milliseconds")
        actors = ",".join(self.rpps_token(p) for p in (gps or self.world.gps))
        query = (
            "_include=Slot:schedule&_include:iterate=Schedule:actor"
            "&_include=Slot:service-type-reference&_include:iterate=HealthcareService:organization"
            f"&start=ge{start}&start=le{end}"
            f"&schedule.actor:Practitioner.identifier={actors}&status=free{extra}"
        )
        # The platform sends the offset's "+" unencoded: it arrives as a space.
        return self.get(f"/fhir/Slot?{query}", role=role)


@pytest.fixture
def api(booking_world, client):
    with time_machine.travel(booking_world.now, tick=False):
        yield Fhir(client, booking_world)


def bundle_of(response, status: int = 200) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/fhir+json"
    return valid(response.get_json())


def outcome_of(response, status: int) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/fhir+json"
    body = valid(response.get_json())
    assert body["resourceType"] == "OperationOutcome"
    text = body["issue"][0]["details"]["text"]
    assert text
    return text


def matches(bundle: dict) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "match"]


def included(bundle: dict, kind: str) -> list[dict]:
    return [
        e["resource"]
        for e in bundle["entry"]
        if e["search"]["mode"] == "include" and e["resource"]["resourceType"] == kind
    ]


def appointment(at: dict, rpps_value: str, *, ident: str = "rdv-1", **changes) -> dict:
    body = {
        "resourceType": "Appointment",
        "meta": {"profile": [fhir.APPOINTMENT_PROFILE]},
        "extension": [OPERATOR],
        "identifier": [{"system": SAS_IDENTIFIER_SYSTEM, "value": ident}],
        "status": "booked",
        "start": at["start"],
        "end": at["end"],
        "participant": [
            {
                "actor": {
                    "identifier": {
                        "type": {"coding": [{"system": fhir.ID_TYPE_SYSTEM, "code": "IDNPS"}]},
                        "system": fhir.RPPS_SYSTEM,
                        "value": rpps_value,
                    }
                },
                "status": "accepted",
            }
        ],
    }
    body.update(changes)
    return body


def first_free(api) -> tuple[dict, str]:
    """The soonest free Slot and its GP's national identifier, from a real search."""
    bundle = bundle_of(api.search())
    slot = matches(bundle)[0]
    schedule = next(
        s
        for s in included(bundle, "Schedule")
        if f"Schedule/{s['id']}" == slot["schedule"]["reference"]
    )
    practitioner_ref = next(
        a["reference"] for a in schedule["actor"] if a["reference"].startswith("Practitioner/")
    )
    practitioner = next(
        p for p in included(bundle, "Practitioner") if f"Practitioner/{p['id']}" == practitioner_ref
    )
    return slot, practitioner["identifier"][0]["value"]


# --- encoding --------------------------------------------------------------------------------------

# What the resource builders put in an answer: never a float.
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@given(JSON_VALUES)
def test_answers_are_written_byte_for_byte_as_json_dumps_would(value):
    body = {"resourceType": "Bundle", "value": value}
    expected = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    assert fhir_views.encode(body) == expected


# --- pure parsing --------------------------------------------------------------------------------


ZONE = "Europe/Paris"


def test_start_needs_both_bounds():
    with pytest.raises(fhir.FhirError, match="obligatoires"):
        fhir.parse_start(["ge2026-06-12T08:00:00+02:00"], ZONE)
    with pytest.raises(fhir.FhirError, match="préfixe"):
        fhir.parse_start(["2026-06-12T08:00:00+02:00", "le2026-06-13"], ZONE)
    with pytest.raises(fhir.FhirError, match="suit"):
        fhir.parse_start(["ge2026-06-13", "le2026-06-12"], ZONE)


def test_start_reads_offsets_dates_and_unencoded_plus_signs():
    window = fhir.parse_start(["ge2026-06-12T08:00:00.000 02:00", "le2026-06-12"], ZONE)
    assert window.low.isoformat() == "2026-06-12T08:00:00+02:00"
    assert window.high.isoformat() == "2026-06-12T23:59:59.999999+02:00"  # the whole day
    naive = fhir.parse_start(["ge2026-01-10T08:00", "le2026-01-10T09:00Z"], ZONE)
    assert naive.low.utcoffset() == timedelta(hours=1)  # read in the territory's zone
    with pytest.raises(fhir.FhirError, match="invalides"):
        fhir.parse_start(["gedemain", "le2026-06-12"], ZONE)


def test_practitioner_identifiers_are_8_plus_rpps_and_at_most_25():
    assert fhir.parse_practitioners([f"{fhir.RPPS_SYSTEM}|810002909371,810002909372"]) == [
        "10002909371",
        "10002909372",
    ]
    with pytest.raises(fhir.FhirError, match="obligatoire"):
        fhir.parse_practitioners([])
    with pytest.raises(fhir.FhirError, match="25"):
        fhir.parse_practitioners([",".join(f"8{n:011d}" for n in range(26))])
    with pytest.raises(fhir.FhirError, match="Système"):
        fhir.parse_practitioners(["urn:oid:1.2.3|810002909371"])
    with pytest.raises(fhir.FhirError, match="8 suivi du RPPS"):
        fhir.parse_practitioners(["10002909371"])


def test_only_free_slots_are_searched():
    fhir.parse_status(["free"])
    for wrong in ([], ["busy"], ["free,busy"]):
        with pytest.raises(fhir.FhirError):
            fhir.parse_status(wrong)


def test_an_appointment_needs_its_operator_gp_identifier_and_times():
    slot = {"start": "2027-03-01T17:00:00+01:00", "end": "2027-03-01T17:15:00+01:00"}
    good = appointment(slot, "810002909371")
    wanted = fhir.read_appointment(good)
    assert (wanted.rpps, wanted.status, wanted.operator) == (
        "10002909371",
        "booked",
        f"{fhir.RPPS_SYSTEM}|810002909371",
    )
    broken = {
        "opérateur": {**good, "extension": []},
        "ressource": {**good, "resourceType": "Patient"},
        "identifiant": {**good, "identifier": []},
        "statut": {**good, "status": "pending"},
        "médecin": {**good, "participant": []},
        "fuseau": {**good, "start": "2027-03-01T17:00:00"},
        "ordre": {**good, "end": good["start"]},
    }
    for name, body in broken.items():
        with pytest.raises(fhir.FhirError):
            fhir.read_appointment(body)
        assert name


# --- metadata and access -------------------------------------------------------------------------


def test_capability_statement_is_public_and_declares_what_we_serve(client):
    response = client.get("/fhir/metadata", headers={"Accept": "application/json+fhir"})
    statement = bundle_of(response)
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert set(resources) >= {"Slot", "Schedule", "Practitioner", "Appointment"}
    assert set(resources["Slot"]["searchInclude"]) == {
        "Slot:schedule",
        "Schedule:actor",
        "Slot:service-type-reference",
        "HealthcareService:organization",
    }
    assert {i["code"] for i in resources["Appointment"]["interaction"]} >= {"create", "update"}


def test_search_needs_a_live_token_of_the_regulation(api, booking_world):
    assert outcome_of(api.client.get("/fhir/Slot"), 401)
    assert api.client.get("/fhir/Slot").headers["WWW-Authenticate"].startswith("Bearer")
    assert outcome_of(api.search(role="pharmacist"), 403)
    assert outcome_of(api.get("/fhir/Slot", headers={"Accept": "text/html"}), 406)


# --- the SAS search ------------------------------------------------------------------------------


def test_the_guides_query_returns_a_conforming_searchset(api, booking_world):
    response = api.search()
    bundle = bundle_of(response)
    assert bundle["type"] == "searchset"
    slots = matches(bundle)
    assert bundle["total"] == len(slots) == 20  # 24 slots today, 4 reserved to pharmacies
    assert bundle["link"] == [{"relation": "self", "url": bundle["link"][0]["url"]}]
    assert urlsplit(bundle["link"][0]["url"]).path == "/fhir/Slot"
    root = "{0.scheme}://{0.netloc}".format(urlsplit(bundle["link"][0]["url"]))
    for e in bundle["entry"]:
        resource = e["resource"]
        assert e["fullUrl"] == f"{root}/fhir/{resource['resourceType']}/{resource['id']}"
    kinds = {
        e["resource"]["resourceType"] for e in bundle["entry"] if e["search"]["mode"] == "include"
    }
    assert kinds == {
        "Schedule",
        "Practitioner",
        "PractitionerRole",
        "HealthcareService",
        "Organization",
    }
    starts = [s["start"] for s in slots]
    assert starts == sorted(starts)
    assert starts[0] == "2027-03-01T17:00:00+01:00"


def test_slots_are_free_with_offsets_and_a_schedule_in_the_bundle(api, booking_world):
    bundle = bundle_of(api.search())
    schedules = {f"Schedule/{s['id']}" for s in included(bundle, "Schedule")}
    for slot in matches(bundle):
        assert slot["status"] == "free"
        assert re.search(r"[+-]\d{2}:\d{2}$", slot["start"])
        assert re.search(r"[+-]\d{2}:\d{2}$", slot["end"])
        assert slot["schedule"]["reference"] in schedules


def test_slot_security_says_our_channel_and_cpts(api, booking_world):
    for slot in matches(bundle_of(api.search())):
        codes = {c["code"] for c in slot["meta"]["security"]}
        assert {c["system"] for c in slot["meta"]["security"]} == {fhir.SLOT_TYPE_SYSTEM}
        assert "CPTS" in codes
        assert codes - {"CPTS"} <= {"SNP", "PUBLIC"}
    coordinator = matches(bundle_of(api.search(role="coordinator")))
    assert any("PRO" in {c["code"] for c in s["meta"]["security"]} for s in coordinator)
    assert len(coordinator) == 24


def test_slot_service_type_is_the_mode_and_the_cpts_category_with_its_service(api, booking_world):
    bundle = bundle_of(api.search())
    service_ids = {f"HealthcareService/{h['id']}" for h in included(bundle, "HealthcareService")}
    for slot in matches(bundle):
        mode, category = slot["serviceType"]
        assert mode["coding"] == [{"system": fhir.ACT_CODE_SYSTEM, "code": "AMB"}]
        assert "extension" not in mode
        assert category["coding"][0]["system"] == fhir.CATEGORY_SYSTEM
        assert category["coding"][0]["code"] == "604"
        (extension,) = category["extension"]
        assert extension["url"] == fhir.SERVICE_TYPE_R5
        assert extension["valueReference"]["reference"] in service_ids


def test_slot_type_specialty_and_booking_link(api, booking_world):
    for slot in matches(bundle_of(api.search())):
        assert slot["appointmentType"]["coding"] == [
            {"system": fhir.APPOINTMENT_TYPE_SYSTEM, "code": "ROUTINE"}
        ]
        assert slot["specialty"][0]["coding"][0]["code"] == "SM54"
        assert slot["specialty"][0]["coding"][0]["system"] == fhir.SPECIALTY_SYSTEM
        link = urlsplit(slot["comment"])
        assert link.path == "/reserver"
        assert parse_qs(link.query)["creneau"] == [slot["id"]]


def test_schedules_point_to_the_practitioner_and_role(api, booking_world):
    bundle = bundle_of(api.search())
    practitioners = {f"Practitioner/{p['id']}" for p in included(bundle, "Practitioner")}
    roles = {f"PractitionerRole/{r['id']}" for r in included(bundle, "PractitionerRole")}
    for schedule in included(bundle, "Schedule"):
        actors = [a["reference"] for a in schedule["actor"]]
        assert len(actors) == 2
        assert actors[0] in practitioners
        assert actors[1] in roles


def test_practitioners_carry_8_plus_rpps_as_idnps(api, booking_world):
    bundle = bundle_of(api.search())
    by_value = {p.rpps: p for p in booking_world.gps}
    for practitioner in included(bundle, "Practitioner"):
        (identifier,) = practitioner["identifier"]
        assert identifier["system"] == "urn:oid:1.2.250.1.71.4.2.1"
        assert identifier["type"]["coding"][0]["code"] == "IDNPS"
        assert identifier["type"]["coding"][0]["system"] == fhir.ID_TYPE_SYSTEM
        assert re.fullmatch(r"8\d{11}", identifier["value"])
        gp = by_value[identifier["value"][1:]]
        assert practitioner["name"] == [{"family": gp.family_name, "given": [gp.given_name]}]


def test_practitioner_roles_contain_their_one_location(api, booking_world):
    site = booking_world.site
    for role in included(bundle_of(api.search()), "PractitionerRole"):
        assert len(role["location"]) == 1
        (location,) = role["contained"]
        assert role["location"][0]["reference"] == f"#{location['id']}"
        assert location["resourceType"] == "Location"
        assert location["address"]["line"] == [site.address_line]
        assert location["address"]["city"] == "Challans"
        assert location["address"]["postalCode"] == site.postal_code
        assert role["practitioner"]["reference"].startswith("Practitioner/")


def test_the_cpts_is_a_healthcare_service_provided_by_its_finess_organization(api, booking_world):
    bundle = bundle_of(api.search())
    (service,) = included(bundle, "HealthcareService")
    (organization,) = included(bundle, "Organization")
    assert service["id"]
    assert service["providedBy"]["reference"] == f"Organization/{organization['id']}"
    (identifier,) = organization["identifier"]
    assert identifier["system"] == "urn:oid:1.2.250.1.71.4.2.2"
    assert identifier["type"]["coding"][0]["code"] == "IDNST"
    assert re.fullmatch(r"1[0-9]{9}", identifier["value"])
    assert identifier["value"] == "1" + FINESS
    assert organization["name"] == booking_world.territory.name


def test_includes_come_only_when_asked(api, booking_world):
    gps = ",".join(api.rpps_token(p) for p in booking_world.gps)
    bare = bundle_of(
        api.get(
            "/fhir/Slot",
            query_string={
                "start": ["ge2027-03-01", "le2027-03-02"],
                "schedule.actor:Practitioner.identifier": gps,
                "status": "free",
            },
        )
    )
    assert bare["total"] == len(bare["entry"]) == 20
    assert all(e["search"]["mode"] == "match" for e in bare["entry"])


def test_search_narrows_to_the_asked_gps_and_window(api, booking_world):
    world = booking_world
    session = world.session_on(world.period.start_date)
    holder = session.assignments[0].practitioner
    only = matches(bundle_of(api.search(gps=[holder])))
    assert only
    assert all(s["schedule"]["reference"].startswith(f"Schedule/{holder.id}-") for s in only)
    assert len(matches(bundle_of(api.search(hours=7)))) == 8  # 17:00 and 17:15 Paris only
    stranger = bundle_of(api.search(gps=[SimpleNamespace(rpps="19999999990")]))
    assert stranger["total"] == 0
    assert stranger["entry"] == []


def test_another_territorys_gps_are_not_found(api, booking_world, app):
    from app.models import Practitioner

    foreign = db.session.scalars(
        sa.select(Practitioner).where(Practitioner.territory_id == booking_world.other_territory.id)
    ).all()
    assert bundle_of(api.search(gps=foreign))["total"] == 0


def test_walk_in_hours_are_walkin_slots(api, booking_world):
    world = booking_world
    session = world.session_on(world.period.start_date)
    session.mode = ConsultationMode.WALK_IN
    db.session.commit()
    slots = matches(bundle_of(api.search()))
    walk_in = [s for s in slots if s["appointmentType"]["coding"][0]["code"] == "WALKIN"]
    assert len(walk_in) == 2  # one per GP of the session, over its whole hours
    assert all(
        s["start"] == "2027-03-01T17:00:00+01:00" and s["end"] == "2027-03-01T20:00:00+01:00"
        for s in walk_in
    )
    assert all(s["id"].startswith("walkin-") for s in walk_in)
    read = bundle_of(api.get(f"/fhir/Slot/{walk_in[0]['id']}"))
    assert read["appointmentType"]["coding"][0]["code"] == "WALKIN"


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("status=free&start=le2027-03-02&schedule.actor:Practitioner.identifier={gp}", "start"),
        (
            "start=ge2027-03-01&start=le2027-03-02&schedule.actor:Practitioner.identifier={gp}",
            "status",
        ),
        ("status=free&start=ge2027-03-01&start=le2027-03-02", "Practitioner"),
        (
            "status=free&start=ge2027-03-01&start=le2027-03-02&schedule.actor:Practitioner.identifier=123",
            "RPPS",
        ),
        (
            "status=free&start=eq2027-03-01&start=le2027-03-02&schedule.actor:Practitioner.identifier={gp}",
            "préfixe",
        ),
        (
            "status=free&start=ge2027-13-01&start=le2027-03-02&schedule.actor:Practitioner.identifier={gp}",
            "invalide",
        ),
    ],
)
def test_bad_searches_get_a_400_operation_outcome(api, booking_world, query, says):
    url = "/fhir/Slot?" + query.format(gp=api.rpps_token(booking_world.gps[0]))
    assert says.lower() in outcome_of(api.get(url), 400).lower()


def test_twenty_six_gps_are_refused(api, booking_world):
    many = ",".join(f"8{n:011d}" for n in range(26))
    url = f"/fhir/Slot?status=free&start=ge2027-03-01&start=le2027-03-02&schedule.actor:Practitioner.identifier={many}"
    assert "25" in outcome_of(api.get(url), 400)


# --- reads ---------------------------------------------------------------------------------------


def test_reads_of_every_resource_the_search_names(api, booking_world):
    bundle = bundle_of(api.search())
    for entry in bundle["entry"]:
        resource = entry["resource"]
        path = urlsplit(entry["fullUrl"]).path
        read = bundle_of(api.get(path))
        assert read["id"] == resource["id"]
        assert read["resourceType"] == resource["resourceType"]


@pytest.mark.parametrize("mode", [ConsultationMode.SURGERY, ConsultationMode.WALK_IN])
def test_every_resource_of_a_search_is_what_its_own_read_answers(api, booking_world, mode):
    """A search builds its resources in bulk (codings, times, GPs, sites and booking links
    built once and shared); each must still be exactly what its own read answers."""
    world = booking_world
    world.session_on(world.period.start_date).mode = mode
    db.session.commit()
    bundle = bundle_of(api.search())
    slots = matches(bundle)
    kinds = {s["appointmentType"]["coding"][0]["code"] for s in slots}
    assert kinds == {"WALKIN" if mode == ConsultationMode.WALK_IN else "ROUTINE"}
    if mode == ConsultationMode.SURGERY:  # slots of several channels share the answer
        assert len({s["meta"]["security"][0]["code"] for s in slots}) > 1
    for entry in bundle["entry"]:
        assert bundle_of(api.get(urlsplit(entry["fullUrl"]).path)) == entry["resource"]


def test_schedule_and_practitioner_searches_by_identifier(api, booking_world):
    gp = booking_world.gps[0]
    token = api.rpps_token(gp)
    schedules = bundle_of(api.get("/fhir/Schedule", query_string={"actor.identifier": token}))
    assert schedules["total"] == 1
    assert matches(schedules)[0]["id"] == f"{gp.id}-{booking_world.site.id}"
    practitioners = bundle_of(api.get("/fhir/Practitioner", query_string={"identifier": token}))
    assert [p["id"] for p in matches(practitioners)] == [str(gp.id)]
    assert outcome_of(api.get("/fhir/Practitioner"), 400)


def test_a_booked_slot_reads_busy_and_leaves_the_search(api, booking_world):
    slot, gp = first_free(api)
    assert bundle_of(api.send("POST", "/fhir/Appointment", appointment(slot, gp)), 201)
    assert bundle_of(api.get(f"/fhir/Slot/{slot['id']}"))["status"] == "busy"
    assert slot["id"] not in {s["id"] for s in matches(bundle_of(api.search()))}


def test_another_territorys_resources_are_not_found(api, booking_world):
    other = booking_world.other_session_id
    for path in (
        f"/fhir/Slot/{other}-1-0",
        f"/fhir/Slot/walkin-{other}-1",
        "/fhir/Practitioner/999999",
        "/fhir/Schedule/999999-1",
        f"/fhir/HealthcareService/cpts-{booking_world.other_territory.id}",
        f"/fhir/Organization/cpts-{booking_world.other_territory.id}",
        "/fhir/Slot/not a slot",
        "/fhir/Practitioner/99999999999999999999",
        "/fhir/Schedule/99999999999999999999-1",
        "/fhir/PractitionerRole/1-99999999999999999999",
        "/fhir/Slot/walkin-99999999999999999999-1",
        "/fhir/Slot/99999999999999999999-1-0",
        "/fhir/Appointment/%C2%B2",
    ):
        outcome_of(api.get(path), 404)


# --- booking through FHIR ------------------------------------------------------------------------


def test_sas_books_a_slot_and_it_appears_in_the_ui(api, booking_world, client):
    slot, gp = first_free(api)
    before = count(Booking)
    response = api.send("POST", "/fhir/Appointment", appointment(slot, gp))
    created = bundle_of(response, 201)
    assert urlsplit(response.headers["Location"]).path == f"/fhir/Appointment/{created['id']}"
    assert created["status"] == "booked"
    assert created["identifier"] == [{"system": SAS_IDENTIFIER_SYSTEM, "value": "rdv-1"}]
    assert created["slot"] == [{"reference": f"Slot/{slot['id']}"}]
    assert created["participant"][0]["actor"]["identifier"]["value"] == gp
    assert created["extension"][0]["valueReference"]["identifier"]["value"] == "810002909371"
    assert count(Booking) == before + 1
    booking = db.session.scalar(sa.select(Booking).where(Booking.reference == created["id"]))
    assert (booking.channel, booking.booked_by_id) == (SAS, booking_world.users["regulator"].id)
    assert booking.family_name is None
    assert booking.operator.endswith("|810002909371")
    # The coordinator sees it among the territory's bookings, the GP on their day sheet.
    client.post("/connexion", data={"email": "coord@example.org", "password": PASSWORD})
    page = client.get("/coordination/rendez-vous").get_data(as_text=True)
    assert created["id"] in page
    detail = client.get(f"/rendez-vous/{created['id']}").get_data(as_text=True)
    assert "plateforme nationale du SAS" in detail
    assert "rdv-1" in detail
    client.post("/deconnexion")
    read = bundle_of(api.get(response.headers["Location"]))
    assert read["id"] == created["id"]


def test_a_retry_of_the_same_appointment_books_once(api, booking_world):
    slot, gp = first_free(api)
    first = bundle_of(api.send("POST", "/fhir/Appointment", appointment(slot, gp)), 201)
    again = api.send("POST", "/fhir/Appointment", appointment(slot, gp))
    assert bundle_of(again, 200)["id"] == first["id"]
    assert count(Booking) == 1


def test_a_taken_slot_is_a_422_and_writes_nothing(api, booking_world):
    slot, gp = first_free(api)
    bundle_of(api.send("POST", "/fhir/Appointment", appointment(slot, gp)), 201)
    text = outcome_of(
        api.send("POST", "/fhir/Appointment", appointment(slot, gp, ident="rdv-2")), 422
    )
    assert "vient d'être pris" in text
    assert count(Booking) == 1
    reused = appointment(
        slot, gp, start="2027-03-01T19:00:00+01:00", end="2027-03-01T19:15:00+01:00"
    )
    assert "autre créneau" in outcome_of(api.send("POST", "/fhir/Appointment", reused), 422)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (
            {"start": "2027-03-01T17:05:00+01:00", "end": "2027-03-01T17:20:00+01:00"},
            "Aucun créneau",
        ),
        (
            {"start": "2027-03-01T08:00:00+01:00", "end": "2027-03-01T08:15:00+01:00"},
            "Aucun créneau",
        ),
        ({"slot": [{"reference": "Slot/1-1-99"}]}, "ne correspond pas"),
    ],
)
def test_refused_appointments_are_422_with_the_reason(api, booking_world, change, says):
    slot, gp = first_free(api)
    assert says in outcome_of(
        api.send("POST", "/fhir/Appointment", appointment(slot, gp, **change)), 422
    )
    assert count(Booking) == 0


def test_a_slot_beyond_the_window_is_422(api, booking_world):
    later = booking_world.session_on(date(2027, 3, 3))  # two days ahead: beyond 24 h
    holder = later.assignments[0].practitioner
    minutes = timedelta(minutes=later.slot_minutes)
    body = appointment(
        {
            "start": fhir.iso(later.starts_at, ZONE),
            "end": fhir.iso(later.starts_at + minutes, ZONE),
        },
        f"8{holder.rpps}",
    )
    # Said as the public page, the booking pages and the API say it (one horizon).
    assert "il le sera à partir de 17:00 demain (24 h avant son début)" in outcome_of(
        api.send("POST", "/fhir/Appointment", body), 422
    )
    assert count(Booking) == 0


def test_a_gp_outside_the_cpts_is_refused(api, booking_world):
    slot, _ = first_free(api)
    assert "n'exerce pas" in outcome_of(
        api.send("POST", "/fhir/Appointment", appointment(slot, "819999999990")), 422
    )


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "[]",
        json.dumps({"resourceType": "Patient"}),
        json.dumps({"resourceType": "Appointment", "status": "booked"}),
        '{"resourceType": "Appointment", "identifier": [{"system": "s", "value": "a\\u0000"}]}',
        "[" * 100_000,
    ],
)
def test_malformed_appointments_are_400(api, booking_world, body):
    outcome_of(api.send("POST", "/fhir/Appointment", body), 400)
    assert count(Booking) == 0


def test_oversized_appointments_are_413(api, booking_world):
    huge = json.dumps({"resourceType": "Appointment", "comment": "x" * (3 * 1024 * 1024)})
    outcome_of(api.send("POST", "/fhir/Appointment", huge), 413)

    response = api.client.post(  # streamed: no Content-Length, cut at the limit as read
        "/fhir/Appointment",
        input_stream=io.BytesIO(huge.encode()),
        headers={
            **api.headers(),
            "Content-Type": "application/fhir+json",
            "Transfer-Encoding": "chunked",
        },
        environ_overrides={"wsgi.input_terminated": True},
    )
    outcome_of(response, 413)
    assert count(Booking) == 0


def test_an_appointment_without_operator_or_in_plain_text_is_400(api, booking_world):
    slot, gp = first_free(api)
    no_operator = appointment(slot, gp, extension=[])
    assert "FrAppointmentOperator" in outcome_of(
        api.send("POST", "/fhir/Appointment", no_operator), 400
    )
    response = api.client.post(
        "/fhir/Appointment",
        data=json.dumps(appointment(slot, gp)),
        headers={**api.headers(), "Content-Type": "text/plain"},
    )
    outcome_of(response, 400)
    assert count(Booking) == 0


def test_racing_appointments_book_the_slot_once(api, booking_world, app):
    slot, gp = first_free(api)
    db.session.commit()  # SQLite: let the other connections write
    racers = 6
    barrier = threading.Barrier(racers, timeout=60)
    answers: list[int] = []

    def attempt(n: int) -> None:
        client = app.test_client()
        barrier.wait()
        response = client.post(
            "/fhir/Appointment",
            data=json.dumps(appointment(slot, gp, ident=f"course-{n}")),
            headers=api.headers(
                "regulator" if n % 2 else "regulator2", **{"Content-Type": "application/fhir+json"}
            ),
        )
        answers.append(response.status_code)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [201] + [422] * (racers - 1), answers
    db.session.expire_all()
    assert count(Booking) == 1


# --- updates -------------------------------------------------------------------------------------


def update(api, body: dict, ident: str = "rdv-1"):
    return api.send("PUT", f"/fhir/Appointment?identifier={SAS_IDENTIFIER_SYSTEM}|{ident}", body)


def test_the_platform_cancels_by_identifier(api, booking_world):
    slot, gp = first_free(api)
    bundle_of(api.send("POST", "/fhir/Appointment", appointment(slot, gp)), 201)
    cancelled = appointment(
        slot, gp, status="cancelled", cancelationReason={"text": "Patient rappelé"}
    )
    answer = bundle_of(update(api, cancelled))
    assert answer["status"] == "cancelled"
    booking = db.session.scalar(sa.select(Booking))
    assert booking.status == BookingStatus.CANCELLED
    assert booking.cancel_reason == "Patient rappelé"
    assert bundle_of(update(api, cancelled))["status"] == "cancelled"  # a retry changes nothing
    assert slot["id"] in {s["id"] for s in matches(bundle_of(api.search()))}  # free again
    assert "ne revient pas" in outcome_of(update(api, appointment(slot, gp)), 422)


def test_fulfilled_and_noshow_wait_for_the_slot_to_start(api, booking_world):
    slot, gp = first_free(api)
    bundle_of(api.send("POST", "/fhir/Appointment", appointment(slot, gp)), 201)
    assert "pas encore commencé" in outcome_of(
        update(api, appointment(slot, gp, status="fulfilled")), 422
    )
    with time_machine.travel(booking_world.now + timedelta(hours=8), tick=False):
        assert bundle_of(update(api, appointment(slot, gp, status="noshow")))["status"] == "noshow"
        assert (
            bundle_of(update(api, appointment(slot, gp, status="fulfilled")))["status"]
            == "fulfilled"
        )
    assert db.session.scalar(sa.select(Booking.status)) == BookingStatus.HONOURED


def test_updates_need_a_known_matching_identifier(api, booking_world):
    slot, gp = first_free(api)
    bundle_of(api.send("POST", "/fhir/Appointment", appointment(slot, gp)), 201)
    outcome_of(update(api, appointment(slot, gp, ident="inconnu"), ident="inconnu"), 404)
    outcome_of(update(api, appointment(slot, gp, ident="autre")), 400)
    outcome_of(
        api.send("PUT", "/fhir/Appointment?identifier=sans-barre", appointment(slot, gp)), 400
    )
    # Another regulation account sees the regulation's bookings; a pharmacist has no access.
    assert update(api, appointment(slot, gp), ident="rdv-1").status_code == 200
    outcome_of(
        api.send(
            "PUT",
            f"/fhir/Appointment?identifier={SAS_IDENTIFIER_SYSTEM}|rdv-1",
            appointment(slot, gp),
            role="pharmacist",
        ),
        403,
    )


def test_fhir_bookings_keep_the_channel_rules(api, booking_world):
    """A pharmacy-reserved slot is not the SAS's to take, even by time and GP."""
    world = booking_world
    reserved = next(
        f
        for f in services.free_slots(world.territory.id, PHARMACY, now=world.now)
        if f.channel == PHARMACY
    )
    body = appointment(
        {
            "start": fhir.iso(reserved.slot.starts_at, "Europe/Paris"),
            "end": fhir.iso(reserved.slot.ends_at, "Europe/Paris"),
        },
        f"8{reserved.practitioner.rpps}",
    )
    assert "réservé" in outcome_of(api.send("POST", "/fhir/Appointment", body), 422)
    assert count(Booking) == 0


def test_a_coordinator_token_works_and_a_gp_has_none(api, booking_world):
    assert bundle_of(api.search(role="coordinator"))["total"] == 24
    with pytest.raises(Exception, match="jeton"):
        tokens.create_token(booking_world.users["gp"], "x", by=None)
    assert booking_world.users["gp"].role == Role.GP


def test_hostile_names_travel_intact_as_json_never_as_markup(api, booking_world):
    """Stored XSS: a name with markup and quotes is data in FHIR JSON, served as such."""
    hostile = 'MSP "Les Pins"; <script>alert(1)</script> & Bât. B'
    booking_world.site.name = hostile
    for gp in booking_world.gps:
        gp.family_name = "O'Hara</title><img src=x onerror=alert(1)>"
    db.session.commit()
    response = api.search()
    bundle = bundle_of(response)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.mimetype == "application/fhir+json"
    names = {r["contained"][0]["name"] for r in included(bundle, "PractitionerRole")}
    assert names == {hostile}
    families = {p["name"][0]["family"] for p in included(bundle, "Practitioner")}
    assert families == {"O'Hara</title><img src=x onerror=alert(1)>"}


def test_slots_follow_an_exchange_to_the_new_gp(api, booking_world):
    """Only the day's slots are released at the world's now: the first day moves to the taker."""
    from rota import exchanges

    world = booking_world
    first = world.session_on(world.period.start_date)
    second = world.session_on(world.period.start_date + timedelta(days=1))
    on_second = {b.practitioner_id for b in second.assignments}
    mine = next(a for a in first.assignments if a.practitioner_id not in on_second)
    on_first = {a.practitioner_id for a in first.assignments}
    theirs = next(a for a in second.assignments if a.practitioner_id not in on_first)
    giver, taker = mine.practitioner, theirs.practitioner

    def days(gp) -> set[tuple[str, str]]:
        found = matches(bundle_of(api.search(gps=[gp])))
        return {(s["schedule"]["reference"].split("-")[0], s["start"][:10]) for s in found}

    assert days(giver) == {(f"Schedule/{giver.id}", "2027-03-01")}
    assert days(taker) == set()
    proposal = exchanges.propose(
        mine, counterparts=[theirs], any_in_month=False, message="", by=None
    )
    exchanges.accept(proposal, taker, theirs, by=None)
    db.session.commit()
    assert days(taker) == {(f"Schedule/{taker.id}", "2027-03-01")}
    assert days(giver) == set()
