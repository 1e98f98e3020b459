"""Booking use cases on both engines: window, channels, races, the rota moving, privacy, purge."""

import threading
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import User
from app.outbox import OutboxMessage
from booking import services
from booking.models import Booking, BookingStatus
from booking.slots import OPEN, PHARMACY, SAS
from rota import services as rota_services
from tests.helpers import count

PATIENT = services.PatientData(
    family_name="Durand",
    given_name="Léa",
    birth_date=date(1990, 5, 4),
    phone="06 12 34 56 78",
    reason="Fièvre depuis hier",
    reason_code="fievre",
    without_gp=True,
)


def free(world, role="regulator", **kw):
    return services.free_slots(
        world.territory.id,
        services.booker_channel(world.users[role]),
        now=kw.pop("now", world.now),
        **kw,
    )


def test_regulators_see_sas_and_open_slots_of_today_only(booking_world):
    found = free(booking_world)
    assert {f.channel for f in found} == {SAS, OPEN}
    assert {f.session.local_date for f in found} == {booking_world.period.start_date}
    # 24 slots a day, 4 reserved to pharmacies: 20 for the regulation.
    assert len(found) == 20
    assert [f.slot.starts_at for f in found] == sorted(f.slot.starts_at for f in found)
    pharmacy = free(booking_world, "pharmacist")
    assert {f.channel for f in pharmacy} == {PHARMACY, OPEN}
    assert len(pharmacy) == 18


def test_book_writes_the_booking_notifies_the_gp_and_hides_the_slot(booking_world):
    user = booking_world.users["regulator"]
    target = free(booking_world)[0]
    booking = services.book(user, target.id, PATIENT, now=booking_world.now)
    db.session.commit()
    assert len(booking.reference) == 8
    assert set(booking.reference) <= set(services.REFERENCE_ALPHABET)
    assert (booking.family_name, booking.phone, booking.channel) == ("Durand", "+33612345678", SAS)
    assert booking.status == BookingStatus.BOOKED
    assert target.id not in {f.id for f in free(booking_world)}
    gp_mail = db.session.scalar(
        sa.select(OutboxMessage).where(
            OutboxMessage.recipient == target.practitioner.email,
            OutboxMessage.subject.like("%nouveau rendez-vous%"),
        )
    )
    assert booking.reference in gp_mail.body
    assert "Durand" not in gp_mail.body  # no patient data by e-mail


def test_a_taken_slot_is_refused_with_three_alternatives(booking_world):
    target = free(booking_world)[0]
    services.book(booking_world.users["regulator"], target.id, PATIENT, now=booking_world.now)
    db.session.commit()
    before = count(Booking)
    with pytest.raises(services.SlotTaken) as caught:
        services.book(booking_world.users["regulator2"], target.id, PATIENT, now=booking_world.now)
    assert str(caught.value) == "Ce créneau vient d'être pris."
    assert len(caught.value.alternatives) == 3
    assert target.id not in {a.id for a in caught.value.alternatives}
    db.session.rollback()
    assert count(Booking) == before


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("wrong_channel", "wrong_channel"),
        ("tomorrow", "outside_window"),
        ("past", "outside_window"),
        ("other_territory", "not_found"),
        ("garbage", "not_found"),
        ("bad_phone", "invalid"),
        ("future_birth", "invalid"),
        ("unknown_reason", "invalid"),
    ],
)
def test_refusals_write_nothing(booking_world, case, code):
    world = booking_world
    pharmacy_only = next(f for f in free(world, "pharmacist") if f.channel == PHARMACY)
    today = world.session_on(world.period.start_date)
    tomorrow = world.session_on(world.period.start_date + timedelta(days=1))
    slot_id = free(world)[0].id
    patient = PATIENT
    now = world.now
    user = world.users["regulator"]
    if case == "wrong_channel":
        slot_id = pharmacy_only.id
    elif case == "tomorrow":
        slot_id = f"{tomorrow.id}-1-11"  # 19:45 tomorrow: beyond 24 h
    elif case == "past":
        slot_id = f"{today.id}-1-0"
        now = today.starts_at + timedelta(minutes=1)
    elif case == "other_territory":
        slot_id = f"{world.other_session_id}-1-0"
    elif case == "garbage":
        slot_id = "1-2-3-4"
    elif case == "bad_phone":
        patient = services.PatientData(**{**PATIENT.__dict__, "phone": "12"})
    elif case == "future_birth":
        patient = services.PatientData(**{**PATIENT.__dict__, "birth_date": date(2030, 1, 1)})
    elif case == "unknown_reason":
        patient = services.PatientData(**{**PATIENT.__dict__, "reason_code": "x"})
    before = (count(Booking), count(OutboxMessage))
    with pytest.raises(services.BookingError) as caught:
        services.book(user, slot_id, patient, now=now)
    assert caught.value.code == code
    db.session.rollback()
    assert (count(Booking), count(OutboxMessage)) == before


def test_a_reserved_slot_opens_to_pharmacists_two_hours_before(booking_world):
    world = booking_world
    sas_slot = next(f for f in free(world) if f.channel == SAS)
    pharmacist = world.users["pharmacist"]
    with pytest.raises(services.BookingError, match="réservé"):
        services.book(pharmacist, sas_slot.id, PATIENT, now=world.now)
    late = sas_slot.slot.starts_at - timedelta(minutes=120)
    booking = services.book(pharmacist, sas_slot.id, PATIENT, now=late)
    assert (booking.slot_channel, booking.channel) == (SAS, PHARMACY)


@pytest.mark.parametrize("bookers", [8])
def test_racing_bookers_get_exactly_one_booking(booking_world, app, bookers):
    world = booking_world
    target = free(world)[0].id
    user_ids = [world.users["regulator"].id, world.users["regulator2"].id]
    db.session.commit()
    results: list[str] = []
    barrier = threading.Barrier(bookers, timeout=60)

    def attempt(n: int) -> None:
        with app.app_context():
            user = db.session.get(User, user_ids[n % 2])
            db.session.commit()  # end the read: SQLite's BEGIN IMMEDIATE would hold the lock
            barrier.wait()
            try:
                services.book(user, target, PATIENT, now=world.now)
                db.session.commit()
                results.append("booked")
            except services.SlotTaken:
                db.session.rollback()
                results.append("taken")
            except Exception as exc:  # noqa: BLE001 - any other outcome fails the test below
                db.session.rollback()
                results.append(repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(bookers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["booked"] + ["taken"] * (bookers - 1)
    assert count(Booking) == 1


def test_bookings_follow_a_swap_to_the_new_gp(booking_world, make_user):
    from app.enums import Role

    world = booking_world
    session = world.session_on(world.period.start_date)
    seat_one = next(a for a in session.assignments if a.seat == 1)
    target = next(f for f in free(world) if f.session.id == session.id and f.slot.seat == 1)
    booking = services.book(world.users["regulator"], target.id, PATIENT, now=world.now)
    db.session.commit()
    old_gp = seat_one.practitioner
    new_gp = next(
        g for g in world.gps if g.id not in {a.practitioner_id for a in session.assignments}
    )
    old_user = world.users["gp"]
    assert old_user.practitioner_id == old_gp.id
    assert services.get_visible(old_user, booking.reference) == booking
    rota_services.replace_gp(seat_one, new_gp, by=None)
    db.session.commit()
    new_user = make_user(Role.GP, world.territory, email="new@example.org", practitioner=new_gp)
    assert services.holder_of(booking) == new_gp
    assert services.get_visible(new_user, booking.reference) == booking
    with pytest.raises(services.NotFound):
        services.get_visible(old_user, booking.reference)
    assert (booking.starts_at, booking.session_id) == (target.slot.starts_at, session.id)


def test_emptying_a_seat_with_bookings_is_refused(booking_world):
    world = booking_world
    target = free(world)[0]
    services.book(world.users["regulator"], target.id, PATIENT, now=world.now)
    db.session.commit()
    seat = next(a for a in target.session.assignments if a.seat == target.slot.seat)
    with pytest.raises(Exception, match="rendez-vous sur cette place"):
        rota_services.unassign(seat, by=None)


def test_cancelled_session_flags_its_bookings_and_alerts(booking_world):
    world = booking_world
    target = free(world)[0]
    booking = services.book(world.users["pharmacist"], target.id, PATIENT, now=world.now)
    db.session.commit()
    flagged = rota_services.cancel_session(target.session, reason="Panne de chauffage", by=None)
    db.session.commit()
    assert flagged == 1
    assert booking.status == BookingStatus.TO_REPLACE
    recipients = set(
        db.session.scalars(
            sa.select(OutboxMessage.recipient).where(OutboxMessage.subject.like("%replacer%"))
        )
    )
    assert recipients == {"coord@example.org", "pharma1@example.org"}
    assert target.session.id not in {f.session.id for f in free(world)}


def test_who_sees_which_booking(booking_world):
    world = booking_world
    by_pharmacist = services.book(
        world.users["pharmacist"], free(world, "pharmacist")[0].id, PATIENT, now=world.now
    )
    by_regulator = services.book(
        world.users["regulator"], free(world)[0].id, PATIENT, now=world.now
    )
    db.session.commit()
    u = world.users

    def sees(role, booking):
        try:
            services.get_visible(u[role], booking.reference)
            return True
        except services.NotFound:
            return False

    assert sees("pharmacist", by_pharmacist)
    assert not sees("pharmacist2", by_pharmacist)
    assert not sees("regulator", by_pharmacist)
    assert sees("regulator2", by_regulator)  # the regulation works as one team
    assert not sees("pharmacist", by_regulator)
    assert sees("coordinator", by_pharmacist)
    assert sees("coordinator", by_regulator)
    lower = by_regulator.reference.lower()
    assert services.get_visible(u["regulator"], f" {lower} ") == by_regulator


def test_cancel_and_mark(booking_world):
    world = booking_world
    target = free(world)[0]
    booking = services.book(world.users["regulator"], target.id, PATIENT, now=world.now)
    with pytest.raises(services.BookingError, match="motif"):
        services.cancel(booking, world.users["regulator"], reason=" ", now=world.now)
    with pytest.raises(services.BookingError, match="pas encore commencé"):
        services.mark(booking, world.users["gp"], honoured=True, now=world.now)
    services.mark(booking, world.users["gp"], honoured=False, now=target.slot.starts_at)
    assert booking.status == BookingStatus.NO_SHOW
    with pytest.raises(services.BookingError, match="déjà eu lieu"):
        services.cancel(booking, world.users["regulator"], reason="x", now=world.now)
    other = services.book(world.users["regulator"], free(world)[0].id, PATIENT, now=world.now)
    services.cancel(other, world.users["regulator"], reason="Patient guéri", now=world.now)
    db.session.commit()
    assert (other.status, other.cancel_reason) == (BookingStatus.CANCELLED, "Patient guéri")
    assert other.slot_id in {f.id for f in free(world)}  # the slot is free again


def test_purge_erases_patient_data_after_retention_and_keeps_counting(booking_world):
    world = booking_world
    booking = services.book(world.users["regulator"], free(world)[0].id, PATIENT, now=world.now)
    db.session.commit()
    assert services.purge(now=world.now + timedelta(days=89)).purged == 0
    report = services.purge(now=world.now + timedelta(days=91))
    db.session.commit()
    assert report.purged == 1
    db.session.expire_all()
    kept = db.session.get(Booking, booking.id)
    assert (kept.family_name, kept.given_name, kept.birth_date, kept.phone, kept.reason) == (
        None,
        None,
        None,
        None,
        None,
    )
    assert (kept.reason_code, kept.without_gp, kept.status) == (
        "fievre",
        True,
        BookingStatus.BOOKED,
    )
    assert kept.patient_name == "(données effacées)"
    assert services.purge(now=world.now + timedelta(days=200)).purged == 0


def test_a_limit_gives_the_same_soonest_slots_as_a_full_search(booking_world):
    full = free(booking_world)
    for limit in (1, 3, 7, 20, 50):
        limited = free(booking_world, limit=limit)
        assert [f.id for f in limited] == [f.id for f in full[:limit]]
    later = full[5].slot.starts_at
    assert [f.id for f in free(booking_world, since=later)] == [
        f.id for f in full if f.slot.starts_at >= later
    ]


def test_rebook_takes_the_new_slot_and_cancels_the_old_booking(booking_world):
    world = booking_world
    regulator = world.users["regulator"]
    first, second = free(world)[:2]
    old = services.book(regulator, first.id, PATIENT, now=world.now)
    db.session.commit()

    new = services.rebook(old, regulator, second.id, PATIENT, now=world.now)
    db.session.commit()

    assert (new.slot_id, new.status) == (second.id, BookingStatus.BOOKED)
    assert old.status == BookingStatus.CANCELLED
    assert old.cancel_reason == f"Replacé : nouveau rendez-vous {new.reference}."
    assert first.id in {f.id for f in free(world)}


def test_a_refused_rebook_keeps_neither_half(booking_world):
    world = booking_world
    regulator = world.users["regulator"]
    first, second = free(world)[:2]
    old = services.book(regulator, first.id, PATIENT, now=world.now)
    services.cancel(old, regulator, reason="Le patient a appelé", now=world.now)
    db.session.commit()

    with pytest.raises(services.BookingError, match="déjà annulé"):
        services.rebook(old, regulator, second.id, PATIENT, now=world.now)
    db.session.rollback()

    assert count(Booking) == 1  # the new booking went with the refused cancellation
    assert second.id in {f.id for f in free(world)}
