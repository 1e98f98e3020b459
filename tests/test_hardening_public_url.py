"""Finding 9: every absolute URL and UID comes from ``PUBLIC_URL``, never the Host header.

A UID that followed the Host header would duplicate every event in a subscriber's
calendar the day the feed is fetched under another name; a link that followed it would
send a GP, the SAS platform or an invited user to whatever host an attacker named.
"""

from __future__ import annotations

import pytest
import time_machine

from app.enums import Role
from app.extensions import db
from publishing import feeds
from publishing.forms import ISSUE, NO_ALARM
from tests.helpers import PASSWORD
from tests.test_fhir import Fhir, appointment, bundle_of, first_free

PUBLIC = "https://snp.cpts-exemple.fr"
HOSTILE = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}


@pytest.fixture
def app(make_app):
    app = make_app(PUBLIC_URL=PUBLIC + "/")
    with app.app_context():
        yield app


def _clean(text: str) -> None:
    assert "evil.example" not in text
    assert PUBLIC in text or "snp.cpts-exemple.fr" in text


def test_feeds_uids_and_links_ignore_the_host_header(booking_world, client):
    world = booking_world
    token = feeds.issue_gp_token(world.users["gp"].practitioner, by=None)
    db.session.commit()
    with time_machine.travel(world.now, tick=False):
        gp_feed = client.get(f"/ical/{token}.ics", headers=HOSTILE)
        site_feed = client.get(f"/ical/site/{world.site.id}.ics", headers=HOSTILE)
    for answer in (gp_feed, site_feed):
        assert answer.status_code == 200
        body = answer.get_data(as_text=True)
        _clean(body)
        assert "@snp.cpts-exemple.fr" in body  # the UIDs' domain


def test_subscribe_page_shows_the_public_address(booking_world, client):
    client.environ_base["HTTP_HOST"] = "evil.example"  # the whole visit, cookies included
    with time_machine.travel(booking_world.now, tick=False):
        client.post("/connexion", data={"email": "gp@example.org", "password": PASSWORD})
        page = client.post("/mes-plages/agenda", data={"action": ISSUE, "alarm": NO_ALARM})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "webcal://snp.cpts-exemple.fr/ical/" in text
    assert f"{PUBLIC}/ical/" in text
    assert "evil.example" not in text


def test_fhir_full_urls_and_location_ignore_the_host_header(booking_world, client):
    with time_machine.travel(booking_world.now, tick=False):
        api = Fhir(client, booking_world)
        api.client.environ_base["HTTP_HOST"] = "evil.example"
        bundle = bundle_of(api.search())
        assert bundle["entry"]
        for entry in bundle["entry"]:
            assert entry["fullUrl"].startswith(PUBLIC + "/fhir/"), entry["fullUrl"]
        for link in bundle.get("link", []):
            assert link["url"].startswith(PUBLIC + "/fhir/"), link["url"]
        metadata = api.get("/fhir/metadata").get_data(as_text=True)
        assert "evil.example" not in metadata
        slot, gp = first_free(api)
        created = api.send("POST", "/fhir/Appointment", appointment(slot, gp))
        assert created.status_code == 201, created.get_data(as_text=True)
        assert created.headers["Location"].startswith(PUBLIC + "/fhir/Appointment/")
        assert "evil.example" not in created.get_data(as_text=True)


def test_invitation_links_ignore_the_host_header(client, make_territory, make_user):
    territory = make_territory()
    make_user(Role.COORDINATOR, territory, email="coord@example.org")
    client.environ_base["HTTP_HOST"] = "evil.example"
    client.post("/connexion", data={"email": "coord@example.org", "password": PASSWORD})
    page = client.post(
        "/coordination/comptes/inviter",
        data={
            "email": "nouveau@example.org",
            "role": "regulator",
            "display_name": "Régulation",
            "practitioner_id": "0",
        },
        follow_redirects=True,
    )
    text = page.get_data(as_text=True)
    assert f"{PUBLIC}/invitation/" in text, text[text.find("<h1") :][:300]
    assert "evil.example" not in text
