"""Form pieces every feature shares: choices, whole numbers, check boxes, domain rules."""

from __future__ import annotations

import functools
import re
import unicodedata
from datetime import date, datetime
from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    DateTimeField,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectMultipleField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms import i18n as wtforms_i18n
from wtforms.validators import ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from app.validators import ValidationError as DomainError
from app.validators import check_day_in_range

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


# Line and paragraph separators break a line as surely as a control character.
_LINE_BREAKERS = frozenset("\u2028\u2029\u0085")
SINGLE_LINE_MESSAGE = (
    "Ce champ tient sur une seule ligne : retirez les retours à la ligne, tabulations et "
    "autres caractères de contrôle."
)


def has_control_characters(text: str) -> bool:
    return any(unicodedata.category(c) == "Cc" or c in _LINE_BREAKERS for c in text)


def single_line(form: Any, field: Any) -> None:
    """A one-line text field holds no control character (line break, tab, escape…).

    Such text ends up in e-mail subjects, calendar lines, CSV cells and log lines, where
    a line break is a header or a record of its own: a period name with one lost the
    e-mails that named it.
    """
    if isinstance(field.data, str) and has_control_characters(field.data):
        raise ValidationError(SINGLE_LINE_MESSAGE)


def day_in_range(form: Any, field: Any) -> None:
    """A date within the years any page can step through (see ``check_day_in_range``)."""
    day = field.data
    if not isinstance(day, date):
        return
    try:
        check_day_in_range(day.date() if isinstance(day, datetime) else day)
    except DomainError as exc:
        raise ValidationError(str(exc)) from exc


@functools.cache
def _french_messages() -> Any:
    return wtforms_i18n.get_translations(["fr_FR", "fr"])


class AppForm(FlaskForm):
    """The base of every form here: the shared rules every field of a kind gets.

    One-line text fields (``StringField`` and its kinds, not text areas or passwords)
    refuse control characters; date fields refuse dates out of range. Added when the
    form binds its fields, so no form can forget them.
    """

    class Meta(FlaskForm.Meta):
        # WTForms' own messages (a choice not offered, a number that isn't one) in
        # French, from its bundled catalogue: never "Not a valid choice." on a French page.
        locales = ("fr_FR", "fr")

        def get_translations(self, form: Any) -> Any:
            return _french_messages()

        def bind_field(self, form: Any, unbound_field: Any, options: dict[str, Any]) -> Any:
            field = super().bind_field(form, unbound_field, options)
            extra = []
            if isinstance(field, StringField) and not isinstance(
                field, TextAreaField | PasswordField
            ):
                extra.append(single_line)
            if isinstance(field, DateField | DateTimeField) and not isinstance(field, TimeField):
                extra.append(day_in_range)
            if extra:
                field.validators = [*field.validators, *extra]  # a new list: never shared
            return field


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ConfirmForm(AppForm):
    """An empty form: only its CSRF token matters, for POST-only buttons."""
