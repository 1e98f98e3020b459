"""Rate limits on booking, feeds and the API, counted in Redis (ASVS 11.1.4, 13.2.x).

Each scenario runs two app instances ("workers") on one Redis, as production does with
several gunicorn workers: a budget spent on one is spent on the other. A 429 is a French
page for people and ``{"code": "rate_limited", "message": …}`` on the API, and writes
nothing. Keys carry a prefix of this test's own, deleted afterwards: Redis outlives the
test and may be shared. ``REQUIRE_REDIS=1`` (CI) turns a missing Redis into a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis
import sqlalchemy as sa
import time_machine
from flask import Flask

from app.extensions import db, limiter
from booking import tokens
from booking.models import Booking
from publishing import feeds
from tests.helpers import PASSWORD

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_REDIS = os.environ.get("REQUIRE_REDIS") == "1"


@pytest.fixture
def on_redis(make_app) -> Iterator[Callable[..., Flask]]:
    """Build app instances whose rate limits live in Redis, under a prefix of their own."""
    server = redis.Redis.from_url(REDIS_URL)
    try:
        server.ping()
    except redis.exceptions.ConnectionError:
        if REQUIRE_REDIS:
            pytest.fail(f"REQUIRE_REDIS=1 but Redis does not answer at {REDIS_URL}")
        pytest.skip("Redis not running")
    prefix = f"tdr-security-{uuid.uuid4().hex}"
    # The limiter is one object for every app of the process, and it keeps the first key
    # prefix it is given: set ours for this test only (ids and addresses repeat between
    # tests and runs, and two runs may share the Redis server).
    kept_prefix = limiter._key_prefix

    def build(**limits: str) -> Flask:
        app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=REDIS_URL, **limits)
        limiter._key_prefix = prefix
        return app

    yield build
    limiter._key_prefix = kept_prefix
    keys = list(server.scan_iter(match=f"*{prefix}*"))
    if keys:
        server.delete(*keys)
    server.close()


def _rate_limited_json(response) -> None:
    assert response.status_code == 429, response.get_data(as_text=True)[:200]
    assert response.mimetype == "application/json"
    assert response.get_json() == {
        "code": "rate_limited",
        "message": "Trop de tentatives. Merci de patienter quelques minutes avant de réessayer.",
    }


def _rate_limited_page(response) -> None:
    assert response.status_code == 429
    assert response.mimetype == "text/html"
    assert "Trop de tentatives" in response.get_data(as_text=True)


def _bookings() -> int:
    db.session.rollback()
    return db.session.scalar(sa.select(sa.func.count(Booking.id)))


def test_api_limits_are_shared_by_workers_through_redis(on_redis, booking_world):
    world = booking_world
    limits = {"API_BOOKING_RATE_LIMIT": "2 per minute", "API_RATE_LIMIT": "5 per minute"}
    worker_a, worker_b = on_redis(**limits), on_redis(**limits)
    with time_machine.travel(world.now, tick=False):
        plain = {
            role: tokens.create_token(world.users[role], "limits", by=None)[0]
            for role in ("regulator", "regulator2", "pharmacist")
        }
        db.session.commit()
        a, b = worker_a.test_client(), worker_b.test_client()

        def auth(role: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {plain[role]}"}

        # Bookings: 2 a minute per token, whichever worker answers.
        assert a.post("/api/v1/bookings", json={}, headers=auth("regulator")).status_code == 400
        assert b.post("/api/v1/bookings", json={}, headers=auth("regulator")).status_code == 400
        _rate_limited_json(a.post("/api/v1/bookings", json={}, headers=auth("regulator")))
        assert b.post("/api/v1/bookings", json={}, headers=auth("regulator2")).status_code == 400

        # Every call: 5 a minute per token, whatever the route, on either worker.
        calls = [
            (a if i % 2 else b).get(url, headers=auth("pharmacist"))
            for i, url in enumerate(["/api/v1/slots", "/api/v1/bookings/ABCDEFGH"] * 3)
        ]
        assert [r.status_code for r in calls] == [200, 404] * 2 + [200, 429]
        _rate_limited_json(calls[-1])
        _rate_limited_json(a.delete("/api/v1/bookings/ABCDEFGH", headers=auth("pharmacist")))
        assert b.get("/api/v1/slots", headers=auth("regulator2")).status_code == 200
        assert a.get("/api/v1/openapi.json").status_code == 200  # public, not limited

        assert _bookings() == 0


def test_booking_form_and_feed_limits_are_shared_by_workers_through_redis(on_redis, booking_world):
    world = booking_world
    limits = {"BOOKING_RATE_LIMIT": "2 per minute", "ICAL_RATE_LIMIT": "3 per minute"}
    worker_a, worker_b = on_redis(**limits), on_redis(**limits)
    with time_machine.travel(world.now, tick=False):
        token = feeds.issue_gp_token(world.users["gp"].practitioner, by=None)
        emails = {role: world.users[role].email for role in ("pharmacist", "pharmacist2")}
        site_id = world.site.id
        db.session.commit()  # SQLite: the workers have engines of their own, let them write
        a, b = worker_a.test_client(), worker_b.test_client()
        other = worker_a.test_client()
        for client, role in ((a, "pharmacist"), (b, "pharmacist"), (other, "pharmacist2")):
            login = {"email": emails[role], "password": PASSWORD}
            assert client.post("/connexion", data=login).status_code == 302

        # The booking form: 2 posts a minute per account, on either worker.
        assert a.post("/reserver", data={"creneau": "1-1-1"}).status_code == 200
        assert b.post("/reserver", data={"creneau": "1-1-1"}).status_code == 200
        _rate_limited_page(a.post("/reserver", data={"creneau": "1-1-1"}))
        assert b.get("/reserver").status_code == 200  # reading the form is not limited
        assert other.post("/reserver", data={"creneau": "1-1-1"}).status_code == 200

        # Feeds: one budget per address for every feed URL, on either worker.
        feed = f"/ical/{token}.ics"
        codes = [(a if i % 2 else b).get(feed).status_code for i in range(3)]
        assert codes == [200, 200, 200]
        _rate_limited_page(a.get(f"/ical/site/{site_id}.ics"))
        _rate_limited_page(b.get(feed))
        assert _bookings() == 0


def test_fhir_calls_share_the_tokens_api_budget(on_redis, booking_world):
    world = booking_world
    worker_a, worker_b = (
        on_redis(API_RATE_LIMIT="3 per minute"),
        on_redis(API_RATE_LIMIT="3 per minute"),
    )
    with time_machine.travel(world.now, tick=False):
        plain, _ = tokens.create_token(world.users["regulator"], "SAS", by=None)
        db.session.commit()
        a, b = worker_a.test_client(), worker_b.test_client()
        headers = {"Authorization": f"Bearer {plain}", "Accept": "application/fhir+json"}
        answers = [
            a.get("/api/v1/slots", headers=headers),
            b.get("/fhir/Practitioner/999999", headers=headers),
            a.get("/fhir/Slot", headers=headers),
            b.get("/fhir/Slot", headers=headers),
        ]
        assert [r.status_code for r in answers] == [200, 404, 400, 429]
        limited = answers[-1]
        assert limited.mimetype == "application/fhir+json"
        assert limited.get_json()["resourceType"] == "OperationOutcome"
        assert limited.get_json()["issue"][0]["code"] == "throttled"
        for _ in range(5):  # the CapabilityStatement is public and never limited
            assert a.get("/fhir/metadata").status_code == 200
