"""The rota engine: fill SNP sessions with GPs, fairly, never breaking a hard rule.

Pure: frozen dataclasses in, a ``Solution`` out; imports neither Flask nor SQLAlchemy.
See ``docs/rota.md`` for the model and the definition of each GP's target.

How it works, in one paragraph. Each category of sessions (weekend/holiday first, then
weekdays, as people count those separately) is solved as a min-cost max-flow:

    source → session (needed places) → (GP, day) [1] → (GP, ISO week) [weekly max]
           → GP → sink, one unit arc per extra session with a convex cost

The convex cost of a GP's k-th session, ``2k − 1 − 2·T`` (the marginal of ``(k − T)²``),
orders the units so that a GP goes past ``ceil(T)`` only when nothing else fills the place,
and never below ``floor(T)`` while someone else is above ``ceil(T)``: max flow first, then
loads as close to the targets as feasibility allows. Site, availability, one-a-day, weekly
and period maxima and locked assignments are in the network itself, so they can't be broken.
The rule that does not nest (minimum rest across midnight, overlaps for GPs who allow several
sessions a day) is enforced by forbidding the offending arcs and solving again, until no
conflict is left; a final check refuses to return anything that breaks a hard rule.
Wishes are small arc costs, below one fairness step.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from ortools.graph.python import min_cost_flow

WEEKDAY = "weekday"
WEEKEND_HOLIDAY = "weekend_holiday"
CATEGORIES = (WEEKEND_HOLIDAY, WEEKDAY)  # solving order: the scarce, counted ones first
CATEGORY_LABELS = {WEEKDAY: "semaine", WEEKEND_HOLIDAY: "week-end et jours fériés"}
WEEKDAY_NAMES = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")

# Integer costs for the flow solver: one fairness step is worth SCALE; wishes stay below it.
SCALE = 1000
WISH_AVOID = 400
WISH_PREFERRED = 150
USUAL_SITE = 100
MAX_REPAIR_ROUNDS = 200


@dataclass(frozen=True)
class Session:
    id: int
    site_id: int
    starts_at: datetime  # aware
    ends_at: datetime  # aware
    local_date: date
    gps_needed: int = 1
    category: str = WEEKDAY
    site_name: str = ""


@dataclass(frozen=True)
class Unavailability:
    start: datetime  # aware, inclusive
    end: datetime  # aware, exclusive


@dataclass(frozen=True)
class Doctor:
    id: int
    site_ids: frozenset[int]
    weight: float = 1.0
    name: str = ""
    unavailable: tuple[Unavailability, ...] = ()
    max_per_day: int = 1
    max_per_week: int | None = None
    max_per_period: int | None = None
    # Places owed from earlier periods, per category (target − load last time): carried over
    # so that fairness holds over the year, not only within a month.
    owed: tuple[tuple[str, float], ...] = ()
    preferred_weekdays: frozenset[int] = frozenset()
    preferred_site_ids: frozenset[int] = frozenset()
    avoid_dates: frozenset[date] = frozenset()
    usual_site_id: int | None = None


@dataclass(frozen=True)
class Lock:
    """A volunteered or manually locked assignment: kept as it is."""

    session_id: int
    doctor_id: int


@dataclass(frozen=True)
class Problem:
    sessions: tuple[Session, ...]
    doctors: tuple[Doctor, ...]
    locks: tuple[Lock, ...] = ()
    min_rest_hours: float = 10.0


@dataclass(frozen=True)
class Assignment:
    session_id: int
    doctor_id: int
    locked: bool


@dataclass(frozen=True)
class Unfilled:
    session_id: int
    missing: int
    reason: str


@dataclass(frozen=True)
class Explanation:
    doctor_id: int
    loads: dict[str, int]
    targets: dict[str, float]
    wishes_total: int
    wishes_honoured: int
    text: str


@dataclass(frozen=True)
class Solution:
    assignments: tuple[Assignment, ...]
    unfilled: tuple[Unfilled, ...]
    explanations: dict[int, Explanation]
    figures: dict[str, float] = field(default_factory=dict)


class InvalidProblem(ValueError):
    """The input contradicts itself (e.g. two locks breaking a hard rule)."""


# --- eligibility and targets -------------------------------------------------------------------


def is_available(doctor: Doctor, session: Session) -> bool:
    return all(session.ends_at <= u.start or session.starts_at >= u.end for u in doctor.unavailable)


def may_hold(doctor: Doctor, session: Session) -> bool:
    """The per-session hard rules: the GP's site, and not during an unavailability."""
    return session.site_id in doctor.site_ids and is_available(doctor, session)


def targets(problem: Problem) -> dict[int, dict[str, float]]:
    """Each GP's fair share of the places of each category.

    ``T_g,c = P_c · w_g·a_g,c / Σ_h w_h·a_h,c`` where ``P_c`` is the number of places of the
    category and ``a_g,c`` the share of them the GP could hold (site and availability), then
    shifted by what the GP owes from earlier periods and renormalised to sum to ``P_c``.
    """
    result: dict[int, dict[str, float]] = {d.id: {} for d in problem.doctors}
    for category in CATEGORIES:
        sessions = [s for s in problem.sessions if s.category == category]
        places = sum(s.gps_needed for s in sessions)
        capacity = {
            d.id: d.weight * sum(s.gps_needed for s in sessions if may_hold(d, s))
            for d in problem.doctors
        }
        total = sum(capacity.values())
        for d in problem.doctors:
            share = places * capacity[d.id] / total if total else 0.0
            owed = dict(d.owed).get(category, 0.0)
            result[d.id][category] = max(0.0, share + owed) if capacity[d.id] else 0.0
        adjusted = sum(result[d.id][category] for d in problem.doctors)
        if adjusted > 0:
            for d in problem.doctors:
                result[d.id][category] *= places / adjusted
    return result


# --- checking ----------------------------------------------------------------------------------


def iso_week(day: date) -> tuple[int, int]:
    iso = day.isocalendar()
    return iso.year, iso.week


def conflicts(
    doctor: Doctor, sessions: Sequence[Session], min_rest: timedelta
) -> list[tuple[Session, Session]]:
    """Pairs of a GP's sessions that overlap or leave less than the minimum rest."""
    ordered = sorted(sessions, key=lambda s: (s.starts_at, s.id))
    found = []
    for i, first in enumerate(ordered):
        for second in ordered[i + 1 :]:
            if second.starts_at >= first.ends_at + min_rest:
                break
            same_day_allowed = (
                doctor.max_per_day > 1
                and first.local_date == second.local_date
                and second.starts_at >= first.ends_at
            )
            if not same_day_allowed:
                found.append((first, second))
    return found


def violations(problem: Problem, assignments: Iterable[Assignment]) -> list[str]:
    """Every hard rule broken by ``assignments`` (empty when the rota is valid)."""
    sessions = {s.id: s for s in problem.sessions}
    doctors = {d.id: d for d in problem.doctors}
    min_rest = timedelta(hours=problem.min_rest_hours)
    held: dict[int, list[Session]] = defaultdict(list)
    per_session: dict[int, set[int]] = defaultdict(set)
    found: list[str] = []
    for a in assignments:
        session, doctor = sessions[a.session_id], doctors[a.doctor_id]
        if a.doctor_id in per_session[a.session_id]:
            found.append(f"{doctor.id} twice on session {session.id}")
        per_session[a.session_id].add(a.doctor_id)
        if not may_hold(doctor, session) and not a.locked:
            found.append(f"{doctor.id} may not hold session {session.id}")
        held[doctor.id].append(session)
    for session_id, holders in per_session.items():
        if len(holders) > sessions[session_id].gps_needed:
            found.append(f"session {session_id} over-staffed")
    for doctor_id, mine in held.items():
        doctor = doctors[doctor_id]
        per_day: dict[date, int] = defaultdict(int)
        per_week: dict[tuple[int, int], int] = defaultdict(int)
        for s in mine:
            per_day[s.local_date] += 1
            per_week[iso_week(s.local_date)] += 1
        if any(n > doctor.max_per_day for n in per_day.values()):
            found.append(f"{doctor_id} over the daily maximum")
        if doctor.max_per_week is not None and any(
            n > doctor.max_per_week for n in per_week.values()
        ):
            found.append(f"{doctor_id} over the weekly maximum")
        if doctor.max_per_period is not None and len(mine) > doctor.max_per_period:
            found.append(f"{doctor_id} over the period maximum")
        for first, second in conflicts(doctor, mine, min_rest):
            found.append(f"{doctor_id}: sessions {first.id} and {second.id} too close")
    return found


# --- the flow ----------------------------------------------------------------------------------


def _wish_cost(doctor: Doctor, session: Session) -> int:
    cost = 0
    if session.local_date in doctor.avoid_dates:
        cost += WISH_AVOID
    if doctor.preferred_weekdays and session.local_date.weekday() not in doctor.preferred_weekdays:
        cost += WISH_PREFERRED
    if doctor.preferred_site_ids and session.site_id not in doctor.preferred_site_ids:
        cost += WISH_PREFERRED
    if doctor.usual_site_id is not None and session.site_id != doctor.usual_site_id:
        cost += USUAL_SITE
    return cost


def _unit_cost(k: int, target: float, weight: float) -> int:
    """Marginal cost of a GP's k-th session of a category: convex in k."""
    return round(SCALE * (2 * k - 1 - 2 * target) / max(weight, 0.1) ** 0.5)


class _Pass:
    """One min-cost flow over the sessions of a category, given what is already held."""

    def __init__(
        self,
        problem: Problem,
        category: str | None,
        held: dict[int, list[Session]],
        forbidden: set[tuple[int, int]],
        targets: dict[int, dict[str, float]],
        prefer: frozenset[tuple[int, int]] = frozenset(),
    ) -> None:
        """``category=None`` is the fill pass: every category at once, no fairness cost,
        and a unit cost for each pair not in ``prefer`` (change as little as possible)."""
        self.problem = problem
        self.category = category
        self.prefer = prefer
        self.held = held
        self.forbidden = forbidden
        self.targets = targets

    def solve(self, sessions: Sequence[Session], open_places: dict[int, int]) -> list[Assignment]:
        flow = min_cost_flow.SimpleMinCostFlow()
        ids: dict[object, int] = {}

        def node(key: object) -> int:
            if key not in ids:
                ids[key] = len(ids)
            return ids[key]

        source, sink = node("source"), node("sink")
        holders: dict[int, set[int]] = defaultdict(set)
        for doctor_id, mine in self.held.items():
            for s in mine:
                holders[s.id].add(doctor_id)
        by_site: dict[int, list[Doctor]] = defaultdict(list)
        for doctor in self.problem.doctors:
            for site_id in doctor.site_ids:
                by_site[site_id].append(doctor)
        session_arcs: list[tuple[int, int, int]] = []  # (arc, session id, doctor id)
        days_of: dict[int, set[date]] = defaultdict(set)
        for session in sessions:
            places = open_places.get(session.id, 0)
            if places <= 0:
                continue
            flow.add_arc_with_capacity_and_unit_cost(source, node(("s", session.id)), places, 0)
            for doctor in by_site[session.site_id]:
                if (
                    doctor.id in holders[session.id]
                    or (session.id, doctor.id) in self.forbidden
                    or not is_available(doctor, session)
                ):
                    continue
                if self.category is None:
                    cost = 0 if (session.id, doctor.id) in self.prefer else 1
                else:
                    cost = _wish_cost(doctor, session)
                arc = flow.add_arc_with_capacity_and_unit_cost(
                    node(("s", session.id)), node(("d", doctor.id, session.local_date)), 1, cost
                )
                session_arcs.append((arc, session.id, doctor.id))
                days_of[doctor.id].add(session.local_date)
        for doctor in self.problem.doctors:
            days = sorted(days_of.get(doctor.id, ()))
            if not days:
                continue
            mine = self.held.get(doctor.id, [])
            day_counts: dict[date, int] = defaultdict(int)
            week_counts: dict[tuple[int, int], int] = defaultdict(int)
            for s in mine:
                day_counts[s.local_date] += 1
                week_counts[iso_week(s.local_date)] += 1
            for day in days:
                flow.add_arc_with_capacity_and_unit_cost(
                    node(("d", doctor.id, day)),
                    node(("w", doctor.id, iso_week(day))),
                    max(0, doctor.max_per_day - day_counts[day]),
                    0,
                )
            for week in sorted({iso_week(day) for day in days}):
                flow.add_arc_with_capacity_and_unit_cost(
                    node(("w", doctor.id, week)),
                    node(("g", doctor.id)),
                    len(days)
                    if doctor.max_per_week is None
                    else max(0, doctor.max_per_week - week_counts[week]),
                    0,
                )
            room = len(days) * doctor.max_per_day
            if doctor.max_per_period is not None:
                room = min(room, doctor.max_per_period - len(mine))
            if self.category is None:
                flow.add_arc_with_capacity_and_unit_cost(
                    node(("g", doctor.id)), sink, max(0, room), 0
                )
                continue
            in_category = sum(1 for s in mine if s.category == self.category)
            target = self.targets[doctor.id].get(self.category, 0.0)
            for k in range(in_category + 1, in_category + max(0, room) + 1):
                flow.add_arc_with_capacity_and_unit_cost(
                    node(("g", doctor.id)), sink, 1, _unit_cost(k, target, doctor.weight)
                )
        if not session_arcs:
            return []
        # OR-Tools' cost-scaling solver accepts negative unit costs (units below target);
        # "max flow with min cost" pushes as much of the source's supply as can get through.
        total = sum(max(0, p) for p in open_places.values())
        flow.set_node_supply(source, total)
        flow.set_node_supply(sink, -total)
        status = flow.solve_max_flow_with_min_cost()
        if status != flow.OPTIMAL:
            raise RuntimeError(f"min-cost flow failed with status {status}")
        return [
            Assignment(session_id=s_id, doctor_id=d_id, locked=False)
            for arc, s_id, d_id in session_arcs
            if flow.flow(arc) > 0
        ]


def solve(problem: Problem) -> Solution:
    """Fill every session that can be filled, fairly; deterministic for a given input."""
    doctors = {d.id: d for d in problem.doctors}
    sessions = {s.id: s for s in problem.sessions}
    ordered_sessions = sorted(problem.sessions, key=lambda s: (s.starts_at, s.site_id, s.id))
    min_rest = timedelta(hours=problem.min_rest_hours)
    goal = targets(problem)

    locked = [Assignment(lock.session_id, lock.doctor_id, True) for lock in problem.locks]
    broken = violations(problem, locked)
    if broken:
        raise InvalidProblem("locked assignments break hard rules: " + "; ".join(broken))

    forbidden: set[tuple[int, int]] = set()
    result: list[Assignment] = []
    for _ in range(MAX_REPAIR_ROUNDS):
        result = list(locked)
        for category in CATEGORIES:
            held: dict[int, list[Session]] = defaultdict(list)
            taken: dict[int, int] = defaultdict(int)
            for a in result:
                held[a.doctor_id].append(sessions[a.session_id])
                taken[a.session_id] += 1
            open_places = {
                s.id: s.gps_needed - taken[s.id] for s in ordered_sessions if s.category == category
            }
            chosen = _Pass(problem, category, held, forbidden, goal).solve(
                [s for s in ordered_sessions if s.category == category], open_places
            )
            result.extend(chosen)
        result = _fill_more(problem, ordered_sessions, sessions, locked, result, forbidden, goal)
        new_forbidden = _rest_conflicts(result, doctors, sessions, min_rest)
        if not new_forbidden:
            break
        forbidden |= new_forbidden
    else:  # pragma: no cover - a safety net: drop what still conflicts rather than loop
        result = [a for a in result if (a.session_id, a.doctor_id) not in forbidden or a.locked]

    assert not violations(problem, result), violations(problem, result)
    result.sort(key=lambda a: (sessions[a.session_id].starts_at, a.session_id, a.doctor_id))
    unfilled = _unfilled(problem, result, forbidden)
    explanations = {d.id: _explain(d, result, sessions, goal[d.id]) for d in problem.doctors}
    return Solution(
        assignments=tuple(result),
        unfilled=tuple(unfilled),
        explanations=explanations,
        figures=quality_figures(problem, result, goal),
    )


def _fill_more(
    problem: Problem,
    ordered_sessions: Sequence[Session],
    sessions: dict[int, Session],
    locked: list[Assignment],
    result: list[Assignment],
    forbidden: set[tuple[int, int]],
    goal: dict[int, dict[str, float]],
) -> list[Assignment]:
    """Recover places lost by solving the categories one after the other.

    Weekly and period maxima couple the categories: a Saturday given first can use up the
    weekly maximum a weekday place needed. When places are left, one flow over every
    category finds the true maximum fill, changing as few fair assignments as it can.
    """
    places = sum(s.gps_needed for s in ordered_sessions)
    if len(result) == places:
        return result
    held: dict[int, list[Session]] = defaultdict(list)
    taken: dict[int, int] = defaultdict(int)
    for a in locked:
        held[a.doctor_id].append(sessions[a.session_id])
        taken[a.session_id] += 1
    prefer = frozenset((a.session_id, a.doctor_id) for a in result if not a.locked)
    open_places = {s.id: s.gps_needed - taken[s.id] for s in ordered_sessions}
    chosen = _Pass(problem, None, held, forbidden, goal, prefer).solve(
        ordered_sessions, open_places
    )
    if len(locked) + len(chosen) > len(result):
        return [*locked, *chosen]
    return result


def _rest_conflicts(
    result: Sequence[Assignment],
    doctors: dict[int, Doctor],
    sessions: dict[int, Session],
    min_rest: timedelta,
) -> set[tuple[int, int]]:
    """Arcs to forbid so the next round can't repeat a rest/overlap conflict.

    In each conflicting pair the later, unlocked session is given up (the earlier one
    stays), which keeps the repair deterministic.
    """
    locked = {(a.session_id, a.doctor_id) for a in result if a.locked}
    held: dict[int, list[Session]] = defaultdict(list)
    for a in result:
        held[a.doctor_id].append(sessions[a.session_id])
    forbid = set()
    for doctor_id, mine in sorted(held.items()):
        for first, second in conflicts(doctors[doctor_id], mine, min_rest):
            victim = second if (second.id, doctor_id) not in locked else first
            forbid.add((victim.id, doctor_id))
    return forbid


def _unfilled(
    problem: Problem, result: Sequence[Assignment], forbidden: set[tuple[int, int]]
) -> list[Unfilled]:
    count: dict[int, int] = defaultdict(int)
    for a in result:
        count[a.session_id] += 1
    missing = []
    for session in sorted(problem.sessions, key=lambda s: (s.starts_at, s.id)):
        gap = session.gps_needed - count[session.id]
        if gap <= 0:
            continue
        when = session.local_date.strftime("%d/%m")
        where = session.site_name or f"lieu {session.site_id}"
        at_site = [d for d in problem.doctors if session.site_id in d.site_ids]
        free = [d for d in at_site if is_available(d, session)]
        if not at_site:
            reason = f"aucun médecin n'exerce à {where}"
        elif not free:
            reason = f"aucun médecin disponible le {when} à {where}"
        else:
            reason = (
                f"les {len(free)} médecin(s) disponible(s) le {when} à {where} ont atteint "
                "leur maximum (jour, semaine ou période) ou leur repos minimal"
            )
        missing.append(Unfilled(session.id, gap, reason))
    return missing


def _wishes(doctor: Doctor, session: Session) -> tuple[int, int]:
    """(wishes that apply to this session, wishes honoured)."""
    total = honoured = 0
    if doctor.avoid_dates:
        total += 1
        honoured += session.local_date not in doctor.avoid_dates
    if doctor.preferred_weekdays:
        total += 1
        honoured += session.local_date.weekday() in doctor.preferred_weekdays
    if doctor.preferred_site_ids:
        total += 1
        honoured += session.site_id in doctor.preferred_site_ids
    return total, honoured


def _explain(
    doctor: Doctor,
    result: Sequence[Assignment],
    sessions: dict[int, Session],
    goal: dict[str, float],
) -> Explanation:
    mine = [sessions[a.session_id] for a in result if a.doctor_id == doctor.id]
    loads = {c: sum(1 for s in mine if s.category == c) for c in CATEGORIES}
    total = honoured = 0
    for s in mine:
        t, h = _wishes(doctor, s)
        total, honoured = total + t, honoured + h
    parts = []
    for c in CATEGORIES:
        target = goal.get(c, 0.0)
        parts.append(
            f"{loads[c]} plage(s) de {CATEGORY_LABELS[c]} pour une cible de {target:.1f}".replace(
                ".", ","
            )
        )
    text = "; ".join(parts) + "."
    locked_count = sum(1 for a in result if a.doctor_id == doctor.id and a.locked)
    if locked_count:
        text += f" Dont {locked_count} plage(s) choisie(s) ou verrouillée(s)."
    if doctor.unavailable:
        text += f" {len(doctor.unavailable)} période(s) d'indisponibilité prise(s) en compte."
    if total:
        text += f" Souhaits respectés : {honoured} sur {total}."
    if not mine and not any(goal.values()):
        text = "Aucune plage possible : aucun lieu ou aucune disponibilité sur la période."
    return Explanation(doctor.id, loads, dict(goal), total, honoured, text)


def quality_figures(
    problem: Problem, result: Sequence[Assignment], goal: dict[int, dict[str, float]]
) -> dict[str, float]:
    """Figures a coordinator (and the bench) reads: fill, deviations, wishes."""
    sessions = {s.id: s for s in problem.sessions}
    places = sum(s.gps_needed for s in problem.sessions)
    figures: dict[str, float] = {
        "places": places,
        "filled": len(result),
        "unfilled": places - len(result),
        "violations": len(violations(problem, result)),
    }
    loads: dict[tuple[int, str], int] = defaultdict(int)
    for a in result:
        loads[(a.doctor_id, sessions[a.session_id].category)] += 1
    within = eligible = 0
    for c in CATEGORIES:
        deviations = [
            abs(loads[(d.id, c)] - goal[d.id][c]) for d in problem.doctors if goal[d.id].get(c)
        ]
        figures[f"max_deviation_{c}"] = round(max(deviations, default=0.0), 3)
        figures[f"mean_deviation_{c}"] = round(
            sum(deviations) / len(deviations) if deviations else 0.0, 3
        )
        for d in problem.doctors:
            t = goal[d.id].get(c, 0.0)
            if t:
                eligible += 1
                within += math.floor(t) <= loads[(d.id, c)] <= math.ceil(t)
    figures["share_within_floor_ceil"] = round(within / eligible, 4) if eligible else 1.0
    total = honoured = 0
    doctors = {d.id: d for d in problem.doctors}
    for a in result:
        t, h = _wishes(doctors[a.doctor_id], sessions[a.session_id])
        total, honoured = total + t, honoured + h
    figures["wishes_honoured_pct"] = round(100 * honoured / total, 1) if total else 100.0
    return figures
