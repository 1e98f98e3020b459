"""Slot cutting, channels and the release/window rules (pure: no app, no database)."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from booking import slots
from booking.slots import OPEN, PHARMACY, SAS, SessionShape

PARIS = ZoneInfo("Europe/Paris")
START = datetime(2027, 3, 1, 16, 0, tzinfo=UTC)


def shape(**kw) -> SessionShape:
    values = {
        "id": 7,
        "starts_at": START,
        "ends_at": START + timedelta(hours=3),
        "seats": 1,
        "slot_minutes": 15,
        "sas_slots": 0,
        "pharmacy_slots": 0,
    }
    values.update(kw)
    return SessionShape(**values)


def test_a_three_hour_session_gives_twelve_quarter_hours_per_gp():
    cut = slots.cut(shape(seats=2))
    assert len(cut) == 24
    assert cut[0].starts_at == START
    assert cut[-1].ends_at == START + timedelta(hours=3)
    assert [(s.seat, s.index) for s in cut[:4]] == [(1, 0), (2, 0), (1, 1), (2, 1)]
    assert len({s.id for s in cut}) == 24


def test_a_remainder_shorter_than_a_slot_is_not_a_slot():
    assert len(slots.cut(shape(slot_minutes=20, ends_at=START + timedelta(minutes=50)))) == 2


def test_walk_in_sessions_have_no_bookable_slots():
    assert slots.cut(shape(walk_in=True)) == []


def test_reserved_slots_are_spread_over_the_session():
    kinds = slots.channels(shape(seats=2, sas_slots=6, pharmacy_slots=4))
    assert (kinds.count(SAS), kinds.count(PHARMACY), kinds.count(OPEN)) == (6, 4, 14)
    sas_positions = [k for k, c in enumerate(kinds) if c == SAS]
    assert sas_positions[0] < 4
    assert sas_positions[-1] >= 20  # not all at the start
    gaps = [b - a for a, b in zip(sas_positions, sas_positions[1:], strict=False)]
    assert max(gaps) - min(gaps) <= 1


@given(
    seats=st.integers(1, 3),
    per_seat=st.integers(0, 16),
    sas=st.integers(0, 50),
    pharmacy=st.integers(0, 50),
)
def test_quotas_never_exceed_the_slots(seats, per_seat, sas, pharmacy):
    s = shape(seats=seats, ends_at=START + timedelta(minutes=15 * per_seat))
    kinds = slots.channels(
        s.__class__(**{**s.__dict__, "sas_slots": sas, "pharmacy_slots": pharmacy})
    )
    total = seats * per_seat
    assert len(kinds) == total
    assert kinds.count(SAS) == min(sas, total)
    assert kinds.count(PHARMACY) == min(pharmacy, total - min(sas, total))


def test_slot_ids_round_trip_and_garbage_is_refused():
    slot = slots.cut(shape())[3]
    assert slots.parse_slot_id(slot.id) == (7, 1, 3)
    for bad in ("", "7-1", "7-1-x", "-7-1-3", "7-0-3", "0-1-1", "1" * 20 + "-1-1", "7-1-3-4"):
        assert slots.parse_slot_id(bad) is None


def test_a_reserved_slot_opens_to_everyone_at_release_time():
    kinds = slots.cut(shape(sas_slots=12))  # all reserved to the SAS
    first = kinds[0]
    release = timedelta(minutes=120)
    early = first.starts_at - timedelta(minutes=121)
    late = first.starts_at - timedelta(minutes=120)
    assert slots.effective_channel(first, early, release) == SAS
    assert not slots.may_take(PHARMACY, first, early, release)
    assert slots.may_take(SAS, first, early, release)
    assert slots.effective_channel(first, late, release) == OPEN
    assert slots.may_take(PHARMACY, first, late, release)
    assert slots.may_take(slots.ANY, first, early, release)


def test_window_from_now_plus_margin_to_the_horizon():
    slot = slots.cut(shape())[0]
    margin, horizon = timedelta(minutes=5), timedelta(hours=24)
    assert slots.in_window(
        slot, slot.starts_at - timedelta(hours=24), margin=margin, horizon=horizon
    )
    assert not slots.in_window(
        slot, slot.starts_at - timedelta(hours=24, seconds=1), margin=margin, horizon=horizon
    )
    assert not slots.in_window(
        slot, slot.starts_at - timedelta(minutes=4), margin=margin, horizon=horizon
    )
    assert not slots.in_window(
        slot, slot.starts_at + timedelta(minutes=1), margin=margin, horizon=horizon
    )


def test_a_night_across_the_autumn_change_has_one_more_hour_of_slots():
    # 20:00–08:00 Paris on 24→25 October 2026: 13 hours elapse, not 12.
    start = datetime(2026, 10, 24, 20, 0, tzinfo=PARIS).astimezone(UTC)
    end = datetime(2026, 10, 25, 8, 0, tzinfo=PARIS).astimezone(UTC)
    cut = slots.cut(shape(starts_at=start, ends_at=end, slot_minutes=30))
    assert len(cut) == 26
    local_starts = [s.starts_at.astimezone(PARIS).strftime("%H:%M") for s in cut]
    assert local_starts.count("02:00") == 2  # the repeated hour holds two slots each time
    assert local_starts[-1] == "07:30"


def test_an_evening_on_the_spring_change_day_keeps_its_local_times():
    start = datetime(2027, 3, 28, 17, 0, tzinfo=PARIS).astimezone(UTC)
    end = datetime(2027, 3, 28, 20, 0, tzinfo=PARIS).astimezone(UTC)
    cut = slots.cut(shape(starts_at=start, ends_at=end))
    assert [s.starts_at.astimezone(PARIS).strftime("%H:%M") for s in cut][:2] == ["17:00", "17:15"]
    assert len(cut) == 12


def test_cut_within_a_window_gives_the_same_slots_as_filtering():
    session = shape(seats=2, sas_slots=5, pharmacy_slots=3)
    everything = slots.cut(session)
    for lo, hi in [(0, 180), (7, 61), (15, 15), (-30, 400), (179, 200), (181, 300)]:
        not_before = START + timedelta(minutes=lo)
        not_after = START + timedelta(minutes=hi)
        expected = [s for s in everything if not_before <= s.starts_at <= not_after]
        assert slots.cut(session, not_before=not_before, not_after=not_after) == expected
