"""E-mail behind the outbox: message building, senders, the sending loop, ``flask outbox``."""

from __future__ import annotations

import logging
import smtplib
import socketserver
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import pytest
import sqlalchemy as sa

from app import mail
from app.config import build_config
from app.extensions import db
from app.outbox import OutboxMessage

T0 = datetime(2026, 1, 12, 9, 30, tzinfo=UTC)
FROM = "Tour de rôle <ne-pas-repondre@cpts-test.fr>"
SUBJECT = "Tour de rôle publié : « Février » — vérifiez vos plages"
BODY = "Bonjour Élodie,\n\nLe tableau « Février » est publié : vous assurez 3 plage(s).\n"


def add_message(n: int = 1, *, recipient: str | None = None, at: datetime = T0) -> OutboxMessage:
    message = OutboxMessage(
        territory_id=None,
        recipient=recipient or f"medecin{n}@example.org",
        subject=f"{SUBJECT} ({n})",
        body=BODY,
        created_at=at + timedelta(seconds=n),
    )
    db.session.add(message)
    db.session.commit()
    return message


def reload(message_id: int) -> OutboxMessage:
    db.session.expire_all()
    return db.session.get(OutboxMessage, message_id)


def parse(message: EmailMessage | bytes) -> EmailMessage:
    raw = message if isinstance(message, bytes) else message.as_bytes(policy=policy.SMTP)
    return BytesParser(policy=policy.default).parsebytes(raw)


class FailingSender:
    """Fails its first ``failures`` sends with ``error``, then delivers."""

    def __init__(self, failures: int = 10**6, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error or smtplib.SMTPDataError(451, b"4.3.0 Try again later")
        self.sent: list[EmailMessage] = []
        self.calls = 0

    def send(self, message: EmailMessage) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        self.sent.append(message)

    def close(self) -> None:
        pass


# --- building the message ----------------------------------------------------------------------


def test_french_subject_and_body_are_encoded_and_parse_back():
    row = OutboxMessage(
        id=42, recipient="elodie.martin@example.org", subject=SUBJECT, body=BODY, created_at=T0
    )
    built = mail.build_message(row, mail.parse_address(FROM))
    raw = built.as_bytes(policy=policy.SMTP)
    raw.decode("ascii")  # 7-bit clean: RFC 2047 headers, quoted-printable body
    assert b"=?utf-8?" in raw
    assert b"\r\n" in raw
    back = parse(raw)
    assert back["Subject"] == SUBJECT
    assert back["From"].addresses[0].display_name == "Tour de rôle"
    assert back["From"].addresses[0].addr_spec == "ne-pas-repondre@cpts-test.fr"
    assert back["To"].addresses[0].addr_spec == "elodie.martin@example.org"
    assert back["Date"].datetime == T0
    assert back["Message-ID"] == "<outbox.42.20260112093000@cpts-test.fr>"
    assert back["Auto-Submitted"] == "auto-generated"
    assert back.get_content_type() == "text/plain"
    assert back.get_content_charset() == "utf-8"
    assert back.get_content().replace("\r\n", "\n") == BODY  # CRLF on the wire


def test_the_same_row_always_gives_the_same_message_id():
    row = OutboxMessage(id=7, recipient="a@example.org", subject="s", body="b", created_at=T0)
    sender = mail.parse_address(FROM)
    first = mail.build_message(row, sender)["Message-ID"]
    assert mail.build_message(row, sender)["Message-ID"] == first


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "pas une adresse",
        "a@b@c",
        "a@b.fr, c@d.fr",
        "liste: a@b.fr;",
        "x@example.org\nBcc: y@z.fr",
    ],
)
def test_bad_addresses_are_refused_with_value_error_only(bad):
    with pytest.raises(ValueError, match="Adresse électronique invalide"):
        mail.parse_address(bad)


def test_a_subject_with_a_line_break_is_refused():
    row = OutboxMessage(
        id=1, recipient="a@example.org", subject="x\nBcc: y@z.fr", body="b", created_at=T0
    )
    with pytest.raises(ValueError, match="linefeed or carriage return"):
        mail.build_message(row, mail.parse_address(FROM))


# --- configuration -----------------------------------------------------------------------------


def test_config_reads_the_mail_variables(monkeypatch, tmp_path):
    monkeypatch.setenv("SECRET_KEY", "x")
    for name in ("MAIL_BACKEND", "MAIL_PORT", "MAIL_USERNAME", "MAIL_FROM"):
        monkeypatch.delenv(name, raising=False)
    defaults = build_config(tmp_path)
    assert defaults["MAIL_BACKEND"] == ""  # chosen by the operator (app/mail.py)
    assert defaults["MAIL_SECURITY"] == "starttls"
    assert defaults["MAIL_PORT"] is None
    assert defaults["MAIL_USERNAME"] is None
    monkeypatch.setenv("MAIL_BACKEND", "smtp")
    monkeypatch.setenv("MAIL_SERVER", "smtp.cpts.fr")
    monkeypatch.setenv("MAIL_PORT", "2525")
    monkeypatch.setenv("MAIL_FROM", FROM)
    config = build_config(tmp_path)
    assert (config["MAIL_BACKEND"], config["MAIL_SERVER"]) == ("smtp", "smtp.cpts.fr")
    assert (config["MAIL_PORT"], config["MAIL_FROM"]) == ("2525", FROM)


def test_sender_from_config():
    assert isinstance(mail.sender_from_config({"MAIL_FROM": FROM}), mail.LogSender)
    base = {"MAIL_BACKEND": "smtp", "MAIL_FROM": FROM, "MAIL_SERVER": "smtp.cpts.fr"}
    ports = {
        security: mail.sender_from_config({**base, "MAIL_SECURITY": security}).port
        for security in ("starttls", "ssl", "none")
    }
    assert ports == {"starttls": 587, "ssl": 465, "none": 25}
    sender = mail.sender_from_config(
        {**base, "MAIL_PORT": "2525", "MAIL_USERNAME": "u", "MAIL_PASSWORD": "p"}
    )
    assert isinstance(sender, mail.SmtpSender)
    assert (sender.host, sender.port, sender.username, sender.timeout) == (
        "smtp.cpts.fr",
        2525,
        "u",
        30.0,
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"MAIL_BACKEND": "carrier-pigeon"}, "MAIL_BACKEND inconnu"),
        ({"MAIL_BACKEND": "smtp", "MAIL_SECURITY": "tls1.0"}, "MAIL_SECURITY inconnu"),
        ({"MAIL_BACKEND": "smtp", "MAIL_PORT": "vingt-cinq"}, "doivent être des nombres"),
        (
            {"MAIL_BACKEND": "smtp", "MAIL_SECURITY": "none", "MAIL_USERNAME": "u"},
            "ne doit pas circuler en clair",
        ),
        ({"MAIL_FROM": "Tour de rôle"}, "MAIL_FROM invalide"),
    ],
)
def test_sender_from_config_refuses_bad_settings_in_french(config, message):
    with pytest.raises(ValueError, match=message):
        mail.sender_from_config({"MAIL_FROM": FROM, **config})


# --- SMTP sender against a fake smtplib ----------------------------------------------------------


@dataclass
class FakeSmtp:
    """Stands in for ``smtplib.SMTP``/``SMTP_SSL``: records calls, flattens like the real one."""

    host: str
    port: int
    timeout: float
    context: Any = None
    calls: list[tuple[str, Any]] = field(default_factory=list)
    fail_with: Exception | None = None

    def starttls(self, context: Any = None) -> None:
        self.calls.append(("starttls", context))

    def login(self, user: str, password: str) -> None:
        self.calls.append(("login", (user, password)))

    def send_message(self, message: EmailMessage) -> dict:
        if self.fail_with is not None:
            raise self.fail_with
        self.calls.append(("send_message", message.as_bytes(policy=policy.SMTP)))
        return {}

    def quit(self) -> None:
        self.calls.append(("quit", None))

    def close(self) -> None:
        self.calls.append(("close", None))


@pytest.fixture
def fake_smtp(monkeypatch) -> list[tuple[str, FakeSmtp]]:
    """Replace smtplib's two clients; returns the list of (class name, instance) created."""
    created: list[tuple[str, FakeSmtp]] = []

    def factory(kind: str):
        def _make(host: str, port: int, timeout: float = 60, context: Any = None) -> FakeSmtp:
            instance = FakeSmtp(host, port, timeout, context)
            created.append((kind, instance))
            return instance

        return _make

    monkeypatch.setattr(smtplib, "SMTP", factory("SMTP"))
    monkeypatch.setattr(smtplib, "SMTP_SSL", factory("SMTP_SSL"))
    return created


def _one_message() -> EmailMessage:
    row = OutboxMessage(id=1, recipient="a@example.org", subject=SUBJECT, body=BODY, created_at=T0)
    return mail.build_message(row, mail.parse_address(FROM))


def test_smtp_sender_starttls_logs_in_and_reuses_one_connection(fake_smtp):
    sender = mail.SmtpSender(
        "smtp.cpts.fr", 587, security="starttls", username="u", password="p", timeout=12
    )
    sender.send(_one_message())
    sender.send(_one_message())
    sender.close()
    assert [kind for kind, _ in fake_smtp] == ["SMTP"]
    smtp = fake_smtp[0][1]
    assert (smtp.host, smtp.port, smtp.timeout) == ("smtp.cpts.fr", 587, 12)
    names = [name for name, _ in smtp.calls]
    assert names == ["starttls", "login", "send_message", "send_message", "quit"]
    assert smtp.calls[0][1] is not None  # a verifying SSL context, not smtplib's default
    assert smtp.calls[1][1] == ("u", "p")
    assert parse(smtp.calls[2][1])["Subject"] == SUBJECT


def test_smtp_sender_ssl_uses_implicit_tls_without_starttls(fake_smtp):
    sender = mail.SmtpSender("smtp.cpts.fr", 465, security="ssl")
    sender.send(_one_message())
    kind, smtp = fake_smtp[0]
    assert kind == "SMTP_SSL"
    assert smtp.context is not None
    assert [name for name, _ in smtp.calls] == ["send_message"]


def test_smtp_sender_none_neither_upgrades_nor_logs_in(fake_smtp):
    mail.SmtpSender("localhost", 25, security="none").send(_one_message())
    assert [name for name, _ in fake_smtp[0][1].calls] == ["send_message"]


def test_smtp_sender_classifies_errors(fake_smtp):
    sender = mail.SmtpSender("smtp.cpts.fr", 587)
    sender.send(_one_message())
    smtp = fake_smtp[0][1]
    smtp.fail_with = smtplib.SMTPRecipientsRefused({"a@example.org": (550, b"No such user")})
    with pytest.raises(mail.PermanentFailure):
        sender.send(_one_message())
    smtp.fail_with = smtplib.SMTPRecipientsRefused({"a@example.org": (450, b"Mailbox busy")})
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        sender.send(_one_message())
    assert len(fake_smtp) == 1  # a refused recipient leaves the connection usable
    smtp.fail_with = smtplib.SMTPServerDisconnected("gone")
    with pytest.raises(mail.SenderUnavailable):
        sender.send(_one_message())
    assert ("close", None) in smtp.calls
    sender.send(_one_message())  # reconnects
    assert len(fake_smtp) == 2


def test_smtp_sender_unreachable_server_is_unavailable(monkeypatch):
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(smtplib, "SMTP", refuse)
    with pytest.raises(mail.SenderUnavailable, match="Connection refused"):
        mail.SmtpSender("smtp.cpts.fr", 587).send(_one_message())


# --- SMTP sender against a real (tiny) SMTP server over a socket ------------------------------


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: EHLO, MAIL, RCPT (550 for refused), DATA, RSET, QUIT."""

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode("ascii") + b"\r\n")

    def handle(self) -> None:
        server: TinySmtpServer = self.server  # type: ignore[assignment]
        self.reply("220 tiny ESMTP")
        envelope: dict[str, Any] = {"from": None, "to": []}
        data: list[bytes] | None = None
        for line in self.rfile:
            if data is not None:
                if line == b".\r\n":
                    server.received.append((envelope["from"], envelope["to"], b"".join(data)))
                    envelope, data = {"from": None, "to": []}, None
                    self.reply("250 2.0.0 queued")
                else:
                    data.append(line[1:] if line.startswith(b"..") else line)
                continue
            verb, _, argument = line.decode("ascii").strip().partition(" ")
            verb = verb.upper()
            address = argument.partition(":")[2].split()[0].strip("<>") if ":" in argument else ""
            if verb == "EHLO":
                self.reply("250-tiny")
                self.reply("250 8BITMIME")
            elif verb == "MAIL":
                envelope["from"] = address
                self.reply("250 2.1.0 ok")
            elif verb == "RCPT":
                if address in server.refuse:
                    self.reply("550 5.1.1 No such user")
                else:
                    envelope["to"].append(address)
                    self.reply("250 2.1.5 ok")
            elif verb == "DATA":
                data = []
                self.reply("354 go ahead")
            elif verb in ("RSET", "NOOP"):
                envelope = {"from": None, "to": []}
                self.reply("250 ok")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")


class TinySmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SmtpHandler)
        self.received: list[tuple[str, list[str], bytes]] = []
        self.refuse: set[str] = set()


@pytest.fixture
def smtp_server() -> Iterator[TinySmtpServer]:
    server = TinySmtpServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_send_pending_over_a_real_smtp_connection(app, smtp_server):
    first, second = add_message(1), add_message(2, recipient="refuse@example.org")
    smtp_server.refuse.add("refuse@example.org")
    sender = mail.SmtpSender("127.0.0.1", smtp_server.server_address[1], security="none")
    try:
        report = mail.send_pending(sender, now=T0, mail_from=FROM)
    finally:
        sender.close()
    assert report.sent == [first.id]
    assert [f.message_id for f in report.abandoned] == [second.id]  # 550: no point retrying
    assert "No such user" in reload(second.id).meta["last_error"]
    [(envelope_from, envelope_to, raw)] = smtp_server.received
    assert (envelope_from, envelope_to) == (
        "ne-pas-repondre@cpts-test.fr",
        ["medecin1@example.org"],
    )
    back = parse(raw)
    assert back["Subject"] == f"{SUBJECT} (1)"
    assert back.get_content().replace("\r\n", "\n") == BODY  # CRLF on the wire


# --- the sending loop --------------------------------------------------------------------------


def test_log_sender_logs_the_message_and_marks_it_sent(app, caplog):
    message = add_message(1)
    with caplog.at_level(logging.INFO, logger="tourderole.mail"):
        report = mail.send_pending(mail.LogSender(), now=T0, mail_from=FROM)
    assert report.sent == [message.id]
    assert report.ok
    assert reload(message.id).sent_at == T0
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "tourderole.mail")
    assert "medecin1@example.org" in logged
    assert SUBJECT in logged
    assert "Bonjour Élodie" in logged


def test_oldest_first_within_the_limit(app):
    newer = add_message(1, at=T0 + timedelta(hours=1))
    older = add_message(2, at=T0)
    oldest = add_message(3, at=T0 - timedelta(hours=1))
    sender = mail.MemorySender()
    report = mail.send_pending(sender, limit=2, now=T0 + timedelta(hours=2), mail_from=FROM)
    assert report.sent == [oldest.id, older.id]
    assert reload(newer.id).sent_at is None
    assert [m["To"].addresses[0].addr_spec for m in sender.sent] == [
        "medecin3@example.org",
        "medecin2@example.org",
    ]


def test_nothing_is_sent_twice(app):
    ids = [add_message(n).id for n in range(1, 4)]
    sender = mail.MemorySender()
    assert mail.send_pending(sender, now=T0, mail_from=FROM).sent == ids
    assert mail.send_pending(sender, now=T0 + timedelta(days=1), mail_from=FROM).sent == []
    assert len(sender.sent) == 3


def test_a_failure_is_retried_after_a_delay_then_abandoned(app):
    message = add_message(1)
    sender = FailingSender()
    moment = T0
    expected_waits = [*mail.RETRY_DELAYS]
    for attempt in range(1, mail.MAX_ATTEMPTS):
        report = mail.send_pending(sender, now=moment, mail_from=FROM)
        assert [f.message_id for f in report.failed] == [message.id]
        assert not report.ok
        meta = reload(message.id).meta
        assert meta["attempts"] == attempt
        assert meta["last_error"] == "SMTPDataError: (451, b'4.3.0 Try again later')"
        assert "claim" not in meta
        wait = expected_waits[attempt - 1]
        # Not retried before its delay, whatever the number of runs...
        early = mail.send_pending(sender, now=moment + wait - timedelta(seconds=1), mail_from=FROM)
        assert (early.sent, early.failed, early.abandoned) == ([], [], [])
        moment += wait
    assert sender.calls == mail.MAX_ATTEMPTS - 1
    report = mail.send_pending(sender, now=moment, mail_from=FROM)
    assert [f.message_id for f in report.abandoned] == [message.id]
    assert report.failed == []
    assert report.summary() == "0 message(s) envoyé(s), 0 en échec, 1 abandonné(s)"
    stored = reload(message.id)
    assert stored.sent_at is None
    assert stored.meta["abandoned"] is True
    assert stored.meta["attempts"] == mail.MAX_ATTEMPTS
    later = mail.send_pending(sender, now=moment + timedelta(days=30), mail_from=FROM)
    assert (later.sent, later.failed, later.abandoned) == ([], [], [])
    assert sender.calls == mail.MAX_ATTEMPTS


def test_a_failure_then_a_success(app):
    message = add_message(1)
    sender = FailingSender(failures=1)
    assert len(mail.send_pending(sender, now=T0, mail_from=FROM).failed) == 1
    report = mail.send_pending(sender, now=T0 + timedelta(minutes=1), mail_from=FROM)
    assert report.sent == [message.id]
    stored = reload(message.id)
    assert stored.sent_at == T0 + timedelta(minutes=1)
    assert stored.meta["attempts"] == 2
    assert "next_attempt_at" not in stored.meta
    assert mail.describe_state(stored, "Europe/Paris") == "envoyé le 12/01/2026 10:31"


def test_an_undeliverable_address_is_abandoned_at_once(app):
    bad = add_message(1, recipient="pas une adresse")
    good = add_message(2)
    sender = mail.MemorySender()
    report = mail.send_pending(sender, now=T0, mail_from=FROM)
    assert report.sent == [good.id]
    assert [f.message_id for f in report.abandoned] == [bad.id]
    stored = reload(bad.id).meta
    assert (stored["attempts"], stored["abandoned"]) == (1, True)
    assert stored["last_error"] == "Adresse électronique invalide : « pas une adresse »."


def test_an_unreachable_server_stops_the_batch(app):
    ids = [add_message(n).id for n in range(1, 4)]
    sender = FailingSender(error=mail.SenderUnavailable("smtp.cpts.fr:587 : refused"))
    report = mail.send_pending(sender, now=T0, mail_from=FROM)
    assert sender.calls == 1
    assert [f.message_id for f in report.failed] == [ids[0]]
    assert report.stopped == "smtp.cpts.fr:587 : refused"
    assert "attempts" not in reload(ids[1]).meta  # the others did not burn an attempt


class Crash(BaseException):
    """Stands for the process dying (kill -9, OOM) in the middle of a send."""


def test_a_crash_mid_batch_loses_nothing_and_keeps_what_was_sent(app):
    first, second, third = (add_message(n) for n in range(1, 4))

    class CrashOnSecond(mail.MemorySender):
        def send(self, message: EmailMessage) -> None:
            if len(self.sent) == 1:
                raise Crash
            super().send(message)

    crashing = CrashOnSecond()
    with pytest.raises(Crash):
        mail.send_pending(crashing, now=T0, mail_from=FROM)
    db.session.rollback()
    assert reload(first.id).sent_at == T0  # committed before the crash
    claimed = reload(second.id)
    assert claimed.sent_at is None
    assert claimed.meta["attempts"] == 1
    assert mail.describe_state(claimed, "Europe/Paris", now=T0) == "en cours d'envoi"

    # The next run (a minute later) sends the third, not the first again, and leaves the
    # second to its lease: its sender might still be alive.
    sender = mail.MemorySender()
    assert mail.send_pending(sender, now=T0 + timedelta(minutes=1), mail_from=FROM).sent == [
        third.id
    ]
    # Once the lease has run out the second is sent, with the Message-ID it had before.
    after_lease = T0 + mail.CLAIM_LEASE + timedelta(seconds=1)
    assert mail.describe_state(reload(second.id), "Europe/Paris", now=after_lease) == (
        "interrompu, sera repris"
    )
    assert mail.send_pending(sender, now=after_lease, mail_from=FROM).sent == [second.id]
    assert reload(second.id).meta["attempts"] == 2
    assert sender.sent[-1]["Message-ID"].startswith(f"<outbox.{second.id}.")


def test_a_message_that_dies_mid_send_every_time_is_abandoned(app):
    message = add_message(1)
    message.meta = {
        "attempts": mail.MAX_ATTEMPTS,
        "claim": "dead-sender",
        "next_attempt_at": "2026-01-12T09:00:00Z",
    }
    db.session.commit()
    sender = mail.MemorySender()
    report = mail.send_pending(sender, now=T0, mail_from=FROM)
    assert [f.message_id for f in report.abandoned] == [message.id]
    assert sender.sent == []
    assert reload(message.id).meta["abandoned"] is True


def test_a_late_success_is_kept_even_if_another_sender_took_the_message_over(app):
    """A sender slower than its lease: its success must still stop any further send."""
    message = add_message(1)

    class TakenOverWhileSending(mail.MemorySender):
        def send(self, email: EmailMessage) -> None:
            row = db.session.get(OutboxMessage, message.id)
            row.meta = {**row.meta, "claim": "another-sender"}
            db.session.commit()
            super().send(email)

    report = mail.send_pending(TakenOverWhileSending(), now=T0, mail_from=FROM)
    assert report.sent == [message.id]
    assert reload(message.id).sent_at == T0


def test_two_concurrent_senders_never_send_the_same_message(app):
    ids = {add_message(n).id for n in range(1, 21)}
    db.session.close()  # SQLite: the test's own session must not hold the write lock
    delivered: list[str] = []
    errors: list[BaseException] = []

    class SlowSender(mail.MemorySender):
        def send(self, message: EmailMessage) -> None:
            time.sleep(0.01)
            delivered.append(message["Message-ID"])
            super().send(message)

    def run() -> None:
        try:
            with app.app_context():
                mail.send_pending(SlowSender(), now=T0, mail_from=FROM)
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(delivered) == len(set(delivered)) == 20
    sent = db.session.scalars(sa.select(OutboxMessage.id).where(OutboxMessage.sent_at.is_not(None)))
    assert set(sent) == ids


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_postgresql_skips_a_message_locked_by_another_sender(app, backend):
    """A sender in the middle of claiming a row (holding its lock) is skipped, not waited for.

    PostgreSQL only: row locks are its own; SQLite serialises whole transactions instead.
    """
    locked, free = add_message(1).id, add_message(2).id
    db.session.close()
    reports: list[mail.SendReport] = []

    def run() -> None:
        with app.app_context():
            reports.append(mail.send_pending(mail.MemorySender(), now=T0, mail_from=FROM))

    with db.engine.connect() as other:
        other.execute(
            sa.select(OutboxMessage.id).where(OutboxMessage.id == locked).with_for_update()
        )
        thread = threading.Thread(target=run)
        thread.start()
        thread.join(timeout=10)
        waited = thread.is_alive()
        other.rollback()  # lets a waiting sender finish either way
    thread.join()
    assert not waited, "the sender waited for the locked row instead of skipping it"
    assert reports[0].sent == [free]
    assert reload(locked).sent_at is None


# --- flask outbox send | list -----------------------------------------------------------------


def test_cli_send_prints_a_french_summary(app, runner):
    app.config["MAIL_FROM"] = FROM
    add_message(1)
    add_message(2)
    result = runner.invoke(args=["outbox", "send"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "2 message(s) envoyé(s), 0 en échec, 0 abandonné(s)."
    assert runner.invoke(args=["outbox", "send"]).output.strip() == (
        "0 message(s) envoyé(s), 0 en échec, 0 abandonné(s)."
    )


def test_cli_send_respects_the_limit(app, runner):
    app.config["MAIL_FROM"] = FROM
    for n in range(1, 4):
        add_message(n)
    result = runner.invoke(args=["outbox", "send", "--limit", "2"])
    assert "2 message(s) envoyé(s)" in result.output
    assert runner.invoke(args=["outbox", "send", "--limit", "0"]).exit_code == 2


def test_cli_send_exits_non_zero_when_a_message_fails(app, runner, fake_smtp, monkeypatch):
    app.config.update(MAIL_BACKEND="smtp", MAIL_SERVER="smtp.cpts.fr", MAIL_FROM=FROM)
    message = add_message(1)

    def refuse_for_now(self: FakeSmtp, email: EmailMessage) -> dict:
        raise smtplib.SMTPDataError(451, b"4.3.0 Try again later")

    monkeypatch.setattr(FakeSmtp, "send_message", refuse_for_now)
    result = runner.invoke(args=["outbox", "send"])
    assert result.exit_code == 1
    assert f"en échec : n° {message.id} à medecin1@example.org : SMTPDataError" in result.output
    assert result.output.strip().endswith("0 message(s) envoyé(s), 1 en échec, 0 abandonné(s).")
    assert ("quit", None) in fake_smtp[0][1].calls  # the connection was closed


def test_cli_send_refuses_a_bad_configuration_before_claiming_anything(app, runner):
    app.config.update(MAIL_BACKEND="smtp", MAIL_SECURITY="tls1.0", MAIL_FROM=FROM)
    message = add_message(1)
    result = runner.invoke(args=["outbox", "send"])
    assert result.exit_code == 1
    assert "MAIL_SECURITY inconnu : « tls1.0 »" in result.output
    assert reload(message.id).meta == {}


def test_cli_list_shows_recent_messages_and_their_state(app, runner):
    sent = add_message(1)
    waiting = add_message(2)
    failed = add_message(3)
    sent.sent_at = T0 + timedelta(minutes=5)
    failed.meta = {
        "attempts": 2,
        "last_error": "SMTPDataError: (451, b'busy')",
        "next_attempt_at": "2026-01-12T10:00:00Z",
    }
    db.session.commit()
    lines = runner.invoke(args=["outbox", "list"]).output.splitlines()
    assert [line.split()[1] for line in lines] == [str(failed.id), str(waiting.id), str(sent.id)]
    assert lines[0].startswith(f"n° {failed.id}  12/01/2026 10:30  medecin3@example.org  {SUBJECT}")
    assert lines[0].endswith(
        "en échec (2 tentative(s)), nouvel essai à partir du 12/01/2026 11:00 : "
        "SMTPDataError: (451, b'busy')]"
    )
    assert lines[1].endswith("[en attente]")
    assert lines[2].endswith("[envoyé le 12/01/2026 10:35]")
    pending = runner.invoke(args=["outbox", "list", "--pending"]).output
    assert f"n° {sent.id} " not in pending
    assert f"n° {waiting.id} " in pending


def test_cli_list_empty(runner):
    assert runner.invoke(args=["outbox", "list"]).output == "Aucun message.\n"
    assert runner.invoke(args=["outbox", "list", "--pending"]).output == (
        "Aucun message non envoyé.\n"
    )
