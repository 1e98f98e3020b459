"""How a GP is named where space is short: "É. Laurent", told apart from a namesake.

A grid cell, a printed rota or a list has room for an initial and a family name, the way
French rotas are written ("Dr É. Laurent"). Two GPs of one list may share both: the
Richards of a territory, a couple in one practice. Then the list spells the given name out
("Anne Richard", "Alain Richard"); true namesakes (same given and family name) get a
qualifier the caller chooses (the end of their RPPS number by default). Pure: it takes and
returns plain data, so any layer and any test can use it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Person:
    key: Hashable  # what the caller looks names up by (a practitioner id)
    given_name: str
    family_name: str
    qualifier: str = ""  # told only when given and family names are both shared


def initial(given_name: str) -> str:
    """ "É." for "Élodie", "J.-P." for "Jean-Pierre" (the first given name only)."""
    first = given_name.split()[0] if given_name.split() else ""
    parts = [p for p in first.split("-") if p]
    return "-".join(f"{p[0].upper()}." for p in parts)


def short_name(given_name: str, family_name: str) -> str:
    """ "É. Laurent": the initial of the given name and the family name."""
    head = initial(given_name)
    return f"{head} {family_name}".strip()


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def short_names(people: Iterable[Person]) -> dict[Hashable, str]:
    """Each person's name in this list: as short as possible, never shared by two people."""
    unique = {p.key: p for p in people}
    shorts = {k: short_name(p.given_name, p.family_name) for k, p in unique.items()}
    short_count = Counter(_fold(s) for s in shorts.values())
    full = {k: f"{' '.join(p.given_name.split())} {p.family_name}" for k, p in unique.items()}
    full_count = Counter(_fold(f) for f in full.values())
    names: dict[Hashable, str] = {}
    for key, person in unique.items():
        if short_count[_fold(shorts[key])] == 1:
            names[key] = shorts[key]
        elif full_count[_fold(full[key])] == 1:
            names[key] = full[key]
        else:
            names[key] = f"{full[key]} ({person.qualifier})" if person.qualifier else full[key]
    return names
