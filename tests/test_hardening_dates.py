"""Finding 7: no date a person or a client can send ends in a 500 (``OverflowError``).

Every parameter and form field that carries a date, on every page and API, gets the
extremes: years 1 and 9999 (a day more or less, or a time-zone shift, leaves ``date``'s
range), and a year of twenty digits (more than a C ``int``).
"""

from __future__ import annotations

import pytest
import time_machine

from app.extensions import db
from booking import tokens
from rota.models import PeriodStatus
from tests.helpers import PASSWORD

ISO_DAYS = ["9999-12-31", "0001-01-01", "100000000000000000000-01-01"]
FRENCH_DAYS = ["31/12/9999", "01/01/0001", "01/01/100000000000000000000"]
MONTHS = ["100000000000000000000-01", "9999-12", "0001-01", "2027-100000000000000000000"]
INSTANTS = [
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31",
    "0001-01-01",
    "9999",
    "9999-12",
]


def _login(client, email: str) -> None:
    answer = client.post("/connexion", data={"email": email, "password": PASSWORD})
    assert answer.status_code == 302


def _no_server_error(answer) -> None:
    assert answer.status_code < 500, answer.get_data(as_text=True)[:500]


@pytest.fixture
def world(booking_world):
    with time_machine.travel(booking_world.now, tick=False):
        yield booking_world


@pytest.mark.parametrize("month", MONTHS)
def test_print_page_with_an_absurd_month(world, client, month):
    _login(client, "coord@example.org")
    answer = client.get(f"/tableaux/{world.period.id}/impression?mois={month}")
    assert answer.status_code == 404


@pytest.mark.parametrize("day", FRENCH_DAYS + ["32/13/2027", "1/1/1/1"])
def test_wishes_with_absurd_dates_to_avoid(world, client, day):
    world.period.status = PeriodStatus.WISHES_OPEN
    db.session.commit()
    _login(client, "gp@example.org")
    answer = client.post(
        f"/periodes/{world.period.id}/souhaits",
        data={
            f"souhaits-{world.period.id}-{name}": value
            for name, value in {"weight": "1.0", "max_per_day": "1", "avoid_dates": day}.items()
        },
    )
    _no_server_error(answer)
    page = client.get("/mes-plages").get_data(as_text=True)
    assert "Date" in page
    assert "Souhaits enregistrés" not in page


@pytest.mark.parametrize("day", ISO_DAYS)
def test_unavailability_with_absurd_dates(world, client, day):
    _login(client, "gp@example.org")
    _no_server_error(
        client.post("/mes-indisponibilites", data={"start_date": day, "end_date": day})
    )
    _no_server_error(
        client.post("/mes-indisponibilites", data={"start_date": "2027-03-01", "end_date": day})
    )


@pytest.mark.parametrize("day", ISO_DAYS)
def test_period_and_template_with_absurd_dates(world, client, day):
    _login(client, "coord@example.org")
    _no_server_error(
        client.post(
            "/coordination/periodes", data={"name": "P", "start_date": day, "end_date": day}
        )
    )
    _no_server_error(
        client.post(
            "/coordination/periodes",
            data={"name": "P", "start_date": "2027-03-01", "end_date": day},
        )
    )
    _no_server_error(
        client.post(
            "/coordination/plages-types",
            data={
                "site_id": world.site.id,
                "weekdays": "0",
                "start_time": "17:00",
                "end_time": "20:00",
                "gps_needed": "1",
                "slot_minutes": "15",
                "mode": "surgery",
                "valid_from": day,
                "valid_to": day,
                "on_holidays": "normal",
            },
        )
    )


@pytest.mark.parametrize("day", ISO_DAYS)
@pytest.mark.parametrize(
    ("email", "path"),
    [
        ("coord@example.org", "/coordination/rendez-vous?jour={}"),
        ("gp@example.org", "/ma-journee?date={}"),
        ("samu1@example.org", "/creneaux?commune=85047&date={}"),
        ("samu1@example.org", "/rendez-vous?date={}"),
    ],
)
def test_pages_with_an_absurd_day(world, client, email, path, day):
    _login(client, email)
    _no_server_error(client.get(path.format(day)))


@pytest.mark.parametrize("day", ISO_DAYS + ["demain", "9999-12-31T00:00"])
def test_public_availability_with_an_absurd_day(world, client, day):
    _no_server_error(client.get(f"/disponibilites?commune=85047&jour={day}&date={day}"))


@pytest.mark.parametrize("birth", FRENCH_DAYS + ISO_DAYS)
def test_booking_form_with_an_absurd_birth_date(world, client, birth):
    _login(client, "samu1@example.org")
    answer = client.post(
        "/reserver",
        data={
            "creneau": "1-0-0",
            "family_name": "Durand",
            "given_name": "Léa",
            "birth_date": birth,
            "phone": "0612345678",
            "reason_code": "fievre",
        },
    )
    _no_server_error(answer)


@pytest.mark.parametrize("instant", INSTANTS + ISO_DAYS)
def test_api_and_fhir_with_absurd_instants(world, client, instant):
    plain, _ = tokens.create_token(world.users["regulator"], "dates", by=None)
    db.session.commit()
    headers = {"Authorization": f"Bearer {plain}"}
    for query in (f"from={instant}", f"to={instant}", f"from={instant}&to={instant}"):
        _no_server_error(client.get(f"/api/v1/slots?{query}", headers=headers))
    for bounds in (
        f"start=ge{instant}&start=le9999-12-31",
        f"start=ge0001-01-01&start=le{instant}",
        f"start=ge{instant}&start=le{instant}",
    ):
        _no_server_error(client.get(f"/fhir/Slot?{bounds}", headers=headers))
    birth = instant[:10]
    _no_server_error(
        client.post(
            "/api/v1/bookings",
            headers=headers,
            json={
                "slot_id": "1-0-0",
                "patient": {
                    "family_name": "Durand",
                    "given_name": "Léa",
                    "birth_date": birth,
                    "phone": "0612345678",
                },
            },
        )
    )
