"""French collation: the one way the app sorts names people read.

Python's default string order puts "Élodie" after "Yann" and "Île de Ré" after
"Nord-Vendée", because it compares code points. French readers expect the Unicode
Collation Algorithm's order (CLDR's French tailoring equals the root order for France),
where accents and case only break ties. ``pyuca`` implements that algorithm on the
DUCET table; its collator takes a quarter of a second to load, hence the cache.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cache
from typing import TypeVar

from pyuca import Collator

T = TypeVar("T")


@cache
def _collator() -> Collator:
    return Collator()


def french_key(text: str | None) -> tuple[int, ...]:
    """Sort key of ``text`` in French order (None sorts as the empty string)."""
    return _collator().sort_key(text or "")


def french_sorted(items: Iterable[T], key: Callable[[T], str | None] | None = None) -> list[T]:
    """``items`` sorted in French order of ``key(item)`` (the item itself by default).

    Ties keep their incoming order (the sort is stable), so a caller that needs a
    deterministic order among equal names sorts by id first.
    """
    get: Callable[[T], str | None] = key if key is not None else (lambda item: str(item))
    return sorted(items, key=lambda item: french_key(get(item)))


def by_name(items: Iterable[T]) -> list[T]:
    """Sites, communes, territories… (anything with a ``name``) in French order of it."""
    return french_sorted(items, key=lambda item: getattr(item, "name", None))


def by_family_name(people: Iterable[T]) -> list[T]:
    """Practitioners (``family_name``, ``given_name``, ``id``) as a French directory lists them."""
    return sorted(
        people,
        key=lambda p: (
            french_key(getattr(p, "family_name", None)),
            french_key(getattr(p, "given_name", None)),
            getattr(p, "id", 0) or 0,
        ),
    )
