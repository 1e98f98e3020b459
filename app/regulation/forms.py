"""Forms of the administrator's regulation service pages."""

from __future__ import annotations

from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length

from app.forms import REQUIRED, AppForm


class ServiceForm(AppForm):
    name = StringField(
        "Nom du service de régulation (ex. SAS 85)",
        validators=[DataRequired(REQUIRED), Length(max=120)],
    )


class AttachTerritoryForm(AppForm):
    territory_id = SelectField("Territoire à rattacher", coerce=int, choices=[])


class AssignRegulatorForm(AppForm):
    user_id = SelectField("Compte de régulateur·rice", coerce=int, choices=[])
