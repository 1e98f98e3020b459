"""The bookings' tallies stay true: a change to a booking names its local day in its own
transaction, a refresh recounts those days and keeps a change that arrives meanwhile, and
counts kept change by change equal a recount of everything. SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from app.extensions import db
from app.models import Territory
from app.territory import services as territory_services
from booking.models import BookingStatus
from publishing import indicator_tallies as tally
from publishing import indicators
from publishing.models import indicator_change, indicator_day, indicator_hour, indicator_pharmacy
from tests import indicator_world as world_module
from tests.helpers import build_app
from tests.indicator_world import EXPECTED_FIGURES, FROM, TO

BEFORE_TALLIES = "c4e8a2d6f1b3"


@pytest.fixture
def world(make_territory, make_site, make_practitioner, make_user):
    return world_module.build(make_territory, make_site, make_practitioner, make_user)


def _changes(territory_id: int) -> list[date | None]:
    return sorted(
        db.session.scalars(
            sa.select(indicator_change.c.local_date).where(
                indicator_change.c.territory_id == territory_id
            )
        ),
        key=lambda d: d or date.min,
    )


def _recount_everything(territory_id: int) -> indicators.Indicators:
    """The figures from tallies rebuilt from nothing (what the migration starts from)."""
    for table in (indicator_day, indicator_hour, indicator_pharmacy):
        db.session.execute(table.delete().where(table.c.territory_id == territory_id))
    tally.mark_all(territory_id)
    db.session.commit()
    return indicators.compute(db.session.get(Territory, territory_id), FROM, TO)


def test_a_booking_change_names_its_local_day_in_its_own_transaction(world):
    tid = world.territory.id
    indicators.compute(world.territory, FROM, TO)
    assert _changes(tid) == []

    world.bookings["b2"].status = BookingStatus.HONOURED
    db.session.flush()
    assert _changes(tid) == [date(2026, 3, 10)]
    db.session.rollback()
    assert _changes(tid) == []  # rolled back with the change itself

    # 28 February 23:30 UTC is 1 March in Paris: the local day is named.
    world.bookings["b8"].status = BookingStatus.NO_SHOW
    db.session.commit()
    assert _changes(tid) == [date(2026, 3, 1)]
    figures = indicators.compute(world.territory, FROM, TO).figures
    assert _changes(tid) == []
    assert figures["activity.bookings.open.no_show"] == (
        EXPECTED_FIGURES["activity.bookings.open.no_show"] + 1
    )
    assert figures["activity.bookings.open.honoured"] == (
        EXPECTED_FIGURES["activity.bookings.open.honoured"] - 1
    )


def test_counts_kept_change_by_change_equal_a_recount_of_everything(world):
    tid = world.territory.id
    b, s, users = world.bookings, world.sessions, world.users
    indicators.compute(world.territory, FROM, TO)
    b["b2"].status = BookingStatus.HONOURED
    db.session.commit()
    indicators.compute(world.territory, FROM, TO)
    b["b5"].status = BookingStatus.CANCELLED
    b["b6"].without_gp = False
    db.session.commit()
    indicators.compute(world.territory, FROM, TO)
    # A new pharmacy booking on 10 March, booked the evening before (not the same day).
    world_module._booking(
        s["s1"],
        index=7,
        channel="pharmacy",
        status=BookingStatus.BOOKED,
        created=datetime(2026, 3, 9, 22, tzinfo=UTC),
        by=users["p2"],
        insee="85194",
    )
    b["b1"].patient_insee = None  # a commune cleared
    db.session.commit()
    step_by_step = indicators.compute(world.territory, FROM, TO)

    assert step_by_step == _recount_everything(tid)
    got = step_by_step.figures
    assert got["offer.pharmacists_taking_part"] == 2
    assert got["activity.bookings.pharmacy.booked"] == 1
    assert got["activity.bookings.sas.cancelled"] == 1
    assert got["activity.communes.unknown"] == EXPECTED_FIGURES["activity.communes.unknown"]
    assert got["activity.communes.inside"] == EXPECTED_FIGURES["activity.communes.inside"]


def test_only_the_changed_days_are_recounted(world):
    tid = world.territory.id
    indicators.compute(world.territory, FROM, TO)
    # Tamper with 10 March's count behind the tallies' back: only a change would fix it.
    db.session.execute(
        indicator_day.update()
        .where(indicator_day.c.territory_id == tid, indicator_day.c.local_date == date(2026, 3, 10))
        .values(sas_no_show=indicator_day.c.sas_no_show + 40)
    )
    db.session.commit()
    world.bookings["b5"].status = BookingStatus.HONOURED  # 29 March
    db.session.commit()
    figures = indicators.compute(world.territory, FROM, TO).figures
    assert figures["activity.bookings.sas.no_show"] == 41  # 10 March was not recounted
    world.bookings["b2"].reason = "toux"  # any change to a booking of 10 March
    db.session.commit()
    figures = indicators.compute(world.territory, FROM, TO).figures
    assert figures["activity.bookings.sas.no_show"] == 1


def test_a_change_written_during_a_recount_waits_for_the_next(world, monkeypatch):
    tid = world.territory.id
    world.bookings["b5"].status = BookingStatus.HONOURED
    db.session.commit()
    counted = tally.count_bookings

    def count_then_change(*args, **kwargs):
        result = counted(*args, **kwargs)
        # After the recount read its changes and its bookings: like a booking's
        # transaction committing mid-recount, its change row was not read.
        db.session.execute(indicator_change.insert().values(territory_id=tid, local_date=FROM))
        return result

    monkeypatch.setattr(tally, "count_bookings", count_then_change)
    indicators.compute(world.territory, FROM, TO)
    assert _changes(tid) == [FROM]


def test_a_commune_joining_the_territory_brings_its_patients_inside(world):
    before = indicators.compute(world.territory, FROM, TO).figures
    territory_services.add_commune(world.territory, "75056", by=None)  # b2's Paris
    db.session.commit()
    assert _changes(world.territory.id) == [None]
    after = indicators.compute(world.territory, FROM, TO).figures
    assert after["activity.communes.inside"] == before["activity.communes.inside"] + 1
    assert after["activity.communes.outside"] == before["activity.communes.outside"] - 1


def test_a_new_zone_recounts_every_day(world):
    tid = world.territory.id
    indicators.compute(world.territory, FROM, TO)
    world.territory.timezone = "Indian/Reunion"  # UTC+4 all year
    db.session.commit()
    assert _changes(tid) == [None]
    moved = indicators.compute(world.territory, FROM, TO)
    assert moved == _recount_everything(tid)
    # b8, 28 February 23:30 UTC, is now 03:30 on Sunday 1 March in Saint-Denis.
    assert moved.heatmap[6][3] == 1


def test_two_refreshes_at_once_agree(app, world):
    tid = world.territory.id
    world.bookings["b2"].status = BookingStatus.HONOURED
    world.bookings["b5"].status = BookingStatus.CANCELLED
    db.session.commit()
    results: list[indicators.Indicators] = []
    errors: list[BaseException] = []

    def coordinator() -> None:
        with app.app_context():
            try:
                territory = db.session.get(Territory, tid)
                results.append(indicators.compute(territory, FROM, TO))
            except BaseException as error:  # reported below, not lost in the thread
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=coordinator) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(results) == 2
    assert results[0] == results[1]
    assert _changes(tid) == []
    assert results[0] == _recount_everything(tid)


def test_a_deleted_pharmacy_account_stops_counting_as_it_does_in_its_bookings(world):
    indicators.compute(world.territory, FROM, TO)
    p2 = world.users["p2"]
    db.session.delete(p2)  # its bookings keep no booker (SET NULL)
    db.session.commit()
    figures = indicators.compute(world.territory, FROM, TO).figures
    assert figures["offer.pharmacists_taking_part"] == (
        EXPECTED_FIGURES["offer.pharmacists_taking_part"] - 1
    )
    assert figures == _recount_everything(world.territory.id).figures


def test_bookings_of_another_territory_are_neither_named_nor_counted(world, make_territory):
    other = make_territory(communes=("85092",))
    tid = world.territory.id
    indicators.compute(world.territory, FROM, TO)
    indicators.compute(other, FROM, TO)  # its communes' change
    b = world.bookings["b1"]
    b.status = BookingStatus.NO_SHOW
    db.session.commit()
    assert _changes(other.id) == []
    assert indicators.compute(other, FROM, TO).figures["activity.bookings.total.live"] == 0
    assert _changes(tid) == [date(2026, 3, 10)]  # left for this territory's own refresh


# --- the migration counts the bookings already there ---------------------------------------


def test_the_migration_counts_the_bookings_already_there(
    empty_database_url, make_territory, make_site, make_practitioner, make_user
):
    scratch = build_app(empty_database_url)
    with scratch.app_context():
        upgrade()
        built = world_module.build(make_territory, make_site, make_practitioner, make_user)
        tid = built.territory.id
        db.session.remove()
        downgrade(revision=BEFORE_TALLIES)  # bookings without tallies, as before the upgrade
        upgrade()
        assert _changes(tid) == [None]
        result = indicators.compute(db.session.get(Territory, tid), FROM, TO)
        assert result.figures == EXPECTED_FIGURES
        db.session.remove()
        db.engine.dispose()


def test_live_bookings_only_feed_the_heat_map(world):
    """A cancelled booking is a day row (it counts as cancelled) but no hour row."""
    tid = world.territory.id
    indicators.compute(world.territory, FROM, TO)
    hours = db.session.execute(
        sa.select(indicator_hour.c.local_date, indicator_hour.c.hour, indicator_hour.c.live).where(
            indicator_hour.c.territory_id == tid,
            indicator_hour.c.local_date == date(2026, 3, 10),
        )
    ).all()
    # b1 17:00, b2 17:45, b3 18:15 Paris live; b4 18:30 cancelled.
    assert sorted(hours) == [(date(2026, 3, 10), 17, 2), (date(2026, 3, 10), 18, 1)]
