"""The official list of French communes (INSEE COG + La Poste postal codes), shipped in the package.

Source: ``@etalab/decoupage-administratif`` 6.0.0, data under Licence Ouverte 2.0
(see ``app/data/README.md``). Loaded once per process, on first use.
"""

from __future__ import annotations

import gzip
import json
import unicodedata
from bisect import bisect_right
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources

from app.collation import french_key
from app.commune_names import fuzzy_matches, search_key


@dataclass(frozen=True, slots=True)
class OfficialCommune:
    insee_code: str
    name: str
    postal_codes: tuple[str, ...]
    population: int
    department: str
    epci_code: str
    is_arrondissement: bool
    # Centre (WGS 84, degrees, rounded to 3 decimals: about 100 m), when the shipped
    # data has one: the town hall, else the centroid of the commune's outline.
    latitude: float | None = None
    longitude: float | None = None

    @property
    def postal_code(self) -> str:
        """The first postal code, the one shown beside the name: "Challans (85300)"."""
        return self.postal_codes[0] if self.postal_codes else ""


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A commune offered for what was typed: "Vouliez-vous dire Challans (85300) ?"."""

    commune: OfficialCommune
    score: float
    local: bool

    @property
    def label(self) -> str:
        postal = self.commune.postal_code
        return f"{self.commune.name} ({postal})" if postal else self.commune.name


@dataclass(frozen=True, slots=True)
class Reference:
    communes: dict[str, OfficialCommune]
    epci_names: dict[str, str]
    # Precomputed once so a search is a scan of short strings, not of Unicode work.
    folded_names: tuple[tuple[str, OfficialCommune], ...]
    # The same keys as a plain list (for the typo ranking) and each code's position in it.
    keys: tuple[str, ...]
    position: dict[str, int]
    populations: tuple[int, ...]
    # Every key after a newline in one string: finding a substring is then one C-level
    # scan (``str.find``) instead of 35,000 Python comparisons; ``line_starts`` maps an
    # offset back to its commune.
    joined_keys: str
    line_starts: tuple[int, ...]
    by_key: dict[str, tuple[OfficialCommune, ...]]
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
    columns = data["columns"]
    has_centre = "latitude" in columns
    communes = {
        row[0]: OfficialCommune(
            insee_code=row[0],
            name=row[1],
            postal_codes=tuple(row[2]),
            population=int(row[3] or 0),
            department=row[4],
            epci_code=row[5],
            is_arrondissement=row[6] == "arrondissement",
            latitude=row[7] if has_centre else None,
            longitude=row[8] if has_centre else None,
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
    # Shortest names first: the order in which a name search ranks its matches.
    ordered = sorted(communes.values(), key=lambda c: (len(c.name), c.name, c.insee_code))
    keyed = tuple((search_key(c.name), c) for c in ordered)
    by_key: dict[str, list[OfficialCommune]] = {}
    for key, commune in keyed:
        by_key.setdefault(key, []).append(commune)
    return Reference(
        communes=communes,
        epci_names=dict(data["epci"]),
        folded_names=keyed,
        keys=tuple(key for key, _ in keyed),
        position={c.insee_code: i for i, (_, c) in enumerate(keyed)},
        populations=tuple(c.population for _, c in keyed),
        joined_keys="".join("\n" + key for key, _ in keyed),
        line_starts=tuple(_line_starts(key for key, _ in keyed)),
        by_key={k: tuple(v) for k, v in by_key.items()},
        by_postal_code={k: tuple(v) for k, v in by_postal_code.items()},
        by_epci={k: tuple(sorted(v, key=lambda c: c.name)) for k, v in by_epci.items()},
    )


def get(insee_code: str) -> OfficialCommune | None:
    return reference().communes.get(insee_code.upper())


def epci_name(code: str) -> str:
    return reference().epci_names.get(code, "")


def search(query: str, *, among: Collection[str] = (), limit: int = 50) -> list[OfficialCommune]:
    """Communes matching an INSEE code, a postal code, a name or an EPCI (code or name).

    Exact code matches come first, then names equal to the query, then names starting
    with it, then the rest; within each, the communes of ``among`` (INSEE codes: the
    territory's or the regulation service's) first. Names are compared by
    ``search_key``: "st gilles" finds Saint-Gilles-Croix-de-Vie, "sables d olonne" Les
    Sables-d'Olonne. Typos are ``suggest``'s job.
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
        return sorted(
            (c for e in epcis for c in ref.by_epci.get(e, ())), key=lambda c: french_key(c.name)
        )[:limit]
    wanted = search_key(q)
    if not wanted:
        return []
    return _by_name(ref, wanted, among, limit)


def _by_name(
    ref: Reference, wanted: str, among: Collection[str], limit: int
) -> list[OfficialCommune]:
    """Names equal to, then starting with, then containing ``wanted``; ``among`` first in each.

    The keys are stored shortest name first (the likeliest meaning), so scanning the joined
    keys in order yields each tier already ranked, and the scan stops after ``limit``
    (a search for "saint" reads 50 of its 4,000 matches).
    """
    local = [ref.folded_names[ref.position[code]] for code in among if code in ref.position]
    local.sort(key=lambda entry: ref.position[entry[1].insee_code])
    chosen: list[OfficialCommune] = []
    taken: set[str] = set()

    def take(communes: Iterable[OfficialCommune]) -> bool:
        """Add in order until ``limit``; True when full."""
        for commune in communes:
            if len(chosen) >= limit:
                return True
            if commune.insee_code not in taken:
                taken.add(commune.insee_code)
                chosen.append(commune)
        return len(chosen) >= limit

    text, line_starts = ref.joined_keys, ref.line_starts

    def starting() -> Iterator[OfficialCommune]:
        # Every key follows a newline (the joined text starts with one).
        needle = "\n" + wanted
        offset = text.find(needle)
        while offset >= 0:
            yield ref.folded_names[bisect_right(line_starts, offset + 1) - 1][1]
            offset = text.find(needle, offset + 1)

    def containing() -> Iterator[OfficialCommune]:
        offset = text.find(wanted)
        while offset >= 0:
            index = bisect_right(line_starts, offset) - 1
            if offset != line_starts[index]:
                yield ref.folded_names[index][1]
            offset = text.find(wanted, offset + 1)

    _ = (
        take(c for key, c in local if key.startswith(wanted))
        or take(ref.by_key.get(wanted, ()))
        or take(starting())
        or take(c for key, c in local if wanted in key)
        or take(containing())
    )
    return chosen


def suggest(query: str, *, among: Collection[str] = (), limit: int = 5) -> list[Suggestion]:
    """The likeliest communes for a misspelt name, for "Vouliez-vous dire … ?".

    Ranked by similarity of search keys, the communes of ``among`` first (with a looser
    threshold: they are few and likely), then the whole country (stricter, so that a
    nonsense string suggests nothing); ties go to the larger population.
    """
    wanted = search_key(" ".join(query.split())[:100])
    if not wanted:
        return []
    ref = reference()
    local = [ref.position[code] for code in among if code in ref.position]
    found = fuzzy_matches(wanted, ref.keys, local=local, weights=ref.populations, limit=limit)
    return [
        Suggestion(commune=ref.folded_names[m.index][1], score=m.score, local=m.local)
        for m in found
    ]


def search_epci(query: str, *, limit: int = 20) -> list[tuple[str, str]]:
    folded = fold(query)
    if not folded:
        return []
    return [(code, name) for code, name, key in _epci_keys() if folded in key][:limit]


def _line_starts(keys: Iterable[str]) -> Iterator[int]:
    offset = 1  # after the newline that precedes each key
    for key in keys:
        yield offset
        offset += len(key) + 1


@cache
def _epci_keys() -> tuple[tuple[str, str, str], ...]:
    """(code, name, folded name) of every EPCI, folded once per process."""
    return tuple((code, name, fold(name)) for code, name in reference().epci_names.items())
