"""The patient informed: contact with consent, confirmation, cancellation link, reminder,
purge; and the one booking horizon said on every surface (issue 13, items 4 and 5).

Time is frozen at ``booking_world.now`` (11:00 in Paris, the day of a 17:00–20:00 session;
every day has one, so tomorrow's opens to booking at 17:00 today with the 24 h horizon).
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
import time_machine

from app import mail
from app.extensions import db
from app.models import AuditEvent
from app.outbox import Channel, OutboxMessage
from app.sms import BrevoSmsSender
from booking import patient_notice, services, tokens
from booking.models import Booking, BookingStatus
from tests.helpers import BOOKING_DAY, count, logged_in
from tests.test_sms import FROM, KEY, brevo  # noqa: F401 - the local Brevo server fixture

LINK = re.compile(r"https?://[^\s]+/annulation/[A-Za-z0-9_-]+")


@pytest.fixture
def world(booking_world):
    with time_machine.travel(booking_world.now, tick=False):
        yield booking_world


class _Api:
    """The regulator's bearer token on the test client."""

    def __init__(self, app, world):
        token, _ = tokens.create_token(world.users["regulator"], "test", by=None)
        db.session.commit()
        self.client = app.test_client()
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, url: str):
        return self.client.get(url, headers=self.headers)

    def post(self, url: str, json: dict):
        return self.client.post(url, json=json, headers=self.headers)


@pytest.fixture
def api_client(app):
    return lambda world: _Api(app, world)


def _patient(**overrides) -> dict[str, str]:
    data = {
        "family_name": "Durand",
        "given_name": "Léa",
        "birth_date": "14/07/1985",
        "phone": "02 51 12 34 56",
        "reason_code": "fievre",
        "reason": "39 °C depuis hier",
        "mobile": "06 12 34 56 78",
        "email": "Lea.Durand@example.org",
        "contact_consent": "y",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def _free(world, who: str, *, now=None) -> list[str]:
    user = world.users[who]
    return [
        f.id
        for f in services.free_slots(
            world.territory.id, services.booker_channel(user), now=now or world.now
        )
    ]


def _book(client, slot_id: str, **patient):
    return client.post("/reserver", data={"creneau": slot_id, **_patient(**patient)})


def _booked(client, slot_id: str, **patient) -> Booking:
    response = _book(client, slot_id, **patient)
    assert response.status_code == 302, response.get_data(as_text=True)
    reference = response.headers["Location"].rsplit("/", 1)[-1]
    return db.session.scalar(sa.select(Booking).where(Booking.reference == reference))


def _messages(booking: Booking) -> dict[Channel, OutboxMessage]:
    rows = db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.booking_id == booking.id)
    ).all()
    return {m.channel: m for m in rows}


def _link_path(text: str) -> str:
    url = LINK.search(text)
    assert url is not None, text
    return "/annulation/" + url.group(0).rsplit("/", 1)[-1]


def _csrf(page: str) -> str:
    """The form's CSRF token (empty: the tests' app checks none, the browser journey does)."""
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]*)"', page)
    return found.group(1) if found else ""


# --- booking with the patient's contact ----------------------------------------------------------


def test_pharmacist_books_with_contact_and_the_patient_gets_sms_and_email(app, world):
    pharmacist = logged_in(app, world.users["pharmacist"].email)
    booking = _booked(pharmacist, _free(world, "pharmacist")[0])
    assert booking.patient_mobile == "+33612345678"
    assert booking.patient_email == "lea.durand@example.org"
    assert booking.contact_consent_at is not None
    assert len(booking.patient_token_hash or "") == 64
    messages = _messages(booking)
    assert set(messages) == {Channel.SMS, Channel.EMAIL}
    sms, email = messages[Channel.SMS], messages[Channel.EMAIL]
    assert sms.recipient == "+33612345678"
    assert email.recipient == "lea.durand@example.org"
    for text in (sms.body, email.body):
        assert "MSP des Marais" in text
        assert "1 rue de la Gare" in text
        assert "17 h" in text
        assert "carte Vitale" in text
        assert "15" in text
        assert LINK.search(text)
        # Never the reason, never the GP.
        assert "39 °C" not in text
        assert "Fièvre" not in text
        for gp in world.gps:
            assert gp.family_name not in text
    assert email.purge_after == booking.ends_at + timedelta(days=world.territory.patient_data_days)
    # Only the hash is stored: the token is in the message alone.
    token = _link_path(sms.body).rsplit("/", 1)[-1]
    assert patient_notice.token_hash(token) == booking.patient_token_hash
    assert token not in (booking.patient_token_hash or "")
    detail = pharmacist.get(f"/rendez-vous/{booking.reference}").get_data(as_text=True)
    assert "Confirmation envoyée" in detail


def test_booking_without_contact_sends_nothing_to_the_patient(app, world):
    regulator = logged_in(app, world.users["regulator"].email)
    booking = _booked(
        regulator, _free(world, "regulator")[0], mobile=None, email=None, contact_consent=None
    )
    assert booking.patient_token_hash is None
    assert _messages(booking) == {}


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"contact_consent": None}, "laissez son portable et son e-mail vides"),
        ({"mobile": "02 51 12 34 56", "email": None}, "pas un numéro de portable"),
        ({"mobile": None, "email": "pas-une-adresse"}, "Adresse e-mail invalide"),
    ],
)
def test_contact_needs_consent_and_valid_values_or_nothing_is_written(app, world, overrides, error):
    regulator = logged_in(app, world.users["regulator"].email)
    response = _book(regulator, _free(world, "regulator")[0], **overrides)
    assert response.status_code == 200
    assert error in response.get_data(as_text=True)
    assert count(Booking) == 0
    assert count(OutboxMessage, OutboxMessage.booking_id.is_not(None)) == 0


def test_api_books_with_contact_and_refuses_it_without_consent(app, world, api_client):
    api = api_client(world)
    slot = _free(world, "regulator")[0]
    body = {
        "slot_id": slot,
        "patient": {
            "family_name": "Durand",
            "given_name": "Léa",
            "birth_date": "1985-07-14",
            "phone": "0251123456",
            "mobile": "0612345678",
        },
    }
    refused = api.post("/api/v1/bookings", json=body)
    assert refused.status_code == 400
    assert "accord du patient" in refused.get_json()["message"]
    wrong_type = api.post(
        "/api/v1/bookings", json={**body, "patient": {**body["patient"], "contact_consent": "oui"}}
    )
    assert wrong_type.status_code == 400
    assert count(Booking) == 0
    body["patient"]["contact_consent"] = True
    created = api.post("/api/v1/bookings", json=body)
    assert created.status_code == 201, created.get_json()
    reference = created.get_json()["reference"]
    read = api.get(f"/api/v1/bookings/{reference}").get_json()
    assert read["patient"]["mobile"] == "+33612345678"
    assert read["cancelled_by_patient"] is False
    booking = db.session.scalar(sa.select(Booking).where(Booking.reference == reference))
    assert set(_messages(booking)) == {Channel.SMS}


# --- the cancellation link ------------------------------------------------------------------------


def test_patient_cancels_with_the_link_once_and_the_slot_is_free_again(app, world):
    pharmacist = logged_in(app, world.users["pharmacist"].email)
    slot = _free(world, "pharmacist")[0]
    booking = _booked(pharmacist, slot)
    path = _link_path(_messages(booking)[Channel.SMS].body)
    patient = app.test_client()
    page = patient.get(path)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Annuler mon rendez-vous" in text
    assert "MSP des Marais" in text
    assert page.headers["Cache-Control"] == "private, no-store"
    db.session.expire_all()
    assert db.session.get(Booking, booking.id).status == BookingStatus.BOOKED  # GET changes nothing

    done = patient.post(path, data={"csrf_token": _csrf(text)})
    assert done.status_code == 200
    assert "le créneau est libéré" in done.get_data(as_text=True)
    db.session.expire_all()
    cancelled = db.session.get(Booking, booking.id)
    assert cancelled.status == BookingStatus.CANCELLED
    assert cancelled.cancelled_by_patient
    assert cancelled.cancelled_by_id is None
    assert cancelled.status_label == "Annulé par le patient"
    assert slot in _free(world, "pharmacist")
    event = db.session.scalar(
        sa.select(AuditEvent).where(
            AuditEvent.action == "booking.cancel", AuditEvent.target_id == str(booking.id)
        )
    )
    assert event is not None
    assert event.user_id is None
    assert event.detail == {"by": "patient"}

    again = patient.post(path, data={"csrf_token": _csrf(text)})  # a double click
    assert again.status_code == 200
    assert "Rendez-vous annulé" in again.get_data(as_text=True)
    assert count(AuditEvent, AuditEvent.action == "booking.cancel") == 1

    coordinator = logged_in(app, world.users["coordinator"].email)
    listing = coordinator.get(
        "/coordination/rendez-vous", query_string={"jour": BOOKING_DAY.isoformat()}
    ).get_data(as_text=True)
    assert "Annulé par le patient" in listing
    detail = coordinator.get(f"/rendez-vous/{booking.reference}").get_data(as_text=True)
    assert "Annulé par le patient" in detail


def test_link_after_the_start_unknown_or_cancelled_elsewhere_says_so_and_changes_nothing(
    app, world
):
    regulator = logged_in(app, world.users["regulator"].email)
    booking = _booked(regulator, _free(world, "regulator")[0])
    path = _link_path(_messages(booking)[Channel.EMAIL].body)
    patient = app.test_client()
    unknown = patient.get("/annulation/pas-un-vrai-lien")
    assert unknown.status_code == 404
    assert "Ce lien d&#39;annulation n&#39;existe pas" in unknown.get_data(as_text=True)
    with time_machine.travel(booking.starts_at + timedelta(minutes=1), tick=False):
        late = patient.get(path)
        assert late.status_code == 410
        assert "n&#39;est plus valable" in late.get_data(as_text=True)
        assert "Annuler mon rendez-vous" not in late.get_data(as_text=True)
    services.cancel(booking, world.users["coordinator"], reason="Médecin absent")
    db.session.commit()
    elsewhere = patient.get(path)
    assert elsewhere.status_code == 200
    assert "déjà été annulé par la CPTS" in elsewhere.get_data(as_text=True)
    state, _ = services.cancel_by_patient(path.rsplit("/", 1)[-1], now=world.now)
    assert state == services.LinkState.CANCELLED_ELSEWHERE
    db.session.expire_all()
    assert not db.session.get(Booking, booking.id).cancelled_by_patient


def test_patient_post_without_csrf_changes_nothing(make_app, booking_world):
    guarded = make_app(WTF_CSRF_ENABLED=True)  # same database as ``booking_world``
    with time_machine.travel(booking_world.now, tick=False):
        regulator = booking_world.users["regulator"]
        booking = services.book(
            regulator,
            _free(booking_world, "regulator")[0],
            services.PatientData("Durand", "Léa", date(1985, 7, 14), "0251123456"),
        )
        token, booking.patient_token_hash = patient_notice.new_token()
        db.session.commit()
        client = guarded.test_client()
        page = client.get(f"/annulation/{token}").get_data(as_text=True)
        assert 'name="csrf_token"' in page
        db.session.rollback()
        answer = client.post(
            f"/annulation/{token}", data={}, headers={"Referer": "https://tdr.test/"}
        )
    assert answer.status_code == 400
    db.session.expire_all()
    assert db.session.get(Booking, booking.id).status == BookingStatus.BOOKED


def test_the_link_is_masked_in_logs():
    from app.access_log import mask_secrets, redact_path

    assert redact_path("/annulation/AbCdEf123") == "/annulation/***"
    assert "AbCd" not in mask_secrets("GET https://x.example/annulation/AbCdEf123 done")


# --- delivery, reminder, purge --------------------------------------------------------------------


def test_confirmation_sms_reaches_the_brevo_api_with_the_link(app, world, brevo):  # noqa: F811
    regulator = logged_in(app, world.users["regulator"].email)
    booking = _booked(regulator, _free(world, "regulator")[0], email=None)
    db.session.commit()
    report = mail.send_pending(
        mail.MemorySender(),
        now=world.now,
        mail_from=FROM,
        sms_sender=BrevoSmsSender(KEY, "CPTS85", url=brevo.url),
    )
    assert _messages(booking)[Channel.SMS].id in report.sent
    [request] = brevo.requests
    assert request["body"]["recipient"] == "33612345678"
    assert request["body"]["type"] == "transactional"
    content = request["body"]["content"]
    assert LINK.search(content)
    assert "Urgence vitale : appelez le 15." in content
    assert "39" not in content
    assert db.session.get(OutboxMessage, _messages(booking)[Channel.SMS].id).sent_at is not None


def test_reminder_two_hours_before_once_and_only_with_a_contact(app, world):
    regulator = logged_in(app, world.users["regulator"].email)
    slots = _free(world, "regulator")
    with_contact = _booked(regulator, slots[0])
    _booked(regulator, slots[1], mobile=None, email=None, contact_consent=None)
    assert patient_notice.remind(world.now) == 0  # 17:00 is 6 h away
    db.session.commit()
    two_hours_before = with_contact.starts_at - timedelta(hours=2)
    assert patient_notice.remind(two_hours_before) == 1
    db.session.commit()
    assert patient_notice.remind(two_hours_before + timedelta(minutes=5)) == 0  # idempotent
    reminders = db.session.scalars(
        sa.select(OutboxMessage).where(
            OutboxMessage.channel == Channel.SMS, OutboxMessage.body.contains("rappel")
        )
    ).all()
    assert {m.channel for m in reminders} == {Channel.SMS}
    email_reminders = db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.subject.startswith("Rappel"))
    ).all()
    assert len(email_reminders) == 1
    for message in [*reminders, *email_reminders]:
        assert "39 °C" not in message.body
        assert message.booking_id == with_contact.id


def test_remind_command(app, world):
    regulator = logged_in(app, world.users["regulator"].email)
    booking = _booked(regulator, _free(world, "regulator")[0])
    db.session.commit()
    runner = app.test_cli_runner()
    with time_machine.travel(booking.starts_at - timedelta(minutes=90), tick=False):
        first = runner.invoke(args=["booking", "remind"])
        second = runner.invoke(args=["booking", "remind"])
    assert first.exit_code == 0
    assert "1 rappel(s)" in first.output
    assert "Aucun rappel" in second.output


def test_purge_erases_contact_token_and_messages(app, world):
    regulator = logged_in(app, world.users["regulator"].email)
    booking = _booked(regulator, _free(world, "regulator")[0])
    db.session.commit()
    path = _link_path(_messages(booking)[Channel.SMS].body)
    later = booking.ends_at + timedelta(days=world.territory.patient_data_days + 1)
    services.purge(now=later)
    db.session.commit()
    db.session.expire_all()
    purged = db.session.get(Booking, booking.id)
    assert purged.patient_email is None
    assert purged.patient_mobile is None
    assert purged.patient_token_hash is None
    assert purged.contact_consent_at is None
    assert count(OutboxMessage, OutboxMessage.booking_id == booking.id) == 0
    assert app.test_client().get(path).status_code == 404


# --- one horizon ----------------------------------------------------------------------------------


def test_public_page_says_when_tomorrows_slots_open(app, client, world):
    tomorrow = client.get(
        "/disponibilites", query_string={"cpts": world.territory.slug, "jour": "demain"}
    ).get_data(as_text=True)
    assert "réservable à partir de 17:00 aujourd&#39;hui" in tomorrow
    today = client.get("/disponibilites", query_string={"cpts": world.territory.slug}).get_data(
        as_text=True
    )
    assert "réservable à partir de" not in today


def test_booking_pages_say_when_the_next_slot_opens_and_refuse_it_until_then(app, world):
    regulator = logged_in(app, world.users["regulator"].email)
    page = regulator.get("/creneaux").get_data(as_text=True)
    assert "Réservation jusqu'à 24 h à l'avance" in page
    assert "réservable à partir de 17:00 aujourd&#39;hui" in page
    found = services.next_opening(world.territory.id, "sas", now=world.now)
    assert found is not None
    slot, opens = found
    assert opens == slot.slot.starts_at - timedelta(hours=24)
    refused = _book(regulator, slot.id, mobile=None, email=None, contact_consent=None)
    assert "il le sera à partir de 17:00 aujourd&#39;hui" in refused.get_data(as_text=True)
    with time_machine.travel(opens, tick=False):
        assert slot.id in _free(world, "regulator", now=opens)


def test_api_says_when_the_next_slot_opens(app, world, api_client):
    api = api_client(world)
    listing = api.get("/api/v1/slots").get_json()
    opening = listing["next_opening"]
    assert opening["opens_at"].startswith(f"{BOOKING_DAY.isoformat()}T17:00")
    refused = api.post(
        "/api/v1/bookings",
        json={
            "slot_id": opening["slot"]["id"],
            "patient": {
                "family_name": "Durand",
                "given_name": "Léa",
                "birth_date": "1985-07-14",
                "phone": "0251123456",
            },
        },
    )
    assert refused.status_code == 422
    assert refused.get_json()["code"] == "outside_window"
    assert refused.get_json()["opens_at"] == opening["opens_at"]
    assert "17:00 aujourd'hui" in refused.get_json()["message"]
