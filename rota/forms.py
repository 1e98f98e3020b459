"""Forms of the rota pages (French labels and messages)."""

from __future__ import annotations

from wtforms import DateField, SelectField, StringField, TimeField
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    StopValidation,
)

from app.forms import AppForm, MultiCheckboxField, NumberField, select_choices
from app.validators import ValidationError, parse_french_dates
from rota.models import WEEKDAY_LABELS, ConsultationMode, HolidayRule

REQUIRED = "Ce champ est obligatoire."


class TemplateForm(AppForm):
    site_id = SelectField("Lieu", coerce=int, choices=[])
    weekdays = MultiCheckboxField(
        "Jours", coerce=int, choices=select_choices(enumerate(WEEKDAY_LABELS))
    )
    start_time = TimeField("Début (heure locale)", validators=[DataRequired(REQUIRED)])
    end_time = TimeField("Fin (heure locale)", validators=[DataRequired(REQUIRED)])
    gps_needed = NumberField(
        "Médecins nécessaires",
        default=1,
        validators=[InputRequired(REQUIRED), NumberRange(1, 10, "Entre 1 et 10 médecins.")],
    )
    slot_minutes = NumberField(
        "Durée d'un créneau (minutes)",
        default=15,
        validators=[InputRequired(REQUIRED), NumberRange(5, 120, "Entre 5 et 120 minutes.")],
    )
    mode = SelectField("Mode de consultation", choices=select_choices(ConsultationMode.choices()))
    sas_slots = NumberField(
        "Créneaux réservés au SAS (régulation)",
        default=0,
        validators=[Optional(), NumberRange(0, 100, "Nombre invalide.")],
    )
    pharmacy_slots = NumberField(
        "Créneaux réservés aux pharmacies",
        default=0,
        validators=[Optional(), NumberRange(0, 100, "Nombre invalide.")],
    )
    valid_from = DateField("Valable à partir du", validators=[DataRequired(REQUIRED)])
    valid_to = DateField("Jusqu'au (facultatif)", validators=[Optional()])
    on_holidays = SelectField("Jours fériés", choices=select_choices(HolidayRule.choices()))


class PeriodForm(AppForm):
    name = StringField("Nom", validators=[DataRequired(REQUIRED), Length(max=120)])
    start_date = DateField("Premier jour", validators=[DataRequired(REQUIRED)])
    end_date = DateField("Dernier jour", validators=[DataRequired(REQUIRED)])


class UnavailabilityForm(AppForm):
    start_date = DateField("Du", validators=[DataRequired(REQUIRED)])
    end_date = DateField("Au (inclus)", validators=[DataRequired(REQUIRED)])
    reason = StringField("Motif (facultatif)", validators=[Optional(), Length(max=200)])


class WishForm(AppForm):
    weight = SelectField(
        "Mon engagement sur la période",
        coerce=float,
        choices=select_choices(
            [(0.5, "Réduit (moitié)"), (1.0, "Normal"), (1.5, "Renforcé (×1,5)"), (2.0, "Double")]
        ),
        default=1.0,
    )
    preferred_weekdays = MultiCheckboxField(
        "Jours préférés", coerce=int, choices=select_choices(enumerate(WEEKDAY_LABELS))
    )
    preferred_site_ids = MultiCheckboxField("Lieux préférés", coerce=int, choices=[])
    avoid_dates = StringField(
        "Dates à éviter (JJ/MM/AAAA, séparées par des virgules)",
        validators=[Optional(), Length(max=500)],
    )
    target_sessions = NumberField(
        "Ou bien : nombre de plages sur lequel je m'engage (facultatif)",
        validators=[Optional(), NumberRange(0, 100, "Entre 0 et 100 plages.")],
    )
    max_per_day = SelectField(
        "Plages par jour au maximum",
        coerce=int,
        choices=select_choices([(1, "Une"), (2, "Deux"), (3, "Trois")]),
        default=1,
    )
    max_per_period = NumberField(
        "Maximum de plages sur la période (facultatif)",
        validators=[Optional(), NumberRange(0, 100, "Entre 0 et 100 plages.")],
    )

    def validate_avoid_dates(self, field: StringField) -> None:
        """Unreadable days are the field's error (summarised at the top), not a flash."""
        try:
            parse_french_dates(field.data or "")
        except ValidationError as exc:
            raise StopValidation(str(exc)) from exc

    def validate_target_sessions(self, field: NumberField) -> None:
        most = self.max_per_period.data
        if field.data is not None and most is not None and field.data > most:
            raise StopValidation("Il dépasse le maximum que vous avez fixé pour la période.")


class ExemptionForm(AppForm):
    """The coordinator decides whether an absence moves duty in time or exempts from it."""

    exempt = SelectField(
        "Effet sur la part",
        choices=select_choices(
            [
                ("0", "Reportée : les plages non assurées restent dues"),
                ("1", "Exemptée : la part est réduite au prorata"),
            ]
        ),
        default="0",
    )
    reason = StringField(
        "Motif de l'exemption (maladie, congé parental, formation…)",
        validators=[Optional(), Length(max=200, message="200 caractères au plus.")],
    )
