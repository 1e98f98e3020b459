"""Rota engine vs a time-limited CP-SAT reference on the same seeded instance.

The instance follows the shape of ``ROTA-NOTES.md`` and issue 11: GPs, sites and weeks from
the command line (default 300 / 12 / 13; the département run is 1,000 / 40 / 52), from
Monday 2027-01-04. Each site runs six sessions a week: weekday evenings 17:00–20:00 and a
Saturday morning 9:00–13:00 (weekend/holiday), and French public holidays turn that day's
session into a holiday one; 1–2 GPs a session (one in four needs two). GPs: weights 0.5–2
(0.5, 1, 1, 1.5, 2), practising at 1 site (60 %), 2 (25 %) or 3 (15 %); 25 % with an
unavailability block of 5–21 days; 30 % with wishes; one session a day, two a week.

Prints the engine's figures next to CP-SAT's (lexicographic, as the issue orders them: fill,
then max load per unit of weight, then the same for weekend/holiday, then the sum of squared
deviations from the fair share; each stage time-limited and seeded with the previous one),
the mean and range of load per unit of weight per group (weight × number of sites), and the
engine's times and memory. With one session a day and sessions between 9:00 and 20:00, the
minimum rest (10 h) can't be broken, so CP-SAT's model needs no rest constraint.

    python bench/rota_bench.py                       # 300 GPs, CP-SAT 4 × 20 s
    python bench/rota_bench.py --gps 1000 --sites 40 --weeks 52 --cpsat-seconds 0
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import time
import tracemalloc
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from rota.engine import (
    CATEGORIES,
    WEEKDAY,
    WEEKEND_HOLIDAY,
    Doctor,
    Problem,
    Session,
    Unavailability,
    load_per_weight_figures,
    solve,
    targets,
    violations,
)

PARIS = ZoneInfo("Europe/Paris")
FIRST = date(2027, 1, 4)  # a Monday
HOLIDAYS = frozenset(
    date.fromisoformat(d)
    for d in (
        "2027-03-29 2027-05-01 2027-05-06 2027-05-08 2027-05-17 2027-07-14 2027-08-15 "
        "2027-11-01 2027-11-11 2027-12-25"
    ).split()
)


def _at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=PARIS).astimezone(UTC)


def build(seed: int = 2026, gps: int = 300, sites: int = 12, weeks: int = 13) -> Problem:
    rng = random.Random(seed)
    sessions: list[Session] = []
    for site in range(1, sites + 1):
        for offset in range(weeks * 7):
            day = FIRST + timedelta(days=offset)
            if day.weekday() == 6 and day not in HOLIDAYS:
                continue
            start, end = (9, 13) if day.weekday() == 5 else (17, 20)
            holiday = day in HOLIDAYS or day.weekday() >= 5
            sessions.append(
                Session(
                    id=len(sessions) + 1,
                    site_id=site,
                    starts_at=_at(day, start),
                    ends_at=_at(day, end),
                    local_date=day,
                    gps_needed=rng.choice((1, 1, 1, 2)),
                    category=WEEKEND_HOLIDAY if holiday else WEEKDAY,
                    site_name=f"Site {site}",
                )
            )
    doctors = []
    for g in range(1, gps + 1):
        count = rng.choices((1, 2, 3), weights=(60, 25, 15))[0]
        site_ids = frozenset(rng.sample(range(1, sites + 1), count))
        unavailable: tuple[Unavailability, ...] = ()
        if rng.random() < 0.25:
            start = FIRST + timedelta(days=rng.randint(0, weeks * 7 - 14))
            length = rng.randint(5, 21)
            unavailable = (Unavailability(_at(start, 0), _at(start + timedelta(days=length), 0)),)
        wishes = rng.random() < 0.3
        doctors.append(
            Doctor(
                id=g,
                site_ids=site_ids,
                weight=rng.choice((0.5, 1.0, 1.0, 1.5, 2.0)),
                unavailable=unavailable,
                max_per_week=2,
                preferred_weekdays=frozenset(rng.sample(range(5), 3)) if wishes else frozenset(),
                avoid_dates=frozenset(
                    FIRST + timedelta(days=rng.randint(0, weeks * 7 - 1)) for _ in range(3)
                )
                if wishes
                else frozenset(),
                usual_site_id=min(site_ids),
            )
        )
    return Problem(sessions=tuple(sessions), doctors=tuple(doctors))


def cpsat(problem: Problem, seconds: float, workers: int = 2) -> tuple[list[tuple[int, int]], dict]:
    """The reference: CP-SAT, stage by stage, each stage ``seconds`` long."""
    from ortools.sat.python import cp_model

    from rota.engine import is_available, iso_week

    model = cp_model.CpModel()
    x: dict[tuple[int, int], cp_model.IntVar] = {}
    by_site: dict[int, list[Doctor]] = defaultdict(list)
    for d in problem.doctors:
        for site_id in d.site_ids:
            by_site[site_id].append(d)
    for s in problem.sessions:
        for d in by_site[s.site_id]:
            if is_available(d, s):
                x[(s.id, d.id)] = model.new_bool_var(f"x{s.id}_{d.id}")
    per_session: dict[int, list] = defaultdict(list)
    per_day: dict[tuple[int, date], list] = defaultdict(list)
    per_week: dict[tuple[int, tuple[int, int]], list] = defaultdict(list)
    per_gp: dict[tuple[int, str], list] = defaultdict(list)
    sessions = {s.id: s for s in problem.sessions}
    for (s_id, d_id), var in x.items():
        s = sessions[s_id]
        per_session[s_id].append(var)
        per_day[(d_id, s.local_date)].append(var)
        per_week[(d_id, iso_week(s.local_date))].append(var)
        per_gp[(d_id, s.category)].append(var)
    for s_id, vars_ in per_session.items():
        model.add(sum(vars_) <= sessions[s_id].gps_needed)
    for vars_ in per_day.values():
        model.add(sum(vars_) <= 1)
    for vars_ in per_week.values():
        model.add(sum(vars_) <= 2)
    filled = sum(x.values())
    load = {(d.id, c): sum(per_gp.get((d.id, c), [])) for d in problem.doctors for c in CATEGORIES}
    total = {d.id: load[(d.id, WEEKDAY)] + load[(d.id, WEEKEND_HOLIDAY)] for d in problem.doctors}
    q = 6  # loads per unit of weight are multiples of 1/6 with weights 0.5, 1, 1.5, 2
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = 1
    solver.parameters.max_time_in_seconds = seconds
    facts: dict[str, float] = {}

    loads_now: dict[tuple[int, str], int] = {}
    chosen_now: dict[str, int] = {}
    hints: dict = {}  # variable → value: the last solution, completed for the next stage

    def run(name: str) -> None:
        model.clear_hints()
        for var, value in hints.items():
            model.add_hint(var, value)
        start = time.perf_counter()
        status = solver.solve(model)
        facts[f"{name}_seconds"] = round(time.perf_counter() - start, 1)
        facts[f"{name}_status"] = solver.status_name(status)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            if not loads_now:
                raise RuntimeError(f"CP-SAT found nothing at stage {name}")
            return  # nothing within the limit: the previous stage's rota stands
        for var in x.values():
            value = solver.value(var)
            hints[var] = value
            chosen_now[var.name] = value
        for key, expr in load.items():
            loads_now[key] = int(solver.value(expr))

    def per_weight_hint(category: str | None) -> int:
        """The stage's objective at the last solution: a complete hint for the next stage."""
        worst = 0
        for d in problem.doctors:
            n = sum(loads_now[(d.id, c)] for c in CATEGORIES if category in (None, c))
            worst = max(worst, -(-2 * q * n // round(2 * d.weight)))
        return worst

    model.maximize(filled)
    run("fill")
    best_fill = int(solver.objective_value)
    model.add(filled >= best_fill)
    top = model.new_int_var(0, 10_000, "max_overall")
    for d in problem.doctors:
        model.add(2 * q * total[d.id] <= top * round(2 * d.weight))
    hints[top] = per_weight_hint(None)
    model.minimize(top)
    run("overall")
    facts["overall_bound"] = solver.best_objective_bound / q
    model.add(top <= per_weight_hint(None))
    top_we = model.new_int_var(0, 10_000, "max_weekend")
    for d in problem.doctors:
        model.add(2 * q * load[(d.id, WEEKEND_HOLIDAY)] <= top_we * round(2 * d.weight))
    hints[top] = per_weight_hint(None)
    hints[top_we] = per_weight_hint(WEEKEND_HOLIDAY)
    model.minimize(top_we)
    run("weekend")
    facts["weekend_bound"] = solver.best_objective_bound / q
    model.add(top_we <= per_weight_hint(WEEKEND_HOLIDAY))
    goal = targets(problem)
    squares = []
    for d in problem.doctors:
        for c in CATEGORIES:
            dev = model.new_int_var(-2000, 2000, "")
            model.add(dev == 10 * load[(d.id, c)] - round(10 * goal[d.id][c]))
            sq = model.new_int_var(0, 4_000_000, "")
            model.add_multiplication_equality(sq, [dev, dev])
            now = 10 * loads_now[(d.id, c)] - round(10 * goal[d.id][c])
            hints[dev] = now
            hints[sq] = now * now
            squares.append(sq)
    hints[top] = per_weight_hint(None)
    hints[top_we] = per_weight_hint(WEEKEND_HOLIDAY)
    model.minimize(sum(squares))
    run("deviation")
    chosen = [key for key, var in x.items() if chosen_now[var.name]]
    return chosen, facts


def groups(problem: Problem, pairs: list[tuple[int, int]]) -> dict[tuple[float, int], list[float]]:
    loads: dict[int, int] = defaultdict(int)
    for _, d_id in pairs:
        loads[d_id] += 1
    result: dict[tuple[float, int], list[float]] = defaultdict(list)
    for d in problem.doctors:
        result[(d.weight, len(d.site_ids))].append(loads[d.id] / d.weight)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--gps", type=int, default=300)
    parser.add_argument("--sites", type=int, default=12)
    parser.add_argument("--weeks", type=int, default=13)
    parser.add_argument(
        "--cpsat-seconds", type=float, default=20.0, help="per CP-SAT stage; 0 skips CP-SAT"
    )
    args = parser.parse_args()
    problem = build(args.seed, args.gps, args.sites, args.weeks)
    places = sum(s.gps_needed for s in problem.sessions)
    print(
        f"instance: {len(problem.doctors)} GPs, {args.sites} sites, {args.weeks} weeks, "
        f"{len(problem.sessions)} sessions, {places} places"
    )
    # OR-Tools and numpy are imported on first use; import them before timing.
    import numpy  # noqa: F401
    from ortools.graph.python import max_flow, min_cost_flow  # noqa: F401

    start, cpu = time.perf_counter(), time.process_time()
    first = solve(problem, spreading=False)
    first_feasible, first_cpu = time.perf_counter() - start, time.process_time() - cpu
    start, cpu = time.perf_counter(), time.process_time()
    solution = solve(problem)
    final, final_cpu = time.perf_counter() - start, time.process_time() - cpu
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    again = solve(problem)
    deterministic = again.assignments == solution.assignments
    print(
        f"engine: first feasible (flows) {first_feasible:.2f} s wall / {first_cpu:.2f} s CPU, "
        f"final (with spreading) {final:.2f} s wall / {final_cpu:.2f} s CPU "
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )
    print(f"engine: peak resident memory of the process so far {rss:.0f} MiB")
    if len(problem.doctors) <= 400:
        tracemalloc.start()
        solve(problem)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"engine: peak Python allocations {peak / 2**20:.1f} MiB")
    print(f"engine: deterministic (same input, same output): {deterministic}")
    print(f"engine: hard violations {len(violations(problem, solution.assignments))}")
    f = solution.figures
    engine_pairs = [(a.session_id, a.doctor_id) for a in solution.assignments]
    goal = targets(problem)
    rows = [
        ("unfilled places", f["unfilled"], None),
        ("max load / weight", f["max_load_per_weight"], f["lower_bound_load_per_weight"]),
        (
            "max weekend-holiday load / weight",
            f["max_load_per_weight_weekend_holiday"],
            f["lower_bound_load_per_weight_weekend_holiday"],
        ),
        ("sum of squared deviations from target", f["squared_deviation"], None),
        ("close pairs (< 3 days)", f["close_pairs"], None),
        ("wishes honoured %", f["wishes_honoured_pct"], None),
        ("time (s, wall / CPU)", f"{final:.2f} / {final_cpu:.2f}", None),
    ]
    reference: dict = {}
    cp_pairs: list[tuple[int, int]] = []
    if args.cpsat_seconds > 0:
        cp_pairs, reference = cpsat(problem, args.cpsat_seconds)
        assignments = (
            [type(solution.assignments[0])(s, d, False) for s, d in cp_pairs]
            if solution.assignments
            else []
        )
        cp_figures = load_per_weight_figures(problem, assignments, goal)
        cp_time = sum(v for k, v in reference.items() if k.endswith("_seconds"))
        cp_values = [
            places - len(cp_pairs),
            f"{cp_figures['max_load_per_weight']} (bound {reference['overall_bound']:.3f})",
            f"{cp_figures['max_load_per_weight_weekend_holiday']} "
            f"(bound {reference['weekend_bound']:.3f})",
            cp_figures["squared_deviation"],
            "",
            "",
            round(cp_time, 1),
        ]
        print(f"CP-SAT stages: { {k: v for k, v in reference.items() if 'status' in k} }")
        print(f"CP-SAT hard violations: {len(violations(problem, assignments))}")
    else:
        cp_values = ["skipped"] * len(rows)
    print()
    print(
        f"| measure | engine (proven bound) | CP-SAT, 2 workers, {args.cpsat_seconds:g} s a stage |"
    )
    print("|---|---|---|")
    for (name, value, bound), cp in zip(rows, cp_values, strict=True):
        shown = f"{value} (bound {bound})" if bound is not None else f"{value}"
        print(f"| {name} | {shown} | {cp} |")
    print()
    print(
        "| group (weight × sites) | GPs | engine mean [min–max] load/weight | CP-SAT mean [min–max] |"
    )
    print("|---|---|---|---|")
    mine = groups(problem, engine_pairs)
    theirs = groups(problem, cp_pairs) if cp_pairs else {}
    for key in sorted(mine):
        values = mine[key]
        row = f"{sum(values) / len(values):.2f} [{min(values):.2f}–{max(values):.2f}]"
        other = theirs.get(key)
        cp_row = (
            f"{sum(other) / len(other):.2f} [{min(other):.2f}–{max(other):.2f}]" if other else "–"
        )
        print(f"| {key[0]:g} × {key[1]} | {len(values)} | {row} | {cp_row} |")
    print()
    print(f"flows alone: {first.figures['max_load_per_weight']} max load/weight")


if __name__ == "__main__":
    main()
