"""Hostile values in every query, path and id parameter (ASVS 5.1.3, 5.3.4, 13.2.x).

SQL metacharacters, wildcards, NUL and other control characters, template syntax, absurd
numbers and dates, odd Unicode digits: each parameter of each list page and of the API,
for the role that may open it. Every answer must be a 4xx or a normal page (never a 5xx),
API errors must keep their ``{"code", "message"}`` shape, and the database must not move
(the audit of reads excepted, as in ``tests/test_security_pages.py``).
"""

from __future__ import annotations

from urllib.parse import quote

import time_machine

from app.enums import Role
from app.extensions import db
from booking import tokens
from tests.helpers import PASSWORD, password_hash
from tests.test_security_pages import changes, dump_database

VALUES = [
    "' OR '1'='1",
    "1; DROP TABLE booking; --",
    "%_\\",  # LIKE wildcards and the escape character
    "a\x00b",
    "\x1b[2J\x07",
    "{{7*7}}",
    "x" * 5000,
    "-1",
    "99999999999999999999",
    "1e309",
    "9999-12-31",
    "0001-01-01",
    "²",  # str.isdigit() says yes, int() says no
    "\u202e🏥",
]
INTS = ["0", "2147483647", "2147483648", "99999999999999999999", "0" * 50 + "1"]


def q(value: str) -> str:
    return quote(value, safe="")


def _pages(world, period_id: int, slug: str) -> dict[str, list[str]]:
    """URL templates (``{}`` is the hostile value) by the role that may open them."""
    return {
        "coordinator": [
            "/coordination/rendez-vous?jour={}",
            "/coordination/rendez-vous?statut={}",
            "/coordination/rendez-vous?ref={}",
            "/coordination/communes?q={}",
            "/coordination/communes/ajouter/{}",
            "/rendez-vous/{}",
            "/creneaux?commune={}",
            "/creneaux?insee={}",
            "/creneaux?remplace={}",
            f"/tableaux/{period_id}/impression?mois={{}}",
        ],
        "regulator": [
            "/reserver?creneau={}",
            "/reserver?insee={}",
            "/reserver?remplace={}",
            "/rendez-vous?ref={}",
        ],
        "gp": ["/ma-journee?date={}", "/rendez-vous?ref={}"],
        "anonymous": [
            "/disponibilites?q={}",
            "/disponibilites?cpts={}",
            f"/disponibilites?cpts={slug}&commune={{}}",
            f"/disponibilites?cpts={slug}&jour={{}}",
            "/connexion?next={}",
            "/invitation/{}",
            "/ical/{}.ics",
        ],
    }


INT_PAGES = {
    "coordinator": [
        "/coordination/lieux/{}",
        "/coordination/professionnels/{}",
        "/coordination/plages/{}",
        "/coordination/periodes/{}",
        "/coordination/plages-types/{}",
        "/tableaux/{}/impression",
    ],
    "anonymous": ["/ical/site/{}.ics"],
}
API = [
    "/api/v1/slots?commune={}",
    "/api/v1/slots?from={}",
    "/api/v1/slots?to={}",
    "/api/v1/slots?channel={}",
    "/api/v1/slots?limit={}",
    "/api/v1/bookings/{}",
]


def _client(app, email: str | None):
    client = app.test_client()
    if email is not None:
        assert (
            client.post("/connexion", data={"email": email, "password": PASSWORD}).status_code
            == 302
        )
    return client


def test_hostile_query_and_path_values_never_break_a_page_or_the_api(app, booking_world):
    world = booking_world
    with time_machine.travel(world.now, tick=False):
        clients = {
            role: _client(app, None if role == "anonymous" else world.users[role].email)
            for role in ("coordinator", "regulator", "gp", "anonymous")
        }
        pages = _pages(world, world.period.id, world.territory.slug)
        plain, _ = tokens.create_token(world.users["regulator"], "injection", by=None)
        db.session.commit()
        headers = {"Authorization": f"Bearer {plain}"}
        before = dump_database()

        failures = []
        for role, templates in pages.items():
            for template in templates:
                for value in VALUES:
                    url = template.format(q(value))
                    status = clients[role].get(url).status_code
                    if status >= 500:
                        failures.append((role, url[:120], status))
        for role, templates in INT_PAGES.items():
            for template in templates:
                for value in INTS:
                    url = template.format(value)
                    status = clients[role].get(url).status_code
                    if status >= 500 or (status == 200 and value != "0" * 50 + "1"):
                        failures.append((role, url, status))
        for template in API:
            for value in VALUES:
                url = template.format(q(value))
                response = clients["anonymous"].get(url, headers=headers)
                body = response.get_json(silent=True)
                if response.status_code >= 500:
                    failures.append(("api", url[:120], response.status_code))
                elif response.status_code >= 400 and (
                    not isinstance(body, dict) or not {"code", "message"} <= set(body)
                ):
                    failures.append(("api", url[:120], response.status_code, body))

        assert not failures, failures
        assert not changes(before, dump_database())


def test_absurd_ids_in_forms_change_nothing(app, booking_world):
    """Ids posted in form fields (not the URL) go through the same 404, never a 500."""
    world = booking_world
    with time_machine.travel(world.now, tick=False):
        gp_user = world.users["gp"]
        mine = next(
            a
            for s in world.period.sessions[1:]
            for a in s.assignments
            if a.practitioner_id == gp_user.practitioner_id
        )
        session = world.period.sessions[2]
        coordinator = _client(app, world.users["coordinator"].email)
        gp = _client(app, gp_user.email)
        regulator = _client(app, world.users["regulator"].email)
        before = dump_database()

        failures = []
        # Numbers that name nothing (an empty or unreadable "to" means the bourse, a choice).
        for value in ["2147483647", "2147483648", "99999999999999999999", "-5", "\x00"]:
            posts = [
                (coordinator, f"/coordination/plages/{session.id}/affecter", "practitioner_id"),
                (coordinator, f"/coordination/affectations/{mine.id}/remplacer", "practitioner_id"),
                (gp, f"/mes-plages/{mine.id}/ceder", "to"),
                (regulator, "/reserver", "creneau"),
                (regulator, "/reserver", "remplace"),
            ]
            for client, url, field in posts:
                status = client.post(url, data={field: value}).status_code
                if status >= 500:
                    failures.append((url, field, repr(value), status))
        for slot_id in ("99999999999999-1-1", "1-999999999999-1", "1-1-999999999999", "²-1-1"):
            status = regulator.post("/reserver", data={"creneau": slot_id}).status_code
            if status >= 500:
                failures.append(("/reserver", slot_id, status))

        assert not failures, failures
        assert not changes(before, dump_database())


def test_a_login_with_hostile_values_is_refused_quietly(
    app, make_territory, make_user, monkeypatch
):
    # The dummy hash verified for unknown e-mails costs ~0.2 s with the production
    # parameters; its timing is tested in test_auth.py, not here.
    monkeypatch.setattr("app.passwords._DUMMY_HASH", password_hash())
    make_user(Role.COORDINATOR, make_territory(), email="victim@example.org")
    client = app.test_client()
    before = dump_database()

    for value in VALUES:
        for form in (
            {"email": value, "password": value},
            {"email": "victim@example.org", "password": value},
            {"email": f"victim@example.org{value}", "password": PASSWORD},
        ):
            assert client.post("/connexion", data=form).status_code in (200, 400)

    after = dump_database()
    assert after["user_account"] == before["user_account"]  # nobody got in


def test_site_coordinates_must_be_finite_numbers(app, client, make_territory, make_user):
    """float() reads "nan" and "inf", and a NaN passes a naive range check (every
    comparison is false): it would end as ``GEO:nan;nan`` in the site's feed."""
    territory = make_territory()
    commune = territory.communes[0]
    user = make_user(Role.COORDINATOR, territory, email="coord@example.org")
    assert (
        client.post("/connexion", data={"email": user.email, "password": PASSWORD}).status_code
        == 302
    )
    before = dump_database()

    for latitude, longitude in [("nan", "1"), ("46", "NaN"), ("inf", "1"), ("46", "-inf")]:
        answer = client.post(
            "/coordination/lieux/nouveau",
            data={
                "name": f"MSP {latitude} {longitude}",
                "kind": "msp",
                "address_line": "1 rue de la Gare",
                "postal_code": commune.postal_codes[0],
                "commune_id": commune.id,
                "latitude": latitude,
                "longitude": longitude,
            },
        )
        assert answer.status_code == 200  # the form again, with its error

    assert not changes(before, dump_database())


def test_huge_numbers_in_number_fields_are_refused(
    app, client, make_territory, make_site, make_user
):
    """WTForms' IntegerField took 400 digits and NumberRange compared them as a float:
    OverflowError, a 500. Found by tests/test_fuzz_forms.py on the wishes form."""
    territory = make_territory()
    site = make_site(territory)
    user = make_user(Role.COORDINATOR, territory, email="coord@example.org")
    assert (
        client.post("/connexion", data={"email": user.email, "password": PASSWORD}).status_code
        == 302
    )
    before = dump_database()

    for number in ("9" * 400, "1_000", "١٢", "+-1", "1e3"):
        settings = {"name": "CPTS", "timezone": "Europe/Paris", "booking_horizon_hours": "24"}
        for field in ("min_rest_hours", "booking_release_minutes", "patient_data_days"):
            answer = client.post("/coordination/territoire", data={**settings, field: number})
            assert answer.status_code == 200, (field, number)
            assert "Nombre entier attendu." in answer.get_data(as_text=True)
        template = {
            "site_id": site.id,
            "weekdays": "0",
            "start_time": "17:00",
            "end_time": "20:00",
            "gps_needed": "1",
            "slot_minutes": "15",
            "mode": "surgery",
            "valid_from": "2027-03-01",
            "on_holidays": "normal",
        }
        for field in ("gps_needed", "slot_minutes", "sas_slots", "pharmacy_slots"):
            answer = client.post("/coordination/plages-types", data={**template, field: number})
            assert answer.status_code == 200, (field, number)

    assert not changes(before, dump_database())
