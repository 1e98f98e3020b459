"""Patients' messages: the confirmation text, SMS delivery through the outbox, and purging.

The Brevo sender is checked against a local HTTP server (a free loopback port) that
follows Brevo's documented transactional SMS API: ``POST /v3/transactionalSMS/send``,
``api-key`` header, JSON body ``sender``/``recipient``/``content``/``type``; ``201
{"messageId": …}``, errors ``{"code", "message"}`` with 400, 401, 402.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
import sqlalchemy as sa

from app import mail
from app.extensions import db
from app.outbox import Channel, OutboxMessage, notify, notify_patient, purge_patient_messages
from app.sms import (
    BrevoSmsSender,
    MemorySmsSender,
    Sms,
    is_gsm7,
    masked,
    normalise_mobile,
    sms_sender_from_config,
)
from app.validators import ValidationError
from booking.patient_messages import (
    Confirmation,
    confirmation_email,
    confirmation_from,
    confirmation_sms,
)

PARIS = ZoneInfo("Europe/Paris")
T0 = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)
FROM = "CPTS <ne-pas-repondre@example.org>"
KEY = "xkeysib-test-key"
CANCEL = "https://snp.example.org/annuler/Qm9va2luZy1jYW5jZWw"


# --- a local server that follows Brevo's documented API --------------------------------------


@dataclass
class FakeBrevo:
    url: str
    requests: list[dict] = field(default_factory=list)
    credits: int = 100
    fail_with: int | None = None  # force a 5xx


def _valid_number(digits: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse("+" + digits))
    except phonenumbers.NumberParseException:
        return False


def _brevo_handler(state: FakeBrevo) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep the test output clean
            pass

        def _answer(self, status: int, payload: dict) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            if self.path != "/v3/transactionalSMS/send":
                return self._answer(404, {"code": "not_found", "message": "Not found"})
            length = int(self.headers.get("content-length", 0))
            raw = self.rfile.read(length)
            if self.headers.get("api-key") != KEY:
                return self._answer(401, {"code": "unauthorized", "message": "Key not found"})
            if not self.headers.get("content-type", "").startswith("application/json"):
                return self._answer(400, {"code": "bad_request", "message": "JSON expected"})
            body = json.loads(raw)
            headers = {k.lower(): v for k, v in self.headers.items()}
            state.requests.append({"headers": headers, "body": body})
            if state.fail_with:
                return self._answer(state.fail_with, {"code": "internal", "message": "Oops"})
            sender, recipient = body.get("sender", ""), body.get("recipient", "")
            if not re.fullmatch(r"[A-Za-z0-9]{1,11}|[0-9]{1,15}", sender):
                return self._answer(
                    400, {"code": "invalid_parameter", "message": "sender is invalid"}
                )
            if not re.fullmatch(r"[0-9]{8,15}", recipient) or not _valid_number(recipient):
                return self._answer(
                    400, {"code": "invalid_parameter", "message": "Invalid phone number"}
                )
            if not body.get("content"):
                return self._answer(
                    400, {"code": "missing_parameter", "message": "content is missing"}
                )
            if state.credits <= 0:
                return self._answer(
                    402, {"code": "not_enough_credits", "message": "Not enough credits"}
                )
            state.credits -= 1
            return self._answer(201, {"messageId": 1511882900176220 + len(state.requests)})

    return Handler


@pytest.fixture
def brevo() -> Iterator[FakeBrevo]:
    state = FakeBrevo(url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _brevo_handler(state))
    state.url = f"http://127.0.0.1:{server.server_port}/v3/transactionalSMS/send"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


# --- mobile numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "e164"),
    [
        ("06 12 34 56 78", "+33612345678"),
        ("+33 7 81 23 45 67", "+33781234567"),
        ("0692 12 34 56", "+262692123456"),
    ],
)
def test_mobile_numbers_are_normalised(typed, e164):
    assert normalise_mobile(typed) == e164


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("02 51 93 12 34", "pas un numéro de portable"),
        ("abc", "illisible"),
        ("", "obligatoire"),
        ("06 12", "pas un numéro"),
    ],
)
def test_landlines_and_garbage_are_refused(typed, message):
    with pytest.raises(ValidationError, match=message):
        normalise_mobile(typed)


def test_masked_number_keeps_only_the_ends():
    assert masked("+33612345678") == "+336••••••78"


# --- the confirmation text --------------------------------------------------------------------


def _confirmation(**kw) -> Confirmation:
    values = {
        "territory_name": "CPTS Nord-Ouest Vendée",
        "site_name": "MSP des Marais",
        "address_line": "12 rue du Marais",
        "postal_code": "85300",
        "commune_name": "Challans",
        "starts_at": datetime(2027, 3, 1, 17, 15, tzinfo=PARIS),
        "cancel_url": CANCEL,
        "site_phone": "02 51 93 12 34",
    }
    return Confirmation(**{**values, **kw})


def test_sms_says_where_when_what_to_bring_15_and_how_to_cancel():
    text = confirmation_sms(_confirmation())
    assert "lundi 1er mars à 17 h 15" in text
    assert "MSP des Marais, 12 rue du Marais, 85300 Challans" in text
    assert "carte Vitale" in text
    assert "Urgence vitale : appelez le 15." in text
    assert text.endswith(CANCEL)
    assert is_gsm7(text)  # one alphabet, 160 characters a part


def test_email_says_the_same():
    subject, body = confirmation_email(_confirmation())
    assert subject == "Votre rendez-vous du lundi 1er mars à 17 h 15"
    for expected in (
        "MSP des Marais",
        "12 rue du Marais, 85300 Challans",
        "carte Vitale",
        "appelez le 15",
        CANCEL,
    ):
        assert expected in body


def test_the_message_never_carries_the_reason_or_the_specialty():
    booking = SimpleNamespace(
        **{f: getattr(_confirmation(), f) for f in Confirmation.__dataclass_fields__},
        reason="douleur thoracique depuis ce matin",
        specialty="Cardiologie",
        practitioner_name="Dr Martin",
        patient_name="Jeanne Dupont",
    )
    confirmation = confirmation_from(booking)
    texts = [confirmation_sms(confirmation), *confirmation_email(confirmation)]
    for text in texts:
        for secret in ("douleur", "thoracique", "Cardiologie", "Martin", "Dupont"):
            assert secret not in text


def test_confirmation_refuses_a_naive_time():
    with pytest.raises(ValueError, match="aware"):
        _confirmation(starts_at=datetime(2027, 3, 1, 17, 15))  # noqa: DTZ001 - on purpose


# --- the Brevo sender against the local server ----------------------------------------------


def test_brevo_sender_posts_the_documented_request(brevo):
    sender = BrevoSmsSender(KEY, "CPTS85", url=brevo.url)
    message_id = sender.send(Sms(recipient="+33612345678", text="Bonjour", tag="confirmation"))
    assert message_id == "1511882900176221"
    [request] = brevo.requests
    assert request["body"] == {
        "sender": "CPTS85",
        "recipient": "33612345678",
        "content": "Bonjour",
        "type": "transactional",
        "tag": "confirmation",
        "unicodeEnabled": False,
    }
    assert request["headers"]["accept"] == "application/json"


def test_brevo_sender_asks_for_unicode_only_when_needed(brevo):
    BrevoSmsSender(KEY, "CPTS85", url=brevo.url).send(Sms("+33612345678", "Hôpital ’ouvert’"))
    assert brevo.requests[0]["body"]["unicodeEnabled"] is True


def test_brevo_refusing_the_number_is_a_permanent_failure(brevo):
    sender = BrevoSmsSender(KEY, "CPTS85", url=brevo.url)
    with pytest.raises(mail.PermanentFailure, match="400.*Invalid phone number"):
        sender.send(Sms(recipient="+3", text="Bonjour"))


@pytest.mark.parametrize(("key", "credits", "status"), [("wrong", 100, "401"), (KEY, 0, "402")])
def test_brevo_key_or_credits_refused_stops_the_run(brevo, key, credits, status):
    brevo.credits = credits
    sender = BrevoSmsSender(key, "CPTS85", url=brevo.url)
    with pytest.raises(mail.SenderUnavailable, match=status):
        sender.send(Sms(recipient="+33612345678", text="Bonjour"))


def test_brevo_server_error_is_retried_later(brevo):
    brevo.fail_with = 503
    with pytest.raises(RuntimeError, match="503"):
        BrevoSmsSender(KEY, "CPTS85", url=brevo.url).send(Sms("+33612345678", "Bonjour"))


def test_brevo_out_of_reach_stops_the_run():
    sender = BrevoSmsSender(
        KEY, "CPTS85", url="http://127.0.0.1:9/v3/transactionalSMS/send", timeout=2
    )
    with pytest.raises(mail.SenderUnavailable, match="injoignable"):
        sender.send(Sms("+33612345678", "Bonjour"))


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"SMS_BACKEND": "carrier-pigeon"}, "SMS_BACKEND inconnu"),
        ({"SMS_BACKEND": "brevo", "SMS_SENDER": "CPTS"}, "BREVO_API_KEY manquant"),
        (
            {"SMS_BACKEND": "brevo", "BREVO_API_KEY": KEY, "SMS_SENDER": "CPTS Vendée 85"},
            "SMS_SENDER invalide",
        ),
        (
            {
                "SMS_BACKEND": "brevo",
                "BREVO_API_KEY": KEY,
                "SMS_SENDER": "CPTS",
                "SMS_TIMEOUT": "x",
            },
            "SMS_TIMEOUT",
        ),
    ],
)
def test_bad_sms_configuration_is_refused_in_french(config, message):
    with pytest.raises(ValueError, match=message):
        sms_sender_from_config(config)


# --- through the outbox -----------------------------------------------------------------------


def _patient_sms(territory_id: int, booking_id: int, recipient: str = "+33612345678", **kw):
    return notify_patient(
        territory_id,
        channel=Channel.SMS,
        recipient=recipient,
        subject="ignored for an SMS",
        body=confirmation_sms(_confirmation()),
        booking_id=booking_id,
        purge_after=kw.get("purge_after", T0 + timedelta(days=90)),
    )


def test_outbox_sends_sms_rows_to_the_sms_backend_and_e_mails_to_the_mail_one(
    app, make_territory, brevo
):
    territory = make_territory()
    sms = _patient_sms(territory.id, booking_id=41)
    email = notify(territory.id, "coordination@example.org", "Bonjour", "Corps")
    db.session.commit()
    mailer = mail.MemorySender()
    report = mail.send_pending(
        mailer, now=T0, mail_from=FROM, sms_sender=BrevoSmsSender(KEY, "CPTS85", url=brevo.url)
    )
    assert sorted(report.sent) == sorted([sms.id, email.id])
    assert [m["To"] for m in mailer.sent] == ["coordination@example.org"]
    [request] = brevo.requests
    assert request["body"]["recipient"] == "33612345678"
    assert "Urgence vitale : appelez le 15." in request["body"]["content"]
    assert db.session.get(OutboxMessage, sms.id).subject == ""


def test_outbox_uses_the_configured_sms_backend(app, make_territory, brevo):
    app.config.update(
        SMS_BACKEND="brevo", BREVO_API_KEY=KEY, SMS_SENDER="CPTS85", SMS_API_URL=brevo.url
    )
    territory = make_territory()
    sms = _patient_sms(territory.id, booking_id=7)
    db.session.commit()
    report = mail.send_pending(mail.MemorySender(), now=T0, mail_from=FROM)
    assert report.sent == [sms.id]
    assert len(brevo.requests) == 1


def test_sms_refused_by_the_provider_is_abandoned_at_once(app, make_territory, brevo):
    territory = make_territory()
    # Well-formed E.164, but no such country code: the provider refuses it.
    message = _patient_sms(territory.id, booking_id=8, recipient="+999123456789")
    db.session.commit()
    report = mail.send_pending(
        mail.MemorySender(),
        now=T0,
        mail_from=FROM,
        sms_sender=BrevoSmsSender(KEY, "CPTS85", url=brevo.url),
    )
    assert [f.message_id for f in report.abandoned] == [message.id]
    db.session.expire_all()
    assert "Invalid phone number" in db.session.get(OutboxMessage, message.id).meta["last_error"]


def test_sms_with_a_malformed_number_is_never_offered_to_the_provider(app, make_territory):
    territory = make_territory()
    message = _patient_sms(territory.id, booking_id=9, recipient="06 12 34 56 78")
    db.session.commit()
    texts = MemorySmsSender()
    report = mail.send_pending(mail.MemorySender(), now=T0, mail_from=FROM, sms_sender=texts)
    assert [f.message_id for f in report.abandoned] == [message.id]
    assert texts.sent == []


def test_out_of_credits_stops_the_run_and_keeps_the_message_for_later(app, make_territory, brevo):
    brevo.credits = 0
    territory = make_territory()
    first = _patient_sms(territory.id, booking_id=10)
    _patient_sms(territory.id, booking_id=11)
    db.session.commit()
    report = mail.send_pending(
        mail.MemorySender(),
        now=T0,
        mail_from=FROM,
        sms_sender=BrevoSmsSender(KEY, "CPTS85", url=brevo.url),
    )
    assert "402" in (report.stopped or "")
    assert [f.message_id for f in report.failed] == [first.id]
    assert len(brevo.requests) == 1  # the second was not tried


def test_patient_messages_are_purged_with_the_booking(app, make_territory):
    territory = make_territory()
    kept = _patient_sms(territory.id, booking_id=1)
    gone = _patient_sms(territory.id, booking_id=2)
    expired = _patient_sms(territory.id, booking_id=3, purge_after=T0 - timedelta(minutes=1))
    staff = notify(territory.id, "coordination@example.org", "Bonjour", "Corps")
    db.session.commit()
    kept_ids = {kept.id, staff.id}
    assert {gone.id, expired.id}.isdisjoint(kept_ids)
    assert purge_patient_messages(booking_ids=[2], now=T0) == 2
    db.session.commit()
    assert set(db.session.scalars(sa.select(OutboxMessage.id))) == kept_ids


def test_schema_refuses_a_purge_date_without_a_booking(app, make_territory):
    territory = make_territory()
    db.session.add(
        OutboxMessage(
            territory_id=territory.id,
            recipient="x@example.org",
            subject="s",
            body="b",
            purge_after=T0,
        )
    )
    with pytest.raises(sa.exc.IntegrityError):
        db.session.flush()
    db.session.rollback()
