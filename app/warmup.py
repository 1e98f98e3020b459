"""What a worker keeps for its whole life: loaded up front, then kept out of the garbage
collector's way.

A worker holds ~290,000 long-lived objects once it has served a commune search: the app,
SQLAlchemy's metadata and statement caches, the official commune list. Every full
collection of Python's cyclic garbage collector walks all of them (~160 ms on a small VM),
and the request that happens to trigger one waits for it: in the region bench, searches
of 45 ms took 300 ms two or three times a run. ``gc.freeze()`` moves every object alive at
that moment into a permanent generation the collector no longer walks; what requests
create is collected as before. The cost is that a frozen object that becomes garbage in a
reference cycle is never freed: only long-lived objects should exist when it is called.
"""

from __future__ import annotations

import gc

from app import communes_ref


def settle() -> int:
    """Load the commune list, collect, freeze what remains; return how many objects froze."""
    communes_ref.reference()
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
