"""Booking pages as regulators, pharmacists, GPs, coordinators and patients use them.

Time is frozen at ``booking_world.now`` (11:00 in Paris, the day of a 17:00–20:00 session
held by two GPs: 24 slots, 6 for the SAS, 4 for pharmacies, 14 open to all).
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
import time_machine

from app.enums import Role
from app.extensions import db
from booking import services
from booking import slots as slotlib
from booking.models import Booking, BookingStatus
from booking.views import age_label
from publishing import availability
from publishing.availability import free_title, free_words
from rota import services as rota_services
from rota.models import ConsultationMode
from tests.helpers import BOOKING_DAY, PASSWORD, count, logged_in

SLOT_LINK = re.compile(r"creneau=(\d+-\d+-\d+)")


@pytest.fixture
def frozen_booking_world(booking_world):
    """``booking_world`` with the clock stopped at its ``now`` for the whole test."""
    with time_machine.travel(booking_world.now, tick=False):
        yield booking_world


def _login(app, frozen_booking_world, who: str):
    return logged_in(app, frozen_booking_world.users[who].email)


def _patient(**overrides) -> dict[str, str]:
    data = {
        "family_name": "Durand",
        "given_name": "Léa",
        "birth_date": "14/07/1985",
        "phone": "06 12 34 56 78",
        "reason_code": "fievre",
        "reason": "39 °C depuis hier",
    }
    data.update(overrides)
    return data


def _free_ids(frozen_booking_world, who: str) -> list[str]:
    user = frozen_booking_world.users[who]
    return [
        f.id
        for f in services.free_slots(
            frozen_booking_world.territory.id,
            services.booker_channel(user),
            now=frozen_booking_world.now,
        )
    ]


def _book(client, slot_id: str, **patient) -> str:
    """Book through the page; return the reference shown on the confirmation."""
    response = client.post("/reserver", data={"creneau": slot_id, **_patient(**patient)})
    assert response.status_code == 302, response.get_data(as_text=True)
    reference = response.headers["Location"].rsplit("/", 1)[-1]
    assert len(reference) == 8
    return reference


def _channel_of(frozen_booking_world, slot_id: str) -> str:
    session_id, seat, index = slotlib.parse_slot_id(slot_id)
    session = next(s for s in frozen_booking_world.period.sessions if s.id == session_id)
    slot = next(s for s in slotlib.cut(services.shape(session), seats=[seat]) if s.index == index)
    return slot.channel


# --- search ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["Challans", "85047", "challans", "Challans (85300)"])
def test_regulator_finds_slots_by_commune_name_or_insee(app, frozen_booking_world, typed):
    client = _login(app, frozen_booking_world, "regulator")
    page = client.get("/creneaux", query_string={"commune": typed}).get_data(as_text=True)
    assert "Patient de <strong>Challans</strong>" in page
    assert "MSP des Marais" in page
    assert "1 rue de la Gare" in page
    assert "17:00" in page  # local time, not UTC (16:00)
    assert "Dr Claire Medecin" in page
    assert "hors du territoire" not in page
    shown = SLOT_LINK.findall(page)
    assert shown == _free_ids(frozen_booking_world, "regulator")
    assert len(shown) == 20  # 6 SAS + 14 open


def test_postal_code_shared_by_several_communes_asks_which(app, frozen_booking_world):
    client = _login(app, frozen_booking_world, "regulator")
    page = client.get("/creneaux", query_string={"commune": "85300"}).get_data(as_text=True)
    assert "Plusieurs communes correspondent" in page
    assert "Venansault" in page  # INSEE code 85300 as well
    first = page.index("Challans")
    assert first < page.index("Sallertaine")  # the CPTS's own commune first
    assert "dans la CPTS" in page
    assert not SLOT_LINK.findall(page)
    chosen = client.get("/creneaux", query_string={"insee": "85047"}).get_data(as_text=True)
    assert "Patient de <strong>Challans</strong>" in chosen
    assert len(SLOT_LINK.findall(chosen)) == 20


def test_unknown_commune_says_so(app, frozen_booking_world):
    client = _login(app, frozen_booking_world, "regulator")
    page = client.get("/creneaux", query_string={"commune": "Zzyzx"}).get_data(as_text=True)
    assert "Aucune commune ne correspond" in page
    assert not SLOT_LINK.findall(page)


def test_pharmacist_sees_only_pharmacy_and_open_slots(app, frozen_booking_world):
    client = _login(app, frozen_booking_world, "pharmacist")
    page = client.get("/creneaux").get_data(as_text=True)
    shown = SLOT_LINK.findall(page)
    assert len(shown) == 18  # 4 pharmacy + 14 open
    assert {_channel_of(frozen_booking_world, s) for s in shown} == {slotlib.PHARMACY, slotlib.OPEN}
    sas = [
        s
        for s in _free_ids(frozen_booking_world, "regulator")
        if _channel_of(frozen_booking_world, s) == slotlib.SAS
    ]
    assert sas
    assert not set(sas) & set(shown)
    # A SAS slot can't be booked by a pharmacist even by forging the form.
    before = count(Booking)
    response = client.post("/reserver", data={"creneau": sas[0], **_patient()})
    assert response.status_code == 200
    assert "réservé au canal « régulation (SAS / 15) »" in response.get_data(as_text=True)
    assert count(Booking) == before


def test_outside_territory_commune_is_served_with_a_note(app, frozen_booking_world):
    client = _login(app, frozen_booking_world, "regulator")
    page = client.get("/creneaux", query_string={"commune": "17369"}).get_data(as_text=True)
    assert "Saint-Martin-de-Ré" in page
    assert (
        "Commune hors du territoire de la CPTS : les créneaux proposés restent accessibles "
        "au patient." in page
    )
    assert len(SLOT_LINK.findall(page)) == 20
    slot = SLOT_LINK.findall(page)[0]
    form = client.get("/reserver", query_string={"creneau": slot, "insee": "17369"})
    assert "Commune hors du territoire" in form.get_data(as_text=True)


# --- booking -------------------------------------------------------------------------------------


def test_regulator_books_and_gets_a_printable_confirmation(app, frozen_booking_world):
    client = _login(app, frozen_booking_world, "regulator")
    slot = _free_ids(frozen_booking_world, "regulator")[0]
    form = client.get("/reserver", query_string={"creneau": slot, "insee": "85047"})
    page = form.get_data(as_text=True)
    assert form.status_code == 200
    assert "MSP des Marais" in page
    assert "Date de naissance" in page
    for code, label in services.REASONS.items():
        assert f'value="{code}"' in page
        assert label.replace("'", "&#39;") in page
    response = client.post(
        "/reserver", data={"creneau": slot, "insee": "85047", **_patient(without_gp="y")}
    )
    assert response.status_code == 302
    booking = db.session.scalar(sa.select(Booking))
    assert response.headers["Location"].endswith(f"/rendez-vous/{booking.reference}")
    assert booking.slot_id == slot
    assert booking.family_name == "Durand"
    assert booking.phone == "+33612345678"
    assert booking.without_gp
    assert booking.reason_code == "fievre"
    assert booking.booked_by_id == frozen_booking_world.users["regulator"].id
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"Rendez-vous réservé : référence {booking.reference}" in page
    assert "À dire au patient" in page
    assert "lundi 01/03/2027 à 17:00" in page
    assert "1 rue de la Gare" in page
    assert "02 51 00 00 00" in page
    gp = services.holder_of(booking)
    assert gp is not None
    assert gp.display_name in page
    assert "DURAND Léa" in page
    assert "06 12 34 56 78" in page
    assert "Sans médecin traitant" in page
    assert 'class="screen-only actions"' in page  # buttons hidden on paper


def test_slot_taken_offers_three_alternatives_and_writes_nothing(app, frozen_booking_world):
    first = _login(app, frozen_booking_world, "regulator")
    second = _login(app, frozen_booking_world, "regulator2")
    slot = _free_ids(frozen_booking_world, "regulator")[0]
    _book(first, slot)
    response = second.post("/reserver", data={"creneau": slot, **_patient(family_name="Petit")})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Ce créneau vient d&#39;être pris" in page or "Ce créneau vient d'être pris" in page
    offered = re.findall(r'type="radio" name="creneau" value="([\d-]+)"', page)
    assert offered == _free_ids(frozen_booking_world, "regulator2")[:3]
    assert slot not in offered
    assert 'value="Petit"' in page  # the patient's data is kept for the next try
    assert count(Booking) == 1
    # Booking one of the alternatives works from there.
    assert _book(second, offered[0], family_name="Petit")
    assert count(Booking) == 2


def test_invalid_patient_data_shows_french_errors_and_writes_nothing(app, frozen_booking_world):
    client = _login(app, frozen_booking_world, "pharmacist")
    slot = _free_ids(frozen_booking_world, "pharmacist")[0]
    response = client.post(
        "/reserver",
        data={"creneau": slot, **_patient(family_name="", birth_date="31/02/1990", phone="12")},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Ce champ est obligatoire." in page
    assert "Date illisible : utilisez le format JJ/MM/AAAA." in page
    assert "Numéro de téléphone invalide" in page
    assert count(Booking) == 0
    future = (BOOKING_DAY + timedelta(days=3)).strftime("%d/%m/%Y")
    response = client.post("/reserver", data={"creneau": slot, **_patient(birth_date=future)})
    assert "La date de naissance est dans le futur." in response.get_data(as_text=True)
    response = client.post("/reserver", data={"creneau": slot, **_patient(reason_code="magie")})
    assert response.status_code == 200
    assert count(Booking) == 0


def test_missing_or_gone_slot_sends_back_to_the_search(app, frozen_booking_world):
    client = _login(app, frozen_booking_world, "regulator")
    page = client.get("/reserver").get_data(as_text=True)
    assert "Choisissez d&#39;abord un créneau" in page
    assert 'name="family_name"' not in page
    gone = client.get("/reserver", query_string={"creneau": "999999-1-0"})
    assert gone.status_code == 200
    assert "Ce créneau n&#39;est plus disponible" in gone.get_data(as_text=True)
    other = f"{frozen_booking_world.other_session_id}-1-0"
    response = client.post("/reserver", data={"creneau": other, **_patient()})
    assert "Ce créneau n&#39;existe pas" in response.get_data(as_text=True)
    assert count(Booking) == 0


# --- after booking ---------------------------------------------------------------------------------


def test_booker_lists_and_finds_by_reference(app, frozen_booking_world):
    client = _login(app, frozen_booking_world, "pharmacist")
    reference = _book(client, _free_ids(frozen_booking_world, "pharmacist")[0])
    page = client.get("/rendez-vous").get_data(as_text=True)
    assert reference in page
    assert "DURAND Léa" in page
    found = client.get("/rendez-vous", query_string={"ref": reference.lower()})
    assert found.headers["Location"].endswith(f"/rendez-vous/{reference}")
    missing = client.get("/rendez-vous", query_string={"ref": "ZZZZZZZZ"}, follow_redirects=True)
    assert "Aucun rendez-vous visible" in missing.get_data(as_text=True)
    # The other pharmacist sees nothing of it.
    other = _login(app, frozen_booking_world, "pharmacist2")
    assert reference not in other.get("/rendez-vous").get_data(as_text=True)
    assert other.get(f"/rendez-vous/{reference}").status_code == 404
    assert other.get("/rendez-vous", query_string={"ref": reference}).status_code == 200


def test_who_sees_a_pharmacist_booking(app, frozen_booking_world):
    pharmacist = _login(app, frozen_booking_world, "pharmacist")
    reference = _book(pharmacist, _free_ids(frozen_booking_world, "pharmacist")[0])
    assert pharmacist.get(f"/rendez-vous/{reference}").status_code == 200
    assert (
        _login(app, frozen_booking_world, "pharmacist2")
        .get(f"/rendez-vous/{reference}")
        .status_code
        == 404
    )
    assert (
        _login(app, frozen_booking_world, "regulator").get(f"/rendez-vous/{reference}").status_code
        == 404
    )
    assert (
        _login(app, frozen_booking_world, "coordinator")
        .get(f"/rendez-vous/{reference}")
        .status_code
        == 200
    )
    from app.models import AuditEvent

    readers = db.session.execute(
        sa.select(AuditEvent.user_id, AuditEvent.detail).where(AuditEvent.action == "booking.read")
    ).all()
    # The two who could read it are on record (ids only); the refused ones are not.
    assert {r.user_id for r in readers} == {
        frozen_booking_world.users["pharmacist"].id,
        frozen_booking_world.users["coordinator"].id,
    }
    assert {r.detail["where"] for r in readers} == {"detail"}


def test_regulators_share_the_regulation_bookings(app, frozen_booking_world):
    reference = _book(
        _login(app, frozen_booking_world, "regulator"),
        _free_ids(frozen_booking_world, "regulator")[0],
    )
    colleague = _login(app, frozen_booking_world, "regulator2")
    assert colleague.get(f"/rendez-vous/{reference}").status_code == 200
    assert reference in colleague.get("/rendez-vous").get_data(as_text=True)


def test_another_territory_cannot_see_or_touch_a_booking(app, frozen_booking_world, make_user):
    reference = _book(
        _login(app, frozen_booking_world, "regulator"),
        _free_ids(frozen_booking_world, "regulator")[0],
    )
    outsider = make_user(
        Role.COORDINATOR, frozen_booking_world.other_territory, email="coord-ile@example.org"
    )
    client = app.test_client()
    client.post("/connexion", data={"email": outsider.email, "password": PASSWORD})
    assert client.get(f"/rendez-vous/{reference}").status_code == 404
    assert client.post(f"/rendez-vous/{reference}/annuler", data={"reason": "x"}).status_code == 404
    answer = client.post(f"/rendez-vous/{reference}/presence", data={"presence": "venu"})
    assert answer.status_code == 404
    assert reference not in client.get("/coordination/rendez-vous?jour=2027-03-01").get_data(
        as_text=True
    )
    assert "MSP des Marais" not in client.get("/creneaux").get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(sa.select(Booking.status)) == BookingStatus.BOOKED


def test_cancel_with_a_reason_frees_the_slot(app, frozen_booking_world):
    client = _login(app, frozen_booking_world, "pharmacist")
    slot = _free_ids(frozen_booking_world, "pharmacist")[0]
    reference = _book(client, slot)
    assert slot not in _free_ids(frozen_booking_world, "pharmacist")
    refused = client.post(f"/rendez-vous/{reference}/annuler", data={"reason": "  "})
    assert refused.status_code == 302
    assert "Indiquez le motif" in client.get(refused.headers["Location"]).get_data(as_text=True)
    assert db.session.scalar(sa.select(Booking.status)) == BookingStatus.BOOKED
    # Someone who can't see it can't cancel it either.
    other = _login(app, frozen_booking_world, "pharmacist2")
    assert other.post(f"/rendez-vous/{reference}/annuler", data={"reason": "x"}).status_code == 404
    done = client.post(f"/rendez-vous/{reference}/annuler", data={"reason": "Le patient va mieux"})
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "annulé ; le créneau est libéré" in page
    assert "Le patient va mieux" in page
    db.session.expire_all()
    booking = db.session.scalar(sa.select(Booking))
    assert booking.status == BookingStatus.CANCELLED
    assert booking.cancelled_by_id == frozen_booking_world.users["pharmacist"].id
    assert slot in _free_ids(frozen_booking_world, "pharmacist")
    again = client.post(f"/rendez-vous/{reference}/annuler", data={"reason": "encore"})
    assert "déjà annulé" in client.get(again.headers["Location"]).get_data(as_text=True)


def _gp_slot(frozen_booking_world) -> str:
    """A free regulator slot on the seat the GP user holds."""
    gp = frozen_booking_world.users["gp"].practitioner
    session = frozen_booking_world.session_on(BOOKING_DAY)
    seat = next(a.seat for a in session.assignments if a.practitioner_id == gp.id)
    return next(
        s
        for s in _free_ids(frozen_booking_world, "regulator")
        if s.startswith(f"{session.id}-{seat}-")
    )


def test_gp_day_view_lists_the_booking(app, frozen_booking_world):
    reference = _book(
        _login(app, frozen_booking_world, "regulator"),
        _gp_slot(frozen_booking_world),
        reason_code="urinaire",
        reason="",
        without_gp="y",
    )
    gp = _login(app, frozen_booking_world, "gp")
    page = gp.get("/ma-journee").get_data(as_text=True)  # today by default
    assert "MSP des Marais · 17:00–20:00" in page
    assert "DURAND Léa" in page
    assert reference in page
    assert "14/07/1985 (41 ans)" in page
    assert "06 12 34 56 78" in page
    assert "Brûlures urinaires" in page
    assert "sans médecin traitant" in page
    assert "Réservé" in page
    assert page.count("libre ·") == 11  # the GP's other slots of the session
    holder = frozen_booking_world.users["gp"].practitioner_id
    held_day = next(  # another day of the week this GP holds (the engine chose which)
        s.local_date
        for s in frozen_booking_world.period.sessions
        if s.local_date != BOOKING_DAY and any(a.practitioner_id == holder for a in s.assignments)
    )
    other_day = gp.get("/ma-journee", query_string={"date": held_day.isoformat()}).get_data(
        as_text=True
    )
    assert reference not in other_day
    assert "MSP des Marais" in other_day
    assert gp.get(f"/rendez-vous/{reference}").status_code == 200
    assert "Patient venu" not in gp.get(f"/rendez-vous/{reference}").get_data(as_text=True)


def test_gp_cannot_see_a_colleague_seat(app, frozen_booking_world):
    gp = frozen_booking_world.users["gp"].practitioner
    session = frozen_booking_world.session_on(BOOKING_DAY)
    seat = next(a.seat for a in session.assignments if a.practitioner_id != gp.id)
    slot = next(
        s
        for s in _free_ids(frozen_booking_world, "regulator")
        if s.startswith(f"{session.id}-{seat}-")
    )
    reference = _book(_login(app, frozen_booking_world, "regulator"), slot)
    client = _login(app, frozen_booking_world, "gp")
    assert client.get(f"/rendez-vous/{reference}").status_code == 404
    assert reference not in client.get("/ma-journee").get_data(as_text=True)


def test_gp_marks_honoured_or_no_show_once_started(app, frozen_booking_world):
    reference = _book(
        _login(app, frozen_booking_world, "regulator"), _gp_slot(frozen_booking_world)
    )
    gp = _login(app, frozen_booking_world, "gp")
    early = gp.post(f"/rendez-vous/{reference}/presence", data={"presence": "venu"})
    assert "pas encore commencé" in gp.get(early.headers["Location"]).get_data(as_text=True)
    assert db.session.scalar(sa.select(Booking.status)) == BookingStatus.BOOKED
    booking = db.session.scalar(sa.select(Booking))
    with time_machine.travel(booking.starts_at + timedelta(minutes=5), tick=False):
        gp = _login(app, frozen_booking_world, "gp")  # the morning session has expired meanwhile
        assert "Patient venu" in gp.get(f"/rendez-vous/{reference}").get_data(as_text=True)
        day = gp.get("/ma-journee").get_data(as_text=True)
        assert f"/rendez-vous/{reference}/presence" in day
        done = gp.post(
            f"/rendez-vous/{reference}/presence", data={"presence": "absent", "retour": "jour"}
        )
        assert done.headers["Location"].endswith("/ma-journee?date=2027-03-01")
        db.session.expire_all()
        assert db.session.scalar(sa.select(Booking.status)) == BookingStatus.NO_SHOW
        gp.post(f"/rendez-vous/{reference}/presence", data={"presence": "venu"})
        db.session.expire_all()
        assert db.session.scalar(sa.select(Booking.status)) == BookingStatus.HONOURED
        junk = gp.post(f"/rendez-vous/{reference}/presence", data={"presence": "peut-être"})
        assert "Indiquez si le patient est venu" in gp.get(junk.headers["Location"]).get_data(
            as_text=True
        )
        # A booker may not mark.
        regulator = _login(app, frozen_booking_world, "regulator")
        answer = regulator.post(f"/rendez-vous/{reference}/presence", data={"presence": "venu"})
        assert answer.status_code == 403


def test_coordinator_sees_bookings_to_replace_first(app, frozen_booking_world):
    reference = _book(
        _login(app, frozen_booking_world, "pharmacist"),
        _free_ids(frozen_booking_world, "pharmacist")[0],
    )
    booking = db.session.scalar(sa.select(Booking).where(Booking.reference == reference))
    rota_services.cancel_session(booking.session, reason="Médecin malade", by=None)
    db.session.commit()
    # 23:00 in Paris: tomorrow's evening is within the 24 h window.
    with time_machine.travel(frozen_booking_world.now + timedelta(hours=12), tick=False):
        kept = _book(
            _login(app, frozen_booking_world, "regulator"),
            _free_ids_at(frozen_booking_world, "regulator")[0],
        )
        coordinator = _login(app, frozen_booking_world, "coordinator")
        page = coordinator.get("/coordination/rendez-vous").get_data(as_text=True)
        assert "À replacer (1)" in page
        assert page.index("À replacer (1)") < page.index(reference)
        assert page.index(reference) < page.index("Rendez-vous du 01/03/2027")
        tomorrow = coordinator.get(
            "/coordination/rendez-vous", query_string={"jour": "2027-03-02", "statut": "booked"}
        ).get_data(as_text=True)
        listed = tomorrow[tomorrow.index("Rendez-vous du 02/03/2027") :]
        assert kept in listed
        assert reference not in listed
        cancelled = coordinator.get(
            "/coordination/rendez-vous",
            query_string={"jour": "2027-03-02", "statut": "cancelled"},
        ).get_data(as_text=True)
        assert kept not in cancelled[cancelled.index("Rendez-vous du 02/03/2027") :]
        jump = coordinator.get("/coordination/rendez-vous", query_string={"ref": kept})
        assert jump.headers["Location"].endswith(f"/rendez-vous/{kept}")
        # The pharmacist who booked sees it to re-place too.
        pharmacist = _login(app, frozen_booking_world, "pharmacist")
        assert "À replacer (1)" in pharmacist.get("/rendez-vous").get_data(as_text=True)


def _free_ids_at(frozen_booking_world, who: str) -> list[str]:
    """Free slot ids for ``who`` at the current (travelled) time."""
    user = frozen_booking_world.users[who]
    return [
        f.id
        for f in services.free_slots(
            frozen_booking_world.territory.id, services.booker_channel(user)
        )
    ]


def test_coordinator_replaces_a_patient_on_a_new_slot(app, frozen_booking_world):
    pharmacist = _login(app, frozen_booking_world, "pharmacist")
    reference = _book(pharmacist, _free_ids(frozen_booking_world, "pharmacist")[0])
    booking = db.session.scalar(sa.select(Booking))
    rota_services.cancel_session(booking.session, reason="Médecin malade", by=None)
    db.session.commit()
    # Tomorrow's session, within 24 h once the evening has come.
    with time_machine.travel(frozen_booking_world.now + timedelta(hours=12), tick=False):
        coordinator = _login(app, frozen_booking_world, "coordinator")
        detail = coordinator.get(f"/rendez-vous/{reference}").get_data(as_text=True)
        assert "Replacer ce patient" in detail
        search = coordinator.get("/creneaux", query_string={"remplace": reference})
        slot = SLOT_LINK.findall(search.get_data(as_text=True))[0]
        form = coordinator.get("/reserver", query_string={"creneau": slot, "remplace": reference})
        assert 'value="Durand"' in form.get_data(as_text=True)
        response = coordinator.post(
            "/reserver", data={"creneau": slot, "remplace": reference, **_patient()}
        )
        assert response.status_code == 302
        db.session.expire_all()
        old = db.session.scalar(sa.select(Booking).where(Booking.reference == reference))
        assert old.status == BookingStatus.CANCELLED
        assert old.cancel_reason.startswith("Replacé : nouveau rendez-vous ")
        assert count(Booking) == 2


# --- public page ---------------------------------------------------------------------------------


def test_public_page_lists_territories_then_sites_hours_and_counts(
    app, client, frozen_booking_world
):
    listing = client.get("/disponibilites")
    assert listing.status_code == 200
    text = listing.get_data(as_text=True)
    assert "CPTS des Marais" in text
    assert "CPTS de l&#39;île" in text
    page = client.get("/disponibilites", query_string={"cpts": frozen_booking_world.territory.slug})
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "public, max-age=60"
    assert "Set-Cookie" not in page.headers
    text = page.get_data(as_text=True)
    assert 'lang="fr"' in text
    assert "MSP des Marais" in text
    assert "1 rue de la Gare" in text
    assert "02 51 00 00 00" in text
    assert "17:00–20:00" in text
    # 24 distinct slots: 14 open to both, 6 for the 15 only, 4 for pharmacies only.
    assert "24 créneaux encore libres :" in text
    assert "<li>20 réservables en appelant le 15</li>" in text
    assert "<li>18 réservables par votre pharmacie</li>" in text
    assert 'href="tel:15"' in text
    assert f'href="tel:{frozen_booking_world.site.phone}"' in text
    assert "appelez le 15" in text
    for gp in frozen_booking_world.gps:
        assert gp.family_name not in text
    tomorrow = client.get(
        "/disponibilites",
        query_string={"cpts": frozen_booking_world.territory.slug, "jour": "demain"},
    ).get_data(as_text=True)
    assert "mardi 2 mars 2027" in tomorrow
    assert "17:00–20:00" in tomorrow
    assert client.get("/disponibilites", query_string={"cpts": "inconnue"}).status_code == 404


def test_public_count_drops_after_a_booking_and_shows_no_patient(app, client, frozen_booking_world):
    slug = frozen_booking_world.territory.slug
    regulator = _login(app, frozen_booking_world, "regulator")
    sas = next(
        s
        for s in _free_ids(frozen_booking_world, "regulator")
        if _channel_of(frozen_booking_world, s) == slotlib.SAS
    )
    _book(regulator, sas, family_name="Zébulon")
    page = client.get("/disponibilites", query_string={"cpts": slug})
    text = page.get_data(as_text=True)
    assert "<li>19 réservables en appelant le 15</li>" in text
    assert "Zébulon" not in text
    assert "ZÉBULON" not in text
    assert "Léa" not in text
    assert "Set-Cookie" not in page.headers


def test_public_page_finds_the_cpts_from_a_commune(app, client, frozen_booking_world):
    found = client.get("/disponibilites", query_string={"q": "Challans"})
    assert found.status_code == 302
    assert f"cpts={frozen_booking_world.territory.slug}" in found.headers["Location"]
    assert "commune=85047" in found.headers["Location"]
    page = client.get(found.headers["Location"]).get_data(as_text=True)
    assert "MSP des Marais" in page
    assert "· Challans" in page
    nowhere = client.get("/disponibilites", query_string={"q": "Venansault"})
    assert "Aucune CPTS de ce service ne couvre" in nowhere.get_data(as_text=True)


def test_public_page_shows_walk_in_hours_without_slots(app, client, frozen_booking_world):
    session = frozen_booking_world.session_on(BOOKING_DAY)
    session.mode = ConsultationMode.WALK_IN
    db.session.commit()
    text = client.get(
        "/disponibilites", query_string={"cpts": frozen_booking_world.territory.slug}
    ).get_data(as_text=True)
    assert "sans rendez-vous" in text
    assert "17:00–20:00" in text
    assert "réservables en appelant" not in text
    assert "Présentez-vous sur place" in text
    assert not [
        f for f in _free_ids(frozen_booking_world, "regulator") if f.startswith(f"{session.id}-")
    ]


def test_public_page_for_a_logged_in_user_is_not_shared(app, frozen_booking_world):
    client = _login(app, frozen_booking_world, "regulator")
    page = client.get("/disponibilites", query_string={"cpts": frozen_booking_world.territory.slug})
    assert page.status_code == 200
    assert "public" not in page.headers["Cache-Control"]


def test_public_page_reads_a_day_in_a_few_queries(app, frozen_booking_world):
    from sqlalchemy import event

    statements: list[str] = []
    engine = db.engine
    assert frozen_booking_world.territory.booking_release_minutes == 120  # loaded, as in the view
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        sites = availability.day_availability(
            frozen_booking_world.territory, BOOKING_DAY, now=frozen_booking_world.now
        )
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert len(statements) <= 3
    assert [s.site.name for s in sites] == ["MSP des Marais"]
    assert sites[0].free == {"open": 14, "sas": 6, "pharmacy": 4}


def test_free_words_and_age_labels():
    # Each line is what one call can reach: the open slot counts for both.
    assert free_words({"open": 1, "sas": 3}) == [
        "4 réservables en appelant le 15",
        "1 réservable par votre pharmacie",
    ]
    assert free_words({"pharmacy": 2}) == ["2 réservables par votre pharmacie"]
    assert free_words({}) == []
    assert free_title({"open": 1, "sas": 3}) == "4 créneaux encore libres"
    assert free_title({"sas": 1}) == "1 créneau encore libre"
    from datetime import date

    assert age_label(date(2026, 7, 2), date(2027, 3, 1)) == "7 mois"
    assert age_label(date(1985, 3, 2), date(2027, 3, 1)) == "41 ans"
    assert age_label(date(1985, 3, 1), date(2027, 3, 1)) == "42 ans"


# --- territory settings -------------------------------------------------------------------------


def test_coordinator_sets_the_booking_rules(app, frozen_booking_world):
    client = _login(app, frozen_booking_world, "coordinator")
    territory = frozen_booking_world.territory
    form = client.get("/coordination/territoire").get_data(as_text=True)
    assert 'name="booking_release_minutes"' in form
    assert 'value="120"' in form
    base = {
        "name": territory.name,
        "timezone": "Europe/Paris",
        "holiday_subdivision": "",
        "min_rest_hours": "10",
    }
    bad = client.post(
        "/coordination/territoire",
        data={
            **base,
            "booking_release_minutes": "2000",
            "booking_horizon_hours": "24",
            "patient_data_days": "0",
        },
    )
    text = bad.get_data(as_text=True)
    assert bad.status_code == 200
    assert "Entre 0 et 1440 minutes." in text
    assert "Entre 1 et 3650 jours." in text
    ok = client.post(
        "/coordination/territoire",
        data={
            **base,
            "booking_release_minutes": "60",
            "booking_horizon_hours": "48",
            "patient_data_days": "30",
        },
    )
    assert ok.status_code == 302
    db.session.expire_all()
    assert (
        territory.booking_release_minutes,
        territory.booking_horizon_hours,
        territory.patient_data_days,
    ) == (60, 48, 30)
    # The 48-hour horizon shows tomorrow's evening slots to the regulation.
    assert len(_free_ids(frozen_booking_world, "regulator")) == 40


def test_public_page_is_served_from_cache_until_something_changes(app, booking_world):
    """The second identical anonymous request reuses the rendered page; a booking changes
    the freshness marker, so the count drops at once."""

    from booking import page_cache
    from booking import services as booking_services

    frozen_booking_world = booking_world
    url = f"/disponibilites?cpts={frozen_booking_world.territory.slug}"
    with time_machine.travel(frozen_booking_world.now, tick=False):
        client = app.test_client()
        first = client.get(url)
        assert first.headers["Cache-Control"] == "public, max-age=60"
        assert len(page_cache.public_pages._entries) == 1
        again = client.get(url)
        assert again.get_data() == first.get_data()
        assert "Set-Cookie" not in again.headers
        slot = booking_services.free_slots(
            frozen_booking_world.territory.id, "sas", now=frozen_booking_world.now
        )[0]
        booking_services.book(
            frozen_booking_world.users["regulator"],
            slot.id,
            booking_services.PatientData("Durand", "Léa", date(1990, 1, 1), "0612345678"),
            now=frozen_booking_world.now,
        )
        db.session.commit()
        after = client.get(url)
        assert after.get_data() != first.get_data()
        assert len(page_cache.public_pages._entries) == 2
