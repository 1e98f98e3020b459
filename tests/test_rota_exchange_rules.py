"""Property: an exchange the rules allow leaves both GPs within every hard rule (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rota import rules

MONDAY = date(2027, 3, 1)


@st.composite
def worlds(draw):
    """A breach-free rota: a few GPs and sessions, filled greedily through the rules."""
    min_rest = timedelta(hours=draw(st.integers(0, 12)))
    sessions = []
    for n in range(draw(st.integers(4, 12))):
        day = MONDAY + timedelta(days=draw(st.integers(0, 9)))
        start = datetime(day.year, day.month, day.day, draw(st.integers(6, 20)), tzinfo=UTC)
        hours = draw(st.integers(2, 5))
        sessions.append(
            rules.Session(
                id=n + 1,
                site_id=draw(st.integers(1, 2)),
                starts_at=start,
                ends_at=start + timedelta(hours=hours),
                local_date=day,
            )
        )
    doctors = []
    for n in range(draw(st.integers(2, 4))):
        away = draw(st.none() | st.integers(0, 9))
        unavailable = ()
        if away is not None:
            start = datetime.combine(MONDAY + timedelta(days=away), datetime.min.time(), UTC)
            unavailable = (rules.Unavailability(start, start + timedelta(days=1)),)
        doctors.append(
            rules.Doctor(
                id=100 + n,
                site_ids=frozenset(draw(st.sets(st.integers(1, 2), min_size=1))),
                unavailable=unavailable,
                max_per_day=draw(st.integers(1, 2)),
                max_per_week=draw(st.none() | st.integers(1, 4)),
                max_per_period=draw(st.none() | st.integers(1, 5)),
            )
        )
    held: dict[int, list[rules.Session]] = {d.id: [] for d in doctors}
    pairs: dict[int, int] = {}
    for s in sessions:
        order = draw(st.permutations(doctors))
        for d in order:
            found = rules.addition_breaches(
                d, s, held=held[d.id], period_count=len(held[d.id]), min_rest=min_rest
            )
            if not found:
                held[d.id].append(s)
                pairs[s.id] = d.id
                break
    return sessions, doctors, pairs, min_rest


def rota_breaches(sessions, doctors, pairs, min_rest):
    return rules.breaches(
        sessions, doctors, [(s, d, False) for s, d in pairs.items()], min_rest=min_rest
    )


def exchange_check(sessions, doctors, pairs, min_rest, first, second):
    """The rules' verdict on swapping ``first`` and ``second`` (session ids)."""
    by_id = {s.id: s for s in sessions}
    doctor = {d.id: d for d in doctors}
    x, y = pairs[first], pairs[second]
    found = []
    for gp, gives, takes, leaving in ((x, first, second, y), (y, second, first, x)):
        mine = [by_id[s] for s, d in pairs.items() if d == gp]
        found += rules.exchange_breaches(
            doctor[gp],
            by_id[gives],
            by_id[takes],
            held=mine,
            holders=[d for s, d in pairs.items() if s == takes and d != leaving],
            period_count=len(mine) - 1,
            min_rest=min_rest,
        )
    return found


@settings(max_examples=150, deadline=None)
@given(worlds(), st.data())
def test_an_allowed_exchange_never_breaks_a_hard_rule(world, data):
    sessions, doctors, pairs, min_rest = world
    assert rota_breaches(sessions, doctors, pairs, min_rest) == []
    held = sorted(pairs)
    assume(len(held) >= 2)  # a world where no GP could take a session has nothing to swap
    first = data.draw(st.sampled_from(held))
    others = [s for s in held if pairs[s] != pairs[first]]
    if not others:
        return
    second = data.draw(st.sampled_from(others))
    verdict = exchange_check(sessions, doctors, pairs, min_rest, first, second)
    after = dict(pairs) | {first: pairs[second], second: pairs[first]}
    # Only the two sessions change hands, each to the other GP.
    assert {(s, d) for s, d in after.items()} ^ {(s, d) for s, d in pairs.items()} == {
        (first, pairs[first]),
        (second, pairs[second]),
        (first, pairs[second]),
        (second, pairs[first]),
    }
    # The verdict is exact: allowed exactly when the rota after the swap keeps every rule.
    assert (verdict == []) == (rota_breaches(sessions, doctors, after, min_rest) == [])


def test_giving_and_taking_the_same_session_is_not_an_exchange():
    s = rules.Session(
        1, 1, datetime(2027, 3, 1, 17, tzinfo=UTC), datetime(2027, 3, 1, 20, tzinfo=UTC), MONDAY
    )
    d = rules.Doctor(1, frozenset({1}))
    found = rules.exchange_breaches(d, s, s, held=[s], min_rest=timedelta(0))
    assert [b.code for b in found] == [rules.ALREADY_HOLDING]
