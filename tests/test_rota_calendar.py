"""Expanding templates: wall-clock times across DST, French holidays by subdivision."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rota.calendar import TemplateSpec, check_templates, expand, public_holidays

PARIS = ZoneInfo("Europe/Paris")
WEEKDAYS = frozenset(range(5))


def template(**kw) -> TemplateSpec:
    values = {
        "id": 1,
        "site_id": 1,
        "weekdays": WEEKDAYS,
        "start": time(17),
        "end": time(20),
        "gps_needed": 1,
        "valid_from": date(2026, 1, 1),
        "valid_to": None,
        "on_holidays": "skip",
    }
    values.update(kw)
    return TemplateSpec(**values)


def run(templates, start, end, subdivision=None, zone="Europe/Paris"):
    return expand(templates, start=start, end=end, timezone=zone, holiday_subdivision=subdivision)


def test_weekday_evenings_of_march_stay_at_17h_local_across_spring_forward():
    sessions = run([template()], date(2026, 3, 1), date(2026, 3, 31))
    assert len(sessions) == 22
    assert all(s.starts_at.astimezone(PARIS).time() == time(17) for s in sessions)
    before = next(s for s in sessions if s.local_date == date(2026, 3, 27))
    after = next(s for s in sessions if s.local_date == date(2026, 3, 30))
    assert before.starts_at == datetime(2026, 3, 27, 16, tzinfo=UTC)
    assert after.starts_at == datetime(2026, 3, 30, 15, tzinfo=UTC)
    assert all(s.ends_at - s.starts_at == timedelta(hours=3) for s in sessions)


def test_fall_back_keeps_local_hours():
    sessions = run([template(weekdays=frozenset(range(7)))], date(2026, 10, 24), date(2026, 10, 26))
    assert [s.starts_at.hour for s in sessions] == [15, 16, 16]
    assert all(s.starts_at.astimezone(PARIS).hour == 17 for s in sessions)


def test_saturday_morning_is_weekend_category():
    (s,) = run(
        [template(weekdays=frozenset({5}), start=time(9), end=time(12))],
        date(2026, 6, 6),
        date(2026, 6, 7),
    )
    assert (s.is_weekend, s.category) == (True, "weekend_holiday")


@pytest.mark.parametrize("day", [date(2026, 5, 1), date(2026, 7, 14), date(2026, 12, 25)])
def test_national_holidays_skip_or_keep(day):
    every_day = frozenset(range(7))
    assert run([template(weekdays=every_day)], day, day) == []
    (kept,) = run([template(weekdays=every_day, on_holidays="normal")], day, day)
    assert kept.is_holiday
    assert kept.holiday_name
    assert kept.category == "weekend_holiday"


@pytest.mark.parametrize("subdivision", ["57", "6AE"])
def test_alsace_moselle_has_good_friday_and_26_december(subdivision):
    for day in (date(2026, 4, 3), date(2026, 12, 26)):
        assert day in public_holidays([2026], subdivision)
        assert day not in public_holidays([2026], None)


def test_reunion_abolition_of_slavery_day():
    assert date(2026, 12, 20) in public_holidays([2026], "974")
    assert date(2026, 12, 20) not in public_holidays([2026], None)


def test_holiday_only_template_runs_on_holidays_only():
    sessions = run(
        [template(weekdays=frozenset(), on_holidays="only", start=time(9), end=time(13))],
        date(2026, 1, 1),
        date(2026, 12, 31),
    )
    assert {s.local_date for s in sessions} == set(public_holidays([2026], None))


def test_night_session_ends_next_day():
    (s,) = run([template(start=time(20), end=time(8))], date(2026, 6, 1), date(2026, 6, 1))
    assert s.ends_at - s.starts_at == timedelta(hours=12)
    assert s.ends_at.astimezone(PARIS).date() == date(2026, 6, 2)


def test_nonexistent_and_ambiguous_wall_clock_times():
    every_day = frozenset(range(7))
    (gap,) = run(
        [template(weekdays=every_day, start=time(2, 30), end=time(5))],
        date(2026, 3, 29),
        date(2026, 3, 29),
    )
    assert gap.starts_at.astimezone(PARIS).time() == time(3, 30)  # normalised forward
    (fold,) = run(
        [template(weekdays=every_day, start=time(2, 30), end=time(5))],
        date(2026, 10, 25),
        date(2026, 10, 25),
    )
    assert fold.starts_at == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # first occurrence (CEST)


def test_reunion_has_no_daylight_saving():
    sessions = run([template()], date(2026, 3, 1), date(2026, 11, 1), zone="Indian/Reunion")
    assert {s.starts_at.hour for s in sessions} == {13}


def test_validity_bounds_are_respected():
    sessions = run(
        [template(valid_from=date(2026, 6, 10), valid_to=date(2026, 6, 12))],
        date(2026, 6, 1),
        date(2026, 6, 30),
    )
    assert [s.local_date.day for s in sessions] == [10, 11, 12]


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"end": time(17)}, "différente de l'heure de début"),
        ({"weekdays": frozenset()}, "au moins un jour"),
        ({"gps_needed": 0}, "au moins un médecin"),
        ({"valid_to": date(2025, 1, 1)}, "fin de validité"),
    ],
)
def test_check_templates_reports_each_error(kw, message):
    assert any(message in p for p in check_templates([template(**kw)]))


def test_check_templates_refuses_overlaps_at_one_site():
    a = template(id=1)
    b = template(id=2, weekdays=frozenset({0}), start=time(19), end=time(21))
    assert "lundi" in check_templates([a, b])[0]
    assert check_templates([a, template(id=3, site_id=2)]) == []
    assert check_templates([a, template(id=4, start=time(20), end=time(22))]) == []


def test_output_is_sorted_and_deterministic():
    templates = [template(id=2, site_id=2), template(id=1, site_id=1, start=time(9), end=time(12))]
    first = run(templates, date(2026, 3, 1), date(2026, 4, 30))
    assert first == sorted(first)
    assert first == run(list(reversed(templates)), date(2026, 3, 1), date(2026, 4, 30))


@given(
    start_hour=st.integers(0, 23),
    minutes=st.sampled_from([0, 15, 30, 45]),
    length=st.integers(1, 14),
    first=st.dates(date(2025, 1, 1), date(2028, 12, 31)),
    span=st.integers(0, 60),
    zone=st.sampled_from(["Europe/Paris", "America/Cayenne", "Pacific/Noumea", "Indian/Reunion"]),
)
def test_sessions_keep_their_wall_clock_and_stay_in_range(
    start_hour, minutes, length, first, span, zone
):
    start = time(start_hour, minutes)
    end = (datetime.combine(first, start) + timedelta(hours=length)).time()
    t = template(
        weekdays=frozenset(range(7)),
        start=start,
        end=end,
        valid_from=date(2025, 1, 1),
        on_holidays="normal",
    )
    last = first + timedelta(days=span)
    sessions = run([t], first, last, zone=zone)
    assert len(sessions) == span + 1
    for s in sessions:
        assert first <= s.local_date <= last
        assert s.ends_at > s.starts_at
        local = s.starts_at.astimezone(ZoneInfo(zone))
        gap = (
            datetime.combine(s.local_date, start, tzinfo=ZoneInfo(zone))
            .astimezone(UTC)
            .astimezone(ZoneInfo(zone))
            .time()
            != start
        )
        assert gap or local.time() == start
