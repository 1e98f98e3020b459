"""The password policy: long enough, not a known password, not guessable.

Pure (no Flask, no database), so the invitation page, the reset page, the change page
and ``flask users create`` all apply the very same rules. The list of common and
breached passwords is the one zxcvbn ships (30,000 from real leaks); its estimator
scores the rest (0–4), and below 3 a password falls to an offline attack in hours.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

from zxcvbn import zxcvbn
from zxcvbn.frequency_lists import FREQUENCY_LISTS

MIN_LENGTH = 12
MAX_LENGTH = 200
MIN_SCORE = 3
# Words every French user of this app might build a password from.
LOCAL_WORDS = (
    "motdepasse",
    "tourderole",
    "tour de role",
    "cpts",
    "medecin",
    "docteur",
    "sante",
    "garde",
    "azerty",
    "bonjour",
    "soleil",
)


def _pieces(user_inputs: Iterable[str]) -> list[str]:
    """An e-mail and its pieces: "claire.martin@x.org" also gives "claire.martin", "martin"."""
    pieces: list[str] = []
    for value in user_inputs:
        value = (value or "").lower()
        local = value.split("@", 1)[0]
        pieces += [value, local, *(part for part in re.split(r"[@._+-]", value) if len(part) >= 3)]
    return [piece for piece in pieces if piece]


@cache
def _common_passwords() -> frozenset[str]:
    return frozenset(FREQUENCY_LISTS["passwords"])


def password_problem(password: str, user_inputs: Iterable[str] = ()) -> str | None:
    """Why ``password`` is refused, in French, or None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"Le mot de passe doit comporter au moins {MIN_LENGTH} caractères."
    if len(password) > MAX_LENGTH:
        return f"Le mot de passe doit comporter au plus {MAX_LENGTH} caractères."
    if password.lower() in _common_passwords():
        return (
            "Ce mot de passe figure dans les listes de mots de passe courants ou divulgués : "
            "choisissez-en un autre."
        )
    inputs = [*LOCAL_WORDS, *_pieces(user_inputs)]
    # zxcvbn's cost grows with the length: the first 100 characters decide.
    result = zxcvbn(password[:100], user_inputs=inputs)
    if result["score"] < MIN_SCORE:
        return (
            "Ce mot de passe est trop facile à deviner : allongez-le, par exemple avec "
            "plusieurs mots sans rapport entre eux, et évitez votre nom, votre adresse "
            "e-mail et les suites de touches."
        )
    return None
