"""Jinja filters and globals: times in the territory's zone, phones, labels."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from flask import Flask, current_app
from flask_login import current_user

from app.collation import french_sorted
from app.enums import Profession, Role, SiteKind
from app.timeutil import format_local, local
from app.validators import display_phone


def _zone() -> str:
    territory = getattr(current_user, "territory", None) if current_user else None
    if territory is not None:
        return territory.timezone
    return current_app.config["SNP_TIMEZONE"]


def local_filter(value: datetime | None, fmt: str = "%d/%m/%Y %H:%M") -> str:
    return format_local(value, _zone(), fmt)


FRENCH_WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")


def local_day_filter(value: datetime | None) -> str:
    """ "lundi 30/11/2026" in the user's zone: strftime's %A would follow the C locale."""
    if value is None:
        return ""
    day = local(value, _zone())
    return f"{FRENCH_WEEKDAYS[day.weekday()]} {day:%d/%m/%Y}"


FRENCH_MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


def month_filter(value: date) -> str:
    """ "décembre 2026", whatever the server's locale."""
    return f"{FRENCH_MONTHS[value.month - 1]} {value.year}"


def long_day(day: date) -> str:
    """ "lundi 1 mars 2027", whatever the server's locale."""
    return f"{FRENCH_WEEKDAYS[day.weekday()]} {day.day} {FRENCH_MONTHS[day.month - 1]} {day.year}"


def weekday_filter(value: date) -> str:
    """ "lun. 07" for a calendar date (no zone: it is already local)."""
    return f"{FRENCH_WEEKDAYS[value.weekday()][:3]}. {value:%d}"


def decimal_filter(value: float, digits: int = 1) -> str:
    """French decimal comma: 3,6 rather than 3.6."""
    return f"{value:.{digits}f}".replace(".", ",")


def french_filter(items: Iterable[Any], attribute: str = "name") -> list[Any]:
    """``items`` in French order of ``attribute``: relationships come in code-point order."""
    return french_sorted(items, key=lambda item: getattr(item, attribute))


def init_templating(app: Flask) -> None:
    app.jinja_env.filters["french"] = french_filter
    app.jinja_env.filters["decimal"] = decimal_filter
    app.jinja_env.filters["local"] = local_filter
    app.jinja_env.filters["local_day"] = local_day_filter
    app.jinja_env.filters["long_day"] = long_day
    app.jinja_env.filters["month"] = month_filter
    app.jinja_env.filters["short_day"] = weekday_filter
    app.jinja_env.filters["phone"] = display_phone
    app.jinja_env.globals.update(Role=Role, SiteKind=SiteKind, Profession=Profession)
