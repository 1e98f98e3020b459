"""Secrets and patient data never reach the logs: passwords, API and feed tokens, patients."""

import logging

import time_machine

from app.extensions import db
from booking import tokens
from tests.helpers import PASSWORD


def test_a_day_of_work_logs_no_secret(app, booking_world, caplog):
    caplog.set_level(logging.DEBUG)
    world = booking_world
    secrets_seen: list[str] = [PASSWORD, "Durand", "Léa", "0612345678", "+33612345678"]
    with time_machine.travel(world.now, tick=False):
        client = app.test_client()
        client.post("/connexion", data={"email": "samu1@example.org", "password": PASSWORD})
        client.post("/connexion", data={"email": "samu1@example.org", "password": "mauvais"})
        plain, _ = tokens.create_token(world.users["regulator"], "journal", by=None)
        db.session.commit()
        secrets_seen.append(plain)
        headers = {"Authorization": f"Bearer {plain}"}
        slot = client.get("/api/v1/slots?limit=1", headers=headers).get_json()["slots"][0]
        booked = client.post(
            "/api/v1/bookings",
            headers=headers,
            json={
                "slot_id": slot["id"],
                "patient": {
                    "family_name": "Durand",
                    "given_name": "Léa",
                    "birth_date": "1990-05-04",
                    "phone": "06 12 34 56 78",
                },
                "reason": "Fièvre",
                "without_gp": False,
            },
        )
        assert booked.status_code == 201
        client.get(f"/api/v1/bookings/{booked.get_json()['reference']}", headers=headers)
        client.get("/api/v1/bookings/ZZZZ2345", headers={"Authorization": "Bearer tdr_wrong"})
        client.get("/ical/not-a-real-feed-token.ics")
        # Development e-mail goes to the log: the GP's "new booking" message is there.
        sent = app.test_cli_runner().invoke(args=["outbox", "send"])
        assert sent.exit_code == 0, sent.output
    logged = caplog.text
    assert "nouveau rendez-vous" in logged  # something was logged, so the check is real
    for secret in secrets_seen:
        assert secret not in logged, secret
