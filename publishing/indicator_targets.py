"""The contract's SNP indicators and their yearly targets, and progress against them.

The ACI leaves the indicators to each local contract: the coordinator names them, says which
computed figure each one reads (or types its value in, for what the app can't know) and
the target of each contract year. A contract year is a calendar year, as the ACI's annual
review is. Services flush and audit; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app import audit
from app.collation import french_sorted
from app.extensions import db
from app.models import Territory, User
from app.validators import ValidationError
from publishing import indicators
from publishing.models import IndicatorTarget, IndicatorTargetYear

MIN_YEAR, MAX_YEAR = 2000, 2100


def figure_choices() -> list[tuple[str, str]]:
    """What a target may read: a manual value, or one of the scalar figures."""
    return [("", "Valeur saisie à la main")] + [
        (key, f.label) for key, f in indicators.FIGURES.items()
    ]


def _check_year(year: int) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValidationError(f"L'année doit être comprise entre {MIN_YEAR} et {MAX_YEAR}.")


def create_target(
    territory: Territory, *, name: str, figure_key: str | None, by: User | None
) -> IndicatorTarget:
    """A new contract indicator; its targets come year by year."""
    name = " ".join(name.split())
    if not name:
        raise ValidationError("Le nom de l'indicateur est obligatoire.")
    if len(name) > 200:
        raise ValidationError("Le nom de l'indicateur est trop long (200 caractères au plus).")
    if figure_key and figure_key not in indicators.FIGURES:
        raise ValidationError("Cet indicateur calculé n'existe pas.")
    taken = db.session.scalar(
        sa.select(IndicatorTarget.id).where(
            IndicatorTarget.territory_id == territory.id, IndicatorTarget.name == name
        )
    )
    if taken:
        raise ValidationError(f"Un indicateur s'appelle déjà « {name} ».")
    target = IndicatorTarget(territory_id=territory.id, name=name, figure_key=figure_key or None)
    db.session.add(target)
    db.session.flush()
    audit.record(
        "indicator_target.create",
        by=by,
        territory_id=territory.id,
        target=target,
        detail={"figure": target.figure_key},
    )
    return target


def set_target_year(
    target: IndicatorTarget,
    *,
    year: int,
    goal: float,
    manual_value: float | None,
    by: User | None,
) -> IndicatorTargetYear:
    """The target of one contract year (and, for a manual indicator, the value reached)."""
    _check_year(year)
    if goal < 0:
        raise ValidationError("La cible ne peut pas être négative.")
    if manual_value is not None and target.figure_key is not None:
        raise ValidationError("Cet indicateur est calculé : sa valeur ne se saisit pas.")
    if manual_value is not None and manual_value < 0:
        raise ValidationError("La valeur atteinte ne peut pas être négative.")
    row = next((y for y in target.years if y.year == year), None)
    if row is None:
        row = IndicatorTargetYear(year=year, goal=goal, manual_value=manual_value)
        target.years.append(row)
    else:
        row.goal, row.manual_value = goal, manual_value
    db.session.flush()
    audit.record(
        "indicator_target.year",
        by=by,
        territory_id=target.territory_id,
        target=target,
        detail={"year": year, "goal": goal, "manual": manual_value},
    )
    return row


def delete_target(target: IndicatorTarget, *, by: User | None) -> None:
    audit.record("indicator_target.delete", by=by, territory_id=target.territory_id, target=target)
    db.session.delete(target)
    db.session.flush()


def targets_of(territory_id: int) -> list[IndicatorTarget]:
    return french_sorted(
        db.session.scalars(
            sa.select(IndicatorTarget)
            .where(IndicatorTarget.territory_id == territory_id)
            .order_by(IndicatorTarget.id)
            .options(selectinload(IndicatorTarget.years))
        ),
        key=lambda t: t.name,
    )


def target_in(territory_id: int, target_id: int) -> IndicatorTarget | None:
    return db.session.scalar(
        sa.select(IndicatorTarget).where(
            IndicatorTarget.id == target_id, IndicatorTarget.territory_id == territory_id
        )
    )


@dataclass(frozen=True)
class Progress:
    """One target in one contract year: the goal, what was reached, the share of the goal."""

    target_id: int
    name: str
    figure_key: str | None
    year: int
    goal: float
    value: float | None
    unit: str

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.goal:
            return None
        return self.value / self.goal

    @property
    def reached(self) -> bool:
        return self.value is not None and self.value >= self.goal


def progress(territory: Territory) -> list[Progress]:
    """Every target of every year, the computed figures read over that whole year."""
    targets = targets_of(territory.id)
    years = sorted({y.year for t in targets for y in t.years})
    computed = {
        year: indicators.compute(territory, date(year, 1, 1), date(year, 12, 31))
        for year in years
        if any(t.figure_key for t in targets)
    }
    out: list[Progress] = []
    for target in targets:
        for row in target.years:
            if target.figure_key:
                raw = computed[row.year].get(target.figure_key)
                value = float(raw) if raw is not None else None
                unit = indicators.FIGURES[target.figure_key].unit
            else:
                value, unit = row.manual_value, "valeur saisie"
            out.append(
                Progress(target.id, target.name, target.figure_key, row.year, row.goal, value, unit)
            )
    return out
