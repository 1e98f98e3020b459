"""Finding 8: no one-line text field takes a control character (a line break in a period
name once abandoned the 41 e-mails that named it); dates stay within range (finding 7)."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
import sqlalchemy as sa
from flask_wtf import FlaskForm
from wtforms import DateField, PasswordField, StringField, TextAreaField

import app as shell
import booking
import publishing
import rota
from app.enums import Role
from app.extensions import db
from app.forms import AppForm, day_in_range, single_line
from rota.models import RotaPeriod
from tests.helpers import PASSWORD


def _all_form_classes() -> list[type[FlaskForm]]:
    for package in (shell, rota, booking, publishing):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(module.name)
    found, todo = [], list(FlaskForm.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls.__module__.split(".")[0] in ("app", "rota", "booking", "publishing"):
            found.append(cls)
    return found


def test_every_form_of_the_app_is_an_app_form():
    forms = _all_form_classes()
    assert len(forms) > 15
    assert [f.__qualname__ for f in forms if not issubclass(f, AppForm)] == []


@pytest.mark.parametrize("form_class", _all_form_classes(), ids=lambda c: c.__qualname__)
def test_every_one_line_field_refuses_control_characters(app, form_class):
    with app.test_request_context(method="POST"):
        form = form_class(meta={"csrf": False})
        for field in form:
            one_line = isinstance(field, StringField) and not isinstance(
                field, TextAreaField | PasswordField
            )
            assert (single_line in field.validators) == one_line, field.name
            if isinstance(field, DateField):
                assert day_in_range in field.validators, field.name


@pytest.mark.parametrize(
    "name",
    ["Mars\n2027", "Mars\r\nBcc: x@example.org", "Mars\t2027", "Mars\u2028 2027", "Mars\x1b[31m"],
)
def test_a_period_name_with_a_control_character_is_refused(client, make_territory, make_user, name):
    territory = make_territory()
    make_user(Role.COORDINATOR, territory, email="coord@example.org")
    client.post("/connexion", data={"email": "coord@example.org", "password": PASSWORD})
    answer = client.post(
        "/coordination/periodes",
        data={"name": name, "start_date": "2027-03-01", "end_date": "2027-03-31"},
    )
    assert answer.status_code == 200
    assert "une seule ligne" in answer.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(RotaPeriod.id))) == 0


def test_a_template_far_in_the_future_is_refused(client, make_territory, make_site, make_user):
    territory = make_territory()
    site = make_site(territory)
    make_user(Role.COORDINATOR, territory, email="coord@example.org")
    client.post("/connexion", data={"email": "coord@example.org", "password": PASSWORD})
    answer = client.post(
        "/coordination/plages-types",
        data={
            "site_id": site.id,
            "weekdays": "0",
            "start_time": "17:00",
            "end_time": "20:00",
            "gps_needed": "1",
            "slot_minutes": "15",
            "mode": "surgery",
            "valid_from": "9999-12-31",
            "on_holidays": "normal",
        },
    )
    assert "Date hors limites" in answer.get_data(as_text=True)
