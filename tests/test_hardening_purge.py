"""Finding 4: the retention purge erases every free-text field of a booking."""

from __future__ import annotations

from datetime import timedelta

from app.extensions import db
from booking import services
from tests.test_booking_api import api, body, free  # noqa: F401 (the fixture)

CANCEL_TEXT = "Mme Durand hospitalisée à Challans, rappeler sa fille au 06 11 22 33 44"


def test_purge_erases_the_cancel_reason_and_the_api_returns_none(api, booking_world):  # noqa: F811
    reference = api.post(body(free(booking_world)[0].id)).get_json()["reference"]
    cancelled = api.client.delete(
        f"/api/v1/bookings/{reference}", headers=api.headers(), json={"reason": CANCEL_TEXT}
    )
    assert cancelled.status_code in (200, 204), cancelled.get_data(as_text=True)
    assert api.get(f"/api/v1/bookings/{reference}").get_json()["cancel_reason"] == CANCEL_TEXT

    services.purge(now=booking_world.now + timedelta(days=91))
    db.session.commit()

    read = api.get(f"/api/v1/bookings/{reference}").get_json()
    assert (read["patient"], read["reason"], read["cancel_reason"]) == (None, None, None)
    assert read["status"] == "cancelled"  # the row itself stays, for the indicators
