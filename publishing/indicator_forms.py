"""Choosing the indicators' period, and the contract targets' forms (French messages)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from wtforms import DecimalField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from app.forms import AppForm, NumberField, select_choices
from app.validators import ValidationError

MAX_DAYS = 3 * 366 + 1  # three contract years at most on one page


@dataclass(frozen=True)
class Preset:
    label: str
    start: date
    end: date


def _month_end(day: date) -> date:
    nxt = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    return nxt - timedelta(days=1)


def presets(today: date) -> list[Preset]:
    """Month, quarter, contract (calendar) year: this one and the one before."""
    month = today.replace(day=1)
    last_month = (month - timedelta(days=1)).replace(day=1)
    q_start = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    last_q_start = date(q_start.year - (q_start.month == 1), (q_start.month - 4) % 12 + 1, 1)
    return [
        Preset("Ce mois-ci", month, _month_end(month)),
        Preset("Le mois dernier", last_month, _month_end(last_month)),
        Preset("Ce trimestre", q_start, _month_end(q_start.replace(month=q_start.month + 2))),
        Preset(
            "Le trimestre dernier",
            last_q_start,
            _month_end(last_q_start.replace(month=last_q_start.month + 2)),
        ),
        Preset(f"Année {today.year}", date(today.year, 1, 1), date(today.year, 12, 31)),
        Preset(f"Année {today.year - 1}", date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)),
    ]


def _parse(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(
            f"Date {what} invalide : « {text[:20]} » (format attendu AAAA-MM-JJ)."
        ) from None


def resolve_period(start: str | None, end: str | None, today: date) -> tuple[date, date]:
    """The period asked for (``YYYY-MM-DD`` both ends, inclusive); this month by default."""
    if not start and not end:
        first = presets(today)[0]
        return first.start, first.end
    if not start or not end:
        raise ValidationError("Indiquez le premier et le dernier jour de la période.")
    first, last = _parse(start, "de début"), _parse(end, "de fin")
    if last < first:
        raise ValidationError("Le dernier jour précède le premier.")
    if (last - first).days >= MAX_DAYS:
        raise ValidationError("La période ne peut pas dépasser trois ans.")
    return first, last


class FrenchDecimalField(DecimalField):
    """A decimal number typed the French way ("12,5") or the other ("12.5")."""

    def process_formdata(self, valuelist: list[str]) -> None:
        if valuelist:
            valuelist = [valuelist[0].strip().replace(",", ".").replace(" ", "")[:20]]
        super().process_formdata(valuelist)


class TargetForm(AppForm):
    name = StringField(
        "Nom de l'indicateur du contrat",
        validators=[DataRequired("Le nom de l'indicateur est obligatoire."), Length(max=200)],
    )
    figure_key = SelectField("Valeur lue", choices=[])


class TargetYearForm(AppForm):
    year = NumberField(
        "Année du contrat",
        validators=[
            DataRequired("L'année est obligatoire."),
            NumberRange(2000, 2100, "L'année doit être comprise entre 2000 et 2100."),
        ],
    )
    goal = FrenchDecimalField(
        "Cible",
        places=None,
        validators=[
            InputRequired("La cible est obligatoire."),
            NumberRange(0, 1e9, "La cible doit être un nombre positif."),
        ],
    )
    manual_value = FrenchDecimalField(
        "Valeur atteinte (indicateur saisi à la main)",
        places=None,
        validators=[Optional(), NumberRange(0, 1e9, "La valeur doit être un nombre positif.")],
    )


def figure_select(form: TargetForm, choices: list[tuple[str, str]]) -> None:
    form.figure_key.choices = select_choices(choices)
