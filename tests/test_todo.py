"""The coordinator's "À faire": each layer answers the shell's signal with its own counts."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from app import todo
from app.extensions import db
from app.outbox import OutboxMessage
from rota.models import PeriodStatus, RotaPeriod, SwapRequest, SwapStatus, Unavailability, Wish
from tests import indicator_world
from tests.helpers import PASSWORD

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)  # Tuesday 10 March, 13:00 in Paris


@pytest.fixture
def world(make_territory, make_site, make_practitioner, make_user):
    w = indicator_world.build(make_territory, make_site, make_practitioner, make_user)
    g1, g2, g3, _ = w.gps
    s2 = w.sessions["s2"]
    db.session.add(
        SwapRequest(
            territory_id=w.territory.id,
            assignment_id=s2.assignments[0].id,
            session_id=s2.id,
            from_practitioner_id=g1.id,
            taken_by_id=g3.id,
            status=SwapStatus.PENDING,
        )
    )
    # g3 holds S8 on 31 March and has since said they can't.
    db.session.add(
        Unavailability(
            practitioner_id=g3.id, start_date=date(2026, 3, 30), end_date=date(2026, 4, 2)
        )
    )
    wishes = RotaPeriod(
        territory_id=w.territory.id,
        name="Avril 2026",
        start_date=date(2026, 4, 1),
        end_date=date(2026, 4, 30),
        status=PeriodStatus.WISHES_OPEN,
    )
    db.session.add(wishes)
    db.session.flush()
    db.session.add(Wish(period_id=wishes.id, practitioner_id=g1.id))  # g2, g3 silent
    db.session.add_all(
        [
            OutboxMessage(
                territory_id=w.territory.id,
                recipient="a@example.org",
                subject="s",
                body="b",
                meta={"abandoned": True, "attempts": 5},
            ),
            OutboxMessage(
                territory_id=w.territory.id,
                recipient="b@example.org",
                subject="s",
                body="b",
                meta={"attempts": 1},
            ),
        ]
    )
    db.session.commit()
    w.wishes_period = wishes
    return w


def test_every_layer_answers_with_its_counts(app, world):
    with app.test_request_context():
        items = todo.collect(world.territory, now=NOW)
    counts = {item.key: item.count for item in items}
    assert counts == {
        "sessions_without_gp_48h": 1,  # S3, Wednesday 17:00
        "bookings_to_replace": 1,  # b7
        "unfilled_sessions_14d": 1,  # S3 (S4 is cancelled, S2 is 19 days away)
        "swaps_pending": 1,
        "unavailable_rostered": 1,  # g3 on S8
        f"wishes_unanswered_{world.wishes_period.id}": 2,  # g2, g3 (g4 is inactive)
        "outbox_abandoned": 1,
    }
    assert [i.key for i in items][:2] == ["sessions_without_gp_48h", "bookings_to_replace"]


def test_nothing_to_do_lists_nothing(app, make_territory):
    territory = make_territory()
    with app.test_request_context():
        assert todo.collect(territory, now=NOW) == []


def test_the_home_page_shows_the_items_with_links(client, world):
    client.post("/connexion", data={"email": "coord@example.org", "password": PASSWORD})
    page = client.get("/coordination").get_data(as_text=True)
    assert "À faire" in page
    assert "rendez-vous à replacer" in page
    assert 'href="/coordination/rendez-vous"' in page
    assert "non remis" in page
    assert f'href="/coordination/periodes/{world.wishes_period.id}"' in page or "souhaits" in page
