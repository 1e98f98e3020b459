"""Form pieces every feature shares: choices, whole numbers, check boxes, domain rules."""

from __future__ import annotations

import re

from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectChoice, SelectMultipleField
from wtforms.validators import ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from app.validators import ValidationError as DomainError

REQUIRED = "Ce champ est obligatoire."
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]{1,9}")


def select_choices(pairs) -> list[SelectChoice]:
    """(value, label) pairs as WTForms choices (tuples are deprecated since WTForms 3.3)."""
    return [SelectChoice(value, label) for value, label in pairs]


def domain_check(rule):
    """Turn a shared validation rule into a WTForms validator (same message everywhere)."""

    def check(form, field):
        if field.data:
            try:
                rule(field.data)
            except DomainError as exc:
                raise ValidationError(str(exc)) from exc

    return check


class NumberField(IntegerField):
    """A whole number as people type it: an optional sign and at most nine digits.

    WTForms' ``IntegerField`` takes whatever ``int()`` reads ("1_000", "٣", 400 digits),
    and ``NumberRange`` then compares it as a float: a 400-digit number raised
    ``OverflowError``, a 500 instead of "invalid number". Nine digits hold every number a
    form here asks for.
    """

    def process_formdata(self, valuelist: list[str]) -> None:
        if not valuelist:
            return
        raw = valuelist[0].strip()
        if not _WHOLE_NUMBER.fullmatch(raw):
            self.data = None
            raise ValueError("Nombre entier attendu.")
        self.data = int(raw)


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ConfirmForm(FlaskForm):
    """An empty form: only its CSRF token matters, for POST-only buttons."""
