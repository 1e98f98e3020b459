"""Oversized and malformed request bodies (ASVS 5.1.1, 5.1.4, 13.1.x, 12.1.1).

Bodies larger than ``MAX_CONTENT_LENGTH`` (2 MiB) are a 413 everywhere, declared or
streamed, on the JSON API (``{"code", "message"}``) and on forms (the French error page).
Malformed JSON of every kind is a 400 in the API's documented shape, with a French
message, and writes nothing. (``tests/test_errors.py`` already covers the login form.)
"""

from __future__ import annotations

import io
import json
import re

import pytest
import sqlalchemy as sa
import time_machine

from app.extensions import db
from booking import services, tokens
from booking.models import Booking, IdempotencyRecord
from tests.helpers import logged_in

BIG = 3 * 1024 * 1024  # over MAX_CONTENT_LENGTH (2 MiB)
FRENCH = re.compile(r"[éèêàçù«]|\b(le|la|les|du|des|un|une|est|attendu|obligatoire)\b", re.I)


@pytest.fixture
def api(app, booking_world):
    """A regulator's token and a free slot, on the world's frozen clock."""
    with time_machine.travel(booking_world.now, tick=False):
        plain, _ = tokens.create_token(booking_world.users["regulator"], "bodies", by=None)
        db.session.commit()
        slot = services.free_slots(booking_world.territory.id, "sas", now=booking_world.now)[0]
        yield {"Authorization": f"Bearer {plain}"}, slot.id


def _written() -> tuple[int, int]:
    db.session.rollback()
    return (
        db.session.scalar(sa.select(sa.func.count(Booking.id))),
        db.session.scalar(sa.select(sa.func.count(IdempotencyRecord.id))),
    )


def _json_error(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) >= {"code", "message"}
    assert body["code"]
    assert FRENCH.search(body["message"]), body["message"]
    return body


# --- too large ------------------------------------------------------------------------------------


def test_oversized_api_bodies_are_413_json(client, api):
    headers, slot_id = api
    padding = "x" * BIG
    declared = [
        client.post("/api/v1/bookings", json={"slot_id": slot_id, "pad": padding}, headers=headers),
        client.delete("/api/v1/bookings/ABCDEFGH", json={"reason": padding}, headers=headers),
        client.post(  # a form body on the API: the size is refused before its type
            "/api/v1/bookings", data={"slot_id": padding}, headers=headers
        ),
    ]
    for response in declared:
        assert _json_error(response, 413)["code"] == "payload_too_large"
    assert _written() == (0, 0)


def test_streamed_oversized_api_body_is_413(client, api):
    """Without Content-Length (chunked), the body is cut at the limit as it is read."""
    headers, slot_id = api
    body = json.dumps({"slot_id": slot_id, "pad": "x" * BIG}).encode()
    response = client.post(
        "/api/v1/bookings",
        input_stream=io.BytesIO(body),
        content_type="application/json",
        headers={**headers, "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert _json_error(response, 413)["code"] == "payload_too_large"
    assert _written() == (0, 0)


def test_oversized_forms_are_413_french_pages(app, booking_world):
    world = booking_world
    with time_machine.travel(world.now, tick=False):
        pages = {
            "regulator": [("/reserver", {"creneau": "1-1-1", "family_name": "x" * BIG})],
            "coordinator": [
                ("/coordination/lieux/nouveau", {"name": "x" * BIG}),
                ("/coordination/territoire", {"name": "x" * BIG}),
                ("/coordination/professionnels/import", _multipart(b"1;x\n" * (BIG // 4))),
            ],
            "gp": [("/mes-plages", {"reason": "x" * BIG})],
        }
        for role, posts in pages.items():
            client = logged_in(app, world.users[role].email)
            for url, data in posts:
                if isinstance(data, tuple):  # (content type, raw body)
                    response = client.post(url, content_type=data[0], data=data[1])
                else:
                    response = client.post(url, data=data)
                assert response.status_code == 413, (role, url)
                assert response.mimetype == "text/html"
                assert "trop volumineuse" in response.get_data(as_text=True)
        assert _written() == (0, 0)


def _multipart(content: bytes) -> tuple[str, bytes]:
    """A CSV upload, encoded by hand: the test client would spool it to a temporary file
    that nobody closes when the app refuses the body unread."""
    boundary = "tdr-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="big.csv"\r\nContent-Type: text/csv\r\n\r\n'
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return f"multipart/form-data; boundary={boundary}", body


# --- malformed JSON ----------------------------------------------------------------------------


def _patient(**changes):
    return {
        "family_name": "Durand",
        "given_name": "Léa",
        "birth_date": "1990-05-04",
        "phone": "06 12 34 56 78",
        **changes,
    }


def _bodies(slot_id: str) -> dict[str, bytes]:
    """Each broken in one way; raw bytes, as a client might send them."""

    def js(value) -> bytes:
        return json.dumps(value).encode()

    good = {"slot_id": slot_id, "patient": _patient()}
    return {
        "syntax": b'{"slot_id": "1-1-1",}',
        "truncated": js(good)[:-3],
        "single_quotes": b"{'slot_id': '1-1-1'}",
        "empty_object": b"{}",
        "array": js([good]),
        "string": b'"slot_id"',
        "number": b"42",
        "null": b"null",
        "true": b"true",
        "huge_number": b'{"slot_id": 1e999999, "patient": {}}',
        "huge_integer": b'{"slot_id": ' + b"9" * 5000 + b"}",
        "nan": b'{"slot_id": NaN, "patient": {}}',
        "raw_nul": b'{"slot_id": "1-1\x00-1"}',
        "escaped_nul": js({**good, "patient": _patient(family_name="Dur\u0000and")}),
        "nul_in_key": js({**good, "x\u0000": 1}),
        "lone_surrogate": b'{"slot_id": "1-1-1", "patient": {"family_name": "\\ud800"}}',
        "surrogate_reason": js(good)[:-1] + b', "reason": "\\udfff"}',
        "invalid_utf8": b'{"slot_id": "\xff\xfe\xfd"}',
        "latin1": json.dumps({**good, "reason": "fièvre"}, ensure_ascii=False).encode("latin-1"),
        "deep": b"[" * 5000 + b"]" * 5000,
        "deep_object": b'{"a":' * 900 + b"1" + b"}" * 900,
        "slot_array": js({**good, "slot_id": [slot_id]}),
        "slot_object": js({**good, "slot_id": {"id": slot_id}}),
        "slot_null": js({**good, "slot_id": None}),
        "patient_array": js({**good, "patient": [_patient()]}),
        "patient_null": js({**good, "patient": None}),
        "name_number": js({**good, "patient": _patient(family_name=12)}),
        "name_object": js({**good, "patient": _patient(given_name={"a": 1})}),
        "birth_number": js({**good, "patient": _patient(birth_date=19900504)}),
        "birth_year_0": js({**good, "patient": _patient(birth_date="0000-01-01")}),
        "birth_huge": js({**good, "patient": _patient(birth_date="99999-01-01")}),
        "phone_array": js({**good, "patient": _patient(phone=["0612345678"])}),
        "phone_huge": js({**good, "patient": _patient(phone="0" * 100_000)}),
        "name_huge": js({**good, "patient": _patient(family_name="x" * 100_000)}),
        "reason_number": js({**good, "reason": 1.5}),
        "reason_code_list": js({**good, "reason_code": ["fievre"]}),
        "without_gp_int": js({**good, "without_gp": 1}),
        "without_gp_null": js({**good, "without_gp": None}),
    }


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_malformed_json_is_a_400_in_the_documented_shape(client, api, content_type):
    headers, slot_id = api
    for name, raw in _bodies(slot_id).items():
        response = client.post(
            "/api/v1/bookings", data=raw, content_type=content_type, headers=headers
        )
        body = _json_error(response, 400)
        assert body["code"] in ("invalid_json", "invalid_body"), (name, body)
    assert _written() == (0, 0)


def test_malformed_json_to_cancel_is_a_400_and_cancels_nothing(client, api, booking_world):
    headers, slot_id = api
    with time_machine.travel(booking_world.now, tick=False):
        booked = client.post(
            "/api/v1/bookings",
            json={"slot_id": slot_id, "patient": _patient()},
            headers=headers,
        )
        reference = booked.get_json()["reference"]
        for raw in (
            b"{",
            b"[]",
            b'"reason"',
            b'{"reason": 12}',
            b'{"reason": ["x"]}',
            b'{"reason": "\\u0000"}',
            b'{"reason": "\\ud800"}',
            b'{"reason": "\xff"}',
            b'{"reason": "' + b"x" * 201 + b'"}',
        ):
            response = client.delete(
                f"/api/v1/bookings/{reference}",
                data=raw,
                content_type="application/json",
                headers=headers,
            )
            assert _json_error(response, 400)["code"] in ("invalid_json", "invalid_body"), raw
        db.session.rollback()
        assert db.session.scalar(sa.select(Booking.status)).value == "booked"


def test_hostile_idempotency_keys_are_400(client, api):
    headers, slot_id = api
    body = {"slot_id": slot_id, "patient": _patient()}
    for key in ("k\x00", "a\x1bb", "\x7f", "é" * 201):
        response = client.post(
            "/api/v1/bookings", json=body, headers={**headers, "Idempotency-Key": key}
        )
        assert _json_error(response, 400)["code"] == "invalid_idempotency_key"
    assert _written() == (0, 0)
