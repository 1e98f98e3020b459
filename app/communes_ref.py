"""The official list of French communes (INSEE COG + La Poste postal codes), shipped in the package.

Source: ``@etalab/decoupage-administratif`` 6.0.0, data under Licence Ouverte 2.0
(see ``app/data/README.md``). Loaded once per process, on first use.
"""

from __future__ import annotations

import gzip
import json
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True, slots=True)
class OfficialCommune:
    insee_code: str
    name: str
    postal_codes: tuple[str, ...]
    population: int
    department: str
    epci_code: str
    is_arrondissement: bool


@dataclass(frozen=True, slots=True)
class Reference:
    communes: dict[str, OfficialCommune]
    epci_names: dict[str, str]


def fold(text: str) -> str:
    """Case- and accent-insensitive form for matching what people type."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.lower().replace("-", " ").replace("'", " ").split())


@cache
def reference() -> Reference:
    raw = resources.files("app").joinpath("data/communes.json.gz").read_bytes()
    data = json.loads(gzip.decompress(raw))
    communes = {
        row[0]: OfficialCommune(
            insee_code=row[0],
            name=row[1],
            postal_codes=tuple(row[2]),
            population=int(row[3] or 0),
            department=row[4],
            epci_code=row[5],
            is_arrondissement=row[6] == "arrondissement",
        )
        for row in data["communes"]
    }
    return Reference(communes=communes, epci_names=dict(data["epci"]))


def get(insee_code: str) -> OfficialCommune | None:
    return reference().communes.get(insee_code.upper())


def epci_name(code: str) -> str:
    return reference().epci_names.get(code, "")


def search(query: str, *, limit: int = 50) -> list[OfficialCommune]:
    """Communes matching an INSEE code, a postal code, a name or an EPCI (code or name).

    Exact code matches come first, then names starting with the query, then the rest.
    """
    q = query.strip()
    if not q:
        return []
    ref = reference()
    if len(q) == 5 and (q.isdigit() or q.upper()[:2] in {"2A", "2B"}):
        exact = ref.communes.get(q.upper())
        by_postal = [c for c in ref.communes.values() if q in c.postal_codes]
        found = ([exact] if exact else []) + [c for c in by_postal if c is not exact]
        return found[:limit]
    if q.isdigit() and len(q) == 9:
        return [c for c in ref.communes.values() if c.epci_code == q][:limit]
    folded = fold(q)
    epcis = {code for code, name in ref.epci_names.items() if fold(name) == folded}
    if epcis:
        return sorted(
            (c for c in ref.communes.values() if c.epci_code in epcis), key=lambda c: c.name
        )[:limit]
    starts, contains = [], []
    for commune in ref.communes.values():
        name = fold(commune.name)
        if name.startswith(folded):
            starts.append(commune)
        elif folded in name:
            contains.append(commune)
    key = lambda c: (len(c.name), c.name)  # noqa: E731 - shortest names are the likeliest
    return (sorted(starts, key=key) + sorted(contains, key=key))[:limit]


def search_epci(query: str, *, limit: int = 20) -> list[tuple[str, str]]:
    folded = fold(query)
    if not folded:
        return []
    return [(code, name) for code, name in reference().epci_names.items() if folded in fold(name)][
        :limit
    ]
