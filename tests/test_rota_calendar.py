"""Expanding templates: wall-clock times across DST, French holidays by subdivision."""

from dataclasses import replace
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


@pytest.mark.parametrize(
    ("day", "name"),
    [
        (date(2026, 5, 1), "Fête du Travail"),
        (date(2026, 7, 14), "Fête nationale"),
        (date(2026, 12, 25), "Noël"),
    ],
)
def test_national_holidays_skip_or_keep(day, name):
    every_day = frozenset(range(7))
    assert run([template(weekdays=every_day)], day, day) == []
    (kept,) = run([template(weekdays=every_day, on_holidays="normal")], day, day)
    assert kept.is_holiday
    assert kept.holiday_name == name
    assert kept.category == "weekend_holiday"


def test_ordinary_weekday_is_not_a_holiday():
    (s,) = run([template()], date(2026, 6, 2), date(2026, 6, 2))
    assert (s.is_holiday, s.holiday_name, s.is_weekend, s.category) == (
        False,
        None,
        False,
        "weekday",
    )


@pytest.mark.parametrize("subdivision", ["57", "6AE"])
def test_alsace_moselle_has_good_friday_and_26_december(subdivision):
    for day in (date(2026, 4, 3), date(2026, 12, 26)):
        assert day in public_holidays([2026], subdivision)
        assert day not in public_holidays([2026], None)
    good_friday = date(2026, 4, 3)
    assert run([template()], good_friday, good_friday, subdivision) == []
    (national,) = run([template()], good_friday, good_friday)
    assert national.category == "weekday"


def test_public_holidays_returns_a_fresh_dict():
    public_holidays([2026], None).clear()
    assert date(2026, 1, 1) in public_holidays([2026], None)


def test_reunion_abolition_of_slavery_day():
    day = date(2026, 12, 20)
    assert public_holidays([2026], "974")[day] == "Abolition de l'esclavage"
    assert day not in public_holidays([2026], None)
    sunday = template(weekdays=frozenset({6}), on_holidays="normal")
    (s,) = run([sunday], day, day, "974", zone="Indian/Reunion")
    assert (s.is_holiday, s.holiday_name) == (True, "Abolition de l'esclavage")


def test_holiday_only_template_runs_on_holidays_only():
    sessions = run(
        [template(weekdays=frozenset(), on_holidays="only", start=time(9), end=time(13))],
        date(2026, 1, 1),
        date(2026, 12, 31),
    )
    assert [s.local_date for s in sessions] == sorted(public_holidays([2026], None))
    assert all(s.is_holiday and s.category == "weekend_holiday" for s in sessions)


def test_holiday_only_template_ignores_its_weekdays_and_respects_validity():
    only = template(
        weekdays=frozenset({0}), on_holidays="only", valid_from=date(2026, 5, 2), valid_to=None
    )
    sessions = run([only], date(2026, 4, 1), date(2026, 5, 31))
    # 1 May and Easter Monday fall before valid_from; 8 May is a Friday.
    assert [s.local_date for s in sessions] == [
        date(2026, 5, 8),
        date(2026, 5, 14),
        date(2026, 5, 25),
    ]


def test_night_session_ends_next_day():
    (s,) = run([template(start=time(20), end=time(8))], date(2026, 6, 1), date(2026, 6, 1))
    assert s.ends_at - s.starts_at == timedelta(hours=12)
    assert s.ends_at.astimezone(PARIS).date() == date(2026, 6, 2)


def test_night_session_across_both_dst_changes():
    night = template(weekdays=frozenset({5}), start=time(20), end=time(8))
    (spring,) = run([night], date(2026, 3, 28), date(2026, 3, 28))
    assert spring.ends_at - spring.starts_at == timedelta(hours=11)
    (autumn,) = run([night], date(2026, 10, 24), date(2026, 10, 24))
    assert autumn.ends_at - autumn.starts_at == timedelta(hours=13)
    assert autumn.ends_at.astimezone(PARIS).time() == time(8)


def test_session_wholly_inside_the_missing_hour_is_left_out():
    every_day = frozenset(range(7))
    lost = template(weekdays=every_day, start=time(2), end=time(3))
    sessions = run([lost], date(2026, 3, 28), date(2026, 3, 30))
    assert [s.local_date.day for s in sessions] == [28, 30]


def test_nonexistent_and_ambiguous_wall_clock_times():
    every_day = frozenset(range(7))
    (gap,) = run(
        [template(weekdays=every_day, start=time(2, 30), end=time(5))],
        date(2026, 3, 29),
        date(2026, 3, 29),
    )
    assert gap.starts_at == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # pre-jump offset +01:00
    assert gap.starts_at.astimezone(PARIS).time() == time(3, 30)  # i.e. one hour later
    assert gap.ends_at - gap.starts_at == timedelta(hours=1, minutes=30)
    (fold,) = run(
        [template(weekdays=every_day, start=time(2, 30), end=time(5))],
        date(2026, 10, 25),
        date(2026, 10, 25),
    )
    assert fold.starts_at == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # first occurrence (CEST)
    assert fold.ends_at - fold.starts_at == timedelta(hours=3, minutes=30)


def test_reunion_has_no_daylight_saving():
    sessions = run([template()], date(2026, 3, 1), date(2026, 11, 1), "974", zone="Indian/Reunion")
    assert {s.starts_at.hour for s in sessions} == {13}
    reunion = ZoneInfo("Indian/Reunion")
    assert {s.starts_at.astimezone(reunion).utcoffset() for s in sessions} == {timedelta(hours=4)}


def test_sessions_are_aware_utc():
    (s,) = run([template()], date(2026, 6, 1), date(2026, 6, 1))
    assert s.starts_at.utcoffset() == timedelta(0)
    assert s.ends_at.utcoffset() == timedelta(0)


def test_empty_or_reversed_range_gives_nothing():
    assert run([template()], date(2026, 6, 2), date(2026, 6, 1)) == []
    assert run([], date(2026, 6, 1), date(2026, 6, 30)) == []


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
        ({"on_holidays": "sometimes"}, "Règle des jours fériés"),
    ],
)
def test_check_templates_reports_each_error(kw, message):
    assert any(message in p for p in check_templates([template(**kw)]))


def test_check_templates_accepts_sound_templates():
    assert check_templates([template()]) == []
    assert check_templates([template(weekdays=frozenset(), on_holidays="only")]) == []


def test_check_templates_refuses_overlaps_at_one_site():
    a = template(id=1)
    b = template(id=2, weekdays=frozenset({0}), start=time(19), end=time(21))
    (problem,) = check_templates([a, b])
    assert "lundi" in problem
    assert "n° 1" in problem
    assert "n° 2" in problem
    assert "chevauche" in problem
    assert check_templates([a, template(id=3, site_id=2)]) == []
    assert check_templates([a, template(id=4, start=time(20), end=time(22))]) == []


def test_overlap_names_the_weekday_in_french():
    a = template(id=1, weekdays=frozenset({2, 4}))
    b = template(id=2, weekdays=frozenset({4, 5}), start=time(18), end=time(19))
    assert "le vendredi" in check_templates([a, b])[0]


def test_overlap_with_an_unsaved_template_is_named_without_its_placeholder_id():
    (problem,) = check_templates([template(id=7), template(id=0)])
    assert "n° 7" in problem
    assert "n° 0" not in problem


def test_night_template_overlaps_next_morning():
    sunday_night = template(id=1, weekdays=frozenset({6}), start=time(20), end=time(8))
    monday_morning = template(id=2, weekdays=frozenset({0}), start=time(7), end=time(9))
    (problem,) = check_templates([sunday_night, monday_morning])
    assert "lundi" in problem
    tuesday_morning = template(id=3, weekdays=frozenset({1}), start=time(7), end=time(9))
    assert check_templates([sunday_night, tuesday_morning]) == []


def test_overlap_needs_overlapping_validity():
    a = template(id=1, valid_to=date(2026, 5, 31))
    b = template(id=2, valid_from=date(2026, 6, 1))
    assert check_templates([a, b]) == []
    assert len(check_templates([a, template(id=3, valid_from=date(2026, 5, 31))])) == 1


def test_holiday_only_templates_overlap_each_other_and_normal_ones_not_skip_ones():
    only = template(id=1, weekdays=frozenset(), on_holidays="only", start=time(9), end=time(13))
    other_only = template(
        id=2, weekdays=frozenset(), on_holidays="only", start=time(12), end=time(14)
    )
    saturday = template(id=3, weekdays=frozenset({5}), start=time(9), end=time(13))
    assert len(check_templates([only, other_only])) == 1
    assert check_templates([only, saturday]) == []  # a "skip" template is never held on holidays
    (problem,) = check_templates([only, replace(saturday, on_holidays="normal")])
    assert "samedi" in problem


def test_output_is_sorted_and_deterministic():
    templates = [
        template(id=3, site_id=1),
        template(id=2, site_id=2),
        template(id=1, site_id=1, start=time(9), end=time(12)),
    ]
    first = run(templates, date(2026, 3, 1), date(2026, 4, 30))
    keys = [(s.starts_at, s.site_id, s.template_id) for s in first]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    assert first == run(list(reversed(templates)), date(2026, 3, 1), date(2026, 4, 30))
    same_start = [(s.site_id, s.template_id) for s in first if s.local_date == date(2026, 3, 2)]
    assert same_start == [(1, 1), (1, 3), (2, 2)]


@given(
    start_hour=st.integers(0, 23),
    minutes=st.sampled_from([0, 15, 30, 45]),
    length=st.integers(1, 14),
    weekdays=st.frozensets(st.integers(0, 6), min_size=1),
    rule=st.sampled_from(["skip", "normal", "only"]),
    first=st.dates(date(2025, 1, 1), date(2028, 12, 31)),
    span=st.integers(0, 60),
    zone=st.sampled_from(["Europe/Paris", "America/Cayenne", "Pacific/Noumea", "Indian/Reunion"]),
    subdivision=st.sampled_from([None, "57", "6AE", "971", "974"]),
)
def test_sessions_keep_their_wall_clock_and_stay_in_range(
    start_hour, minutes, length, weekdays, rule, first, span, zone, subdivision
):
    tz = ZoneInfo(zone)
    start = time(start_hour, minutes)
    end = (datetime.combine(first, start) + timedelta(hours=length)).time()
    t = template(
        weekdays=weekdays,
        start=start,
        end=end,
        valid_from=date(2025, 1, 1),
        on_holidays=rule,
    )
    last = first + timedelta(days=span)
    sessions = run([t], first, last, subdivision, zone=zone)
    feries = public_holidays(range(first.year, last.year + 1), subdivision)
    assert sessions == sorted(sessions)
    assert len({s.local_date for s in sessions}) == len(sessions)
    days = [first + timedelta(days=n) for n in range(span + 1)]
    expected = {
        d
        for d in days
        if (d in feries if rule == "only" else d.weekday() in weekdays)
        and (rule != "skip" or d not in feries)
    }
    for missing in expected - {s.local_date for s in sessions}:
        # Only a session lying wholly in a spring-forward gap may be left out.
        wall = datetime.combine(missing, start, tzinfo=tz)
        assert wall.astimezone(UTC).astimezone(tz).time() != start
    assert {s.local_date for s in sessions} <= expected
    for s in sessions:
        assert first <= s.local_date <= last
        assert s.ends_at > s.starts_at
        assert s.starts_at.utcoffset() == timedelta(0)
        assert s.is_holiday == (s.local_date in feries)
        if rule == "only":
            assert s.is_holiday
        else:
            assert s.local_date.weekday() in weekdays
            assert rule == "normal" or not s.is_holiday
        local = s.starts_at.astimezone(tz)
        wall = datetime.combine(s.local_date, start, tzinfo=tz)
        in_gap = wall.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != wall.replace(
            tzinfo=None
        )
        if in_gap:
            assert local.date() == s.local_date
            assert (
                timedelta(0)
                < local.replace(tzinfo=None) - wall.replace(tzinfo=None)
                <= timedelta(hours=1)
            )
        else:
            assert (local.date(), local.time()) == (s.local_date, start)
