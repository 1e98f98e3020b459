"""Fairness figures and the server-rendered SVG bar chart of load vs target (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from app.collation import french_key
from rota import engine


@dataclass(frozen=True)
class FairnessRow:
    """A GP's figures for a period: load and target (share + carried) per category."""

    doctor_id: int
    name: str
    loads: dict[str, int]
    targets: dict[str, float]
    shares: dict[str, float] = field(default_factory=dict)  # before what was carried

    @property
    def total_share(self) -> float:
        return sum(self.shares.values())

    @property
    def carried(self) -> float:
        return self.total_target - self.total_share

    @property
    def total(self) -> int:
        return sum(self.loads.values())

    @property
    def total_target(self) -> float:
        return sum(self.targets.values())

    def deviation(self, category: str) -> float:
        return self.loads.get(category, 0) - self.targets.get(category, 0.0)


def fairness_rows(problem: engine.Problem, held: Sequence[tuple[int, int]]) -> list[FairnessRow]:
    """One row per GP from (session id, doctor id) pairs, sorted by name (a period not yet
    published: computed from today's roster; a published one reads the ledger instead)."""
    goal = engine.targets(problem)
    share = engine.shares(problem)
    category = {s.id: s.category for s in problem.sessions}
    loads: dict[int, dict[str, int]] = {
        d.id: dict.fromkeys(engine.CATEGORIES, 0) for d in problem.doctors
    }
    for session_id, doctor_id in held:
        if doctor_id in loads and session_id in category:
            loads[doctor_id][category[session_id]] += 1
    rows = [
        FairnessRow(d.id, d.name, loads[d.id], goal[d.id], share[d.id]) for d in problem.doctors
    ]
    return sorted(rows, key=lambda r: (french_key(r.name), r.doctor_id))


def ledger_rows(entries: Sequence[tuple[int, str, str, float, float, int]]) -> list[FairnessRow]:
    """Rows from ledger entries (GP id, name, category, share, carried, load), by name."""
    by_gp: dict[int, tuple[str, dict[str, int], dict[str, float], dict[str, float]]] = {}
    for gp_id, name, category, share, carried, load in entries:
        _, loads, targets, shares = by_gp.setdefault(
            gp_id,
            (
                name,
                dict.fromkeys(engine.CATEGORIES, 0),
                dict.fromkeys(engine.CATEGORIES, 0.0),
                dict.fromkeys(engine.CATEGORIES, 0.0),
            ),
        )
        loads[category] = load
        targets[category] = share + carried
        shares[category] = share
    rows = [FairnessRow(gp, *values) for gp, values in by_gp.items()]
    return sorted(rows, key=lambda r: (french_key(r.name), r.doctor_id))


@dataclass(frozen=True)
class Bar:
    label: str
    y: float
    load_width: float
    target_x: float
    load: int
    target: float
    over: bool


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    label_width: int
    scale_max: int
    bars: tuple[Bar, ...]
    ticks: tuple[tuple[float, int], ...]
    legend: tuple[tuple[str, str], ...] = ()  # (CSS class of the mark, what it means)


LOAD_KEY = ("bar", "Plages attribuées")
OVER_KEY = ("bar over", "Plages attribuées, plus d'une au-dessus de la cible")
TARGET_KEY = ("target", "Cible équitable (part et report)")


def bar_chart(rows: Sequence[FairnessRow], *, width: int = 720, bar_height: int = 18) -> Chart:
    """Geometry of a horizontal bar chart: one bar (load) and one tick (target) per GP."""
    label_width = 200
    plot = width - label_width - 20
    scale_max = max([1, *(r.total for r in rows), *(int(r.total_target + 0.999) for r in rows)])
    unit = plot / scale_max
    bars = tuple(
        Bar(
            label=r.name,
            y=10 + i * (bar_height + 6),
            load_width=round(r.total * unit, 1),
            target_x=round(label_width + r.total_target * unit, 1),
            load=r.total,
            target=round(r.total_target, 1),
            over=r.total > r.total_target + 1,
        )
        for i, r in enumerate(rows)
    )
    step = max(1, scale_max // 8)
    ticks = tuple((round(label_width + k * unit, 1), k) for k in range(0, scale_max + 1, step))
    # Every kind of mark drawn is in the legend: the brown bars of GPs above target too.
    legend = (LOAD_KEY, *((OVER_KEY,) if any(b.over for b in bars) else ()), TARGET_KEY)
    return Chart(
        width, 30 + len(rows) * (bar_height + 6), label_width, scale_max, bars, ticks, legend
    )
