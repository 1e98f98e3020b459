"""Nearest by time and distance: the ranking a regulator's "créneau le plus proche" uses.

Pure (no Flask, no SQLAlchemy): plain numbers and dataclasses in and out.

The score of a slot for a patient is::

    score = minutes until the slot starts  +  KM_WEIGHT × straight-line km

with ``KM_WEIGHT = 2``: a slot 10 km nearer is worth waiting 20 minutes more for. That is
roughly the time the extra 10 km take by car on the roads of a rural CPTS (30 km/h average
door to door), so the score reads as "minutes until the patient can be seen". Lower is
better; ties go to the earlier start, then the nearer site. A slot whose site or commune
has no coordinates has no distance: it ranks after every slot that has one (a warning on
the page says why), by start time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar
from urllib.parse import urlencode

EARTH_RADIUS_KM = 6371.0088  # mean radius (IUGG)
KM_WEIGHT = 2.0  # minutes of waiting one kilometre is worth
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Point:
    """A position in WGS 84 degrees."""

    latitude: float
    longitude: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.latitude) and -90 <= self.latitude <= 90):
            raise ValueError(f"latitude out of range: {self.latitude}")
        if not (math.isfinite(self.longitude) and -180 <= self.longitude <= 180):
            raise ValueError(f"longitude out of range: {self.longitude}")


def point_or_none(latitude: float | None, longitude: float | None) -> Point | None:
    """A point from two nullable columns; ``None`` unless both are there."""
    if latitude is None or longitude is None:
        return None
    return Point(latitude, longitude)


def distance_km(a: Point, b: Point) -> float:
    """Great-circle distance (haversine), in kilometres."""
    phi1, phi2 = math.radians(a.latitude), math.radians(b.latitude)
    dphi = phi2 - phi1
    dlambda = math.radians(b.longitude - a.longitude)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def score(wait_minutes: float, km: float | None, *, km_weight: float = KM_WEIGHT) -> float:
    """The ranking score: minutes of waiting plus ``km_weight`` minutes per kilometre."""
    if km is None:
        return math.inf
    return max(0.0, wait_minutes) + km_weight * km


@dataclass(frozen=True, slots=True)
class Ranked(Generic[T]):
    item: T
    km: float | None
    score: float


def rank(
    items: Iterable[T],
    *,
    origin: Point | None,
    now: datetime,
    start: Callable[[T], datetime],
    place: Callable[[T], Point | None],
    km_weight: float = KM_WEIGHT,
) -> list[Ranked[T]]:
    """Items (slots) ordered by ``score`` from ``origin``: best first, stable on ties.

    Without an origin (the patient's commune has no centre) it is plain start order.
    """
    ranked = []
    for index, item in enumerate(items):
        at = place(item)
        km = distance_km(origin, at) if origin is not None and at is not None else None
        wait = (start(item) - now).total_seconds() / 60
        value = score(wait, km, km_weight=km_weight)
        ranked.append((value, start(item), math.inf if km is None else km, index, item, km))
    ranked.sort(key=lambda r: r[:4])
    return [Ranked(item=r[4], km=r[5], score=r[0]) for r in ranked]


def nearest_alternatives(
    ranked: Sequence[Ranked[T]], *, exclude: Callable[[T], bool], limit: int = 3
) -> list[Ranked[T]]:
    """The best-scored items left once ``exclude`` (the slot just lost) is set aside.

    After a lost race the pre-selected alternative is the next best by the same mix of
    time and distance, never "the first slot in another town".
    """
    return [r for r in ranked if not exclude(r.item)][:limit]


def format_distance(km: float | None) -> str:
    """ "à 6 km" (whole km from 10 km, one decimal below, "à moins de 1 km" under 1 km)."""
    if km is None or not math.isfinite(km):
        return ""
    if km < 1:
        return "à moins de 1 km"
    if km < 10:
        text = f"{km:.1f}".replace(".", ",").removesuffix(",0")
        return f"à {text} km"
    return f"à {round(km)} km"


def osm_link(point: Point, *, zoom: int = 16) -> str:
    """A plain OpenStreetMap link with a marker: no tracking, no key, no third party."""
    zoom = max(1, min(19, zoom))
    lat, lon = f"{point.latitude:.5f}", f"{point.longitude:.5f}"
    return f"https://www.openstreetmap.org/?{urlencode({'mlat': lat, 'mlon': lon})}#map={zoom}/{lat}/{lon}"
