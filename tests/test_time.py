"""Time: aware UTC storage on both engines, local display, DST."""

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from app.db_types import UTCDateTime
from app.extensions import db
from app.models import Territory
from app.timeutil import format_local, local, now_utc


def test_now_utc_is_aware_utc():
    now = now_utc()
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)


def test_utcdatetime_refuses_naive_values():
    naive = datetime(2026, 3, 29, 12, 0)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(naive, sa.create_engine("sqlite://").dialect)


def test_utcdatetime_refuses_naive_values_on_flush(app, make_territory):
    territory = make_territory()
    territory.created_at = datetime(2026, 1, 1, 12, 0)  # noqa: DTZ001 - the point of the test
    with pytest.raises(sa.exc.StatementError, match="naive"):
        db.session.flush()
    db.session.rollback()


def test_utcdatetime_round_trips_aware_utc(app, make_territory):
    paris_summer = datetime(2026, 7, 14, 17, 30, tzinfo=ZoneInfo("Europe/Paris"))
    territory = make_territory()
    territory.created_at = paris_summer
    db.session.commit()
    territory_id = territory.id
    db.session.expire_all()
    db.session.remove()

    stored = db.session.get(Territory, territory_id).created_at
    assert stored == paris_summer
    assert stored.utcoffset() == timedelta(0)
    assert stored.tzinfo == UTC
    assert stored.hour == 15  # 17:30 CEST is 15:30 UTC


def test_utcdatetime_round_trips_other_offsets(app, make_territory):
    reunion = datetime(2026, 12, 25, 9, 0, tzinfo=timezone(timedelta(hours=4)))
    territory = make_territory()
    territory.created_at = reunion
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Territory, territory.id).created_at == reunion


@pytest.mark.parametrize(
    ("utc", "expected"),
    [
        # Spring forward: 29 March 2026, 02:00 CET becomes 03:00 CEST.
        (datetime(2026, 3, 29, 0, 59, tzinfo=UTC), "01:59 +0100"),
        (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), "03:00 +0200"),
        # Fall back: 25 October 2026, 03:00 CEST becomes 02:00 CET.
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), "02:30 +0200"),
        (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), "02:30 +0100"),
    ],
)
def test_local_follows_paris_daylight_saving(utc, expected):
    assert local(utc).strftime("%H:%M %z") == expected


def test_local_uses_the_territory_zone():
    noon_utc = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    assert format_local(noon_utc, "Indian/Reunion", "%H:%M") == "16:00"
    assert format_local(noon_utc, "America/Martinique", "%H:%M") == "08:00"
    assert format_local(None) == ""


def test_local_refuses_naive_values():
    with pytest.raises(ValueError, match="naive"):
        local(datetime(2026, 1, 1))  # noqa: DTZ001
