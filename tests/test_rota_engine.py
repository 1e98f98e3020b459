"""The rota engine, pure: hard rules as properties, fairness on known answers, determinism."""

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rota.engine import (
    WEEKDAY,
    WEEKEND_HOLIDAY,
    Doctor,
    InvalidProblem,
    Lock,
    Problem,
    Session,
    Unavailability,
    solve,
    targets,
    violations,
)

MONDAY = date(2027, 3, 1)


def session(
    i: int,
    day: int,
    *,
    site: int = 1,
    start: int = 17,
    hours: int = 3,
    needed: int = 1,
    category: str | None = None,
) -> Session:
    d = MONDAY + timedelta(days=day)
    starts = datetime(d.year, d.month, d.day, start, tzinfo=UTC)
    if category is None:
        category = WEEKEND_HOLIDAY if d.weekday() >= 5 else WEEKDAY
    return Session(
        i, site, starts, starts + timedelta(hours=hours), d, needed, category, f"Site {site}"
    )


def doctor(i: int, sites=(1,), **kw) -> Doctor:
    return Doctor(id=i, site_ids=frozenset(sites), **kw)


def loads(solution) -> dict[int, int]:
    counts: dict[int, int] = {}
    for a in solution.assignments:
        counts[a.doctor_id] = counts.get(a.doctor_id, 0) + 1
    return counts


def test_equal_doctors_get_equal_loads():
    problem = Problem(
        sessions=tuple(session(i, i % 5 + 7 * (i // 5)) for i in range(20)),
        doctors=tuple(doctor(g) for g in range(10)),
    )
    solution = solve(problem)
    assert solution.unfilled == ()
    assert sorted(loads(solution).values()) == [2] * 10


def test_weights_shift_the_share():
    problem = Problem(
        sessions=tuple(session(i, i) for i in range(12)),
        doctors=(doctor(1, weight=2.0), doctor(2), doctor(3)),
    )
    assert loads(solve(problem)) == {1: 6, 2: 3, 3: 3}


def test_owed_places_carry_over_from_earlier_periods():
    problem = Problem(
        sessions=tuple(session(i, i % 5 + 7 * (i // 5)) for i in range(10)),
        doctors=(doctor(1, owed=((WEEKDAY, 2.0),)), doctor(2), doctor(3, owed=((WEEKDAY, -1.0),))),
    )
    result = loads(solve(problem))
    assert result[1] > result[2] > result[3]


def test_weekend_fairness_is_counted_separately():
    # 4 Saturdays, 4 doctors: each gets exactly one, whatever the weekday loads.
    sessions = [session(i, 5 + 7 * i, start=9) for i in range(4)]
    sessions += [session(10 + i, i % 5 + 7 * (i // 5)) for i in range(8)]
    solution = solve(Problem(tuple(sessions), tuple(doctor(g) for g in range(4))))
    weekend = {}
    for a in solution.assignments:
        if a.session_id < 10:
            weekend[a.doctor_id] = weekend.get(a.doctor_id, 0) + 1
    assert sorted(weekend.values()) == [1, 1, 1, 1]
    assert all(e.loads[WEEKEND_HOLIDAY] == 1 for e in solution.explanations.values())


def test_site_and_unavailability_are_respected():
    s = session(1, 0)
    away = Unavailability(s.starts_at - timedelta(hours=1), s.ends_at + timedelta(hours=1))
    problem = Problem((s,), (doctor(1, sites=(2,)), doctor(2, unavailable=(away,)), doctor(3)))
    assert [(a.session_id, a.doctor_id) for a in solve(problem).assignments] == [(1, 3)]


def test_unfillable_session_is_reported_with_a_french_reason():
    s = session(1, 0)
    away = Unavailability(s.starts_at - timedelta(days=1), s.ends_at + timedelta(days=1))
    solution = solve(Problem((s,), (doctor(1, unavailable=(away,)),)))
    assert solution.assignments == ()
    assert solution.unfilled[0].missing == 1
    assert solution.unfilled[0].reason == "aucun médecin disponible le 01/03 à Site 1"


def test_minimum_rest_across_midnight():
    night = session(1, 0, start=20, hours=12)  # 20:00 → 08:00 next day
    evening = session(2, 1, start=17)  # 9 h after the night ends
    solution = solve(Problem((night, evening), (doctor(1), doctor(2))))
    holders = {a.session_id: a.doctor_id for a in solution.assignments}
    assert len(holders) == 2
    assert holders[1] != holders[2]


def test_rest_makes_a_session_unfillable_rather_than_break_a_rule():
    night = session(1, 0, start=20, hours=12)
    evening = session(2, 1, start=17)
    solution = solve(Problem((night, evening), (doctor(1),)))
    assert len(solution.assignments) == 1
    assert solution.unfilled[0].session_id == 2
    assert "repos minimal" in solution.unfilled[0].reason


def test_weekly_and_period_maxima():
    sessions = tuple(session(i, i) for i in range(5))
    solution = solve(Problem(sessions, (doctor(1, max_per_week=2), doctor(2, max_per_period=1))))
    assert loads(solution) == {1: 2, 2: 1}
    assert len(solution.unfilled) == 2


def test_locked_assignments_are_kept():
    sessions = tuple(session(i, i) for i in range(4))
    solution = solve(Problem(sessions, (doctor(1), doctor(2)), locks=(Lock(0, 1), Lock(1, 1))))
    kept = {(a.session_id, a.doctor_id) for a in solution.assignments if a.locked}
    assert kept == {(0, 1), (1, 1)}
    assert loads(solution) == {1: 2, 2: 2}


def test_locks_that_break_a_rule_are_refused():
    s = session(1, 0)
    with pytest.raises(InvalidProblem):
        solve(Problem((s,), (doctor(1), doctor(2)), locks=(Lock(1, 1), Lock(1, 2))))


def test_wishes_are_honoured_when_fairness_allows():
    # Two doctors, two sessions (Monday, Tuesday); doctor 1 prefers Tuesday, 2 avoids it.
    sessions = (session(1, 0), session(2, 1))
    doctors = (
        doctor(1, preferred_weekdays=frozenset({1})),
        doctor(2, avoid_dates=frozenset({MONDAY + timedelta(days=1)})),
    )
    solution = solve(Problem(sessions, doctors))
    assert {(a.session_id, a.doctor_id) for a in solution.assignments} == {(1, 2), (2, 1)}
    assert solution.figures["wishes_honoured_pct"] == 100.0
    assert "Souhaits respectés : 1 sur 1" in solution.explanations[1].text


def test_explanation_is_french_and_names_targets():
    solution = solve(Problem(tuple(session(i, i) for i in range(3)), (doctor(1), doctor(2))))
    text = solution.explanations[1].text
    assert "plage(s) de semaine pour une cible de 1,5" in text


def test_targets_follow_weight_times_availability():
    s = tuple(session(i, i % 5 + 7 * (i // 5)) for i in range(10))  # two weeks, Mon–Fri
    away = Unavailability(s[0].starts_at, s[4].ends_at)  # misses the first week
    goal = targets(Problem(s, (doctor(1), doctor(2, unavailable=(away,)))))
    assert goal[1][WEEKDAY] == pytest.approx(10 * 10 / 15)
    assert goal[2][WEEKDAY] == pytest.approx(10 * 5 / 15)


def _brute_force_best(problem: Problem) -> tuple[int, float]:
    """(max places filled, min Σ (load − target)²) over every valid assignment."""
    goal = targets(problem)
    options = [[None, *[d.id for d in problem.doctors]] for _ in problem.sessions]
    best = (-1, float("inf"))
    for choice in itertools.product(*options):
        from rota.engine import Assignment

        chosen = [
            Assignment(s.id, d, False)
            for s, d in zip(problem.sessions, choice, strict=True)
            if d is not None
        ]
        if violations(problem, chosen):
            continue
        filled = len(chosen)
        cost = 0.0
        for d in problem.doctors:
            for c in (WEEKDAY, WEEKEND_HOLIDAY):
                load = sum(
                    1
                    for a in chosen
                    if a.doctor_id == d.id
                    and next(s for s in problem.sessions if s.id == a.session_id).category == c
                )
                cost += (load - goal[d.id][c]) ** 2
        if (filled, -cost) > (best[0], -best[1]):
            best = (filled, cost)
    return best


@pytest.mark.parametrize("seed", range(25))
def test_small_instances_reach_the_exhaustive_optimum(seed):
    import random

    rng = random.Random(seed)
    sessions = tuple(session(i, rng.randint(0, 6), site=rng.randint(1, 2)) for i in range(6))
    doctors = tuple(
        doctor(g, sites=rng.choice([(1,), (2,), (1, 2)]), max_per_week=rng.choice([None, 1, 2]))
        for g in range(3)
    )
    problem = Problem(sessions, doctors)
    solution = solve(problem)
    filled, best_cost = _brute_force_best(problem)
    assert len(solution.assignments) == filled
    if any(d.max_per_week for d in doctors):
        return  # categories coupled by weekly maxima: fill is exact, fairness near (docs/rota.md)
    goal = targets(problem)
    cost = 0.0
    for d in doctors:
        for c in (WEEKDAY, WEEKEND_HOLIDAY):
            load = sum(
                1
                for a in solution.assignments
                if a.doctor_id == d.id
                and next(s for s in sessions if s.id == a.session_id).category == c
            )
            cost += (load - goal[d.id][c]) ** 2
    assert cost == pytest.approx(best_cost, abs=1e-6)


@st.composite
def problems(draw):
    n_sessions = draw(st.integers(1, 14))
    sessions = tuple(
        session(
            i,
            draw(st.integers(0, 13)),
            site=draw(st.integers(1, 3)),
            start=draw(st.sampled_from([8, 9, 14, 17, 20])),
            hours=draw(st.sampled_from([3, 4, 12])),
            needed=draw(st.integers(1, 2)),
        )
        for i in range(n_sessions)
    )
    doctors = []
    for g in range(draw(st.integers(1, 6))):
        unavailable = ()
        if draw(st.booleans()):
            start = datetime(2027, 3, 1, tzinfo=UTC) + timedelta(hours=draw(st.integers(0, 300)))
            unavailable = (
                Unavailability(start, start + timedelta(hours=draw(st.integers(1, 120)))),
            )
        doctors.append(
            doctor(
                g,
                sites=draw(st.sets(st.integers(1, 3), min_size=1)),
                weight=draw(st.sampled_from([0.5, 1.0, 2.0])),
                unavailable=unavailable,
                max_per_day=draw(st.sampled_from([1, 1, 2])),
                max_per_week=draw(st.sampled_from([None, 1, 2, 3])),
                max_per_period=draw(st.sampled_from([None, 2, 5])),
            )
        )
    return Problem(sessions, tuple(doctors), min_rest_hours=draw(st.sampled_from([0, 10, 11])))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_no_hard_rule_is_ever_broken_and_output_is_deterministic(problem):
    solution = solve(problem)
    assert violations(problem, solution.assignments) == []
    assert solve(problem) == solution
    filled = len(solution.assignments) + sum(u.missing for u in solution.unfilled)
    assert filled == sum(s.gps_needed for s in problem.sessions)
