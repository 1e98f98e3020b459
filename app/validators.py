"""Pure validation rules shared by models, forms, the CSV import and the CLI.

Each function returns the normalised value or raises ``ValidationError`` with a French
message a coordinator can act on.
"""

from __future__ import annotations

import re

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
