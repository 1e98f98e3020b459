"""What the patient receives after a booking: the confirmation, by SMS or e-mail.

Pure (no Flask, no SQLAlchemy). The input, ``Confirmation``, has no field for the reason
of the visit, the GP's name or specialty, or anything medical: an SMS is read on a lock
screen and an e-mail may be shared, so the message can only say what the patient needs
to get there (place, address, time, what to bring), that a vital emergency is the 15,
and how to cancel. ``confirmation_from`` copies only those fields from a booking-like
object, so a caller cannot pass more by mistake.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
MONTHS = (
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
WHAT_TO_BRING = ("carte Vitale", "ordonnances et traitements en cours")


@dataclass(frozen=True, slots=True)
class Confirmation:
    territory_name: str  # the CPTS: who sends the message
    site_name: str
    address_line: str
    postal_code: str
    commune_name: str
    starts_at: datetime  # aware, in the territory's zone
    cancel_url: str
    site_phone: str = ""  # display format ("02 51 93 12 34")
    what_to_bring: tuple[str, ...] = WHAT_TO_BRING

    def __post_init__(self) -> None:
        if self.starts_at.tzinfo is None:
            raise ValueError("starts_at must be aware (local time of the territory)")


ALLOWED_FIELDS = tuple(Confirmation.__dataclass_fields__)


def confirmation_from(source: Any, **overrides: Any) -> Confirmation:
    """A ``Confirmation`` from any object (or mapping) that has at least these fields.

    Only ``ALLOWED_FIELDS`` are read: a booking's ``reason`` or a GP's ``specialty`` on the
    source cannot reach the message.
    """

    def get(name: str) -> Any:
        if name in overrides:
            return overrides[name]
        if isinstance(source, dict):
            return source[name]
        return getattr(source, name)

    values = {}
    for name in ALLOWED_FIELDS:
        try:
            values[name] = get(name)
        except (AttributeError, KeyError):
            continue  # optional fields keep their default
    return Confirmation(**values)


def french_date(moment: datetime) -> str:
    """ "lundi 1er mars à 17 h 15" (the local time of ``moment``)."""
    day = "1er" if moment.day == 1 else str(moment.day)
    return (
        f"{WEEKDAYS[moment.weekday()]} {day} {MONTHS[moment.month - 1]} "
        f"à {moment.hour} h {moment.minute:02d}"
    )


def _address(c: Confirmation) -> str:
    return f"{c.address_line}, {c.postal_code} {c.commune_name}".strip(", ")


def confirmation_sms(c: Confirmation) -> str:
    """The SMS: short, GSM-7 friendly (no "’", no "ê"), everything on one screen."""
    parts = [
        f"{c.territory_name} : rendez-vous confirmé le {french_date(c.starts_at)}, "
        f"{c.site_name}, {_address(c)}.",
    ]
    if c.what_to_bring:
        parts.append(f"Apportez : {', '.join(c.what_to_bring)}.")
    if c.site_phone:
        parts.append(f"Lieu : {c.site_phone}.")
    parts.append("Urgence vitale : appelez le 15.")
    parts.append(f"Pour annuler et libérer le créneau : {c.cancel_url}")
    return " ".join(parts)


def confirmation_email(c: Confirmation) -> tuple[str, str]:
    """(subject, plain-text body) of the e-mail."""
    subject = f"Votre rendez-vous du {french_date(c.starts_at)}"
    lines = [
        "Bonjour,",
        "",
        f"Votre rendez-vous de soins non programmés est confirmé le {french_date(c.starts_at)}.",
        "",
        f"Lieu : {c.site_name}",
        f"Adresse : {_address(c)}",
    ]
    if c.site_phone:
        lines.append(f"Téléphone du lieu : {c.site_phone}")
    if c.what_to_bring:
        lines += ["", "À apporter : " + ", ".join(c.what_to_bring) + "."]
    lines += [
        "",
        "En cas d'urgence vitale, appelez le 15.",
        "",
        "Si vous ne pouvez pas venir, annulez pour libérer le créneau pour un autre patient "
        "(lien valable jusqu'à l'heure du rendez-vous) :",
        c.cancel_url,
        "",
        f"— {c.territory_name}",
        "Message automatique : merci de ne pas y répondre.",
    ]
    return subject, "\n".join(lines)


def reminder_sms(c: Confirmation) -> str:
    """The reminder, two hours before: where and when again; cancelling uses the first link."""
    parts = [
        f"{c.territory_name} : rappel, rendez-vous le {french_date(c.starts_at)}, "
        f"{c.site_name}, {_address(c)}.",
    ]
    if c.what_to_bring:
        parts.append(f"Apportez : {', '.join(c.what_to_bring)}.")
    parts.append("Urgence vitale : appelez le 15.")
    parts.append("Vous ne pouvez pas venir ? Annulez avec le lien du message de confirmation.")
    return " ".join(parts)


def reminder_email(c: Confirmation) -> tuple[str, str]:
    """(subject, plain-text body) of the reminder e-mail."""
    subject = f"Rappel : rendez-vous le {french_date(c.starts_at)}"
    lines = [
        "Bonjour,",
        "",
        f"Rappel : votre rendez-vous de soins non programmés a lieu le {french_date(c.starts_at)}.",
        "",
        f"Lieu : {c.site_name}",
        f"Adresse : {_address(c)}",
    ]
    if c.site_phone:
        lines.append(f"Téléphone du lieu : {c.site_phone}")
    if c.what_to_bring:
        lines += ["", "À apporter : " + ", ".join(c.what_to_bring) + "."]
    lines += [
        "",
        "En cas d'urgence vitale, appelez le 15.",
        "",
        "Si vous ne pouvez pas venir, annulez avec le lien du message de confirmation : "
        "le créneau ira à un autre patient.",
        "",
        f"— {c.territory_name}",
        "Message automatique : merci de ne pas y répondre.",
    ]
    return subject, "\n".join(lines)
