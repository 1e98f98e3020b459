"""Geometry of the indicators' SVG charts, drawn by the templates without JavaScript (pure).

Like the fairness chart of the rota: plain numbers in, frozen dataclasses of coordinates out;
the template draws them and puts the same figures in a table next to each chart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Segment:
    x: float
    width: float
    css: str
    label: str
    value: int


@dataclass(frozen=True)
class StackedRow:
    label: str
    y: float
    total: int
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class StackedChart:
    width: int
    height: int
    label_width: int
    rows: tuple[StackedRow, ...]
    ticks: tuple[tuple[float, int], ...]


def _ticks(left: float, unit: float, scale_max: int) -> tuple[tuple[float, int], ...]:
    step = max(1, -(-scale_max // 6))
    return tuple((round(left + k * unit, 1), k) for k in range(0, scale_max + 1, step))


def stacked_bars(
    rows: Sequence[tuple[str, Sequence[tuple[str, str, int]]]],
    *,
    width: int = 720,
    bar_height: int = 22,
    label_width: int = 170,
) -> StackedChart:
    """Horizontal bars, one per row, cut in segments ``(css class, label, value)``."""
    plot = width - label_width - 20
    scale_max = max([1, *(sum(v for _, _, v in parts) for _, parts in rows)])
    unit = plot / scale_max
    out = []
    for i, (label, parts) in enumerate(rows):
        x = float(label_width)
        segments = []
        for css, name, value in parts:
            w = round(value * unit, 1)
            if value:
                segments.append(Segment(round(x, 1), w, css, name, value))
            x += w
        out.append(
            StackedRow(
                label, 10 + i * (bar_height + 8), sum(v for _, _, v in parts), tuple(segments)
            )
        )
    height = 30 + len(rows) * (bar_height + 8)
    return StackedChart(
        width, height, label_width, tuple(out), _ticks(label_width, unit, scale_max)
    )


@dataclass(frozen=True)
class Column:
    label: str
    x: float
    width: float
    y: float
    height: float
    value: int
    inner_y: float
    inner_height: float
    inner_value: int


@dataclass(frozen=True)
class ColumnChart:
    width: int
    height: int
    base: float
    columns: tuple[Column, ...]
    ticks: tuple[tuple[float, int], ...]  # (y, value)
    every: int  # label every n-th column


def columns(
    values: Sequence[tuple[str, int, int]], *, width: int = 720, height: int = 220
) -> ColumnChart:
    """Vertical bars ``(label, value, inner value)``: bookings, and honoured inside them."""
    top, base = 10.0, float(height - 30)
    left = 40.0
    n = max(1, len(values))
    slot = (width - left - 10) / n
    scale_max = max([1, *(v for _, v, _ in values)])
    unit = (base - top) / scale_max
    cols = []
    for i, (label, value, inner) in enumerate(values):
        h, ih = round(value * unit, 1), round(inner * unit, 1)
        cols.append(
            Column(
                label,
                round(left + i * slot + slot * 0.1, 1),
                round(slot * 0.8, 1),
                round(base - h, 1),
                h,
                value,
                round(base - ih, 1),
                ih,
                inner,
            )
        )
    step = max(1, -(-scale_max // 5))
    ticks = tuple((round(base - k * unit, 1), k) for k in range(0, scale_max + 1, step))
    return ColumnChart(width, height, base, tuple(cols), ticks, max(1, -(-n // 12)))


@dataclass(frozen=True)
class HeatCell:
    x: int
    y: int
    value: int
    level: int  # 0 (none) to 5 (busiest)


@dataclass(frozen=True)
class HeatMap:
    width: int
    height: int
    cell: int
    left: int
    top: int
    hours: tuple[int, ...]  # the hours shown (columns)
    rows: tuple[tuple[str, tuple[HeatCell, ...]], ...]


def heat_map(
    grid: Sequence[Sequence[int]], day_labels: Sequence[str], *, cell: int = 26
) -> HeatMap:
    """Weekday × hour grid, every hour of the day: the same shape whatever the period."""
    hours = tuple(range(24))
    top_value = max([1, *(v for row in grid for v in row)])
    left, top = 80, 24
    rows = []
    for d, row in enumerate(grid):
        cells = tuple(
            HeatCell(
                left + i * cell,
                top + d * cell,
                row[h],
                0 if row[h] == 0 else 1 + min(4, (row[h] * 5 - 1) // top_value),
            )
            for i, h in enumerate(hours)
        )
        rows.append((day_labels[d], cells))
    return HeatMap(
        left + len(hours) * cell + 10, top + 7 * cell + 10, cell, left, top, hours, tuple(rows)
    )


@dataclass(frozen=True)
class ProgressBar:
    label: str
    y: float
    width: float
    goal_x: float
    reached: bool
    text: str


@dataclass(frozen=True)
class ProgressChart:
    width: int
    height: int
    label_width: int
    plot: float
    bars: tuple[ProgressBar, ...]
    legend: tuple[tuple[str, str], ...] = ()  # (CSS class of the mark, what it means)


def progress_bars(
    items: Sequence[tuple[str, float | None, str]], *, width: int = 720, label_width: int = 260
) -> ProgressChart:
    """Share of each goal reached ``(label, ratio or None, text)``, the goal at 100 %; bars
    stop at 150 % so one runaway figure doesn't flatten the others."""
    plot = width - label_width - 60
    unit = plot / 1.5
    bars = tuple(
        ProgressBar(
            label,
            10 + i * 30,
            round(min(ratio or 0.0, 1.5) * unit, 1),
            round(label_width + unit, 1),
            ratio is not None and ratio >= 1,
            text,
        )
        for i, (label, ratio, text) in enumerate(items)
    )
    legend = (
        *((("bar", "Part de la cible atteinte"),) if any(not b.reached for b in bars) else ()),
        *((("bar reached", "Cible atteinte"),) if any(b.reached for b in bars) else ()),
        ("target", "Cible (100 %)"),
    )
    return ProgressChart(width, 20 + len(items) * 30, label_width, plot, bars, legend)
