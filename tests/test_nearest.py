"""Nearest by time and distance (pure): haversine, the score, formatting and map links."""

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from booking.nearest import (
    KM_WEIGHT,
    Point,
    distance_km,
    format_distance,
    nearest_alternatives,
    osm_link,
    point_or_none,
    rank,
    score,
)

CHALLANS = Point(46.845, -1.880)
SAINT_GILLES = Point(46.698, -1.945)
PARIS = Point(48.857, 2.343)
NOW = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)

latitudes = st.floats(min_value=-90, max_value=90, allow_nan=False)
longitudes = st.floats(min_value=-180, max_value=180, allow_nan=False)
points = st.builds(Point, latitudes, longitudes)


def test_known_distances():
    # Challans – Saint-Gilles-Croix-de-Vie town halls: about 17 km as the crow flies.
    assert distance_km(CHALLANS, SAINT_GILLES) == pytest.approx(17.1, abs=0.3)
    # Challans – Paris: about 386 km.
    assert distance_km(CHALLANS, PARIS) == pytest.approx(386, abs=3)


@given(points, points)
def test_distance_is_symmetric_and_bounded(a, b):
    d = distance_km(a, b)
    assert d == pytest.approx(distance_km(b, a), abs=1e-6)
    assert 0 <= d <= math.pi * 6371.0088 + 1e-6


@given(points)
def test_distance_to_itself_is_zero(a):
    assert distance_km(a, a) == pytest.approx(0, abs=1e-6)


@given(points, points, points)
def test_triangle_inequality(a, b, c):
    assert distance_km(a, c) <= distance_km(a, b) + distance_km(b, c) + 1e-6


@pytest.mark.parametrize(("lat", "lon"), [(91, 0), (0, 181), (math.nan, 0), (0, math.inf)])
def test_point_refuses_impossible_coordinates(lat, lon):
    with pytest.raises(ValueError, match="out of range"):
        Point(lat, lon)


def test_point_or_none_needs_both():
    assert point_or_none(None, 1.0) is None
    assert point_or_none(46.0, None) is None
    assert point_or_none(46.0, -1.0) == Point(46.0, -1.0)


@given(st.floats(0, 10_000), st.floats(0, 1_000), st.floats(0, 1_000))
def test_score_grows_with_distance(wait, km, more):
    assert score(wait, km) <= score(wait, km + more)
    assert score(wait, km + more) - score(wait, km) == pytest.approx(KM_WEIGHT * more, abs=1e-6)


def test_score_of_an_unknown_distance_is_last():
    assert score(0, None) == math.inf


@dataclass(frozen=True)
class FakeSlot:
    name: str
    start: datetime
    place: Point | None


def _rank(slots, origin=CHALLANS):
    return rank(slots, origin=origin, now=NOW, start=lambda s: s.start, place=lambda s: s.place)


def test_rank_prefers_a_near_slot_a_little_later_over_a_far_one_now():
    near_later = FakeSlot("Challans 17:20", NOW + timedelta(minutes=20), CHALLANS)
    far_now = FakeSlot("Saint-Gilles 17:00", NOW, SAINT_GILLES)  # 17 km = 34 min
    assert [r.item.name for r in _rank([far_now, near_later])] == [
        "Challans 17:20",
        "Saint-Gilles 17:00",
    ]


def test_rank_prefers_the_far_slot_when_the_near_one_is_hours_later():
    near_tonight = FakeSlot("Challans 20:00", NOW + timedelta(hours=3), CHALLANS)
    far_now = FakeSlot("Saint-Gilles 17:00", NOW, SAINT_GILLES)
    ranked = _rank([near_tonight, far_now])
    assert ranked[0].item is far_now
    assert format_distance(ranked[0].km) == "à 17 km"


def test_rank_puts_slots_without_coordinates_last_in_start_order():
    unknown_early = FakeSlot("?", NOW, None)
    unknown_late = FakeSlot("??", NOW + timedelta(hours=1), None)
    known = FakeSlot("Challans", NOW + timedelta(hours=2), CHALLANS)
    assert [r.item for r in _rank([unknown_late, known, unknown_early])] == [
        known,
        unknown_early,
        unknown_late,
    ]


def test_rank_without_origin_is_start_order():
    a = FakeSlot("a", NOW + timedelta(minutes=30), SAINT_GILLES)
    b = FakeSlot("b", NOW, PARIS)
    assert [r.item for r in _rank([a, b], origin=None)] == [b, a]
    assert all(r.km is None for r in _rank([a, b], origin=None))


slot_lists = st.lists(
    st.builds(
        FakeSlot,
        st.text(max_size=3),
        st.integers(0, 24 * 60).map(lambda m: NOW + timedelta(minutes=m)),
        st.one_of(st.none(), points),
    ),
    max_size=20,
)


@given(slot_lists, st.one_of(st.none(), points))
def test_rank_is_a_sorted_permutation(slots, origin):
    ranked = _rank(slots, origin)
    assert sorted(map(id, (r.item for r in ranked))) == sorted(map(id, slots))
    scores = [r.score for r in ranked]
    assert scores == sorted(scores)


@given(slot_lists)
def test_alternatives_are_the_best_remaining(slots):
    ranked = _rank(slots)
    if not ranked:
        return
    lost = ranked[0].item
    alternatives = nearest_alternatives(ranked, exclude=lambda s: s is lost, limit=3)
    assert all(r.item is not lost for r in alternatives)
    assert alternatives == [r for r in ranked if r.item is not lost][:3]


@pytest.mark.parametrize(
    ("km", "text"),
    [
        (None, ""),
        (0.2, "à moins de 1 km"),
        (1.0, "à 1 km"),
        (6.04, "à 6 km"),
        (6.36, "à 6,4 km"),
        (9.96, "à 10 km"),
        (17.4, "à 17 km"),
        (152.6, "à 153 km"),
    ],
)
def test_format_distance(km, text):
    assert format_distance(km) == text


@given(points)
def test_osm_link_carries_only_the_position(point):
    link = osm_link(point)
    parts = urlsplit(link)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "www.openstreetmap.org", "/")
    query = parse_qs(parts.query)
    assert set(query) == {"mlat", "mlon"}
    assert float(query["mlat"][0]) == pytest.approx(point.latitude, abs=1e-5)
    assert parts.fragment.startswith("map=16/")
    assert "utm" not in link
