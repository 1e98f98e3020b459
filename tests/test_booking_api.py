"""The JSON API on both engines: tokens, slots, booking, idempotency, privacy, OpenAPI, token pages."""

import json
import re
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine

from app.enums import Role
from app.extensions import db
from app.models import AuditEvent
from booking import services, tokens
from booking.models import ApiToken, Booking, BookingStatus, IdempotencyRecord
from booking.slots import OPEN, PHARMACY, SAS
from tests.helpers import PASSWORD, count

PATIENT = {
    "family_name": "Durand",
    "given_name": "Léa",
    "birth_date": "1990-05-04",
    "phone": "06 12 34 56 78",
}


def body(slot_id: str, **changes) -> dict:
    return {
        "slot_id": slot_id,
        "patient": dict(PATIENT),
        "reason": "Fièvre depuis hier",
        "reason_code": "fievre",
        "without_gp": True,
        **changes,
    }


def free(world, role="regulator", **kw) -> list[services.FreeSlot]:
    return services.free_slots(
        world.territory.id, services.booker_channel(world.users[role]), now=world.now, **kw
    )


class Api:
    """The test client with a token per booking role, on the world's frozen clock."""

    def __init__(self, client, world):
        self.client = client
        self.world = world
        self.tokens = {}
        for role in ("regulator", "regulator2", "pharmacist", "pharmacist2", "coordinator"):
            self.tokens[role], _ = tokens.create_token(world.users[role], "test", by=None)
        db.session.commit()

    def headers(self, role: str = "regulator", **extra) -> dict:
        return {"Authorization": f"Bearer {self.tokens[role]}", **extra}

    def get(self, url: str, role: str = "regulator", **kw):
        return self.client.get(url, headers=self.headers(role), **kw)

    def post(self, payload, role: str = "regulator", key: str | None = None, **kw):
        headers = self.headers(role, **({"Idempotency-Key": key} if key is not None else {}))
        return self.client.post("/api/v1/bookings", json=payload, headers=headers, **kw)

    def delete(self, reference: str, role: str = "regulator", **kw):
        return self.client.delete(f"/api/v1/bookings/{reference}", headers=self.headers(role), **kw)


@pytest.fixture
def api(booking_world, client):
    with time_machine.travel(booking_world.now, tick=False):
        yield Api(client, booking_world)


def error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    payload = response.get_json()
    assert payload["code"] == code
    assert payload["message"]
    return payload


# --- the happy path ------------------------------------------------------------------------------


def test_regulator_lists_books_reads_and_cancels(api, booking_world):
    world = booking_world
    listed = api.get("/api/v1/slots")
    assert listed.status_code == 200
    assert listed.headers["Cache-Control"] == "no-store"
    slots = listed.get_json()["slots"]
    assert len(slots) == 20  # 24 slots today, 4 reserved to pharmacies
    assert {s["channel"] for s in slots} == {SAS, OPEN}
    first = slots[0]
    assert first["start"] == "2027-03-01T17:00:00+01:00"  # Paris time, with its offset
    assert first["end"] == "2027-03-01T17:15:00+01:00"
    assert first["site"] == {
        "id": world.site.id,
        "name": "MSP des Marais",
        "address": f"1 rue de la Gare, {world.site.postal_code} Challans",
        "commune": "Challans",
        "commune_insee": "85047",
        "territory": world.territory.name,
        "latitude": world.site.latitude,
        "longitude": world.site.longitude,
    }
    assert set(first["practitioner"]) == {"rpps", "name"}
    assert first["mode"] == "surgery"
    assert listed.get_json()["channel"] == SAS

    created = api.post(body(first["id"]))
    assert created.status_code == 201, created.get_data(as_text=True)
    answer = created.get_json()
    reference = answer["reference"]
    assert answer["status"] == "booked"
    assert answer["slot"]["id"] == first["id"]
    assert answer["slot"]["start"] == first["start"]
    assert "Durand" not in created.get_data(as_text=True)  # no patient data echoed
    assert created.headers["Location"].endswith(f"/api/v1/bookings/{reference}")
    booking = db.session.scalar(sa.select(Booking).where(Booking.reference == reference))
    assert (booking.family_name, booking.phone, booking.reason_code) == (
        "Durand",
        "+33612345678",
        "fievre",
    )
    assert booking.without_gp is True
    assert first["id"] not in {s["id"] for s in api.get("/api/v1/slots").get_json()["slots"]}

    read = api.get(f"/api/v1/bookings/{reference.lower()}", role="regulator2")  # the team
    assert read.status_code == 200
    assert read.get_json()["patient"] == {
        **PATIENT,
        "phone": "+33612345678",
        "email": None,
        "mobile": None,
    }
    assert read.get_json()["status"] == "booked"

    cancelled = api.delete(reference)
    assert cancelled.status_code == 200
    assert cancelled.get_json()["status"] == "cancelled"
    assert cancelled.get_json()["cancel_reason"] == "Annulé via l'API"
    assert first["id"] in {s["id"] for s in api.get("/api/v1/slots").get_json()["slots"]}
    error(api.delete(reference), 409, "already_cancelled")


def test_the_patient_commune_is_kept_for_the_indicators_never_answered(api, booking_world):
    """Issue 12: API bookings counted "commune unknown" for want of a field to say it."""
    slot = free(booking_world)[0]
    patient = dict(PATIENT, commune_insee="85194")  # outside the territory
    answer = api.post(body(slot.id, patient=patient))
    assert answer.status_code == 201, answer.get_data(as_text=True)
    reference = answer.get_json()["reference"]
    booking = db.session.scalar(sa.select(Booking).where(Booking.reference == reference))
    assert booking.patient_insee == "85194"
    read = api.get(f"/api/v1/bookings/{reference}").get_json()
    assert "85194" not in json.dumps(read)
    assert "commune_insee" not in read["patient"]


def test_cancel_with_a_reason_and_bad_bodies(api, booking_world):
    reference = api.post(body(free(booking_world)[0].id)).get_json()["reference"]
    url = f"/api/v1/bookings/{reference}"
    headers = api.headers()
    error(api.client.delete(url, data="{oops", headers=headers), 400, "invalid_json")
    error(api.client.delete(url, json={"reason": 12}, headers=headers), 400, "invalid_body")
    error(api.client.delete(url, json={"reason": "x" * 201}, headers=headers), 400, "invalid_body")
    assert db.session.scalar(sa.select(Booking.status)) == BookingStatus.BOOKED
    done = api.client.delete(url, json={"reason": "Patient guéri"}, headers=headers)
    assert done.get_json()["cancel_reason"] == "Patient guéri"
    error(api.delete("ZZZZZZZZ"), 404, "not_found")


# --- slots: channels, commune, window ------------------------------------------------------------


def test_slots_channel_defaults_to_the_users_own(api):
    def channels(role, query=""):
        response = api.get(f"/api/v1/slots{query}", role=role)
        assert response.status_code == 200, response.get_data(as_text=True)
        return [s["channel"] for s in response.get_json()["slots"]]

    assert set(channels("pharmacist")) == {PHARMACY, OPEN}
    assert len(channels("pharmacist")) == 18
    assert len(channels("coordinator")) == 24
    assert set(channels("coordinator", "?channel=sas")) == {SAS, OPEN}
    assert set(channels("regulator", "?channel=open")) == {OPEN}
    error(api.get("/api/v1/slots?channel=sas", role="pharmacist"), 403, "channel_forbidden")
    error(api.get("/api/v1/slots?channel=any", role="regulator"), 403, "channel_forbidden")
    error(api.get("/api/v1/slots?channel=fax"), 400, "invalid_channel")


def test_slots_commune_outside_the_territory_gets_a_note(api):
    own = api.get("/api/v1/slots?commune=85047").get_json()
    assert "note" not in own
    other = api.get("/api/v1/slots?commune=17369").get_json()
    assert "17369" in other["note"]
    assert len(other["slots"]) == len(own["slots"])
    error(api.get("/api/v1/slots?commune=8504"), 400, "invalid_commune")
    error(api.get("/api/v1/slots?commune=" + "9" * 500), 400, "invalid_commune")


def test_slots_from_to_are_clamped_to_the_window(api):
    def starts(query):
        response = api.get(f"/api/v1/slots?{query}")
        assert response.status_code == 200, response.get_data(as_text=True)
        return [s["start"] for s in response.get_json()["slots"]], response.get_json()

    evening, _ = starts("from=2027-03-01T18:00:00%2B01:00&to=2027-03-01T19:00:00%2B01:00")
    assert evening
    assert min(evening) == "2027-03-01T18:00:00+01:00"
    assert max(evening) == "2027-03-01T19:00:00+01:00"
    same, _ = starts("from=2027-03-01T17:00:00Z&to=2027-03-01T18:00:00Z")  # UTC is fine too
    assert same == evening
    unencoded, _ = starts("from=2027-03-01T18:00:00+01:00&to=2027-03-01T19:00:00+01:00")
    assert unencoded == evening  # "+" read as a space is put back
    everything, window = starts("from=2020-01-01T00:00:00%2B01:00&to=2030-01-01T00:00:00%2B01:00")
    assert len(everything) == 20
    assert window["from"] == "2027-03-01T11:05:00+01:00"  # now + 5 min
    assert window["to"] == "2027-03-02T11:00:00+01:00"  # now + 24 h
    beyond, _ = starts("from=2027-03-05T00:00:00%2B01:00")
    assert beyond == []


@pytest.mark.parametrize(
    "query",
    [
        "from=demain",
        "from=2027-03-01T18:00:00",  # no offset
        "from=2027-03-01",
        "to=2027-13-01T18:00:00%2B01:00",
        "to=9999-12-31T23:59:59-23:00",
        "from=" + "2" * 41,
        "from=2027-03-01T19:00:00%2B01:00&to=2027-03-01T18:00:00%2B01:00",
    ],
)
def test_slots_bad_dates_are_400(api, query):
    error(api.get(f"/api/v1/slots?{query}"), 400, "invalid_datetime")


# --- authentication ------------------------------------------------------------------------------


def _gp_token(world) -> str:
    """A token row for a GP, as if their role had changed after it was issued."""
    plain = "tdr_" + "g" * 43
    db.session.add(
        ApiToken(
            user_id=world.users["gp"].id, token_hash=tokens.hash_token(plain), prefix="tdr_gggg"
        )
    )
    db.session.commit()
    return plain


@pytest.mark.parametrize(
    "case", ["none", "garbage", "basic", "no_prefix", "revoked", "inactive", "gp", "cookie"]
)
def test_requests_without_a_live_token_are_401(api, booking_world, case):
    world = booking_world
    headers = {}
    if case == "garbage":
        headers = {"Authorization": "Bearer tdr_not-a-token"}
    elif case == "basic":
        headers = {"Authorization": "Basic " + api.tokens["regulator"]}
    elif case == "no_prefix":
        headers = {"Authorization": "Bearer " + api.tokens["regulator"][4:]}
    elif case == "revoked":
        token = db.session.scalar(
            sa.select(ApiToken).where(ApiToken.user_id == world.users["regulator"].id)
        )
        tokens.revoke_token(token, by=None)
        db.session.commit()
        headers = api.headers()
    elif case == "inactive":
        world.users["regulator"].active = False
        db.session.commit()
        headers = api.headers()
    elif case == "gp":
        headers = {"Authorization": f"Bearer {_gp_token(world)}"}
    elif case == "cookie":  # a browser session opens the pages, not the API
        api.client.post("/connexion", data={"email": "samu1@example.org", "password": PASSWORD})
    slot_id = free(world)[0].id
    before = count(Booking)
    responses = [
        api.client.get("/api/v1/slots", headers=headers),
        api.client.post("/api/v1/bookings", json=body(slot_id), headers=headers),
        api.client.get("/api/v1/bookings/ABCDEFGH", headers=headers),
        api.client.delete("/api/v1/bookings/ABCDEFGH", headers=headers),
    ]
    for response in responses:
        error(response, 401, "unauthorized")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert count(Booking) == before


def test_last_used_is_written_at_most_once_a_minute(api, booking_world):
    token = db.session.scalar(
        sa.select(ApiToken).where(ApiToken.user_id == booking_world.users["regulator"].id)
    )
    assert token.last_used_at is None
    api.get("/api/v1/slots")
    db.session.rollback()  # what the request did not commit is lost, as in production
    assert token.last_used_at == booking_world.now
    with time_machine.travel(booking_world.now + timedelta(seconds=50), tick=False):
        api.get("/api/v1/slots")
        db.session.expire_all()
        assert token.last_used_at == booking_world.now
    later = booking_world.now + timedelta(seconds=61)
    with time_machine.travel(later, tick=False):
        api.get("/api/v1/slots")
        db.session.rollback()
        assert token.last_used_at == later


def test_tokens_are_random_hashed_and_audited_without_the_secret(booking_world):
    user = booking_world.users["pharmacist"]
    plain, token = tokens.create_token(user, "  Logiciel   officine ", by=None)
    db.session.commit()
    assert re.fullmatch(r"tdr_[A-Za-z0-9_-]{43}", plain)  # 256 random bits
    assert token.prefix == plain[:8]
    assert token.token_hash == tokens.hash_token(plain) != plain
    assert token.label == "Logiciel officine"
    assert tokens.authenticate(f"Bearer {plain}") == user
    assert tokens.authenticate(f"bearer   {plain}  ") == user
    events = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action.like("api_token%")))
    assert all(plain not in json.dumps(e.detail) for e in events)
    other, _ = tokens.create_token(user, "", by=None)
    assert other != plain


@pytest.mark.parametrize("case", ["gp", "inactive", "other_territory_coordinator", "long_label"])
def test_create_token_refusals(booking_world, make_user, case):
    world = booking_world
    user, by, label = world.users["regulator"], None, "x"
    if case == "gp":
        user = world.users["gp"]
    elif case == "inactive":
        user.active = False
    elif case == "other_territory_coordinator":
        by = make_user(Role.COORDINATOR, world.other_territory, email="c2@example.org")
    elif case == "long_label":
        label = "x" * 101
    with pytest.raises(services.ValidationError):
        tokens.create_token(user, label, by=by)
    db.session.rollback()
    assert count(ApiToken) == 0


# --- refusals ------------------------------------------------------------------------------------


def test_another_territorys_slot_is_not_found(api, booking_world):
    before = count(Booking)
    error(api.post(body(f"{booking_world.other_session_id}-1-0")), 404, "not_found")
    error(api.post(body("1-2-3-4")), 404, "not_found")
    assert count(Booking) == before


def test_a_taken_slot_is_409_with_alternatives(api, booking_world):
    target = free(booking_world)[0].id
    assert api.post(body(target)).status_code == 201
    before = count(Booking)
    payload = error(api.post(body(target), role="regulator2"), 409, "slot_taken")
    assert len(payload["alternatives"]) == 3
    assert target not in {a["id"] for a in payload["alternatives"]}
    assert all(a["start"].endswith("+01:00") and a["site"]["name"] for a in payload["alternatives"])
    assert count(Booking) == before


def test_wrong_channel_and_outside_window_are_422(api, booking_world):
    world = booking_world
    pharmacy_only = next(f for f in free(world, "pharmacist") if f.channel == PHARMACY)
    tomorrow = world.session_on(world.period.start_date + timedelta(days=1))
    before = count(Booking)
    error(api.post(body(pharmacy_only.id)), 422, "wrong_channel")
    error(api.post(body(f"{tomorrow.id}-1-11")), 422, "outside_window")  # 19:45 tomorrow
    assert count(Booking) == before
    assert api.post(body(pharmacy_only.id), role="pharmacist").status_code == 201


def _bad(slot_id: str, case: str):
    """A request body broken in one way (``bytes`` are sent raw)."""
    patient = dict(PATIENT)
    if case == "not_json":
        return b'{"slot_id": '
    if case == "empty":
        return b""
    if case == "array":
        return b"[1, 2]"
    if case == "nested":
        return b"[" * 100_000
    if case == "no_slot":
        return {k: v for k, v in body(slot_id).items() if k != "slot_id"}
    if case == "slot_not_text":
        return body(12)
    if case == "patient_not_object":
        return body(slot_id, patient="Durand Léa")
    if case == "no_family_name":
        patient.pop("family_name")
    elif case == "blank_given_name":
        patient["given_name"] = "  "
    elif case == "bad_birth_date":
        patient["birth_date"] = "04/05/1990"
    elif case == "future_birth_date":
        patient["birth_date"] = "2030-01-01"
    elif case == "bad_phone":
        patient["phone"] = "12"
    elif case == "phone_number":
        patient["phone"] = 612345678
    elif case == "unknown_reason_code":
        return body(slot_id, reason_code="grippe")
    elif case == "without_gp_text":
        return body(slot_id, without_gp="oui")
    elif case == "long_reason":
        return body(slot_id, reason="x" * 201)
    elif case == "bad_commune":
        patient["commune_insee"] = "Challans"
    elif case == "commune_number":
        patient["commune_insee"] = 85047
    return body(slot_id, patient=patient)


@pytest.mark.parametrize(
    "case",
    [
        "not_json",
        "empty",
        "array",
        "nested",
        "no_slot",
        "slot_not_text",
        "patient_not_object",
        "no_family_name",
        "blank_given_name",
        "bad_birth_date",
        "future_birth_date",
        "bad_phone",
        "phone_number",
        "unknown_reason_code",
        "without_gp_text",
        "long_reason",
        "bad_commune",
        "commune_number",
    ],
)
def test_bad_bodies_are_400_and_write_nothing(api, booking_world, case):
    # An outside-window slot: the body is checked first, so a bad body is a 400 anyway.
    tomorrow = booking_world.session_on(booking_world.period.start_date + timedelta(days=1))
    payload = _bad(f"{tomorrow.id}-1-11", case)
    before = count(Booking)
    if isinstance(payload, bytes):
        response = api.client.post(
            "/api/v1/bookings",
            data=payload,
            headers=api.headers(),
            content_type="application/json",
        )
    else:
        response = api.post(payload)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["code"] in ("invalid_json", "invalid_body")
    assert response.get_json()["message"]
    assert count(Booking) == before


def test_unknown_routes_and_methods_answer_json(api):
    error(api.get("/api/v1/nothing"), 404, "not_found")
    error(api.client.put("/api/v1/slots", headers=api.headers()), 405, "method_not_allowed")


# --- idempotency ---------------------------------------------------------------------------------


def test_a_retry_with_the_same_key_replays_the_first_answer(api, booking_world):
    target = free(booking_world)[0].id
    first = api.post(body(target), key="retry-1")
    assert first.status_code == 201
    # Same body with other key order and spacing: the same request.
    raw = json.dumps(dict(reversed(list(body(target).items()))), indent=2)
    again = api.client.post(
        "/api/v1/bookings",
        data=raw,
        content_type="application/json",
        headers=api.headers(**{"Idempotency-Key": "retry-1"}),
    )
    assert again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count(Booking) == 1
    conflict = api.post(body(free(booking_world)[0].id), key="retry-1")
    error(conflict, 422, "idempotency_conflict")
    assert count(Booking) == 1
    # Keys are per user: another regulator's "retry-1" is a new request.
    assert (
        api.post(body(free(booking_world)[0].id), role="regulator2", key="retry-1").status_code
        == 201
    )
    assert count(Booking) == 2
    assert count(IdempotencyRecord) == 2


def test_a_refused_attempt_keeps_no_record(api, booking_world):
    pharmacy_only = next(f for f in free(booking_world, "pharmacist") if f.channel == PHARMACY)
    error(api.post(body(pharmacy_only.id), key="k"), 422, "wrong_channel")
    assert count(IdempotencyRecord) == 0
    assert api.post(body(free(booking_world)[0].id), key="k").status_code == 201


@pytest.mark.parametrize("key", ["", "   ", "k" * 201])
def test_bad_idempotency_keys_are_400(api, booking_world, key):
    error(api.post(body(free(booking_world)[0].id), key=key), 400, "invalid_idempotency_key")
    assert count(Booking) == 0


def test_the_key_may_be_200_characters(api, booking_world):
    assert api.post(body(free(booking_world)[0].id), key="k" * 200).status_code == 201


def test_concurrent_retries_with_one_key_book_once(app, api, booking_world):
    target = free(booking_world)[0].id
    api.get("/api/v1/slots")  # last_used_at is fresh: no write before the race
    db.session.commit()  # SQLite: let the other connections write
    racers = 4
    barrier = threading.Barrier(racers)
    answers: list[tuple[int, str]] = []

    def attempt() -> None:
        client = app.test_client()
        barrier.wait()
        response = client.post(
            "/api/v1/bookings", json=body(target), headers=api.headers(**{"Idempotency-Key": "k"})
        )
        answers.append((response.status_code, response.get_data(as_text=True)))

    threads = [threading.Thread(target=attempt) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [status for status, _ in answers] == [201] * racers, answers
    assert len({text for _, text in answers}) == 1  # one reference for all
    db.session.expire_all()
    assert count(Booking) == 1


# --- privacy -------------------------------------------------------------------------------------


def test_bookings_are_visible_only_to_those_who_may_see_them(api, booking_world):
    target = free(booking_world, "pharmacist")[0].id
    reference = api.post(body(target), role="pharmacist").get_json()["reference"]
    assert api.get(f"/api/v1/bookings/{reference}", role="pharmacist").status_code == 200
    for role in ("pharmacist2", "regulator"):
        error(api.get(f"/api/v1/bookings/{reference}", role=role), 404, "not_found")
        error(api.delete(reference, role=role), 404, "not_found")
    assert db.session.scalar(sa.select(Booking.status)) == BookingStatus.BOOKED
    read = api.get(f"/api/v1/bookings/{reference}", role="coordinator")
    assert read.get_json()["patient"]["family_name"] == "Durand"


def test_purged_bookings_show_no_patient(api, booking_world):
    reference = api.post(body(free(booking_world)[0].id)).get_json()["reference"]
    services.purge(now=booking_world.now + timedelta(days=91))
    db.session.commit()
    read = api.get(f"/api/v1/bookings/{reference}").get_json()
    assert (read["patient"], read["reason"]) == (None, None)
    assert read["reason_code"] == "fievre"


# --- rate limit ----------------------------------------------------------------------------------


def test_bookings_are_rate_limited_per_token(make_app, api, booking_world):
    limited = make_app(RATELIMIT_ENABLED=True, API_BOOKING_RATE_LIMIT="2 per minute")
    with limited.app_context():
        client = limited.test_client()

        def attempt(role):
            return client.post("/api/v1/bookings", json={}, headers=api.headers(role))

        assert [attempt("regulator").status_code for _ in range(2)] == [400, 400]
        error(attempt("regulator"), 429, "rate_limited")
        assert attempt("regulator2").status_code == 400  # another token, its own budget


# --- the OpenAPI document ------------------------------------------------------------------------


def _api_operations(app) -> set[tuple[str, str]]:
    operations = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api."):
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule).removeprefix("/api/v1")
            operations |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return operations


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_openapi_document_describes_every_route(app, client):
    response = client.get("/api/v1/openapi.json")  # no token needed
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["openapi"].startswith("3.")
    assert {"title", "version"} <= set(doc["info"])
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        **doc["components"]["securitySchemes"]["bearerAuth"],
        "type": "http",
        "scheme": "bearer",
    }
    assert doc["security"] == [{"bearerAuth": []}]
    described = {
        (path, method)
        for path, item in doc["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    assert _api_operations(app) == described
    for path, method in described:
        operation = doc["paths"][path][method]
        assert operation["responses"]
        assert operation["operationId"]
        if path != "/openapi.json":
            assert "401" in operation["responses"]
        for name in re.findall(r"{(\w+)}", path):
            params = doc["paths"][path].get("parameters", []) + operation.get("parameters", [])
            assert any(p["name"] == name and p["in"] == "path" and p["required"] for p in params)
    schemas = doc["components"]["schemas"]
    for ref in set(_refs(doc)):
        section, name = ref.removeprefix("#/components/").split("/")
        assert name in doc["components"][section], ref
    assert {"code", "message"} <= set(schemas["Error"]["properties"])


def test_openapi_document_is_valid(app, client):
    import openapi_spec_validator as validator

    validator.validate(client.get("/api/v1/openapi.json").get_json())


# --- coordinator pages ---------------------------------------------------------------------------


def test_coordinator_issues_shows_once_and_revokes_a_token(client, auth, booking_world, make_user):
    world = booking_world
    outsider = make_user(Role.REGULATOR, world.other_territory, email="other@example.org")
    auth.login("coord@example.org")
    page = client.get("/coordination/jetons-api").get_data(as_text=True)
    assert "samu1@example.org" in page
    assert "pharma1@example.org" in page
    assert "gp@example.org" not in page  # GPs hold no token
    assert "other@example.org" not in page

    refused = client.post("/coordination/jetons-api", data={"user_id": outsider.id, "label": "x"})
    assert refused.status_code == 200
    assert count(ApiToken) == 0
    said = refused.get_data(as_text=True)
    assert "N&#39;est pas un choix valide." in said or "N'est pas un choix valide." in said
    assert "Not a valid choice" not in said  # WTForms' own messages speak French too

    created = client.post(
        "/coordination/jetons-api",
        data={"user_id": world.users["regulator"].id, "label": "Logiciel SAS"},
    )
    assert created.status_code == 200
    plain = re.search(r"tdr_[A-Za-z0-9_-]{43}", created.get_data(as_text=True)).group(0)
    assert tokens.authenticate(f"Bearer {plain}") == world.users["regulator"]
    listing = client.get("/coordination/jetons-api").get_data(as_text=True)
    assert plain[:8] in listing
    assert plain not in listing
    assert "Logiciel SAS" in listing

    token = db.session.scalar(sa.select(ApiToken))
    confirmed = {"confirmed": "1"}
    response = client.post(f"/coordination/jetons-api/{token.id}/revoquer", data=confirmed)
    assert response.status_code == 302
    db.session.expire_all()
    assert token.revoked_at is not None
    assert tokens.authenticate(f"Bearer {plain}") is None
    again = client.post(
        f"/coordination/jetons-api/{token.id}/revoquer", data=confirmed, follow_redirects=True
    )
    assert "déjà révoqué" in again.get_data(as_text=True)
    actions = db.session.scalars(
        sa.select(AuditEvent.action).where(AuditEvent.action.like("api_token.%"))
    ).all()
    assert sorted(actions) == ["api_token.create", "api_token.revoke"]


def test_coordinator_cannot_revoke_another_territorys_token(client, auth, booking_world, make_user):
    outsider = make_user(Role.REGULATOR, booking_world.other_territory, email="other@example.org")
    _, token = tokens.create_token(outsider, "", by=None)
    db.session.commit()
    auth.login("coord@example.org")
    assert client.post(f"/coordination/jetons-api/{token.id}/revoquer").status_code == 404
    db.session.expire_all()
    assert token.revoked_at is None
    assert "tdr_" not in client.get("/coordination/jetons-api").get_data(as_text=True)


def test_slots_are_limited_to_the_soonest_n(api, booking_world):
    everything = api.get("/api/v1/slots?limit=500").get_json()
    assert everything["more"] is False
    assert len(everything["slots"]) == 20
    first_two = api.get("/api/v1/slots?limit=2").get_json()
    assert first_two["more"] is True
    assert [s["id"] for s in first_two["slots"]] == [s["id"] for s in everything["slots"][:2]]
    for bad in ("0", "501", "x", "-1"):
        error(api.get(f"/api/v1/slots?limit={bad}"), 400, "invalid_limit")


def test_reading_a_booking_is_audited_without_patient_data(api, booking_world):
    slot_id = api.get("/api/v1/slots?limit=1").get_json()["slots"][0]["id"]
    reference = api.post(body(slot_id)).get_json()["reference"]
    assert api.get(f"/api/v1/bookings/{reference}", role="regulator2").status_code == 200
    reads = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "booking.read")
    ).all()
    assert len(reads) == 1
    assert reads[0].user_id == booking_world.users["regulator2"].id
    assert reads[0].detail["where"] == "api"
    assert "Durand" not in json.dumps(reads[0].detail)
    booking_id = db.session.scalar(sa.select(Booking.id).where(Booking.reference == reference))
    assert reads[0].detail["bookings"] == [booking_id]


# --- the search cache ----------------------------------------------------------------------------


def test_a_search_is_kept_for_the_minute_but_follows_every_booking(api, booking_world):
    first = api.get("/api/v1/slots").get_json()["slots"]
    assert api.get("/api/v1/slots").get_json()["slots"] == first
    assert api.post(body(first[0]["id"])).status_code == 201
    after = api.get("/api/v1/slots").get_json()["slots"]
    assert first[0]["id"] not in {s["id"] for s in after}
    assert len(after) == len(first) - 1


def test_a_change_behind_the_services_back_shows_within_a_minute(api, booking_world):
    """A write without its audit event can't move the change marker: the kept answer
    lasts until the minute turns."""
    first = api.get("/api/v1/slots").get_json()["slots"]
    session = booking_world.session_on(booking_world.period.start_date)
    session.cancelled = True
    db.session.commit()
    assert api.get("/api/v1/slots").get_json()["slots"] == first
    with time_machine.travel(booking_world.now + timedelta(seconds=61), tick=False):
        assert api.get("/api/v1/slots").get_json()["slots"] == []
