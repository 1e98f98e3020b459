"""Matching commune names the way a regulator types them: fast, abbreviated, misspelt.

Pure: plain strings in, plain data out (no Flask, no database, no data file), so the
rules are tested alone and ``app.communes_ref`` applies them to the official list.

Two steps, both over a *search key* (``search_key``) rather than the raw name:
- exact forgiving matches: the key equals, starts with or contains the typed key;
- typos: a similarity ranking (``rapidfuzz``'s normalised Indel ratio, 0–100) of the
  typed key against the keys of a set of communes, used for "Vouliez-vous dire … ?".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process

# "St Gilles", "Ste Foy", "Sts", "Stes": abbreviations people type for these words.
ABBREVIATIONS = {"st": "saint", "ste": "sainte", "sts": "saints", "stes": "saintes"}
# Articles are dropped on both sides: "Les Sables-d'Olonne" is found by "sables d olonne",
# "L'Île-d'Yeu" by "ile d yeu", and "Noirmoutier-en-l'Île" by "noirmoutier en ile".
ARTICLES = frozenset({"le", "la", "les", "l"})
_SEPARATORS = re.compile(r"[\s\-/'’‘`´.,;:()_]+")

# Similarity (0–100) a typo must reach to be suggested: lower among the communes the
# caller names (they are few and likely), higher across the whole country (35,000 names,
# where a loose threshold finds something for any string).
LOCAL_CUTOFF = 72.0
COUNTRY_CUTOFF = 84.0
# Shorter keys carry too little to guess from: "ab" is close to hundreds of names.
MIN_FUZZY_LENGTH = 4


def search_key(text: str) -> str:
    """Case-, accent-, hyphen- and article-insensitive form, with "st"/"ste" spelt out."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    words = [ABBREVIATIONS.get(w, w) for w in _SEPARATORS.split(stripped) if w]
    kept = [w for w in words if w not in ARTICLES]
    # A name that is only an article (none exists, but a query may be) keeps its words.
    return " ".join(kept or words)


@dataclass(frozen=True, slots=True)
class Match:
    """One candidate: its position in the caller's sequence, similarity, and locality."""

    index: int
    score: float
    local: bool


def fuzzy_matches(
    query_key: str,
    keys: Sequence[str],
    *,
    local: Iterable[int] = (),
    weights: Sequence[int] | None = None,
    limit: int = 5,
) -> list[Match]:
    """The keys closest to ``query_key``: local ones (indexes in ``local``) first, then the rest.

    Within each group the best similarity wins, then the larger ``weights`` (population:
    the larger commune is the likelier meaning of an ambiguous typo), then the index.
    """
    if len(query_key.replace(" ", "")) < MIN_FUZZY_LENGTH or limit <= 0:
        return []
    local_set = set(local)

    def ranked(indexes: Sequence[int] | None, cutoff: float, is_local: bool) -> list[Match]:
        # The whole country is scanned as the caller's sequence itself (no copy of 35,000
        # strings per search); a local set as a short list of its keys.
        choices = keys if indexes is None else [keys[i] for i in indexes]
        found = process.extract(
            query_key,
            choices,
            scorer=fuzz.ratio,
            processor=None,
            score_cutoff=cutoff,
            limit=None,
        )
        position = (lambda j: j) if indexes is None else (lambda j: indexes[j])
        matches = [Match(index=position(j), score=score, local=is_local) for _, score, j in found]
        weight = (lambda m: weights[m.index]) if weights is not None else (lambda m: 0)
        matches.sort(key=lambda m: (-m.score, -weight(m), m.index))
        return matches

    result = ranked(sorted(local_set), LOCAL_CUTOFF, True)
    if len(result) < limit:
        seen = {m.index for m in result}
        country = ranked(None, COUNTRY_CUTOFF, False)
        result += [m for m in country if m.index not in seen]
    return result[:limit]
