"""Pure validation rules shared by models, forms, the CSV import and the CLI.

Each function returns the normalised value or raises ``ValidationError`` with a French
message a coordinator can act on.
"""

from __future__ import annotations

import re
from datetime import date

import phonenumbers

from app.auth.password_policy import password_problem

INSEE_RE = re.compile(r"^(?:\d{5}|2[AB]\d{3})$")
POSTAL_CODE_RE = re.compile(r"^\d{5}$")
FINESS_RE = re.compile(r"^\d{9}$|^2[AB]\d{7}$")
MIN_PASSWORD_LENGTH = 12


class ValidationError(ValueError):
    """Bad input, with a message meant for the person who typed it."""


def luhn_valid(digits: str) -> bool:
    """Luhn checksum, as used by the RPPS number."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        n = int(char)
        if index % 2 == 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def luhn_complete(body: str) -> str:
    """``body`` followed by the digit that makes it Luhn-valid.

    For fictitious RPPS numbers (the demo, tests, benches): a ten-digit body gives an
    11-digit number that ``normalise_rpps`` accepts.
    """
    if not body.isdigit():
        raise ValueError(f"luhn_complete needs digits, not {body!r}")
    return next(body + str(d) for d in range(10) if luhn_valid(body + str(d)))


def normalise_rpps(value: str) -> str:
    rpps = re.sub(r"\s", "", value or "")
    if not rpps:
        raise ValidationError("Le numéro RPPS est obligatoire.")
    if not rpps.isdigit() or len(rpps) != 11:
        raise ValidationError("Le numéro RPPS doit comporter exactement 11 chiffres.")
    if not luhn_valid(rpps):
        raise ValidationError("Le numéro RPPS est invalide (clé de contrôle incorrecte).")
    return rpps


# Overseas departments and collectivities dial like metropolitan France (0590…, 0262…)
# but have country codes of their own, so a national number is tried against each.
FRENCH_REGIONS = ("FR", "GP", "MQ", "GF", "RE", "YT", "PM", "BL", "MF", "NC", "PF", "WF")


def normalise_phone(value: str) -> str:
    """Parse a French (incl. overseas) or international number and return it in E.164."""
    raw = (value or "").strip()
    if not raw:
        raise ValidationError("Le numéro de téléphone est obligatoire.")
    if len(raw) > 30:
        raise ValidationError("Numéro de téléphone trop long.")
    for region in FRENCH_REGIONS:
        try:
            number = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException as exc:
            raise ValidationError(f"Numéro de téléphone illisible : « {raw} ».") from exc
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if raw.startswith("+"):
            break  # an international number has only one reading
    raise ValidationError(f"Numéro de téléphone invalide : « {raw} ».")


def display_phone(e164: str | None) -> str:
    """French national format for display (``02 51 93 12 34``)."""
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164, "FR")
    except phonenumbers.NumberParseException:
        return e164
    if number.country_code == 33:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def normalise_insee(value: str) -> str:
    code = (value or "").strip().upper()
    if not INSEE_RE.match(code):
        raise ValidationError(f"Code INSEE invalide : « {value} » (5 caractères, 2A/2B en Corse).")
    return code


def normalise_postal_code(value: str) -> str:
    code = (value or "").strip()
    if not POSTAL_CODE_RE.match(code):
        raise ValidationError(f"Code postal invalide : « {value} » (5 chiffres).")
    return code


def normalise_finess(value: str) -> str:
    code = re.sub(r"\s", "", value or "").upper()
    if not FINESS_RE.match(code):
        raise ValidationError(
            "Le numéro FINESS doit comporter 9 caractères (chiffres, 2A/2B en Corse)."
        )
    return code


def normalise_email(value: str) -> str:
    """Lower-case and trim; uniqueness is then case-insensitive on every engine."""
    email = (value or "").strip().lower()
    if not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", email) or len(email) > 254:
        raise ValidationError(f"Adresse e-mail invalide : « {value} ».")
    return email


def check_password_strength(password: str, user_inputs: tuple[str, ...] = ()) -> str:
    """The password policy of ``app.auth.password_policy`` (length, known lists, zxcvbn)."""
    if problem := password_problem(password or "", user_inputs):
        raise ValidationError(problem)
    return password


def size_category(population: int) -> int:
    """CPTS size category 1–4 by population (<40k, 40–80k, 80–175k, >175k)."""
    if population < 40_000:
        return 1
    if population < 80_000:
        return 2
    if population <= 175_000:
        return 3
    return 4


# --- dates people type --------------------------------------------------------------------

# Days any form or parameter may name. Pages step a day back and forth and turn local
# midnights into UTC, which overflows at the ends of ``date`` (years 1 and 9999); no rota,
# unavailability or birth date lies outside these years.
EARLIEST_DAY = date(1900, 1, 1)
LATEST_DAY = date(2999, 12, 31)


def check_day_in_range(day: date) -> date:
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise ValidationError(
            f"Date hors limites : « {day:%d/%m/%Y} » (entre {EARLIEST_DAY.year} et "
            f"{LATEST_DAY.year})."
        )
    return day


def parse_french_dates(text: str) -> list[date]:
    """``JJ/MM/AAAA`` days separated by commas; an unreadable or absurd one is refused.

    ``int()`` reads a year of twenty digits, which ``date()`` then refuses with
    ``OverflowError`` rather than ``ValueError``: both are "unreadable" here.
    """
    days = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            day, month, year = (int(x) for x in part.split("/"))
            parsed = date(year, month, day)
        except (ValueError, OverflowError) as exc:
            raise ValidationError(f"Date illisible : « {part[:40]} » (format JJ/MM/AAAA).") from exc
        days.append(check_day_in_range(parsed))
    return days


def parse_year_month(text: str) -> date | None:
    """``AAAA-MM`` as the first day of that month, or None if unreadable or absurd."""
    try:
        year, month = (int(x) for x in text.split("-"))
        first = date(year, month, 1)
    except (ValueError, OverflowError):
        return None
    return first if EARLIEST_DAY <= first <= LATEST_DAY else None
