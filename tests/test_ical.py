"""iCalendar feeds: the pure renderer, golden files, and how events follow the rota.

Every feed is parsed back with ``icalendar`` and, through node, with Mozilla's ical.js
(vendored in ``tests/vendor/icaljs``), which knows no time zone but the feed's VTIMEZONE.
Regenerate the golden files with ``UPDATE_GOLDEN=1`` and review their diff.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
import sqlalchemy as sa
import time_machine

from app.extensions import db
from publishing import feeds, ical
from publishing.models import FeedTombstone
from rota import scenarios
from rota import services as rota_services
from rota.models import Assignment
from tests.feed_world import (
    DST_DAY,
    READ_AT,
    SWAPPED_AT,
    SWAPPED_DAY,
    TRICKY_NAME,
    add_booking,
)

GOLDEN = Path(__file__).parent / "golden"
ICALJS_SCRIPT = Path(__file__).parent / "js" / "icaljs_events.mjs"
PARIS = ZoneInfo("Europe/Paris")


# --- the pure renderer ----------------------------------------------------------------------------


def _event(**kw) -> ical.Event:
    values = {
        "uid": "gp-1-1@tdr.test",
        "sequence": 1,
        "summary": f"SNP – {TRICKY_NAME}",
        "starts_at": datetime(2027, 3, 28, 9, tzinfo=PARIS),
        "ends_at": datetime(2027, 3, 28, 12, tzinfo=PARIS),
        "modified_at": datetime(2027, 3, 10, 9, tzinfo=UTC),
        "location": f"{TRICKY_NAME}, 3 rue des Pins, 85300 Challans",
        "description": "Plage de soins non programmés.\nÉté : " + "é" * 90,
    }
    values.update(kw)
    return ical.Event(**values)


def _feed(*events: ical.Event, alarm: int | None = None) -> ical.Feed:
    return ical.Feed(
        name="Mes plages SNP", timezone="Europe/Paris", events=events, alarm_minutes=alarm
    )


def test_render_escapes_folds_and_ends_lines_with_crlf():
    data = ical.render(_feed(_event()))

    assert b"\r\n" in data
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert all(len(line) <= 75 for line in data.split(b"\r\n"))
    assert b'SUMMARY:SNP \xe2\x80\x93 MSP "Les Pins"\\; B\xc3\xa2t. B\\, 2e\r\n' in data
    event = ical.parse(data).walk("VEVENT")[0]
    assert str(event["SUMMARY"]) == f"SNP – {TRICKY_NAME}"
    assert str(event["LOCATION"]).startswith(TRICKY_NAME + ", ")
    assert str(event["DESCRIPTION"]).endswith("é" * 90)


def test_render_never_splits_a_multibyte_character_when_folding():
    data = ical.render(_feed(_event(description="é" * 200)))

    for line in data.split(b"\r\n"):
        line.decode()  # each physical line is valid UTF-8 on its own


def test_render_is_byte_stable():
    feed = _feed(_event(), _event(uid="gp-2-1@tdr.test", status=ical.CANCELLED, sequence=3))

    assert ical.render(feed) == ical.render(feed)


def test_render_writes_subscription_hints_and_local_times():
    data = ical.render(_feed(_event())).decode()

    for line in (
        "X-WR-CALNAME:Mes plages SNP",
        "X-WR-TIMEZONE:Europe/Paris",
        "REFRESH-INTERVAL;VALUE=DURATION:PT1H",
        "X-PUBLISHED-TTL:PT1H",
        "DTSTART;TZID=Europe/Paris:20270328T090000",
        "DTSTAMP:20270310T090000Z",
        "LAST-MODIFIED:20270310T090000Z",
        "STATUS:CONFIRMED",
        "BEGIN:VTIMEZONE",
    ):
        assert line in data.splitlines(), line


def test_alarm_goes_on_live_events_only():
    data = ical.render(
        _feed(_event(), _event(uid="gone@tdr.test", status=ical.CANCELLED), alarm=60)
    )

    events = {str(e["UID"]): e for e in ical.parse(data).walk("VEVENT")}
    (alarm,) = events["gp-1-1@tdr.test"].walk("VALARM")
    assert alarm["TRIGGER"].dt == timedelta(minutes=-60)
    assert str(alarm["ACTION"]) == "DISPLAY"
    assert events["gone@tdr.test"].walk("VALARM") == []


@pytest.mark.parametrize("field", ["starts_at", "ends_at", "modified_at"])
def test_event_refuses_naive_times(field):
    with pytest.raises(ValueError, match="aware"):
        _event(**{field: datetime(2027, 3, 28, 9, tzinfo=PARIS).replace(tzinfo=None)})


def test_vtimezone_onsets_are_the_wall_clock_time_before_each_change():
    vtz = ical.vtimezone("Europe/Paris", date(2027, 3, 20), date(2027, 11, 5))

    onsets = [
        (c.name, c["DTSTART"].to_ical(), c["TZOFFSETFROM"].to_ical(), c["TZOFFSETTO"].to_ical())
        for c in vtz.subcomponents
    ]
    assert onsets == [
        ("STANDARD", b"20270319T000000", "+0100", "+0100"),
        ("DAYLIGHT", b"20270328T020000", "+0100", "+0200"),  # 02:00 CET becomes 03:00 CEST
        ("STANDARD", b"20271031T030000", "+0200", "+0100"),  # 03:00 CEST becomes 02:00 CET
    ]


def test_vtimezone_of_a_zone_without_summer_time_has_one_observance():
    vtz = ical.vtimezone("America/Martinique", date(2027, 3, 1), date(2027, 12, 1))

    assert [c.name for c in vtz.subcomponents] == ["STANDARD"]
    assert vtz.subcomponents[0]["TZOFFSETTO"].td == timedelta(hours=-4)


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/Miquelon", "Indian/Reunion"])
def test_vtimezone_read_back_agrees_with_zoneinfo_every_half_hour(zone):
    vtz = ical.vtimezone(zone, date(2027, 1, 1), date(2027, 12, 31))
    read_back = icalendar.Timezone.from_ical(vtz.to_ical()).to_tz()

    moment = datetime(2027, 1, 1, tzinfo=UTC)
    while moment < datetime(2027, 12, 31, tzinfo=UTC):
        expected = moment.astimezone(ZoneInfo(zone)).utcoffset()
        assert moment.astimezone(read_back).utcoffset() == expected, moment
        moment += timedelta(minutes=30)


# --- golden feeds ---------------------------------------------------------------------------------


def _fetch(client, path: str, at: datetime = READ_AT) -> bytes:
    with time_machine.travel(at, tick=False):
        response = client.get(path)
    assert response.status_code == 200, response.status_code
    return response.get_data()


def _path(feed_rota, name: str) -> str:
    if name == "claire":
        return feed_rota.gp_feed_path(feed_rota.claire)
    if name == "paul":
        return feed_rota.gp_feed_path(feed_rota.paul)
    if name == "territory":
        return feed_rota.territory_feed_path()
    return f"/ical/site/{feed_rota.site.id}.ics"


def _normalised(data: bytes) -> str:
    """Compare lines, not line endings (a checkout may rewrite them), and not DTSTAMP."""
    text = data.decode().replace("\r\n", "\n")
    return re.sub(r"^DTSTAMP:.*$", "DTSTAMP:(normalised)", text, flags=re.MULTILINE)


def _events(data: bytes) -> dict[str, icalendar.Event]:
    return {str(e["UID"]): e for e in ical.parse(data).walk("VEVENT")}


FEEDS = ["claire", "paul", "territory", "site"]


@pytest.mark.parametrize("name", FEEDS)
def test_feed_matches_its_golden_file(client, feed_rota, name):
    data = _fetch(client, _path(feed_rota, name))

    golden = GOLDEN / f"{name}.ics"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_bytes(data)
    assert _normalised(data) == _normalised(golden.read_bytes())


@pytest.mark.parametrize("name", FEEDS)
def test_feed_parses_back_with_its_times_in_the_territory_zone(client, feed_rota, name):
    events = list(_events(_fetch(client, _path(feed_rota, name))).values())

    assert events
    for event in events:
        start = event["DTSTART"].dt
        assert start.tzinfo is not None
        assert event["DTSTART"].params["TZID"] == "Europe/Paris"
        assert start.astimezone(PARIS).time() == time(9)
        assert event["DTEND"].dt - start == timedelta(hours=3)


def _icaljs(paths: list[Path]) -> dict[str, list[dict]]:
    node = shutil.which("node")
    assert node, "node is needed to run Mozilla's ical.js on the feeds"
    done = subprocess.run(
        [node, str(ICALJS_SCRIPT), *map(str, paths)],
        capture_output=True,
        check=True,
        text=True,
        timeout=60,
    )
    return json.loads(done.stdout)


def test_icaljs_reads_every_golden_feed_as_icalendar_does():
    paths = sorted(GOLDEN.glob("*.ics"))
    assert len(paths) == len(FEEDS)

    read = _icaljs(paths)

    for path in paths:
        expected = _events(path.read_bytes())
        got = {e["uid"]: e for e in read[str(path)]}
        assert set(got) == set(expected)
        for uid, event in expected.items():
            js = got[uid]
            assert js["summary"] == str(event["SUMMARY"])
            assert js["location"] == str(event["LOCATION"])
            assert js["description"] == str(event["DESCRIPTION"])
            assert js["sequence"] == int(event["SEQUENCE"])
            assert js["status"] == str(event["STATUS"])
            assert js["tzid"] == "Europe/Paris"
            # ical.js resolves the local time through the feed's VTIMEZONE, icalendar
            # through zoneinfo: the same instant proves the VTIMEZONE right.
            assert js["start"] == int(event["DTSTART"].dt.timestamp()), uid
            assert js["end"] == int(event["DTEND"].dt.timestamp()), uid


def test_golden_dst_weekend_is_one_hour_apart_in_utc():
    events = _events((GOLDEN / "claire.ics").read_bytes())
    starts = {e["DTSTART"].dt.date(): e["DTSTART"].dt.astimezone(UTC) for e in events.values()}

    assert starts[SWAPPED_DAY].time() == time(8)  # 09:00 CET
    assert starts[DST_DAY].time() == time(7)  # 09:00 CEST


def test_icaljs_agrees_on_a_live_feed_with_an_alarm(client, feed_rota, tmp_path):
    feeds.set_alarm(feed_rota.claire, 60, by=None)
    db.session.commit()
    path = tmp_path / "claire.ics"
    path.write_bytes(_fetch(client, _path(feed_rota, "claire")))

    (read,) = _icaljs([path]).values()

    alarms = {e["uid"]: e["alarms"] for e in read}
    assert alarms == {"gp-1-1@tdr.test": 1, "gp-3-1@tdr.test": 0, "gp-4-1@tdr.test": 1}


# --- how events follow the rota -------------------------------------------------------------------


def test_uids_are_stable_across_regeneration_and_rotation(client, feed_rota):
    first = _events(_fetch(client, feed_rota.gp_feed_path(feed_rota.claire)))
    with time_machine.travel(READ_AT, tick=False):
        add_booking(feed_rota.session_on(DST_DAY), seat=1, slot_index=2, reference="FEED3456")
        db.session.commit()

    later = _events(
        _fetch(client, feed_rota.gp_feed_path(feed_rota.claire), READ_AT + timedelta(days=2))
    )

    assert set(later) == set(first)
    assert "Rendez-vous pris sur votre place : 1." in str(later["gp-4-1@tdr.test"]["DESCRIPTION"])


def test_cancelling_a_session_raises_its_sequence_and_cancels_it(client, feed_rota):
    path = feed_rota.gp_feed_path(feed_rota.claire)
    before = _events(_fetch(client, path))["gp-4-1@tdr.test"]
    with time_machine.travel(READ_AT, tick=False):
        rota_services.cancel_session(feed_rota.session_on(DST_DAY), reason="Grève", by=None)
        db.session.commit()

    after = _events(_fetch(client, path, READ_AT + timedelta(hours=1)))["gp-4-1@tdr.test"]

    assert str(before["STATUS"]) == "CONFIRMED"
    assert str(after["STATUS"]) == "CANCELLED"
    assert int(after["SEQUENCE"]) > int(before["SEQUENCE"])
    assert "Grève" in str(after["DESCRIPTION"])
    assert after["LAST-MODIFIED"].dt == READ_AT


def _hand_over(feed_rota, how: str) -> None:
    assignment = feed_rota.session_on(DST_DAY).assignments[0]
    if how == "swap":
        offer = rota_services.offer_swap(assignment, to=feed_rota.paul, message="", by=None)
        rota_services.accept_swap(offer, feed_rota.paul, by=None)
    elif how == "replace":
        rota_services.replace_gp(assignment, feed_rota.paul, by=None)
    else:
        rota_services.unassign(assignment, by=None)
    db.session.commit()


@pytest.mark.parametrize("how", ["swap", "replace", "unassign"])
def test_session_taken_from_a_gp_stays_cancelled_with_a_higher_sequence(client, feed_rota, how):
    claire, paul = feed_rota.gp_feed_path(feed_rota.claire), feed_rota.gp_feed_path(feed_rota.paul)
    before = _events(_fetch(client, claire))["gp-4-1@tdr.test"]
    with time_machine.travel(READ_AT, tick=False):
        _hand_over(feed_rota, how)

    after = _events(_fetch(client, claire, READ_AT + timedelta(hours=1)))
    taker = _events(_fetch(client, paul, READ_AT + timedelta(hours=1)))

    gone = after["gp-4-1@tdr.test"]
    assert str(gone["STATUS"]) == "CANCELLED"
    assert int(gone["SEQUENCE"]) > int(before["SEQUENCE"])
    assert str(gone["SUMMARY"]).startswith("Retirée : ")
    taken = [e for e in taker.values() if e["DTSTART"].dt.date() == DST_DAY]
    if how == "unassign":
        assert taken == []
    else:
        (event,) = taken
        assert str(event["STATUS"]) == "CONFIRMED"
        assert str(event["UID"]) != "gp-4-1@tdr.test"  # each GP's event is their own


def test_taken_session_leaves_the_feed_after_30_days(client, feed_rota):
    path = feed_rota.gp_feed_path(feed_rota.claire)
    # The swap of the 27th was on 12 March, 10:00 UTC (11:00 in Paris).
    kept = _events(_fetch(client, path, SWAPPED_AT + timedelta(days=30)))
    dropped = _events(_fetch(client, path, SWAPPED_AT + timedelta(days=31)))

    assert str(kept["gp-3-1@tdr.test"]["STATUS"]) == "CANCELLED"
    assert "gp-3-1@tdr.test" not in dropped


def test_session_handed_back_is_confirmed_above_its_cancelled_sequence(client, feed_rota):
    path = feed_rota.gp_feed_path(feed_rota.claire)
    cancelled = _events(_fetch(client, path))["gp-3-1@tdr.test"]
    with time_machine.travel(READ_AT, tick=False):
        assignment = feed_rota.session_on(SWAPPED_DAY).assignments[0]
        offer = rota_services.offer_swap(assignment, to=feed_rota.claire, message="", by=None)
        rota_services.accept_swap(offer, feed_rota.claire, by=None)
        db.session.commit()

    back = _events(_fetch(client, path, READ_AT + timedelta(hours=1)))["gp-3-1@tdr.test"]

    assert str(cancelled["STATUS"]) == "CANCELLED"
    assert str(back["STATUS"]) == "CONFIRMED"
    assert int(back["SEQUENCE"]) > int(cancelled["SEQUENCE"])


def test_feed_keeps_30_days_of_past_sessions(client, feed_rota):
    events = _events(
        _fetch(
            client, feed_rota.gp_feed_path(feed_rota.claire), datetime(2027, 4, 25, 10, tzinfo=UTC)
        )
    )

    days = sorted(e["DTSTART"].dt.date() for e in events.values())
    assert days == [DST_DAY]  # 20 March is more than 30 days back; 27 March was given away


def test_feed_shows_published_periods_only(client, feed_rota):
    with time_machine.travel(READ_AT, tick=False):
        scenarios.open_period(
            feed_rota.territory,
            name="Avril 2027",
            start=date(2027, 4, 5),
            end=date(2027, 4, 30),
            volunteers=lambda period: [(period.sessions[0], feed_rota.claire)],
        )
        db.session.commit()

    events = _events(_fetch(client, feed_rota.gp_feed_path(feed_rota.claire)))

    assert max(e["DTSTART"].dt.date() for e in events.values()) == DST_DAY


def test_gp_feed_counts_bookings_and_carries_no_patient_data(client, feed_rota):
    data = _fetch(client, feed_rota.gp_feed_path(feed_rota.claire))

    first = _events(data)["gp-1-1@tdr.test"]
    assert "Rendez-vous pris sur votre place : 1." in str(first["DESCRIPTION"])
    text = data.decode()
    for secret in ("Secretpatient", "Zoé", "0600000000", "Fièvre", "1980"):
        assert secret not in text


def test_site_feed_never_names_a_gp(client, feed_rota):
    text = _fetch(client, _path(feed_rota, "site")).decode()

    assert "Martin" not in text
    assert "Durand" not in text
    assert "Dr " not in text


def test_unfilled_session_is_tentative_for_the_territory_and_cancelled_for_the_public(
    client, feed_rota
):
    with time_machine.travel(READ_AT, tick=False):
        _hand_over(feed_rota, "unassign")
    territory = _events(_fetch(client, _path(feed_rota, "territory")))
    public = _events(_fetch(client, _path(feed_rota, "site")))

    session_id = feed_rota.session_on(DST_DAY).id
    assert str(territory[f"territory-{session_id}@tdr.test"]["STATUS"]) == "TENTATIVE"
    assert "à pourvoir" in str(territory[f"territory-{session_id}@tdr.test"]["SUMMARY"])
    assert str(public[f"site-{session_id}@tdr.test"]["STATUS"]) == "CANCELLED"
    assert int(public[f"site-{session_id}@tdr.test"]["SEQUENCE"]) == 2


def test_changes_before_publication_leave_no_tombstone(
    app, make_territory, make_site, make_practitioner
):
    territory = make_territory()
    site = make_site(territory)
    gp = make_practitioner(territory, site_ids=[site.id])
    period = scenarios.open_period(
        territory,
        name="P",
        start=date(2027, 5, 3),
        end=date(2027, 5, 9),
        templates=[
            scenarios.template(
                site, weekdays=range(7), start=time(17), end=time(20), valid_from=date(2027, 1, 1)
            )
        ],
    )
    assignment = rota_services.volunteer(period.sessions[0], gp, by=None)

    rota_services.unassign(assignment, by=None)
    rota_services.cancel_session(period.sessions[1], reason="Fermeture", by=None)
    db.session.commit()

    assert db.session.scalar(sa.select(sa.func.count(FeedTombstone.id))) == 0


def test_purge_deletes_only_tombstones_no_feed_serves(feed_rota):
    assert db.session.scalar(sa.select(sa.func.count(FeedTombstone.id))) == 2

    assert feeds.purge_tombstones(now=SWAPPED_AT + timedelta(days=31)) == 0
    assert feeds.purge_tombstones(now=datetime(2027, 5, 1, tzinfo=UTC)) == 2
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count(Assignment.id))) == 6
