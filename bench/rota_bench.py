"""Rota engine on a seeded, department-sized instance; prints the quality and speed figures.

300 GPs, 12 sites, 13 weeks (2027-01-04 to 2027-04-04, Easter Monday a public holiday):
about 2,000 sessions of 1–2 GPs each. Templates, as a territory runs them: weekday evenings
17:00–20:00 at every site and weekday lunchtimes 12:00–14:00 (unscheduled-care slots) at
9 sites; Saturday 9:00–12:00 and 14:00–18:00, Sunday and holiday 9:00–13:00 and 14:00–18:00
at every site (a holiday follows the Sunday templates). Weights 0.5–2; 10 % of GPs commit to
a fixed number of sessions instead; 5 % allow two sessions a day; 20 % with an
unavailability block, 30 % with wishes, 10 % with a volunteered session; weekly maximum 2.
"""

from __future__ import annotations

import argparse
import math
import random
import time
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from rota.engine import (
    CATEGORIES,
    WEEKDAY,
    WEEKEND_HOLIDAY,
    Doctor,
    Lock,
    Problem,
    Session,
    Unavailability,
    solve,
    spread,
    targets,
    violations,
)

PARIS = ZoneInfo("Europe/Paris")
HOLIDAYS = frozenset({date(2027, 3, 29)})  # Easter Monday
LUNCH_SITES = 9  # sites 1..9 also open weekday lunchtime slots


def templates(day: date, site: int) -> list[tuple[int, int, str]]:
    """(start hour, end hour, category) of the sessions a site runs on a day."""
    if day in HOLIDAYS or day.weekday() == 6:
        return [(9, 13, WEEKEND_HOLIDAY), (14, 18, WEEKEND_HOLIDAY)]
    if day.weekday() == 5:
        return [(9, 12, WEEKEND_HOLIDAY), (14, 18, WEEKEND_HOLIDAY)]
    lunch = [(12, 14, WEEKDAY)] if site <= LUNCH_SITES else []
    return [*lunch, (17, 20, WEEKDAY)]


def build(seed: int = 2026, gps: int = 300, sites: int = 12, weeks: int = 13) -> Problem:
    rng = random.Random(seed)
    first = date(2027, 1, 4)  # a Monday
    sessions: list[Session] = []
    for site in range(1, sites + 1):
        for day in range(weeks * 7):
            d = first + timedelta(days=day)
            for start, end, category in templates(d, site):
                sessions.append(
                    Session(
                        id=len(sessions) + 1,
                        site_id=site,
                        starts_at=datetime(d.year, d.month, d.day, start, tzinfo=PARIS).astimezone(
                            UTC
                        ),
                        ends_at=datetime(d.year, d.month, d.day, end, tzinfo=PARIS).astimezone(UTC),
                        local_date=d,
                        gps_needed=rng.choice((1, 1, 1, 2)),
                        category=category,
                        site_name=f"Site {site}",
                    )
                )
    doctors = []
    for g in range(1, gps + 1):
        home = rng.randint(1, sites)
        site_ids = {home} | ({rng.randint(1, sites)} if rng.random() < 0.3 else set())
        unavailable = ()
        if rng.random() < 0.2:
            start = first + timedelta(days=rng.randint(0, weeks * 7 - 14))
            length = rng.randint(5, 21)
            unavailable = (
                Unavailability(
                    datetime(start.year, start.month, start.day, tzinfo=PARIS),
                    datetime(start.year, start.month, start.day, tzinfo=PARIS)
                    + timedelta(days=length),
                ),
            )
        wishes = rng.random() < 0.3
        committed = rng.random() < 0.1
        doctors.append(
            Doctor(
                id=g,
                site_ids=frozenset(site_ids),
                weight=rng.choice((0.5, 1.0, 1.0, 1.5, 2.0)),
                unavailable=unavailable,
                max_per_day=2 if rng.random() < 0.05 else 1,
                max_per_week=2,
                preferred_weekdays=frozenset(rng.sample(range(5), 2)) if wishes else frozenset(),
                avoid_dates=frozenset(
                    first + timedelta(days=rng.randint(0, weeks * 7 - 1)) for _ in range(3)
                )
                if wishes
                else frozenset(),
                usual_site_id=home,
                target_sessions=rng.randint(3, 14) if committed else None,
            )
        )
    locks = []
    used: set[int] = set()
    for doctor in doctors:
        if rng.random() < 0.1:
            options = [s for s in sessions if s.site_id in doctor.site_ids and s.id not in used]
            session = rng.choice(options)
            if all(
                s.ends_at <= u.start or s.starts_at >= u.end
                for s in [session]
                for u in doctor.unavailable
            ):
                used.add(session.id)
                locks.append(Lock(session.id, doctor.id))
    return Problem(sessions=tuple(sessions), doctors=tuple(doctors), locks=tuple(locks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--gps", type=int, default=300)
    args = parser.parse_args()
    problem = build(args.seed, args.gps)
    places = sum(s.gps_needed for s in problem.sessions)
    committed = [d for d in problem.doctors if d.target_sessions is not None]
    print(
        f"instance: {len(problem.doctors)} GPs ({len(committed)} committed to a number), "
        f"{len(problem.sessions)} sessions, {places} places, {len(problem.locks)} volunteered"
    )
    # Timings first, without tracemalloc (it slows Python code down several times).
    start = time.perf_counter()
    flows = solve(problem, spreading=False)
    first_feasible = time.perf_counter() - start
    start = time.perf_counter()
    spread_out = spread(problem, flows.assignments)
    spreading = time.perf_counter() - start
    start = time.perf_counter()
    solution = solve(problem)
    final = time.perf_counter() - start
    pairs = sorted((a.session_id, a.doctor_id) for a in solution.assignments)
    assert pairs == sorted((a.session_id, a.doctor_id) for a in spread_out)
    print(f"first feasible rota (flows, repair, fill): {first_feasible:.2f} s")
    print(f"spreading pass: {spreading:.2f} s")
    print(f"final solve() (flows + spreading): {final:.2f} s")
    tracemalloc.start()
    solve(problem)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"peak memory (Python): {peak / 2**20:.1f} MiB")
    print(f"hard violations: {len(violations(problem, solution.assignments))}")
    print(
        f"close pairs (< 3 days apart): {flows.figures['close_pairs']:.0f} after the flows, "
        f"{solution.figures['close_pairs']:.0f} after spreading"
    )
    print(
        f"wishes honoured: {flows.figures['wishes_honoured_pct']} % after the flows, "
        f"{solution.figures['wishes_honoured_pct']} % after spreading"
    )
    loads: dict[int, int] = {}
    category_loads: dict[tuple[int, str], int] = {}
    sessions = {s.id: s for s in problem.sessions}
    for a in solution.assignments:
        loads[a.doctor_id] = loads.get(a.doctor_id, 0) + 1
        key = (a.doctor_id, sessions[a.session_id].category)
        category_loads[key] = category_loads.get(key, 0) + 1
    before: dict[tuple[int, str], int] = {}
    for a in flows.assignments:
        key = (a.doctor_id, sessions[a.session_id].category)
        before[key] = before.get(key, 0) + 1
    print(f"per-category loads unchanged by spreading: {before == category_loads}")
    weighted = max(
        loads.get(d.id, 0) / d.weight
        for d in problem.doctors
        if d.target_sessions is None and d.weight
    )
    print(f"max weighted load (sessions / weight, weighted GPs): {weighted:.2f}")
    goal = targets(problem)
    kept = sum(
        loads.get(d.id, 0) == round(sum(goal[d.id][c] for c in CATEGORIES)) for d in committed
    )
    print(f"committed GPs given exactly their (capped) number: {kept}/{len(committed)}")
    within = sum(
        all(
            math.floor(goal[d.id][c])
            <= category_loads.get((d.id, c), 0)
            <= math.ceil(goal[d.id][c])
            for c in CATEGORIES
        )
        for d in problem.doctors
    )
    print(f"GPs within [floor T, ceil T] in every category: {within}/{len(problem.doctors)}")
    for key, value in solution.figures.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
