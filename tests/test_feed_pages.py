"""Feeds over HTTP (headers, 304, tokens), the subscribe pages and the ``ical`` commands."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine

from app.enums import Role
from app.extensions import db
from app.territory import services as territory_services
from publishing import feeds
from publishing.models import CalendarFeed
from rota import services as rota_services
from tests.feed_world import DST_DAY, READ_AT, add_booking

TOKEN_PATH = re.compile(r"/ical/([A-Za-z0-9_-]{43})\.ics")


@pytest.fixture
def at_read_time():
    with time_machine.travel(READ_AT, tick=False) as traveller:
        yield traveller


def _queries(engine):
    """Count the SQL statements a block runs (append-only list of statements)."""
    seen: list[str] = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", listener)
    return seen, lambda: sa.event.remove(engine, "before_cursor_execute", listener)


# --- HTTP ----------------------------------------------------------------------------------------


def test_feed_answers_a_private_calendar_with_validators(client, feed_rota, at_read_time):
    response = client.get(feed_rota.gp_feed_path(feed_rota.claire))

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert re.fullmatch(r'"[0-9a-f]{40}"', response.headers["ETag"])  # strong: no W/
    assert response.headers["Last-Modified"] == "Fri, 12 Mar 2027 11:30:00 GMT"
    assert response.headers["Cache-Control"] == "private, max-age=300"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.get_data().startswith(b"BEGIN:VCALENDAR\r\n")


def test_same_data_gives_the_same_etag_and_body(client, feed_rota, at_read_time):
    path = feed_rota.gp_feed_path(feed_rota.claire)

    first, second = client.get(path), client.get(path)

    assert first.headers["ETag"] == second.headers["ETag"]
    assert first.get_data() == second.get_data()


@pytest.mark.parametrize("form", ["{}", "W/{}", '"other", {}', "*"])
def test_if_none_match_answers_304_without_a_body(client, feed_rota, at_read_time, form):
    path = feed_rota.gp_feed_path(feed_rota.claire)
    tag = client.get(path).headers["ETag"]

    response = client.get(path, headers={"If-None-Match": form.format(tag)})

    assert response.status_code == 304
    assert response.get_data() == b""
    assert response.headers["ETag"] == tag
    assert response.headers["Cache-Control"] == "private, max-age=300"


def test_not_modified_answer_costs_a_few_queries_whatever_the_feed_size(
    client, feed_rota, at_read_time
):
    def queries_for_a_304() -> int:
        path = feed_rota.gp_feed_path(feed_rota.claire)
        tag = client.get(path).headers["ETag"]
        seen, stop = _queries(db.engine)
        try:
            assert client.get(path, headers={"If-None-Match": tag}).status_code == 304
        finally:
            stop()
        return len(seen)

    few = queries_for_a_304()
    for day in (
        feed_rota.session_on(DST_DAY - timedelta(days=7)),
        feed_rota.session_on(DST_DAY + timedelta(days=6)),
    ):
        rota_services.replace_gp(day.assignments[0], feed_rota.claire, by=None)
    db.session.commit()

    # The token, the GP's sessions, their bookings, their last changes (two grouped
    # queries), the events taken from the GP: never one query per event.
    assert few <= 6
    assert queries_for_a_304() == few


def test_if_modified_since_answers_304_when_nothing_changed_since(client, feed_rota, at_read_time):
    path = feed_rota.gp_feed_path(feed_rota.claire)
    last = client.get(path).headers["Last-Modified"]

    assert client.get(path, headers={"If-Modified-Since": last}).status_code == 304
    earlier = "Thu, 11 Mar 2027 00:00:00 GMT"
    assert client.get(path, headers={"If-Modified-Since": earlier}).status_code == 200


def test_etag_changes_when_the_rota_changes(client, feed_rota, at_read_time):
    path = feed_rota.gp_feed_path(feed_rota.claire)
    tag = client.get(path).headers["ETag"]
    rota_services.cancel_session(feed_rota.session_on(DST_DAY), reason="Grève", by=None)
    db.session.commit()

    response = client.get(path, headers={"If-None-Match": tag})

    assert response.status_code == 200
    assert response.headers["ETag"] != tag


def _rename_site(feed_rota) -> None:
    site = feed_rota.site
    territory_services.update_site(
        site,
        territory_services.SiteData(
            name="MSP des Pins",
            kind=site.kind,
            address_line=site.address_line,
            postal_code=site.postal_code,
            commune_id=site.commune_id,
            phone=site.phone,
            latitude=site.latitude,
            longitude=site.longitude,
            accessibility=site.accessibility,
        ),
        by=None,
    )


def _rename_territory(feed_rota) -> None:
    t = feed_rota.territory
    territory_services.update_territory(
        t,
        territory_services.TerritorySettings(
            name="CPTS du Grand Marais",
            finess=t.finess,
            timezone=t.timezone,
            holiday_subdivision=t.holiday_subdivision,
            phone=t.phone,
            email=t.email,
            min_rest_hours=t.min_rest_hours,
            max_sessions_per_week=t.max_sessions_per_week,
            swaps_need_approval=t.swaps_need_approval,
            booking_release_minutes=t.booking_release_minutes,
            booking_horizon_hours=t.booking_horizon_hours,
            patient_data_days=t.patient_data_days,
        ),
        by=None,
    )


CHANGES = {
    # Inputs that bump no version: the ETag must still follow them (each through the
    # service that makes it, which audits it: the audit id is the feeds' change marker).
    "site renamed": _rename_site,
    "booking made": lambda feed_rota: add_booking(
        feed_rota.session_on(DST_DAY), seat=1, slot_index=3, reference="ETAG2345"
    ),
    "reminder set": lambda feed_rota: feeds.set_alarm(feed_rota.claire, 30, by=None),
    "territory renamed": _rename_territory,
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_etag_follows_every_input_of_the_body(client, feed_rota, at_read_time, change):
    path = feed_rota.gp_feed_path(feed_rota.claire)
    before = client.get(path)

    CHANGES[change](feed_rota)
    db.session.commit()
    after = client.get(path, headers={"If-None-Match": before.headers["ETag"]})

    assert after.status_code == 200
    assert after.headers["ETag"] != before.headers["ETag"]
    assert after.get_data() != before.get_data()


def test_an_unaudited_change_shows_within_a_minute(client, feed_rota, at_read_time):
    """A write that bypasses the services (no audit event) can't move the change marker:
    the worker's remembered ETag lasts a minute at most, then the data is read again."""
    path = feed_rota.gp_feed_path(feed_rota.claire)
    tag = client.get(path).headers["ETag"]
    feed_rota.territory.name = "CPTS renommée en douce"
    db.session.commit()

    assert client.get(path, headers={"If-None-Match": tag}).status_code == 304
    at_read_time.shift(timedelta(seconds=61))
    after = client.get(path, headers={"If-None-Match": tag})
    assert after.status_code == 200
    assert "renommée en douce" in after.get_data(as_text=True)


def test_etag_changes_with_the_day_as_the_window_slides(client, feed_rota, at_read_time):
    path = feed_rota.gp_feed_path(feed_rota.claire)
    tag = client.get(path).headers["ETag"]

    at_read_time.shift(timedelta(days=1))

    assert client.get(path, headers={"If-None-Match": tag}).status_code == 200


def test_site_feed_is_public_and_cached(client, feed_rota, at_read_time):
    response = client.get(f"/ical/site/{feed_rota.site.id}.ics")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    tag = response.headers["ETag"]
    assert (
        client.get(
            f"/ical/site/{feed_rota.site.id}.ics", headers={"If-None-Match": tag}
        ).status_code
        == 304
    )


def test_site_feed_of_an_unknown_or_closed_site_is_not_found(client, feed_rota, at_read_time):
    territory_services.set_site_active(feed_rota.other_site, False, by=None)
    db.session.commit()

    assert client.get(f"/ical/site/{feed_rota.other_site.id}.ics").status_code == 404
    assert client.get("/ical/site/999999.ics").status_code == 404


# --- tokens --------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["made-up-token", "A" * 43, "x" * 500, "%00"])
def test_unknown_token_is_not_found(client, feed_rota, token):
    response = client.get(f"/ical/{token}.ics")

    assert response.status_code == 404
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_token_is_long_and_stored_hashed_only(feed_rota):
    token = feeds.issue_gp_token(feed_rota.claire, by=None)
    db.session.commit()

    assert len(token) >= 43  # 32 random bytes, base64url
    feed = feeds.gp_feed(feed_rota.claire)
    assert feed.token_hash == feeds.hash_token(token)
    dump = db.session.execute(sa.text("SELECT * FROM calendar_feed")).all()
    assert token not in repr(dump)


def test_rotation_kills_the_old_address_at_once(client, feed_rota, at_read_time):
    old = feed_rota.gp_feed_path(feed_rota.claire)
    new = feed_rota.gp_feed_path(feed_rota.claire)

    assert client.get(old).status_code == 404
    assert client.get(new).status_code == 200
    assert db.session.scalar(sa.select(sa.func.count(CalendarFeed.id))) == 1


def test_revoked_address_is_not_found(client, feed_rota, at_read_time):
    path = feed_rota.gp_feed_path(feed_rota.claire)
    feeds.revoke(feeds.gp_feed(feed_rota.claire), by=None)
    db.session.commit()

    assert client.get(path).status_code == 404


def test_deactivated_gp_loses_their_feed_for_good(client, feed_rota, at_read_time):
    path = feed_rota.gp_feed_path(feed_rota.claire)
    territory_services.set_practitioner_active(feed_rota.claire, False, by=None)
    db.session.commit()

    assert client.get(path).status_code == 404
    assert feeds.gp_feed(feed_rota.claire).revoked_at is not None
    territory_services.set_practitioner_active(feed_rota.claire, True, by=None)
    db.session.commit()
    assert client.get(path).status_code == 404  # coming back needs a new address


def test_territory_feed_names_the_gps(client, feed_rota, at_read_time):
    text = client.get(feed_rota.territory_feed_path()).get_data(as_text=True)

    assert "Dr Claire Martin" in text
    assert "Dr Paul Durand" in text


def test_feeds_are_rate_limited(make_app, make_territory, make_site):
    app = make_app(RATELIMIT_ENABLED=True, ICAL_RATE_LIMIT="3 per minute")
    with app.app_context():
        site = make_site(make_territory())
        client = app.test_client()

        codes = [client.get(f"/ical/site/{site.id}.ics").status_code for _ in range(3)]
        codes.append(client.get("/ical/made-up-token.ics").status_code)

    assert codes == [200, 200, 200, 429]


# --- the GP's page -------------------------------------------------------------------------------


@pytest.fixture
def gp_client(client, auth, feed_rota, make_user):
    user = make_user(
        Role.GP, feed_rota.territory, email="claire.gp@example.org", practitioner=feed_rota.claire
    )
    auth.login(user.email)
    return client


def test_gp_page_explains_how_to_subscribe(gp_client):
    page = gp_client.get("/mes-plages/agenda").get_data(as_text=True)

    for words in ("Google Agenda", "8 à 24 heures", "courriel", "Apple", "Outlook", "Thunderbird"):
        assert words in page
    assert "Créer mon adresse d'abonnement" in page
    assert not TOKEN_PATH.search(page)


def test_gp_gets_a_working_address_shown_once(app, gp_client, feed_rota):
    page = gp_client.post("/mes-plages/agenda", data={"action": "nouvelle-adresse"}).get_data(
        as_text=True
    )

    (token,) = set(TOKEN_PATH.findall(page))
    assert f"webcal://tdr.test/ical/{token}.ics" in page
    assert (
        f"https://tdr.test/ical/{token}.ics" in page or f"http://tdr.test/ical/{token}.ics" in page
    )
    assert "<svg" in page
    assert "qr" in page
    later = gp_client.get("/mes-plages/agenda").get_data(as_text=True)
    assert token not in later
    assert "Générer une nouvelle adresse" in later
    with time_machine.travel(READ_AT, tick=False):  # a calendar client: no cookie
        assert app.test_client().get(f"/ical/{token}.ics").status_code == 200


def test_gp_regenerates_then_revokes_the_address(gp_client, feed_rota):
    first = TOKEN_PATH.search(
        gp_client.post("/mes-plages/agenda", data={"action": "nouvelle-adresse"}).get_data(
            as_text=True
        )
    )[1]
    second = TOKEN_PATH.search(
        gp_client.post(
            "/mes-plages/agenda", data={"action": "nouvelle-adresse", "confirm": "oui"}
        ).get_data(as_text=True)
    )[1]

    assert first != second
    assert feeds.find_live_feed(first) is None
    assert feeds.find_live_feed(second) is not None
    asked = gp_client.post("/mes-plages/agenda", data={"action": "revoquer"})
    assert "Révoquer l&#39;adresse" in asked.get_data(as_text=True)
    assert feeds.find_live_feed(second) is not None  # not without the confirmation
    response = gp_client.post("/mes-plages/agenda", data={"action": "revoquer", "confirmed": "1"})
    assert response.status_code == 302
    assert feeds.find_live_feed(second) is None
    assert "révoquée" in gp_client.get("/mes-plages/agenda").get_data(as_text=True)


def test_gp_reminder_puts_an_alarm_in_the_feed(app, gp_client, feed_rota):
    response = gp_client.post("/mes-plages/agenda", data={"action": "rappel", "alarm": "60"})
    assert response.status_code == 302
    path = feed_rota.gp_feed_path(feed_rota.claire)  # the reminder survives a new address

    with time_machine.travel(READ_AT, tick=False):
        text = app.test_client().get(path).get_data(as_text=True)

    assert text.count("BEGIN:VALARM") == 2  # the two sessions Claire still holds
    assert "TRIGGER:-PT1H" in text
    assert "1 h avant" in gp_client.get("/mes-plages/agenda").get_data(as_text=True)


def test_saving_the_reminder_right_after_creating_the_address_keeps_it_shown(gp_client, feed_rota):
    page = gp_client.post("/mes-plages/agenda", data={"action": "nouvelle-adresse"}).get_data(
        as_text=True
    )
    (token,) = set(TOKEN_PATH.findall(page))
    # The reminder form of that page carries the address back (a POST body, never a URL).
    assert f'name="address" value="{token}"' in page
    answer = gp_client.post(
        "/mes-plages/agenda", data={"action": "rappel", "alarm": "60", "address": token}
    )
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert f"webcal://tdr.test/ical/{token}.ics" in page
    assert "Rappel enregistré" in page
    assert feeds.gp_feed(feed_rota.claire).alarm_minutes == 60
    assert feeds.find_live_feed(token) is not None


def test_a_stale_or_foreign_address_is_not_shown_back(gp_client, feed_rota):
    other = feeds.issue_gp_token(feed_rota.paul, by=None)
    db.session.commit()
    for sent in (other, "made-up-token"):
        answer = gp_client.post(
            "/mes-plages/agenda", data={"action": "rappel", "alarm": "60", "address": sent}
        )
        assert answer.status_code == 302
        assert other not in gp_client.get("/mes-plages/agenda").get_data(as_text=True)


def test_a_new_address_over_a_live_one_needs_a_confirmation(gp_client, feed_rota):
    nothing = gp_client.get("/mes-plages/agenda/nouvelle-adresse").get_data(as_text=True)
    assert "rien à remplacer" in nothing
    first = TOKEN_PATH.search(
        gp_client.post("/mes-plages/agenda", data={"action": "nouvelle-adresse"}).get_data(
            as_text=True
        )
    )[1]
    page = gp_client.get("/mes-plages/agenda").get_data(as_text=True)
    # A secondary link to a confirmation page, not a primary button that kills the address.
    assert re.search(r'<a class="button" href="/mes-plages/agenda/nouvelle-adresse">', page)
    assert 'class="primary">Générer une nouvelle adresse' not in page
    unconfirmed = gp_client.post("/mes-plages/agenda", data={"action": "nouvelle-adresse"})
    assert unconfirmed.status_code == 302
    assert unconfirmed.headers["Location"].endswith("/mes-plages/agenda/nouvelle-adresse")
    assert feeds.find_live_feed(first) is not None
    confirm = gp_client.get("/mes-plages/agenda/nouvelle-adresse").get_data(as_text=True)
    assert "cessera aussitôt de fonctionner" in confirm
    assert 'name="confirm" value="oui"' in confirm
    second = TOKEN_PATH.search(
        gp_client.post(
            "/mes-plages/agenda", data={"action": "nouvelle-adresse", "confirm": "oui"}
        ).get_data(as_text=True)
    )[1]
    assert feeds.find_live_feed(first) is None
    assert feeds.find_live_feed(second) is not None


@pytest.mark.parametrize("data", [{}, {"action": "pirater"}, {"action": "rappel", "alarm": "7"}])
def test_gp_page_refuses_unknown_actions(gp_client, feed_rota, data):
    response = gp_client.post("/mes-plages/agenda", data=data)

    assert response.status_code == 200
    assert "Action inconnue" in response.get_data(as_text=True)
    feed = feeds.gp_feed(feed_rota.claire)
    assert feed is None or (not feed.live and feed.alarm_minutes is None)


# --- the coordinator's page ----------------------------------------------------------------------


def test_coordinator_issues_the_territory_feed_and_sees_site_feeds(
    client, auth, feed_rota, make_user
):
    coordinator = make_user(Role.COORDINATOR, feed_rota.territory, email="coord.feed@example.org")
    auth.login(coordinator.email)

    page = client.post("/coordination/agenda", data={"action": "nouvelle-adresse"}).get_data(
        as_text=True
    )

    (token,) = set(TOKEN_PATH.findall(page))
    assert f"/ical/site/{feed_rota.site.id}.ics" in page
    assert f"/ical/site/{feed_rota.other_site.id}.ics" in page
    feed = feeds.find_live_feed(token)
    assert feed is not None
    assert feed.practitioner_id is None
    revoke = {"action": "revoquer", "confirmed": "1"}
    assert client.post("/coordination/agenda", data=revoke).status_code == 302
    assert feeds.find_live_feed(token) is None


# --- the ical commands ---------------------------------------------------------------------------


def _url_from(output: str) -> str:
    match = re.search(r"https?://\S+/ical/([A-Za-z0-9_-]{43})\.ics", output)
    assert match, output
    return match[1]


def test_cli_prints_a_gp_address_that_works(runner, client, feed_rota):
    result = runner.invoke(args=["ical", "url", feed_rota.claire.rpps])

    assert result.exit_code == 0, result.output
    token = _url_from(result.output)
    assert f"webcal://tdr.test/ical/{token}.ics" in result.output
    with time_machine.travel(READ_AT, tick=False):
        assert client.get(f"/ical/{token}.ics").status_code == 200


def test_cli_cannot_show_an_active_address_again_without_rotate(runner, client, feed_rota):
    first = _url_from(runner.invoke(args=["ical", "url", feed_rota.claire.rpps]).output)

    refused = runner.invoke(args=["ical", "url", feed_rota.claire.rpps])
    rotated = runner.invoke(args=["ical", "url", feed_rota.claire.rpps, "--rotate"])

    assert refused.exit_code == 1
    assert "--rotate" in refused.output
    assert "ne peut pas être réaffichée" in refused.output
    assert rotated.exit_code == 0
    assert _url_from(rotated.output) != first
    assert feeds.find_live_feed(first) is None


def test_cli_prints_the_territory_address(runner, feed_rota):
    result = runner.invoke(args=["ical", "url", "--territory", feed_rota.territory.slug])

    assert result.exit_code == 0, result.output
    feed = feeds.find_live_feed(_url_from(result.output))
    assert feed is not None
    assert feed.territory_id == feed_rota.territory.id


def test_cli_uses_the_given_public_address(runner, feed_rota):
    result = runner.invoke(
        args=["ical", "url", feed_rota.claire.rpps, "--base-url", "https://snp.cpts.example/"]
    )

    assert "https://snp.cpts.example/ical/" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ical", "url", "12345678903"], "Aucun professionnel"),
        (["ical", "url", "123"], "11 chiffres"),
        (["ical", "url", "--territory", "nulle-part"], "Territoire inconnu"),
        (["ical", "url"], "RPPS"),
    ],
)
def test_cli_explains_what_is_wrong(runner, feed_rota, args, message):
    result = runner.invoke(args=args)

    assert result.exit_code != 0
    assert message in result.output


def test_cli_revokes_and_purges(runner, feed_rota):
    token = _url_from(runner.invoke(args=["ical", "url", feed_rota.claire.rpps]).output)

    revoked = runner.invoke(args=["ical", "revoke", feed_rota.claire.rpps])
    again = runner.invoke(args=["ical", "revoke", feed_rota.claire.rpps])
    purged = runner.invoke(args=["ical", "purge"])

    assert revoked.exit_code == 0
    assert "révoquée" in revoked.output
    assert feeds.find_live_feed(token) is None
    assert again.exit_code == 1
    assert "Aucune adresse" in again.output
    assert purged.exit_code == 0
    assert "supprimé" in purged.output
