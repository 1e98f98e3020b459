"""Forms of the calendar subscription pages (French labels and messages)."""

from __future__ import annotations

from wtforms import HiddenField, SelectField
from wtforms.validators import AnyOf, Length

from app.forms import AppForm, select_choices
from publishing.feeds import ALARM_CHOICES

ISSUE = "nouvelle-adresse"
REVOKE = "revoquer"
ALARM = "rappel"
NO_ALARM = "aucun"


def alarm_label(minutes: int) -> str:
    if minutes % (24 * 60) == 0:
        days = minutes // (24 * 60)
        return f"{days} jour{'s' if days > 1 else ''} avant"
    if minutes % 60 == 0:
        return f"{minutes // 60} h avant"
    return f"{minutes} minutes avant"


class FeedActionForm(AppForm):
    """One POST endpoint per page; the button pressed says what to do."""

    action = HiddenField(validators=[AnyOf((ISSUE, REVOKE, ALARM), message="Action inconnue.")])
    alarm = SelectField(
        "Rappel avant chaque plage",
        choices=select_choices(
            [(NO_ALARM, "Pas de rappel")] + [(str(m), alarm_label(m)) for m in ALARM_CHOICES]
        ),
        default=NO_ALARM,
    )

    # "oui" from the confirmation page: a new address may replace the live one.
    confirm = HiddenField()
    # The fresh address the page shows, sent back with the reminder so that it stays shown.
    address = HiddenField(validators=[Length(max=128)])

    @property
    def confirmed(self) -> bool:
        return self.confirm.data == "oui"

    @property
    def alarm_minutes(self) -> int | None:
        return None if self.alarm.data in (None, "", NO_ALARM) else int(self.alarm.data)
