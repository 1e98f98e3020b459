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
    # Precomputed once so a search is a scan of short strings, not of Unicode work.
    folded_names: tuple[tuple[str, OfficialCommune], ...]
    by_postal_code: dict[str, tuple[OfficialCommune, ...]]
    by_epci: dict[str, tuple[OfficialCommune, ...]]


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
    by_postal_code: dict[str, list[OfficialCommune]] = {}
    by_epci: dict[str, list[OfficialCommune]] = {}
    for commune in communes.values():
        for code in commune.postal_codes:
            by_postal_code.setdefault(code, []).append(commune)
        if commune.epci_code:
            by_epci.setdefault(commune.epci_code, []).append(commune)
    return Reference(
        communes=communes,
        epci_names=dict(data["epci"]),
        folded_names=tuple((fold(c.name), c) for c in communes.values()),
        by_postal_code={k: tuple(v) for k, v in by_postal_code.items()},
        by_epci={k: tuple(sorted(v, key=lambda c: c.name)) for k, v in by_epci.items()},
    )


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
        by_postal = ref.by_postal_code.get(q, ())
        found = ([exact] if exact else []) + [c for c in by_postal if c is not exact]
        return found[:limit]
    if q.isdigit() and len(q) == 9:
        return list(ref.by_epci.get(q, ()))[:limit]
    folded = fold(q)
    epcis = [code for code, _, key in _epci_keys() if key == folded]
    if epcis:
        return sorted((c for e in epcis for c in ref.by_epci.get(e, ())), key=lambda c: c.name)[
            :limit
        ]
    starts, contains = [], []
    for name, commune in ref.folded_names:
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
    return [(code, name) for code, name, key in _epci_keys() if folded in key][:limit]


@cache
def _epci_keys() -> tuple[tuple[str, str, str], ...]:
    """(code, name, folded name) of every EPCI, folded once per process."""
    return tuple((code, name, fold(name)) for code, name in reference().epci_names.items())
