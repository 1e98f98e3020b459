"""Small per-process caches: the anonymous public page, and the API's slot searches.

The public page is the same for every anonymous visitor and may be a minute old (it says
``Cache-Control: public, max-age=60``), but a booking must make its count drop at once.
So an entry is keyed on the URL, the minute, and a *freshness marker*, the newest audit
event's id: any booking, cancellation or rota change gives a new key. Each gunicorn
worker keeps its own entries; a worker that misses renders the page and keeps it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime, timedelta

import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent

MAX_ENTRIES = 256
TTL = timedelta(seconds=60)


def freshness_marker(now: datetime) -> tuple[object, ...]:
    """Changes whenever anything changes anywhere: the newest audit event's id.

    Every service audits its change in the same transaction (bookings, cancellations, rota
    changes, sites, territories), and the page lists every territory: one look at the end
    of the primary key's index, whatever the size of the log. ``now`` is unused (the
    minute in the key already bounds what the marker can miss: a write that bypasses the
    services, or PostgreSQL transactions committing out of id order).
    """
    del now
    return (db.session.scalar(sa.select(sa.func.max(AuditEvent.id))),)


class PageCache:
    """URL + marker → (body, stored at); least recently used out first."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: OrderedDict[tuple[object, ...], tuple[bytes, datetime]] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_entries

    def get(self, key: tuple[object, ...], now: datetime) -> bytes | None:
        with self._lock:
            hit = self._entries.get(key)
            if hit is None or now - hit[1] > TTL:
                return None
            self._entries.move_to_end(key)
            return hit[0]

    def put(self, key: tuple[object, ...], body: bytes, now: datetime) -> None:
        with self._lock:
            self._entries[key] = (body, now)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


public_pages = PageCache()
# JSON answers of GET /api/v1/slots, keyed on the territory's audit change marker.
slot_searches = PageCache(max_entries=1024)
