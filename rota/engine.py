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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

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
MAX_WEEKEND_PROBES = 6  # binary-search probes on the weekend cap before the exact search
# The exact weekend search (CP-SAT) runs when the flows leave a gap, on models of at most this
# many GP-session arcs, for at most this much *deterministic* time (CP-SAT's own work units,
# about seconds on one core: reproducible, unlike a wall-clock limit).
EXACT_MAX_ARCS = 60_000
EXACT_DETERMINISTIC_SECONDS = 10.0
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
    # The period's first and last local dates (exempting absences count pro rata of its
    # days); default: the span of the sessions.
    period: tuple[date, date] | None = None


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
    shares: dict[str, float] = field(default_factory=dict)  # before what is owed


@dataclass(frozen=True)
class Solution:
    assignments: tuple[Assignment, ...]
    unfilled: tuple[Unfilled, ...]
    explanations: dict[int, Explanation]
    figures: dict[str, float] = field(default_factory=dict)


class InvalidProblem(ValueError):
    """The input contradicts itself (e.g. two locks breaking a hard rule)."""


# --- eligibility, shares and targets -----------------------------------------------------------

# Below this participation a GP counts with this weight in the min-max (a weight of 0, or an
# absence exempting them from nearly all of the period): they take a place only when nobody
# else can, and then their load per unit of weight is very high, which the search avoids.
MIN_WEIGHT = 0.05


def holdable_places(problem: Problem) -> dict[int, dict[str, int]]:
    """``a_g,c``: the places of each category each GP could hold (site and availability).

    Only feasibility and a committed GP's split use it: the share itself never does.
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


def period_days(problem: Problem) -> tuple[date, ...]:
    """The period's local dates: from ``problem.period`` or the span of its sessions."""
    if problem.period is not None:
        first, last = problem.period
    elif problem.sessions:
        first = min(s.local_date for s in problem.sessions)
        last = max(s.local_date for s in problem.sessions)
    else:
        return ()
    return tuple(first + timedelta(days=i) for i in range((last - first).days + 1))


def exempt_days(doctor: Doctor, days: Sequence[date]) -> tuple[date, ...]:
    """The period's days an exempting absence covers (a day counts at its noon, UTC)."""
    spans = [u for u in doctor.unavailable if u.exempt]
    if not spans:
        return ()
    return tuple(
        d
        for d in days
        if any(u.start <= datetime(d.year, d.month, d.day, 12, tzinfo=UTC) < u.end for u in spans)
    )


def participation(doctor: Doctor, days: Sequence[date]) -> float:
    """The GP's weight, reduced pro rata of the days exempting absences cover.

    A plain absence reduces nothing: what the GP could not hold is carried to later periods.
    """
    if not doctor.site_ids or not days:
        return 0.0
    return max(0.0, doctor.weight) * (1 - len(exempt_days(doctor, days)) / len(days))


def committed_split(doctor: Doctor, holdable: dict[str, int]) -> dict[str, float]:
    """A committed GP's ``N`` sessions split across categories, in whole sessions.

    ``N`` is first capped by what the GP could hold (``Σ_c a_g,c``) and their period maximum.
    The split is proportional to ``a_g,c``, rounded by largest remainders (ties: the solving
    order of the categories) so that each category's target is a whole number summing to
    ``N``: with ``floor(T) = ceil(T)`` the flow then gives exactly ``N`` whenever feasible.
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


def shares(problem: Problem) -> dict[int, dict[str, float]]:
    """Each GP's fair share of each category, before what is owed (``docs/rota.md``).

    Equal per unit of weight: ``R_c · p_g / Σ_h p_h``, with ``p_g`` the GP's weight reduced
    pro rata of their exempting absences (``participation()``) and ``R_c`` the category's
    places left once committed GPs have their number. Sites and plain absences play no part:
    they only limit what is feasible. This is what the ledger records for the period.
    """
    days = period_days(problem)
    holdable = holdable_places(problem)
    committed = [d for d in problem.doctors if d.target_sessions is not None]
    others = [d for d in problem.doctors if d.target_sessions is None]
    result: dict[int, dict[str, float]] = {d.id: {} for d in problem.doctors}
    for d in committed:
        result[d.id] = committed_split(d, holdable[d.id])
    weight = {d.id: participation(d, days) for d in others}
    total_weight = sum(weight.values())
    for category in CATEGORIES:
        places = sum(s.gps_needed for s in problem.sessions if s.category == category)
        fixed = sum(result[d.id][category] for d in committed)
        if fixed > places:  # more committed than there are places: commitments shrink alike
            for d in committed:
                result[d.id][category] *= places / fixed
            fixed = places
        remaining = places - fixed
        for d in others:
            result[d.id][category] = (
                remaining * weight[d.id] / total_weight if total_weight else 0.0
            )
    return result


def targets(
    problem: Problem, base: dict[int, dict[str, float]] | None = None
) -> dict[int, dict[str, float]]:
    """Each GP's target: their share plus what they owe from earlier periods.

    ``share + owed``, floored at 0, renormalised so a category's targets still sum to its
    places (``R_c`` for the GPs sharing by weight). A commitment ignores what is owed: the GP
    said how many sessions they will do this period. A GP who takes no part (weight 0, no
    site, exempt all period) gets 0 whatever they owe: it waits for a period they are in.
    """
    days = period_days(problem)
    base = shares(problem) if base is None else base
    result = {d: dict(v) for d, v in base.items()}
    others = [d for d in problem.doctors if d.target_sessions is None]
    taking_part = {d.id for d in others if participation(d, days) > 0}
    for category in CATEGORIES:
        remaining = sum(base[d.id][category] for d in others)
        for d in others:
            owed = dict(d.owed).get(category, 0.0)
            share = base[d.id][category]
            result[d.id][category] = max(0.0, share + owed) if d.id in taking_part else 0.0
        adjusted = sum(result[d.id][category] for d in others)
        if adjusted > 0:
            for d in others:
                result[d.id][category] *= remaining / adjusted
    return result


def min_max_weight(doctor: Doctor, days: Sequence[date]) -> float:
    """The weight a GP's load is divided by in the min-max levels."""
    return max(participation(doctor, days), MIN_WEIGHT)


# --- checking ----------------------------------------------------------------------------------


def violations(problem: Problem, assignments: Iterable[Assignment]) -> list[rules.Breach]:
    """Every hard rule broken by ``assignments`` (empty when the rota is valid): ``rota.rules``."""
    return rules.breaches(
        problem.sessions,
        problem.doctors,
        ((a.session_id, a.doctor_id, a.locked) for a in assignments),
        min_rest=timedelta(hours=problem.min_rest_hours),
    )


# --- the flows ---------------------------------------------------------------------------------


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


def _unit_cost(k: int, target: float, doctor: Doctor, weight: float) -> int:
    """Marginal cost of a GP's k-th session of a category: convex (non-decreasing) in k.

    The marginal of ``(k − T)² / w`` (``w`` the GP's weight; 1 for a commitment), plus the
    band term (−BAND up to ``floor(T)``, +BAND past ``ceil(T)``). Minimising a sum of
    ``x_g² / w_g`` over the loads a flow allows gives the loads that are lexicographically
    min-max per unit of weight (Fujishige's lexicographically optimal base): water-filling
    below the caps the min-max levels set. The band keeps every GP within
    ``[floor T, ceil T]`` first whenever that is feasible. A commitment is firmer than a
    share: its band counts twice, so GPs sharing by weight absorb what a site can't hold.
    """
    committed = doctor.target_sessions is not None
    band = BAND * (2 if committed else 1)
    w = 1.0 if committed else weight
    if k <= math.floor(target):
        offset = -band
    elif k > math.ceil(target):
        offset = band
    else:
        offset = 0
    return offset + round(SCALE * (2 * k - 1 - 2 * target) / w)


@dataclass
class _Held:
    """What GPs already hold (locked, or fixed by an earlier pass): counts the caps subtract."""

    per_day: dict[tuple[int, date], int] = field(default_factory=lambda: defaultdict(int))
    per_week: dict[tuple[int, tuple[int, int]], int] = field(
        default_factory=lambda: defaultdict(int)
    )
    total: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    per_category: dict[tuple[int, str], int] = field(default_factory=lambda: defaultdict(int))
    per_session: dict[int, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, doctor_id: int, session: Session) -> None:
        self.per_day[(doctor_id, session.local_date)] += 1
        self.per_week[(doctor_id, iso_week(session.local_date))] += 1
        self.total[doctor_id] += 1
        self.per_category[(doctor_id, session.category)] += 1
        self.per_session[session.id] += 1


class _Network:
    """The flow network of a round, built once and re-solved with other capacities.

        source → session [open places] → (GP, day) [max per day] → (GP, ISO week)
               [max per week] → GP → sink [cap]

    Arrays (numpy) so that OR-Tools builds each solver in C++; only the capacities of the
    source arcs (which sessions take part), of the day and week arcs (what is already held)
    and of the GP → sink arcs (the caps of the min-max levels) change between solves.
    """

    def __init__(
        self,
        problem: Problem,
        sessions: Sequence[Session],
        forbidden: set[tuple[int, int]],
        excluded: set[tuple[int, int]],
    ) -> None:
        import numpy as np

        self.np = np
        self.problem = problem
        self.sessions = list(sessions)
        self.doctors = sorted(problem.doctors, key=lambda d: d.id)
        by_site: dict[int, list[Doctor]] = defaultdict(list)
        for doctor in self.doctors:
            for site_id in sorted(doctor.site_ids):
                by_site[site_id].append(doctor)
        self.session_node = {s.id: 2 + i for i, s in enumerate(self.sessions)}
        next_node = 2 + len(self.sessions)
        day_node: dict[tuple[int, date], int] = {}
        sd_tail, sd_head, sd_cost, sd_session, sd_doctor = [], [], [], [], []
        self.days_of: dict[int, set[date]] = defaultdict(set)
        for session in self.sessions:
            for doctor in by_site[session.site_id]:
                if (
                    (session.id, doctor.id) in forbidden
                    or (session.id, doctor.id) in excluded
                    or not is_available(doctor, session)
                ):
                    continue
                key = (doctor.id, session.local_date)
                if key not in day_node:
                    day_node[key] = next_node
                    next_node += 1
                    self.days_of[doctor.id].add(session.local_date)
                sd_tail.append(self.session_node[session.id])
                sd_head.append(day_node[key])
                sd_cost.append(_wish_cost(doctor, session))
                sd_session.append(session.id)
                sd_doctor.append(doctor.id)
        week_node: dict[tuple[int, tuple[int, int]], int] = {}
        self.day_keys = list(day_node)
        dw_head = []
        for doctor_id, day in self.day_keys:
            key = (doctor_id, iso_week(day))
            if key not in week_node:
                week_node[key] = next_node
                next_node += 1
            dw_head.append(week_node[key])
        self.week_keys = list(week_node)
        self.doctor_node = {}
        for doctor in self.doctors:
            if doctor.id in self.days_of:
                self.doctor_node[doctor.id] = next_node
                next_node += 1
        self.active = [d for d in self.doctors if d.id in self.doctor_node]
        self.node_count = next_node
        self.sd_session = np.array(sd_session, dtype=np.int64)
        self.sd_doctor = np.array(sd_doctor, dtype=np.int64)
        self.sd_cost = np.array(sd_cost, dtype=np.int64)
        n_s, n_sd, n_dw, n_wg = (
            len(self.sessions),
            len(sd_tail),
            len(self.day_keys),
            len(self.week_keys),
        )
        tails = np.concatenate(
            [
                np.zeros(n_s, dtype=np.int64),
                np.array(sd_tail, dtype=np.int64),
                np.array([day_node[k] for k in self.day_keys], dtype=np.int64),
                np.array([week_node[k] for k in self.week_keys], dtype=np.int64),
            ]
        )
        heads = np.concatenate(
            [
                np.array([self.session_node[s.id] for s in self.sessions], dtype=np.int64),
                np.array(sd_head, dtype=np.int64),
                np.array(dw_head, dtype=np.int64),
                np.array([self.doctor_node[d] for d, _ in self.week_keys], dtype=np.int64),
            ]
        )
        self.tails, self.heads = tails, heads
        self.sd_slice = slice(n_s, n_s + n_sd)
        self.n_body = n_s + n_sd + n_dw + n_wg
        self.n_s, self.n_sd, self.n_dw = n_s, n_sd, n_dw
        self.doctor_of = {d.id: d for d in self.doctors}

    def body_capacities(self, categories: Iterable[str], held: _Held) -> object:
        """Capacities of every arc but the GP → sink ones, given what is already held."""
        np = self.np
        wanted = set(categories)
        doctors = self.doctor_of
        source = [
            max(0, s.gps_needed - held.per_session[s.id]) if s.category in wanted else 0
            for s in self.sessions
        ]
        day = [max(0, doctors[d].max_per_day - held.per_day[(d, day)]) for d, day in self.day_keys]
        week = []
        for d, wk in self.week_keys:
            limit = doctors[d].max_per_week
            week.append(
                len(self.days_of[d]) * doctors[d].max_per_day
                if limit is None
                else max(0, limit - held.per_week[(d, wk)])
            )
        return np.concatenate(
            [
                np.array(source, dtype=np.int64),
                np.ones(self.n_sd, dtype=np.int64),
                np.array(day, dtype=np.int64),
                np.array(week, dtype=np.int64),
            ]
        )

    def room(self, doctor: Doctor, held: _Held) -> int:
        """The most a GP could still take: their days, and their period maximum."""
        room = len(self.days_of[doctor.id]) * doctor.max_per_day
        if doctor.max_per_period is not None:
            room = min(room, doctor.max_per_period - held.total[doctor.id])
        return max(0, room)

    def max_flow_search(
        self,
        body: object,
        caps_for: Callable[[float], list[int]],
        candidates: Sequence[float],
        required: int | None = None,
    ) -> tuple[int, float | None]:
        """(max flow without caps, the smallest candidate whose caps still reach it, or reach
        ``required`` places when given).

        ``caps_for(λ)`` gives each active GP's GP → sink capacity (``inf`` as a large value).
        The maximum flow is non-decreasing in λ, so a binary search over the sorted candidates
        finds the smallest one that loses no place: every value in between changes no cap.
        """
        from ortools.graph.python import max_flow

        np = self.np
        solver = max_flow.SimpleMaxFlow()
        solver.add_arcs_with_capacity(self.tails, self.heads, body)
        top = solver.add_arcs_with_capacity(
            np.array([self.doctor_node[d.id] for d in self.active], dtype=np.int64),
            np.ones(len(self.active), dtype=np.int64),
            np.zeros(len(self.active), dtype=np.int64),
        )

        def flow_at(caps: list[int]) -> int:
            solver.set_arcs_capacity(top, np.array(caps, dtype=np.int64))
            if solver.solve(0, 1) != solver.OPTIMAL:
                raise RuntimeError("max flow failed")
            return solver.optimal_flow()

        best = flow_at(caps_for(math.inf))
        need = best if required is None else min(best, required)
        if best == 0 or not candidates:
            return best, None
        lo, hi = 0, len(candidates) - 1
        if flow_at(caps_for(candidates[hi])) < need:
            return best, None
        while lo < hi:
            mid = (lo + hi) // 2
            if flow_at(caps_for(candidates[mid])) >= need:
                hi = mid
            else:
                lo = mid + 1
        return best, candidates[lo]

    def min_cost(
        self,
        body: object,
        units: dict[int, list[int]],
        arc_cost: object | None = None,
    ) -> list[Assignment]:
        """A maximum flow of minimum cost; ``units[g]`` the costs of the GP's next sessions
        (one unit arc each, non-decreasing). ``arc_cost``: the session → GP arcs' costs
        (default: wish costs)."""
        from ortools.graph.python import min_cost_flow

        np = self.np
        solver = min_cost_flow.SimpleMinCostFlow()
        costs = np.zeros(self.n_body, dtype=np.int64)
        costs[self.sd_slice] = self.sd_cost if arc_cost is None else arc_cost
        solver.add_arcs_with_capacity_and_unit_cost(self.tails, self.heads, body, costs)
        top_tails, top_costs = [], []
        for d in self.active:
            for cost in units.get(d.id, ()):
                top_tails.append(self.doctor_node[d.id])
                top_costs.append(cost)
        if top_tails:
            solver.add_arcs_with_capacity_and_unit_cost(
                np.array(top_tails, dtype=np.int64),
                np.ones(len(top_tails), dtype=np.int64),
                np.ones(len(top_tails), dtype=np.int64),
                np.array(top_costs, dtype=np.int64),
            )
        total = int(np.asarray(body)[: self.n_s].sum())
        if not total or not top_tails:
            return []
        supplies = np.zeros(self.node_count, dtype=np.int64)
        supplies[0], supplies[1] = total, -total
        solver.set_nodes_supplies(np.arange(self.node_count, dtype=np.int64), supplies)
        if solver.solve_max_flow_with_min_cost() != solver.OPTIMAL:
            raise RuntimeError("min-cost flow failed")
        flows = solver.flows(np.arange(self.sd_slice.start, self.sd_slice.stop, dtype=np.int64))
        chosen = np.nonzero(flows > 0)[0]
        return [Assignment(int(self.sd_session[i]), int(self.sd_doctor[i]), False) for i in chosen]


BIG = 1 << 30


@dataclass(frozen=True)
class _Levels:
    """What the min-max levels proved on the flow network (no rest rule: a relaxation)."""

    fill: int  # F*: the most places any rota can fill
    overall: float | None  # λ*: smallest max load per unit of weight (net of owed) at F*
    weekend_fill: int
    weekend: float | None  # μ*: same for weekend/holiday, within the overall caps


class _Planner:
    """One round of the solver: levels by binary search, then convex-cost passes."""

    def __init__(
        self,
        problem: Problem,
        ordered: Sequence[Session],
        forbidden: set[tuple[int, int]],
        locked: Sequence[Assignment],
        goal: dict[int, dict[str, float]],
        share: dict[int, dict[str, float]],
    ) -> None:
        self.problem = problem
        self.ordered = ordered
        self.sessions = {s.id: s for s in ordered}
        self.locked = list(locked)
        self.goal = goal
        days = period_days(problem)
        self.weight = {d.id: min_max_weight(d, days) for d in problem.doctors}
        # What each GP carries into the period (target − share), per category: the min-max
        # levels compare loads net of it, so that fairness holds over the year.
        self.carry = {
            d.id: {c: goal[d.id].get(c, 0.0) - share[d.id].get(c, 0.0) for c in CATEGORIES}
            for d in problem.doctors
        }
        self.net = _Network(
            problem, ordered, forbidden, {(a.session_id, a.doctor_id) for a in locked}
        )
        self.held = _Held()
        for a in locked:
            self.held.add(a.doctor_id, self.sessions[a.session_id])

    def cap_of(self, doctor: Doctor, lam: float, carry: float) -> int:
        """The GP's cap at level λ: ``floor(λ · p_g + carried_g)``."""
        if lam == math.inf:
            return BIG
        return math.floor(lam * self.weight[doctor.id] + carry + 1e-9)

    def _candidates(self, carry_of: Callable[[Doctor], float], held_of: Callable[[Doctor], int]):
        values: set[float] = set()
        for d in self.net.active:
            if d.target_sessions is not None:
                continue
            w = self.weight[d.id]
            start = held_of(d)
            for k in range(start, start + self.net.room(d, self.held) + 1):
                values.add(round((k - carry_of(d)) / w, 9))
        return sorted(values)

    def levels_and_caps(self) -> tuple[_Levels, dict[int, int], dict[int, int]]:
        """Binary searches for λ* (overall) and μ* (weekend/holiday); the caps they set.

        Returns the levels and, per GP, the cap on their total load and on their
        weekend/holiday load (locked sessions included).
        """
        net, held = self.net, self.held
        committed_cap: dict[int, int] = {}
        for d in net.active:
            if d.target_sessions is not None:
                committed_cap[d.id] = max(
                    held.total[d.id], round(sum(self.goal[d.id].get(c, 0.0) for c in CATEGORIES))
                )

        def total_caps(lam: float, relax: bool) -> list[int]:
            caps = []
            for d in net.active:
                room = net.room(d, held)
                if d.target_sessions is not None:
                    cap = room if relax else committed_cap[d.id] - held.total[d.id]
                else:
                    cap = self.cap_of(d, lam, sum(self.carry[d.id].values())) - held.total[d.id]
                caps.append(max(0, min(room, cap)))
            return caps

        body_all = net.body_capacities(CATEGORIES, held)
        candidates = self._candidates(
            lambda d: sum(self.carry[d.id].values()), lambda d: held.total[d.id]
        )
        relax = False
        fill, lam = net.max_flow_search(body_all, lambda x: total_caps(x, False), candidates)
        if lam is None and fill:
            relax = True  # commitments alone can't fill every place: they may go over
            fill, lam = net.max_flow_search(body_all, lambda x: total_caps(x, True), candidates)
        total_cap = {
            d.id: held.total[d.id] + c
            for d, c in zip(
                net.active, total_caps(lam if lam is not None else math.inf, relax), strict=True
            )
        }

        def weekend_caps(mu: float) -> list[int]:
            caps = []
            for d in net.active:
                cap = total_cap[d.id] - held.total[d.id]
                if d.target_sessions is None:
                    we = self.cap_of(d, mu, self.carry[d.id][WEEKEND_HOLIDAY])
                    cap = min(cap, we - held.per_category[(d.id, WEEKEND_HOLIDAY)])
                caps.append(max(0, cap))
            return caps

        body_we = net.body_capacities((WEEKEND_HOLIDAY,), held)
        we_candidates = self._candidates(
            lambda d: self.carry[d.id][WEEKEND_HOLIDAY],
            lambda d: held.per_category[(d.id, WEEKEND_HOLIDAY)],
        )
        # Any rota filling F* holds at least F* − (the most weekday places the overall caps
        # allow) weekend/holiday places: the weekend level needs no more than that.
        weekday_only, _ = net.max_flow_search(
            net.body_capacities((WEEKDAY,), held),
            lambda _: [max(0, total_cap[d.id] - held.total[d.id]) for d in net.active],
            [],
        )
        we_fill, mu = net.max_flow_search(
            body_we, weekend_caps, we_candidates, required=max(0, fill - weekday_only)
        )

        def we_cap_at(value: float | None) -> dict[int, int]:
            caps = weekend_caps(value if value is not None else math.inf)
            return {
                d.id: held.per_category[(d.id, WEEKEND_HOLIDAY)] + c
                for d, c in zip(net.active, caps, strict=True)
            }

        self.we_cap_at = we_cap_at
        self.we_candidates = [c for c in we_candidates if mu is None or c >= mu]
        return _Levels(fill, lam, we_fill, mu), total_cap, we_cap_at(mu)

    def _units(self, category: str, cap: dict[int, int], held: _Held) -> dict[int, list[int]]:
        units: dict[int, list[int]] = {}
        for d in self.net.active:
            room = min(self.net.room(d, held), cap[d.id])
            have = held.per_category[(d.id, category)]
            target = self.goal[d.id].get(category, 0.0)
            units[d.id] = [
                _unit_cost(k, target, d, self.weight[d.id])
                for k in range(have + 1, have + room + 1)
            ]
        return units

    def plan(self) -> tuple[list[Assignment], _Levels]:
        """Weekend/holiday within both caps, then weekdays within the overall cap.

        When the two passes in sequence fill ``F*`` at the weekend bound ``μ*`` of the flow
        relaxation, the weekend level is proven optimal (it can't be below ``μ*``). They may
        not: a weekly maximum (or the overall cap) couples a GP's weekend and weekday places,
        which the network can't express. Then the weekend cap is raised by a few probes
        (binary search, flows only) to find *a* level that fills everything, and an exact
        search (``_exact_weekend``: CP-SAT over the same network plus the weekend caps) finds
        the smallest one, or proves the probe's. Failing that (a model too large, or no answer
        within its deterministic limit), one flow over every category within the overall caps
        takes the places back, changing as little as it can (the figures show the gap).
        """
        levels, total_cap, we_cap = self.levels_and_caps()
        chosen = self._sequential(total_cap, we_cap)
        if len(chosen) >= levels.fill:
            return chosen, levels
        candidates = self.we_candidates
        lo, hi = 0, len(candidates) - 1
        best, best_index = None, None
        for _ in range(MAX_WEEKEND_PROBES):
            if lo > hi:
                break
            mid = (lo + hi) // 2
            trial = self._sequential(total_cap, self.we_cap_at(candidates[mid]))
            if len(trial) >= levels.fill:
                best, best_index, hi = trial, mid, mid - 1
            else:
                lo = mid + 1
        if best_index == 0:
            return best, levels  # the relaxation's bound is reached: optimal
        fallback = best if best is not None else self._fill(chosen, total_cap)
        exact = self._exact_weekend(total_cap, levels, fallback)
        if exact is not None:
            return exact
        return fallback, levels

    def _sequential(
        self,
        total_cap: dict[int, int],
        we_cap: dict[int, int],
        week_we: dict[tuple[int, tuple[int, int]], int] | None = None,
    ) -> list[Assignment]:
        """The weekend/holiday pass within both caps, then the weekday pass within the overall
        cap. ``week_we``: at most that many new weekend/holiday sessions per (GP, ISO week),
        the split an exact search found (absent pairs: none)."""
        net = self.net
        held = _Held()
        for a in self.locked:
            held.add(a.doctor_id, self.sessions[a.session_id])
        caps = {
            d.id: min(
                total_cap[d.id] - held.total[d.id],
                we_cap[d.id] - held.per_category[(d.id, WEEKEND_HOLIDAY)],
            )
            for d in net.active
        }
        body = net.body_capacities((WEEKEND_HOLIDAY,), held)
        if week_we is not None:
            first = net.n_s + net.n_sd + net.n_dw
            for i, key in enumerate(net.week_keys):
                body[first + i] = min(body[first + i], week_we.get(key, 0))
        chosen = net.min_cost(body, self._units(WEEKEND_HOLIDAY, caps, held))
        for a in chosen:
            held.add(a.doctor_id, self.sessions[a.session_id])
        caps = {d.id: total_cap[d.id] - held.total[d.id] for d in net.active}
        chosen += net.min_cost(
            net.body_capacities((WEEKDAY,), held), self._units(WEEKDAY, caps, held)
        )
        return chosen

    def _weekend_level_index(self, chosen: Sequence[Assignment]) -> int:
        """The index in ``we_candidates`` of the weekend level ``chosen`` reaches."""
        loads: dict[int, int] = defaultdict(int)
        for a in [*self.locked, *chosen]:
            if self.sessions[a.session_id].category == WEEKEND_HOLIDAY:
                loads[a.doctor_id] += 1
        worst = -math.inf
        for d in self.net.active:
            if d.target_sessions is None:
                carry = self.carry[d.id][WEEKEND_HOLIDAY]
                worst = max(worst, round((loads[d.id] - carry) / self.weight[d.id], 9))
        candidates = self.we_candidates
        index = next((i for i, c in enumerate(candidates) if c >= worst - 1e-9), None)
        return len(candidates) - 1 if index is None else index

    def _exact_weekend(
        self, total_cap: dict[int, int], levels: _Levels, hint: Sequence[Assignment]
    ) -> tuple[list[Assignment], _Levels] | None:
        """The smallest weekend/holiday level that still fills ``F*`` within the overall caps,
        by CP-SAT on the round's network (every hard rule the flows hold, weekly maxima
        included) plus the weekend caps; ``hint`` (a rota filling ``F*``) starts it.

        Returns the rota and the levels with the proven weekend bound, or ``None`` when the
        model is too large (``EXACT_MAX_ARCS``) or nothing better is known. Deterministic:
        one worker, a fixed seed and a *deterministic* time limit.
        """
        net = self.net
        candidates = self.we_candidates
        if not candidates or net.n_sd > EXACT_MAX_ARCS:
            return None
        upper = self._weekend_level_index(hint)
        if upper == 0:
            return list(hint), levels  # the relaxation's bound is reached: optimal
        found = _weekend_search(self, total_cap, levels.fill, upper, hint)
        if found is None:
            return None
        index, proven, week_we = found
        levels = replace(levels, weekend=candidates[proven])
        if index == upper:
            return list(hint), levels
        we_cap = self.we_cap_at(candidates[index])
        trial = self._sequential(total_cap, we_cap)
        if len(trial) < levels.fill:
            trial = self._sequential(total_cap, we_cap, week_we)
        if len(trial) < levels.fill:  # pragma: no cover - the split's own rota fills F*
            return list(hint), levels
        return trial, levels

    def _fill(self, chosen: list[Assignment], total_cap: dict[int, int]) -> list[Assignment]:
        net, np = self.net, self.net.np
        prefer = {(a.session_id, a.doctor_id) for a in chosen}
        kept = np.array(
            [
                0 if (int(s), int(d)) in prefer else 1
                for s, d in zip(net.sd_session, net.sd_doctor, strict=True)
            ],
            dtype=np.int64,
        )
        units = {
            d.id: [0] * max(0, min(net.room(d, self.held), total_cap[d.id] - self.held.total[d.id]))
            for d in net.active
        }
        refilled = net.min_cost(net.body_capacities(CATEGORIES, self.held), units, kept)
        return refilled if len(refilled) > len(chosen) else chosen


def _weekend_search(
    planner: _Planner,
    total_cap: dict[int, int],
    fill: int,
    upper: int,
    hint: Sequence[Assignment],
) -> tuple[int, int, dict[tuple[int, tuple[int, int]], int]] | None:
    """CP-SAT: the smallest index ``t ≤ upper`` into the weekend candidates such that some
    rota of the round's network fills ``fill`` places within the overall caps with every
    GP's weekend/holiday load at most ``floor(candidate[t] · p_g + carried_g)``.

    One boolean per arc session → (GP, day) of the network (site, availability, rest repairs
    and locks already applied), and the network's capacities as constraints: open places per
    session, maxima per day, per ISO week and per period (in the overall cap). Returns
    (the index found, the index proven as a lower bound, new weekend/holiday sessions per
    (GP, ISO week) in the rota found), or ``None`` if CP-SAT found nothing in its limit.
    """
    from ortools.sat.python import cp_model

    net, held, sessions = planner.net, planner.held, planner.sessions
    candidates = planner.we_candidates
    model = cp_model.CpModel()
    x = [model.new_bool_var(f"x{i}") for i in range(net.n_sd)]
    groups: dict[tuple, list] = defaultdict(list)
    weekend_arcs: list[int] = []
    for i, var in enumerate(x):
        s, g = sessions[int(net.sd_session[i])], int(net.sd_doctor[i])
        week = iso_week(s.local_date)
        for key in (("s", s.id), ("d", g, s.local_date), ("w", g, week), ("g", g)):
            groups[key].append(var)
        if s.category == WEEKEND_HOLIDAY:
            groups[("e", g)].append(var)
            weekend_arcs.append(i)
    doctors = net.doctor_of
    for key, members in groups.items():
        limit = _weekend_search_limit(key, planner, total_cap, sessions, doctors)
        if limit is not None and limit < len(members):
            model.add(sum(members) <= max(0, limit))
    model.add(sum(x) >= fill)
    level = model.new_int_var(0, upper, "level")
    chosen = {(a.session_id, a.doctor_id) for a in hint}
    for d in net.active:
        members = groups.get(("e", d.id))
        if d.target_sessions is not None or not members:
            continue
        have = held.per_category[(d.id, WEEKEND_HOLIDAY)]
        carry = planner.carry[d.id][WEEKEND_HOLIDAY]
        values = [max(0, planner.cap_of(d, c, carry) - have) for c in candidates[: upper + 1]]
        if values[0] >= len(members):
            continue
        cap = model.new_int_var(values[0], values[-1], f"cap{d.id}")
        model.add_element(level, values, cap)
        model.add(sum(members) <= cap)
        model.add_hint(cap, values[-1])
    for i, var in enumerate(x):
        model.add_hint(var, (int(net.sd_session[i]), int(net.sd_doctor[i])) in chosen)
    model.add_hint(level, upper)
    model.minimize(level)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 0
    solver.parameters.max_deterministic_time = EXACT_DETERMINISTIC_SECONDS
    # The model is already the flow network's, with a complete hint: presolve and the LP
    # relaxation cost ten times more than they save (35,000 arcs: 6 s of CPU instead of 59).
    solver.parameters.cp_model_presolve = False
    solver.parameters.linearization_level = 0
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    index = int(solver.value(level))
    proven = index if status == cp_model.OPTIMAL else math.ceil(solver.best_objective_bound - 1e-9)
    week_we: dict[tuple[int, tuple[int, int]], int] = defaultdict(int)
    for i in weekend_arcs:
        if solver.value(x[i]):
            s = sessions[int(net.sd_session[i])]
            week_we[(int(net.sd_doctor[i]), iso_week(s.local_date))] += 1
    return index, max(0, min(proven, index)), dict(week_we)


def _weekend_search_limit(
    key: tuple,
    planner: _Planner,
    total_cap: dict[int, int],
    sessions: dict[int, Session],
    doctors: dict[int, Doctor],
) -> int | None:
    """The network's capacity for one group of arcs of the exact search (``None``: none)."""
    held = planner.held
    kind = key[0]
    if kind == "s":
        return sessions[key[1]].gps_needed - held.per_session[key[1]]
    if kind == "d":
        return doctors[key[1]].max_per_day - held.per_day[(key[1], key[2])]
    if kind == "w":
        limit = doctors[key[1]].max_per_week
        return None if limit is None else limit - held.per_week[(key[1], key[2])]
    if kind == "g":
        return total_cap[key[1]] - held.total[key[1]]
    return None  # "e": the weekend caps, set by the level


def solve(problem: Problem, *, spreading: bool = True) -> Solution:
    """Fill every place that can be filled, min-max fair per unit of weight, then spread.

    Deterministic. ``spreading=False`` returns the rota of the flows alone (the first
    feasible one), which the bench and the tests compare with the spread one.
    """
    doctors = {d.id: d for d in problem.doctors}
    sessions = {s.id: s for s in problem.sessions}
    ordered_sessions = sorted(problem.sessions, key=lambda s: (s.starts_at, s.site_id, s.id))
    min_rest = timedelta(hours=problem.min_rest_hours)
    share = shares(problem)
    goal = targets(problem, share)

    locked = [Assignment(lock.session_id, lock.doctor_id, True) for lock in problem.locks]
    broken = violations(problem, locked)
    if broken:
        raise InvalidProblem("locked assignments break hard rules: " + "; ".join(map(str, broken)))

    forbidden: set[tuple[int, int]] = set()
    result: list[Assignment] = []
    levels = _Levels(0, None, 0, None)
    for round_number in range(MAX_REPAIR_ROUNDS):
        planner = _Planner(problem, ordered_sessions, forbidden, locked, goal, share)
        chosen, found = planner.plan()
        if round_number == 0:
            levels = found  # the bounds of the relaxation: no rest rule, nothing forbidden
        result = [*locked, *chosen]
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
    context = _context(problem, share)
    explanations = {
        d.id: _explain(d, mine[d.id], sessions, goal[d.id], share[d.id], context)
        for d in problem.doctors
    }
    figures = quality_figures(problem, result, goal, share)
    # Every rota holds the locks and gives no GP fewer than 0 sessions: the levels of the locks
    # alone (net of what is carried) bound both maxima too, where the caps were clipped at 0.
    floor = load_per_weight_figures(problem, locked, goal, share)
    for key, level in (
        ("lower_bound_load_per_weight", levels.overall),
        ("lower_bound_load_per_weight_weekend_holiday", levels.weekend),
    ):
        known = floor[key.replace("lower_bound_", "max_")]
        figures[key] = round(max(level, known), 3) if level is not None else known
    return Solution(
        assignments=tuple(result),
        unfilled=tuple(unfilled),
        explanations=explanations,
        figures=figures,
    )


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


@dataclass(frozen=True)
class SitePressure:
    """A site whose own GPs can't hold its places at the territory's load per unit of weight.

    ``per_weight`` is the site's places ÷ the weights of the GPs practising there (committed
    GPs count with their commitment taken out of the places); above ``territory``, those GPs
    must take more than their share even if they worked nowhere else.
    """

    site_id: int
    site_name: str
    places: int
    gps: int
    per_weight: float
    territory: float

    @property
    def extra_per_weight(self) -> float:
        return self.per_weight - self.territory


def site_pressure(problem: Problem, *, tolerance: float = 1.05) -> list[SitePressure]:
    """The sites whose staffing forces unequal loads, most pressed first.

    A site is named when its places per unit of weight of the GPs practising there exceed the
    territory's (all places ÷ all weights) by more than ``tolerance``: a necessary imbalance,
    whatever the solver does.
    """
    days = period_days(problem)
    weight = {d.id: participation(d, days) for d in problem.doctors if d.target_sessions is None}
    total_weight = sum(weight.values())
    places_all = sum(s.gps_needed for s in problem.sessions)
    if not total_weight:
        return []
    territory = places_all / total_weight
    places: dict[int, int] = defaultdict(int)
    names: dict[int, str] = {}
    for s in problem.sessions:
        places[s.site_id] += s.gps_needed
        names[s.site_id] = s.site_name or f"lieu {s.site_id}"
    found = []
    for site_id in sorted(places):
        at_site = [d for d in problem.doctors if site_id in d.site_ids]
        w = sum(weight.get(d.id, 0.0) for d in at_site)
        per_weight = places[site_id] / w if w else math.inf
        if per_weight > territory * tolerance:
            found.append(
                SitePressure(
                    site_id, names[site_id], places[site_id], len(at_site), per_weight, territory
                )
            )
    return sorted(found, key=lambda p: (-p.per_weight, p.site_id))


@dataclass(frozen=True)
class _Context:
    """What explanations share: the period's days and the pressed sites."""

    days: tuple[date, ...]
    pressed: dict[int, SitePressure]
    per_weight: float  # places shared by weight ÷ the participation of those sharing


def _context(problem: Problem, share: dict[int, dict[str, float]]) -> _Context:
    days = period_days(problem)
    sharing = [d for d in problem.doctors if d.target_sessions is None]
    weight = sum(participation(d, days) for d in sharing)
    shared = sum(sum(share[d.id].values()) for d in sharing)
    return _Context(
        days,
        {p.site_id: p for p in site_pressure(problem)},
        shared / weight if weight else 0.0,
    )


def _decimal(value: float) -> str:
    return f"{value:.1f}".replace(".", ",")


def absence_effects(
    doctor: Doctor, days: Sequence[date], share_total: float, per_weight: float
) -> list[tuple[date, date, bool, float]]:
    """Each absence over the period: (first day, last day, exempt, places carried or waived).

    A plain absence carries what the GP would have held on those days (their share pro rata);
    an exempting one waives it (``per_weight``, the places per unit of weight shared by
    weight, times the GP's weight, pro rata: it was taken out of the share). Days at noon, UTC.
    """
    if not days:
        return []
    effects = []
    weight = max(doctor.weight, 0.0)
    for u in doctor.unavailable:
        covered = [
            d for d in days if u.start <= datetime(d.year, d.month, d.day, 12, tzinfo=UTC) < u.end
        ]
        if not covered:
            continue
        if u.exempt:
            amount = per_weight * weight * len(covered) / len(days)
        else:
            amount = share_total * len(covered) / len(days)
        effects.append((covered[0], covered[-1], u.exempt, amount))
    return effects


def _share_text(
    doctor: Doctor,
    load_total: int,
    goal: dict[str, float],
    share: dict[str, float],
    context: _Context,
) -> str:
    """Share, carry-over, absences and why the load differs from the target, in French."""
    text = ""
    share_total = sum(share.values())
    target_total = sum(goal.values())
    text += f" Part équitable de la période : {_decimal(share_total)} plage(s)."
    carried = target_total - share_total
    if abs(carried) >= 0.05:
        text += (
            f" Report des périodes précédentes : {'+' if carried > 0 else ''}"
            f"{_decimal(carried)} plage(s)."
        )
    for first, last, exempt, amount in absence_effects(
        doctor, context.days, share_total, context.per_weight
    ):
        when = f"du {first:%d/%m} au {last:%d/%m}" if first != last else f"le {first:%d/%m}"
        if exempt:
            text += f" Absence exemptée {when} : part réduite de {_decimal(amount)} plage(s)."
        else:
            text += f" Absence {when} : {_decimal(amount)} plage(s) reportée(s)."
    if load_total > target_total + 0.5:
        pressed = [context.pressed[s] for s in sorted(doctor.site_ids) if s in context.pressed]
        if pressed:
            p = pressed[0]
            text += (
                f" Le site {p.site_name} n'a que {p.gps} médecin(s) pour {p.places} places : "
                f"{_decimal(load_total - target_total)} plage(s) de plus que votre part."
            )
    elif load_total < target_total - 0.5:
        text += (
            f" {_decimal(target_total - load_total)} plage(s) de moins que votre cible : "
            "reportée(s) aux périodes suivantes."
        )
    return text


def _explain(
    doctor: Doctor,
    held: Sequence[Assignment],
    sessions: dict[int, Session],
    goal: dict[str, float],
    share: dict[str, float],
    context: _Context,
) -> Explanation:
    """The French text a GP reads: share, load, why they differ; commitment, wishes, spreading.

    ``held`` is this GP's assignments only (grouped by the caller: one pass, not one per GP).
    """
    mine = [sessions[a.session_id] for a in held]
    loads = {c: sum(1 for s in mine if s.category == c) for c in CATEGORIES}
    total = honoured = 0
    for s in mine:
        t, h = _wishes(doctor, s)
        total, honoured = total + t, honoured + h
    parts = [
        f"{loads[c]} plage(s) de {CATEGORY_LABELS[c]} pour une cible de {_decimal(goal.get(c, 0.0))}"
        for c in CATEGORIES
    ]
    text = "; ".join(parts) + "."
    if doctor.target_sessions is None:
        text += _share_text(doctor, len(mine), goal, share, context)
    if doctor.target_sessions is not None:
        text += f" Engagement : {doctor.target_sessions} plage(s) sur la période."
    locked_count = sum(1 for a in held if a.locked)
    if locked_count:
        text += f" Dont {locked_count} plage(s) choisie(s) ou verrouillée(s)."
    if total:
        text += f" Souhaits respectés : {honoured} sur {total}."
    close = close_pairs(mine)
    if close:
        text += f" {close} paire(s) de plages à moins de {SPREAD_DAYS} jours d'écart."
    elif len(mine) > 1:
        text += f" Plages espacées d'au moins {SPREAD_DAYS} jours."
    if not mine and not any(goal.values()):
        text = "Aucune plage possible : aucun lieu ou aucune disponibilité sur la période."
    return Explanation(doctor.id, loads, dict(goal), total, honoured, text, dict(share))


def quality_figures(
    problem: Problem,
    result: Sequence[Assignment],
    goal: dict[int, dict[str, float]],
    share: dict[int, dict[str, float]] | None = None,
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
    figures.update(load_per_weight_figures(problem, result, goal, share))
    return figures


def load_per_weight_figures(
    problem: Problem,
    result: Sequence[Assignment],
    goal: dict[int, dict[str, float]],
    share: dict[int, dict[str, float]] | None = None,
) -> dict[str, float]:
    """Max load per unit of weight (overall, weekend/holiday) over the GPs sharing by weight,
    and the sum of squared deviations from the targets (every GP, per category).

    The load counts net of what the GP carries from earlier periods (target − share), as the
    min-max levels do, so that it compares with their proven lower bounds; with nothing
    carried it is plainly sessions ÷ weight. The weight is the participation (reduced by
    exempting absences), at least ``MIN_WEIGHT``.
    """
    share = shares(problem) if share is None else share
    category = {s.id: s.category for s in problem.sessions}
    days = period_days(problem)
    loads: dict[tuple[int, str], int] = defaultdict(int)
    for a in result:
        loads[(a.doctor_id, category[a.session_id])] += 1
    overall = weekend = -math.inf
    squares = 0.0
    for d in problem.doctors:
        for c in CATEGORIES:
            squares += (loads[(d.id, c)] - goal[d.id].get(c, 0.0)) ** 2
        if d.target_sessions is not None:
            continue
        w = min_max_weight(d, days)
        carry = {c: goal[d.id].get(c, 0.0) - share[d.id].get(c, 0.0) for c in CATEGORIES}
        overall = max(
            overall, (sum(loads[(d.id, c)] for c in CATEGORIES) - sum(carry.values())) / w
        )
        weekend = max(weekend, (loads[(d.id, WEEKEND_HOLIDAY)] - carry[WEEKEND_HOLIDAY]) / w)
    return {
        "max_load_per_weight": round(overall, 3) if overall > -math.inf else 0.0,
        "max_load_per_weight_weekend_holiday": round(weekend, 3) if weekend > -math.inf else 0.0,
        "squared_deviation": round(squares, 3),
    }
