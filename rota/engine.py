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

Spreading (a GP should not hold two sessions less than three days apart) is a cost on a
*pair* of arcs, which a flow can't express. It is a post-pass instead: exchanges of two
unlocked sessions of one category between two GPs, which leave every per-category load (hence
fairness and fill) untouched, accepted only when every hard rule still holds and the soft cost
(close pairs and wishes) strictly decreases. A GP may also commit to a fixed number of
sessions (``Doctor.target_sessions``) instead of a share by weight; see ``targets()``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from rota import rules
from rota.rules import (
    WEEKDAY,
    WEEKEND_HOLIDAY,
    Doctor,
    Session,
    Unavailability,
    conflicts,
    is_available,
    iso_week,
    may_hold,
)

# The rule types and checks are ``rota.rules``'; the engine re-exports them for its callers.
__all__ = [
    "CATEGORIES",
    "WEEKDAY",
    "WEEKEND_HOLIDAY",
    "Assignment",
    "Doctor",
    "Explanation",
    "InvalidProblem",
    "Lock",
    "Problem",
    "Session",
    "Solution",
    "Unavailability",
    "Unfilled",
    "conflicts",
    "is_available",
    "iso_week",
    "may_hold",
    "solve",
    "spread",
    "targets",
    "violations",
]

CATEGORIES = (WEEKEND_HOLIDAY, WEEKDAY)  # solving order: the scarce, counted ones first
CATEGORY_LABELS = {WEEKDAY: "semaine", WEEKEND_HOLIDAY: "week-end et jours fériés"}
WEEKDAY_NAMES = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")

# Integer costs for the flow solver: one fairness step is worth SCALE; wishes stay below it.
SCALE = 1000
# The [floor T, ceil T] band: a session up to floor(T) earns BAND, one past ceil(T) costs BAND.
# Far above any wish or weighted-deviation difference, so keeping every GP within the band
# comes first whenever it is feasible (and otherwise as few sessions outside it as possible).
BAND = 100 * SCALE
WISH_AVOID = 400
WISH_PREFERRED = 150
USUAL_SITE = 100
MAX_REPAIR_ROUNDS = 200
# Spreading: two sessions of a GP whose local dates are less than SPREAD_DAYS apart (Monday and
# Wednesday, not Monday and Thursday) are a "close pair". One close pair costs more than a
# bent weekday or site preference; spreading never puts a GP on a date they asked to avoid.
SPREAD_DAYS = 3
SPREAD_COST = 200
MAX_SPREAD_PASSES = 3


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


def holdable_places(problem: Problem) -> dict[int, dict[str, int]]:
    """``a_g,c``: the places of each category each GP could hold (site and availability).

    Sessions are indexed by site so that the cost is the GP's sites' sessions, not all of them.
    """
    by_site: dict[int, list[Session]] = defaultdict(list)
    for s in problem.sessions:
        by_site[s.site_id].append(s)
    result: dict[int, dict[str, int]] = {}
    for d in problem.doctors:
        counts = dict.fromkeys(CATEGORIES, 0)
        for site_id in d.site_ids:
            for s in by_site.get(site_id, ()):
                if s.category in counts and is_available(d, s):
                    counts[s.category] += s.gps_needed
        result[d.id] = counts
    return result


def committed_split(doctor: Doctor, holdable: dict[str, int]) -> dict[str, float]:
    """A committed GP's ``N`` sessions split across categories, in whole sessions.

    ``N`` is first capped by what the GP could hold (``Σ_c a_g,c``) and their period maximum.
    The split is proportional to ``a_g,c``, rounded by largest remainders (ties: the solving
    order of the categories) so that each category's target is a whole number summing to
    ``N``: with ``floor(T) = ceil(T)`` the flow then gives exactly ``N`` whenever feasible,
    where fractional targets could round up in both categories and give ``N + 1``.
    """
    can = sum(holdable.get(c, 0) for c in CATEGORIES)
    n = min(max(0, doctor.target_sessions or 0), can)
    if doctor.max_per_period is not None:
        n = min(n, max(0, doctor.max_per_period))
    if not can:
        return dict.fromkeys(CATEGORIES, 0.0)
    quotas = {c: n * holdable.get(c, 0) / can for c in CATEGORIES}
    split = {c: math.floor(q) for c, q in quotas.items()}
    by_remainder = sorted(CATEGORIES, key=lambda c: (-(quotas[c] - split[c]), CATEGORIES.index(c)))
    for c in by_remainder[: n - sum(split.values())]:
        split[c] += 1
    return {c: float(split[c]) for c in CATEGORIES}


def targets(problem: Problem) -> dict[int, dict[str, float]]:
    """Each GP's fair share of the places of each category (``docs/rota.md``, Target load).

    GPs who commit to ``target_sessions`` get that number, split by ``committed_split()``;
    their targets are taken out of ``P_c`` first (scaled down if they exceed it). The rest,
    ``R_c``, is shared among the other GPs as ``R_c · w_g·a_g,c / Σ_h w_h·a_h,c`` (``a_g,c``
    from ``holdable_places()``), shifted by what each owes from earlier periods and
    renormalised to sum to ``R_c``. A commitment ignores what is owed: the GP said how many
    sessions they will do this period, and the others' owed places still balance the year.
    """
    holdable = holdable_places(problem)
    committed = [d for d in problem.doctors if d.target_sessions is not None]
    others = [d for d in problem.doctors if d.target_sessions is None]
    result: dict[int, dict[str, float]] = {d.id: {} for d in problem.doctors}
    for d in committed:
        result[d.id] = committed_split(d, holdable[d.id])
    for category in CATEGORIES:
        places = sum(s.gps_needed for s in problem.sessions if s.category == category)
        fixed = sum(result[d.id][category] for d in committed)
        if fixed > places:  # more committed than there are places: commitments shrink alike
            for d in committed:
                result[d.id][category] *= places / fixed
            fixed = places
        remaining = places - fixed
        capacity = {d.id: d.weight * holdable[d.id][category] for d in others}
        total = sum(capacity.values())
        for d in others:
            share = remaining * capacity[d.id] / total if total else 0.0
            owed = dict(d.owed).get(category, 0.0)
            result[d.id][category] = max(0.0, share + owed) if capacity[d.id] else 0.0
        adjusted = sum(result[d.id][category] for d in others)
        if adjusted > 0:
            for d in others:
                result[d.id][category] *= remaining / adjusted
    return result


# --- checking ----------------------------------------------------------------------------------


def violations(problem: Problem, assignments: Iterable[Assignment]) -> list[rules.Breach]:
    """Every hard rule broken by ``assignments`` (empty when the rota is valid): ``rota.rules``."""
    return rules.breaches(
        problem.sessions,
        problem.doctors,
        ((a.session_id, a.doctor_id, a.locked) for a in assignments),
        min_rest=timedelta(hours=problem.min_rest_hours),
    )


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


def _unit_cost(k: int, target: float, doctor: Doctor) -> int:
    """Marginal cost of a GP's k-th session of a category: convex (non-decreasing) in k.

    The marginal of ``(k − T)²`` scaled by ``1/√w``, plus the band term (−BAND up to
    ``floor(T)``, +BAND past ``ceil(T)``). Without the band, a wish (up to 0.8 of a step) or
    the weight scaling could push a GP just outside ``[floor T, ceil T]``, in particular a GP
    with a whole-number target (a commitment), whose units sit exactly at ±1 step.

    A commitment is firmer than a share: its band counts twice, so when a site can't keep
    everyone within their band, the GPs sharing by weight (whose targets are fractional and
    whose band has some slack) absorb it first; and its weight plays no part (it is 1).
    """
    committed = doctor.target_sessions is not None
    band = BAND * (2 if committed else 1)
    weight = 1.0 if committed else max(doctor.weight, 0.1)
    if k <= math.floor(target):
        offset = -band
    elif k > math.ceil(target):
        offset = band
    else:
        offset = 0
    return offset + round(SCALE * (2 * k - 1 - 2 * target) / weight**0.5)


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
        # Imported here: OR-Tools costs every web worker ~18 MiB, and only generation needs it.
        from ortools.graph.python import min_cost_flow

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
                    node(("g", doctor.id)), sink, 1, _unit_cost(k, target, doctor)
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


def solve(problem: Problem, *, spreading: bool = True) -> Solution:
    """Fill every session that can be filled, fairly, then spread; deterministic.

    ``spreading=False`` returns the rota of the flows alone (the first feasible one), which
    the bench and the tests compare with the spread one.
    """
    doctors = {d.id: d for d in problem.doctors}
    sessions = {s.id: s for s in problem.sessions}
    ordered_sessions = sorted(problem.sessions, key=lambda s: (s.starts_at, s.site_id, s.id))
    min_rest = timedelta(hours=problem.min_rest_hours)
    goal = targets(problem)

    locked = [Assignment(lock.session_id, lock.doctor_id, True) for lock in problem.locks]
    broken = violations(problem, locked)
    if broken:
        raise InvalidProblem("locked assignments break hard rules: " + "; ".join(map(str, broken)))

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

    if spreading:
        result = spread(problem, result)
    assert not violations(problem, result), violations(problem, result)
    result.sort(key=lambda a: (sessions[a.session_id].starts_at, a.session_id, a.doctor_id))
    unfilled = _unfilled(problem, result, forbidden)
    mine: dict[int, list[Assignment]] = defaultdict(list)
    for a in result:
        mine[a.doctor_id].append(a)
    explanations = {d.id: _explain(d, mine[d.id], sessions, goal[d.id]) for d in problem.doctors}
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


# --- spreading ----------------------------------------------------------------------------------


def close_pairs(sessions: Iterable[Session]) -> int:
    """Pairs of sessions (of one GP) whose local dates are less than ``SPREAD_DAYS`` apart.

    Pairs, not days: three sessions Monday–Tuesday–Wednesday are three pairs, so a cluster
    costs more than two separate close pairs. Two sessions on one day are a pair too.
    """
    days = sorted(s.local_date.toordinal() for s in sessions)
    count = 0
    for i, day in enumerate(days):
        for later in days[i + 1 :]:
            if later - day >= SPREAD_DAYS:
                break
            count += 1
    return count


def soft_cost(problem: Problem, assignments: Iterable[Assignment]) -> int:
    """What ``spread()`` lowers: ``SPREAD_COST`` per close pair plus the flows' wish costs.

    Locked assignments count too (they are in the GP's pairs), though they never move.
    """
    sessions = {s.id: s for s in problem.sessions}
    doctors = {d.id: d for d in problem.doctors}
    held: dict[int, list[Session]] = defaultdict(list)
    cost = 0
    for a in assignments:
        session = sessions[a.session_id]
        held[a.doctor_id].append(session)
        cost += _wish_cost(doctors[a.doctor_id], session)
    return cost + SPREAD_COST * sum(close_pairs(mine) for mine in held.values())


def _near(day: int, days: Iterable[int]) -> int:
    """How many of ``days`` (ordinals) are less than ``SPREAD_DAYS`` from ``day``."""
    return sum(1 for other in days if -SPREAD_DAYS < other - day < SPREAD_DAYS)


def _fits(doctor: Doctor, others: Sequence[Session], new: Session, min_rest: timedelta) -> bool:
    """May ``doctor`` hold ``new`` on top of ``others`` (a valid schedule) under every hard rule?

    The period count is not checked: an exchange gives one session for one.
    """
    return not rules.addition_breaches(doctor, new, held=others, min_rest=min_rest)


@dataclass(frozen=True)
class _Exchange:
    """``first`` gives ``given`` to ``second`` and takes ``taken`` from them."""

    delta: int  # change of the soft cost: negative
    first: Doctor
    given: Session
    second: Doctor
    taken: Session


class _Spreader:
    """The mutable state of the spreading search: who holds what, and cached wish costs."""

    def __init__(self, problem: Problem, assignments: Sequence[Assignment]) -> None:
        self.sessions = {s.id: s for s in problem.sessions}
        self.doctors = {d.id: d for d in problem.doctors}
        self.min_rest = timedelta(hours=problem.min_rest_hours)
        self.day = {s.id: s.local_date.toordinal() for s in problem.sessions}
        self.locked = frozenset((a.session_id, a.doctor_id) for a in assignments if a.locked)
        self.held: dict[int, list[Session]] = defaultdict(list)
        self.holders: dict[int, set[int]] = defaultdict(set)
        for a in assignments:
            self.held[a.doctor_id].append(self.sessions[a.session_id])
            self.holders[a.session_id].add(a.doctor_id)
        self.at_site: dict[int, list[Doctor]] = defaultdict(list)
        for d in sorted(problem.doctors, key=lambda d: d.id):
            for site_id in d.site_ids:
                self.at_site[site_id].append(d)
        self._wish: dict[tuple[int, int], int] = {}

    def wish(self, doctor: Doctor, session: Session) -> int:
        key = (doctor.id, session.id)
        if key not in self._wish:
            self._wish[key] = _wish_cost(doctor, session)
        return self._wish[key]

    def movable(self, doctor_id: int) -> list[Session]:
        """The GP's unlocked sessions that are in a close pair, in time order."""
        mine = self.held[doctor_id]
        days = [self.day[s.id] for s in mine]
        return sorted(
            (
                s
                for s in mine
                if (s.id, doctor_id) not in self.locked and _near(self.day[s.id], days) > 1
            ),
            key=lambda s: (s.starts_at, s.id),
        )

    def best_exchange(self, first: Doctor, given: Session) -> _Exchange | None:
        """The exchange of ``given`` that lowers the soft cost most and breaks no hard rule.

        Never onto a date the receiving GP asked to avoid: spreading is a comfort rule for
        everyone, an avoided date an explicit request, and no number of close pairs should
        outweigh it. Ties are broken by (session start, session id, GP id): deterministic.
        """
        mine = [s for s in self.held[first.id] if s.id != given.id]
        my_days = [self.day[s.id] for s in mine]
        given_day = self.day[given.id]
        lost_here = _near(given_day, my_days)
        given_wish = self.wish(first, given)
        candidates: list[tuple[int, datetime, int, int, Doctor, Session]] = []
        for second in self.at_site[given.site_id]:
            if (
                second.id == first.id
                or second.id in self.holders[given.id]
                or not is_available(second, given)
                or given.local_date in second.avoid_dates
            ):
                continue
            theirs = self.held.get(second.id)
            if not theirs:
                continue
            their_days = [self.day[s.id] for s in theirs]
            new_there = _near(given_day, their_days)
            for taken in theirs:
                if (
                    taken.category != given.category
                    or (taken.id, second.id) in self.locked
                    or taken.site_id not in first.site_ids
                    or first.id in self.holders[taken.id]
                    or taken.local_date in first.avoid_dates
                ):
                    continue
                taken_day = self.day[taken.id]
                apart = -SPREAD_DAYS < taken_day - given_day < SPREAD_DAYS
                pairs = (
                    _near(taken_day, my_days)  # first's new pairs
                    - lost_here
                    + new_there
                    - apart  # the taken session is no longer second's
                    - (_near(taken_day, their_days) - 1)  # second's pairs with it, itself out
                )
                delta = (
                    SPREAD_COST * pairs
                    + self.wish(first, taken)
                    - given_wish
                    + self.wish(second, given)
                    - self.wish(second, taken)
                )
                if delta < 0:
                    candidates.append((delta, taken.starts_at, taken.id, second.id, second, taken))
        candidates.sort(key=lambda c: c[:4])
        for delta, _, _, _, second, taken in candidates:
            their_rest = [s for s in self.held[second.id] if s.id != taken.id]
            if _fits(first, mine, taken, self.min_rest) and _fits(
                second, their_rest, given, self.min_rest
            ):
                return _Exchange(delta, first, given, second, taken)
        return None

    def apply(self, x: _Exchange) -> None:
        self.held[x.first.id] = [s for s in self.held[x.first.id] if s.id != x.given.id]
        self.held[x.first.id].append(x.taken)
        self.held[x.second.id] = [s for s in self.held[x.second.id] if s.id != x.taken.id]
        self.held[x.second.id].append(x.given)
        self.holders[x.given.id].discard(x.first.id)
        self.holders[x.given.id].add(x.second.id)
        self.holders[x.taken.id].discard(x.second.id)
        self.holders[x.taken.id].add(x.first.id)

    def assignments(self) -> list[Assignment]:
        return [
            Assignment(s.id, doctor_id, (s.id, doctor_id) in self.locked)
            for doctor_id in sorted(self.held)
            for s in sorted(self.held[doctor_id], key=lambda s: (s.starts_at, s.id))
        ]


def spread(problem: Problem, assignments: Sequence[Assignment]) -> list[Assignment]:
    """Space each GP's sessions out, leaving every per-category load as it is.

    A pairwise penalty (two sessions of one GP less than ``SPREAD_DAYS`` apart) can't be a
    flow cost, and handing a session to someone else would change two loads, hence the
    fairness the flows just optimised. So the only move is an *exchange*: GP A gives one of
    their unlocked sessions to GP B and takes one of B's unlocked sessions of the same
    category. It is accepted only if both GPs may hold their new session under every hard
    rule (site, availability, daily and weekly maxima, minimum rest and overlaps), neither
    lands on a date they asked to avoid, and the soft cost (``SPREAD_COST`` per close pair
    plus the wish costs of the flows) strictly decreases: preferences are traded against
    spreading on one scale, and the search ends.

    Bounded: only sessions in a close pair are moved, each time to the best exchange, for at
    most ``MAX_SPREAD_PASSES`` passes over the GPs (sorted by id, sessions by time); the
    candidates are the GPs of the session's site. Deterministic for a given input.
    """
    state = _Spreader(problem, assignments)
    for _ in range(MAX_SPREAD_PASSES):
        improved = False
        for doctor_id in sorted(state.held):
            first = state.doctors[doctor_id]
            for given in state.movable(doctor_id):
                if doctor_id not in state.holders[given.id]:
                    continue  # exchanged away earlier in this loop
                if _near(state.day[given.id], [state.day[s.id] for s in state.held[doctor_id]]) < 2:
                    continue  # no longer in a close pair
                exchange = state.best_exchange(first, given)
                if exchange is not None:
                    state.apply(exchange)
                    improved = True
        if not improved:
            break
    return state.assignments()


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
    held: Sequence[Assignment],
    sessions: dict[int, Session],
    goal: dict[str, float],
) -> Explanation:
    """The French text a GP reads: loads vs targets, commitment, locks, wishes, spreading.

    ``held`` is this GP's assignments only (grouped by the caller: one pass, not one per GP).
    """
    mine = [sessions[a.session_id] for a in held]
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
    if doctor.target_sessions is not None:
        text += f" Engagement : {doctor.target_sessions} plage(s) sur la période."
    locked_count = sum(1 for a in held if a.locked)
    if locked_count:
        text += f" Dont {locked_count} plage(s) choisie(s) ou verrouillée(s)."
    if doctor.unavailable:
        text += f" {len(doctor.unavailable)} période(s) d'indisponibilité prise(s) en compte."
    if total:
        text += f" Souhaits respectés : {honoured} sur {total}."
    close = close_pairs(mine)
    if close:
        text += f" {close} paire(s) de plages à moins de {SPREAD_DAYS} jours d'écart."
    elif len(mine) > 1:
        text += f" Plages espacées d'au moins {SPREAD_DAYS} jours."
    if not mine and not any(goal.values()):
        text = "Aucune plage possible : aucun lieu ou aucune disponibilité sur la période."
    return Explanation(doctor.id, loads, dict(goal), total, honoured, text)


def quality_figures(
    problem: Problem, result: Sequence[Assignment], goal: dict[int, dict[str, float]]
) -> dict[str, float]:
    """Figures a coordinator (and the bench) reads: fill, deviations, wishes, spreading."""
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
    held: dict[int, list[Session]] = defaultdict(list)
    for a in result:
        held[a.doctor_id].append(sessions[a.session_id])
    figures["close_pairs"] = sum(close_pairs(mine) for mine in held.values())
    return figures
