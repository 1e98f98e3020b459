"""Rota engine on a seeded, department-sized instance; prints the quality and speed figures.

300 GPs, 12 sites, 13 weeks: weekday evening sessions (17:00–20:00) and Saturday morning
sessions (09:00–12:00), 1–2 GPs each; weights 0.5–2; 20 % of GPs with an unavailability
block, 30 % with wishes, 10 % with a volunteered session.
"""

from __future__ import annotations

import argparse
import random
import time
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from rota.engine import (
    WEEKDAY,
    WEEKEND_HOLIDAY,
    Doctor,
    Lock,
    Problem,
    Session,
    Unavailability,
    solve,
    violations,
)

PARIS = ZoneInfo("Europe/Paris")


def build(seed: int = 2026, gps: int = 300, sites: int = 12, weeks: int = 13) -> Problem:
    rng = random.Random(seed)
    first = date(2027, 1, 4)  # a Monday
    sessions: list[Session] = []
    for site in range(1, sites + 1):
        for day in range(weeks * 7):
            d = first + timedelta(days=day)
            if d.weekday() < 5:
                start, end, category = 17, 20, WEEKDAY
            elif d.weekday() == 5:
                start, end, category = 9, 12, WEEKEND_HOLIDAY
            else:
                continue
            sessions.append(
                Session(
                    id=len(sessions) + 1,
                    site_id=site,
                    starts_at=datetime(d.year, d.month, d.day, start, tzinfo=PARIS).astimezone(UTC),
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
        doctors.append(
            Doctor(
                id=g,
                site_ids=frozenset(site_ids),
                weight=rng.choice((0.5, 1.0, 1.0, 1.5, 2.0)),
                unavailable=unavailable,
                max_per_week=2,
                preferred_weekdays=frozenset(rng.sample(range(5), 2)) if wishes else frozenset(),
                avoid_dates=frozenset(
                    first + timedelta(days=rng.randint(0, weeks * 7 - 1)) for _ in range(3)
                )
                if wishes
                else frozenset(),
                usual_site_id=home,
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
    print(
        f"instance: {len(problem.doctors)} GPs, {len(problem.sessions)} sessions, {places} places, "
        f"{len(problem.locks)} volunteered"
    )
    tracemalloc.start()
    start = time.perf_counter()
    solution = solve(problem)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"total solve time: {elapsed:.2f} s (first feasible rota = final: one exact flow per category)"
    )
    print(f"peak memory (Python): {peak / 2**20:.1f} MiB")
    print(f"hard violations: {len(violations(problem, solution.assignments))}")
    loads: dict[int, int] = {}
    for a in solution.assignments:
        loads[a.doctor_id] = loads.get(a.doctor_id, 0) + 1
    weighted = max(loads.get(d.id, 0) / d.weight for d in problem.doctors)
    print(f"max weighted load (sessions / weight): {weighted:.2f}")
    for key, value in solution.figures.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
