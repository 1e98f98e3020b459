"""Forms of the exchange pages (French labels and messages)."""

from __future__ import annotations

from wtforms import BooleanField, RadioField, StringField
from wtforms.validators import InputRequired, Length, Optional

from app.forms import AppForm, MultiCheckboxField


class ProposeExchangeForm(AppForm):
    """One of my sessions against named sessions of colleagues, or any session this month."""

    counterparts = MultiCheckboxField("Plages de vos confrères", coerce=int, choices=[])
    any_in_month = BooleanField("N'importe quelle plage d'un confrère ce mois-ci")
    message = StringField("Message (facultatif)", validators=[Optional(), Length(max=300)])


class AnswerExchangeForm(AppForm):
    """Which of my sessions I give in return (one of those the proposal allows)."""

    counterpart = RadioField(
        "La plage que vous donnez en échange",
        coerce=int,
        choices=[],
        validators=[InputRequired("Choisissez la plage que vous donnez en échange.")],
    )
