"""E-mail behind the outbox: building messages, pluggable senders, the sending loop.

Services never talk to a mail server: they add ``OutboxMessage`` rows in their own
transaction (``app.outbox.notify``), so a notification exists exactly when the change
that caused it was committed. ``send_pending``, run every minute by ``flask outbox send``,
delivers those rows through a ``Sender`` chosen by ``MAIL_BACKEND``.

Delivery is *at least once*. Each message goes through two short transactions of its own:
the *claim* (attempt counted, a lease written into ``meta``) and the *record* (``sent_at``,
or the error and the next attempt). No database lock is held while talking to the mail
server, so a slow server never blocks the web workers, and SQLite's single writer lock
is only taken for milliseconds. A crash after the server accepted a message but before the
record commits sends it again once the lease has run out; the Message-ID is derived from
the row, so the copy carries the same Message-ID as the first (mail clients and Gmail
drop such duplicates). Once ``sent_at`` is committed a row is never picked again.

Two senders at once (a cron run overlapping the next, two hosts): on PostgreSQL the claim
reads with ``FOR UPDATE SKIP LOCKED``, so a second sender skips the row being claimed
instead of waiting for it, and a row claimed by a committed transaction no longer matches
the "due" condition (PostgreSQL rechecks it on the newest row version). SQLite has no
row locks and SQLAlchemy drops the clause there, but every transaction of this app starts
with ``BEGIN IMMEDIATE`` (``app.database``): claims are serialised and the second one
sees the first one's lease. Either way a message is only offered to one sender per lease.

State lives in the ``meta`` JSON column (no schema change): ``attempts`` (tries started),
``claim`` (token of the sender holding the lease), ``next_attempt_at`` (lease end or retry
time, UTC ``YYYY-MM-DDTHH:MM:SSZ``), ``last_error`` and ``abandoned``.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, Literal, Protocol

import sqlalchemy as sa
from flask import current_app

from app.extensions import db
from app.outbox import Channel, OutboxMessage
from app.timeutil import format_local, now_utc

if TYPE_CHECKING:
    from app.sms import Sms, SmsSender

log = logging.getLogger("tourderole.mail")

MAX_ATTEMPTS = 5
# Wait after the 1st, 2nd, 3rd and 4th failed attempt: a server down for a few minutes
# costs nothing, and a message is abandoned only after about 2 h 36 of failures.
RETRY_DELAYS = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
)
# How long a claimed message is left to its sender; far above any SMTP timeout, so it only
# runs out when that sender died.
CLAIM_LEASE = timedelta(minutes=15)
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
ERROR_LENGTH = 300


class PermanentFailure(Exception):
    """Raised by a sender when retrying this message cannot help (recipient refused for good)."""


class SenderUnavailable(Exception):
    """Raised by a sender when the server itself is out of reach: the rest of the batch would fail too."""


class Sender(Protocol):
    """Anything that can deliver one message; ``send_pending`` needs nothing else."""

    def send(self, message: EmailMessage) -> None:
        """Deliver ``message`` or raise; returning means the server took responsibility for it."""

    def close(self) -> None:
        """Release connections; the sender may still be used afterwards."""


# --- messages ----------------------------------------------------------------------------------


def parse_address(text: str) -> Address:
    """Exactly one ``"Name <user@host>"`` or ``"user@host"``; ``ValueError`` (French) otherwise.

    ``email.utils.parseaddr`` is lenient ("a@b.fr, c@d.fr" gives "a@b.fr"); the header
    parser of ``email.policy`` reports every irregularity as a defect, so an address is
    accepted only when it parses cleanly: no lists, groups, junk or line breaks, and an
    ASCII local part (SMTPUTF8 is not used).
    """
    invalid = ValueError(f"Adresse électronique invalide : « {text} ».")
    if "\r" in text or "\n" in text:
        raise invalid
    try:
        header = policy.default.header_factory("To", text.strip())
    except (IndexError, ValueError, MessageError) as exc:
        raise invalid from exc
    groups = header.groups
    if header.defects or len(groups) != 1 or groups[0].display_name is not None:
        raise invalid
    [address] = groups[0].addresses
    if not address.username or not address.domain:
        raise invalid
    return address


def build_message(outbox: OutboxMessage, sender: Address) -> EmailMessage:
    """The e-mail for one outbox row; the same row always gives the same Message-ID and Date.

    Headers go through ``email.headerregistry``, which encodes the French subject and
    display names per RFC 2047 and refuses CR/LF (no header injection from a period name).
    The body is quoted-printable, so the message is 7-bit clean for any relay. A stable
    Message-ID lets the receiving side drop the duplicate that a crash can produce.
    """
    message = EmailMessage()
    message["From"] = sender
    message["To"] = parse_address(outbox.recipient)
    message["Subject"] = outbox.subject
    message["Date"] = outbox.created_at
    message["Message-ID"] = (
        f"<outbox.{outbox.id}.{outbox.created_at.astimezone(UTC):%Y%m%d%H%M%S}@{sender.domain}>"
    )
    # RFC 3834: tells vacation responders not to answer a no-reply address.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(outbox.body, cte="quoted-printable")
    return message


# --- senders -----------------------------------------------------------------------------------


class LogSender:
    """Development default: the message goes to the ``tourderole.mail`` log, to nobody's inbox."""

    def send(self, message: EmailMessage) -> None:
        log.info(
            "mail not sent (MAIL_BACKEND=log)\nTo: %s\nSubject: %s\nMessage-ID: %s\n\n%s",
            message["To"],
            message["Subject"],
            message["Message-ID"],
            message.get_content(),
        )

    def close(self) -> None:
        pass


class MemorySender:
    """Keeps the messages in ``sent``: for tests, or to try the loop from a shell."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    def send(self, message: EmailMessage) -> None:
        self.sent.append(message)

    def close(self) -> None:
        pass


class SmtpSender:
    """SMTP through the standard library, one connection reused for a whole batch.

    ``ssl`` is implicit TLS (port 465); ``starttls`` upgrades a plain connection (587)
    and fails, rather than going on in clear, when the server does not offer it. Both
    verify the certificate against the system store. ``none`` is for a relay on the same
    host and refuses a login, which would send the password in clear.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        security: str = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        context: ssl.SSLContext | None = None,
    ) -> None:
        if security not in DEFAULT_PORTS:
            raise ValueError(f"MAIL_SECURITY inconnu : « {security} » (starttls, ssl ou none).")
        if username and security == "none":
            raise ValueError(
                "MAIL_USERNAME exige MAIL_SECURITY=starttls ou ssl : "
                "le mot de passe ne doit pas circuler en clair."
            )
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self.password = password
        self.timeout = timeout
        self.context = context
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        context = self.context or ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.security == "ssl":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.security == "starttls":
                smtp.starttls(context=context)
            if self.username:
                smtp.login(self.username, self.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, message: EmailMessage) -> None:
        if self._smtp is None:
            try:
                self._smtp = self._connect()
            except OSError as exc:  # smtplib.SMTPException and ssl.SSLError are OSErrors
                raise SenderUnavailable(f"{self.host}:{self.port} : {_short(exc)}") from exc
        try:
            self._smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            # smtplib has sent RSET: the connection is still good, only this message is at fault.
            if all(code >= 500 for code, _ in exc.recipients.values()):
                raise PermanentFailure(_short(exc)) from exc
            raise
        except smtplib.SMTPResponseException as exc:
            # The server answered (and smtplib reset the transaction); 421 means it is closing.
            if exc.smtp_code == 421:
                self._drop()
                raise SenderUnavailable(_short(exc)) from exc
            raise
        except OSError as exc:  # disconnected, timed out, TLS error: start afresh next time
            self._drop()
            raise SenderUnavailable(_short(exc)) from exc

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except OSError:
            smtp.close()


def sender_from_config(config: Mapping[str, Any]) -> Sender:
    """The sender ``MAIL_BACKEND`` asks for; ``ValueError`` (French) on a bad configuration.

    ``MAIL_FROM`` is checked here although the sender does not use it: a bad one must
    stop the command before any message is claimed, not count an attempt on each.
    """
    mail_from = str(config.get("MAIL_FROM") or "")
    try:
        parse_address(mail_from)
    except ValueError as exc:
        raise ValueError(f"MAIL_FROM invalide : « {mail_from} ».") from exc
    backend = str(config.get("MAIL_BACKEND") or "").strip().lower()
    if not backend:
        if config.get("ENV_NAME") == "production":
            # "log" marks every message sent without sending it: chosen by default, a
            # forgotten setting would lose every e-mail silently.
            raise ValueError(
                "MAIL_BACKEND n'est pas choisi : en production, indiquez smtp (avec MAIL_SERVER…) "
                "ou, en connaissance de cause, log (les e-mails sont écrits dans le journal, "
                "pas envoyés)."
            )
        backend = "log"
    if backend == "log":
        if config.get("ENV_NAME") == "production":
            log.warning("MAIL_BACKEND=log: notifications are logged and marked sent, not e-mailed")
        return LogSender()
    if backend != "smtp":
        raise ValueError(f"MAIL_BACKEND inconnu : « {backend} » (log ou smtp).")
    security = str(config.get("MAIL_SECURITY") or "starttls").strip().lower()
    if security not in DEFAULT_PORTS:
        raise ValueError(f"MAIL_SECURITY inconnu : « {security} » (starttls, ssl ou none).")
    try:
        port = int(config.get("MAIL_PORT") or DEFAULT_PORTS[security])
        timeout = float(config.get("MAIL_TIMEOUT") or 30)
    except ValueError as exc:
        raise ValueError("MAIL_PORT et MAIL_TIMEOUT doivent être des nombres.") from exc
    return SmtpSender(
        str(config.get("MAIL_SERVER") or "localhost"),
        port,
        security=security,
        username=config.get("MAIL_USERNAME") or None,
        password=config.get("MAIL_PASSWORD") or None,
        timeout=timeout,
    )


# --- the sending loop --------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    message_id: int
    recipient: str
    error: str


@dataclass
class SendReport:
    """What one ``send_pending`` run did; ``stopped`` says why it ended early, if it did."""

    sent: list[int] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    abandoned: list[Failure] = field(default_factory=list)
    stopped: str | None = None

    @property
    def ok(self) -> bool:
        return not self.failed and not self.abandoned

    def summary(self) -> str:
        return (
            f"{len(self.sent)} message(s) envoyé(s), {len(self.failed)} en échec, "
            f"{len(self.abandoned)} abandonné(s)"
        )


Outcome = Literal["sent", "failed", "abandoned"]


def _stamp(moment: datetime) -> str:
    """Fixed-width UTC text: compared as strings, stamps compare as times on both engines.

    The separators sit at the same places in every stamp, so even a PostgreSQL collation
    that ignores punctuation orders them by their digits.
    """
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _short(error: BaseException) -> str:
    """One line of at most ``ERROR_LENGTH`` characters, for ``meta["last_error"]`` and the CLI.

    Our own exceptions carry French sentences and keep them bare; a library's exception
    is prefixed with its type, which often says more than its text ("SMTPDataError: …").
    """
    ours = isinstance(error, ValueError | PermanentFailure | SenderUnavailable)
    text = str(error) if ours else f"{type(error).__name__}: {error}"
    text = " ".join(text.split())
    return text if len(text) <= ERROR_LENGTH else text[: ERROR_LENGTH - 1] + "…"


def _due(moment: datetime) -> sa.ColumnElement[bool]:
    """Unsent, not abandoned, and neither leased to a live sender nor waiting for a retry."""
    meta = OutboxMessage.meta
    next_attempt = meta["next_attempt_at"].as_string()
    return sa.and_(
        OutboxMessage.sent_at.is_(None),
        meta["abandoned"].as_boolean().is_not(True),
        sa.or_(next_attempt.is_(None), next_attempt <= _stamp(moment)),
    )


def _claim_next(moment: datetime, token: str) -> OutboxMessage | None:
    """Lease the oldest due message to this run and count the attempt (not committed yet)."""
    message = db.session.scalars(
        sa.select(OutboxMessage)
        .where(_due(moment))
        .order_by(OutboxMessage.created_at, OutboxMessage.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    ).first()
    if message is not None:
        meta = message.meta or {}
        message.meta = {
            **meta,
            "attempts": int(meta.get("attempts", 0)) + 1,
            "claim": token,
            "next_attempt_at": _stamp(moment + CLAIM_LEASE),
        }
    return message


def _record(
    message_id: int,
    token: str,
    moment: datetime,
    error: BaseException | None,
    *,
    give_up: bool,
    max_attempts: int,
) -> Outcome | None:
    """Store the outcome of one attempt and commit; return "sent", "failed", "abandoned" or None.

    None means the row is no longer ours: deleted, or delivered by a sender that took it
    over after our lease ran out. A success is recorded even then (it was sent: nobody
    must send it again); a failure leaves the new holder's state alone.
    """
    message = db.session.get(
        OutboxMessage, message_id, with_for_update=True, populate_existing=True
    )
    if message is None or message.sent_at is not None:
        db.session.commit()
        return None
    meta = dict(message.meta or {})
    mine = meta.get("claim") == token
    if error is None:
        message.sent_at = moment
        if mine:
            meta.pop("claim", None)
            meta.pop("next_attempt_at", None)
        outcome: Outcome | None = "sent"
    elif not mine:
        outcome = None
    else:
        meta.pop("claim", None)
        meta["last_error"] = _short(error)
        attempts = int(meta.get("attempts", 1))
        if give_up or attempts >= max_attempts:
            meta["abandoned"] = True
            meta.pop("next_attempt_at", None)
            outcome = "abandoned"
        else:
            delay = RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1]
            meta["next_attempt_at"] = _stamp(moment + delay)
            outcome = "failed"
    message.meta = meta
    db.session.commit()
    return outcome


def send_pending(
    sender: Sender,
    *,
    limit: int = 100,
    now: datetime | None = None,
    mail_from: str | None = None,
    max_attempts: int = MAX_ATTEMPTS,
    sms_sender: SmsSender | None = None,
) -> SendReport:
    """Send up to ``limit`` due messages, oldest first, each in its own transactions.

    E-mails go through ``sender``; rows of channel ``sms`` through ``sms_sender``
    (default: the one ``SMS_BACKEND`` configures, built at the first SMS).

    Commits as it goes: call it with no pending changes in ``db.session``. ``now`` pins the
    clock (tests); ``mail_from`` defaults to ``MAIL_FROM``. A message that fails is retried
    after ``RETRY_DELAYS`` and abandoned at its ``max_attempts``-th failure, or at once on a
    ``PermanentFailure`` or when it cannot even be built (bad address). When the server is
    out of reach the run stops: the other messages would only burn an attempt each.
    """
    from_address = parse_address(mail_from or current_app.config["MAIL_FROM"])
    report = SendReport()
    token = uuid.uuid4().hex
    for _ in range(limit):
        moment = now or now_utc()
        message = _claim_next(moment, token)
        if message is None:
            db.session.commit()  # end the claim transaction (SQLite's write lock) at once
            break
        message_id, recipient = message.id, message.recipient
        email, text, error, give_up = _prepare(message, from_address, max_attempts)
        db.session.commit()  # the claim is durable before the server hears about the message

        if email is not None or text is not None:
            if text is not None and sms_sender is None:
                sms_sender = _configured_sms_sender()
            error, give_up, stopped = _deliver(email, text, sender, sms_sender)
            report.stopped = report.stopped or stopped

        outcome = _record(
            message_id,
            token,
            now or now_utc(),
            error,
            give_up=give_up,
            max_attempts=max_attempts,
        )
        if outcome == "sent":
            report.sent.append(message_id)
            log.info("outbox message %s sent", message_id)
        elif outcome in ("failed", "abandoned"):
            assert error is not None
            failure = Failure(message_id, recipient, _short(error))
            (report.failed if outcome == "failed" else report.abandoned).append(failure)
            log.warning("outbox message %s %s: %s", message_id, outcome, failure.error)
        if report.stopped:
            break
    return report


def _prepare(
    message: OutboxMessage, from_address: Address, max_attempts: int
) -> tuple[EmailMessage | None, Sms | None, BaseException | None, bool]:
    """Build what to send: ``(email, sms, error, give_up)``; a message that can't be built
    (or whose earlier attempts all died mid-send) is given up at once."""
    if message.meta["attempts"] > max_attempts:
        # Every earlier attempt died mid-send (lease ran out): do not start one more.
        return None, None, ValueError("Envoi interrompu à chaque tentative."), True
    try:
        if message.channel == Channel.SMS:
            return None, build_sms(message), None, False
        return build_message(message, from_address), None, None, False
    except ValueError as exc:
        return None, None, exc, True


def _deliver(
    email: EmailMessage | None, text: Sms | None, sender: Sender, sms_sender: SmsSender | None
) -> tuple[BaseException | None, bool, str | None]:
    """Hand one message to its transport: ``(error, give_up, stopped_reason)``."""
    try:
        if text is not None:
            assert sms_sender is not None
            sms_sender.send(text)
        else:
            assert email is not None
            sender.send(email)
    except PermanentFailure as exc:
        return exc, True, None
    except SenderUnavailable as exc:
        return exc, False, _short(exc)
    except Exception as exc:  # noqa: BLE001 - any transport error is a failed attempt
        return exc, False, None
    return None, False, None


def build_sms(outbox: OutboxMessage) -> Sms:
    """The SMS for one outbox row; ``ValueError`` (French) if it cannot be one."""
    from app.sms import Sms

    if not re.fullmatch(r"\+[1-9][0-9]{7,14}", outbox.recipient or ""):
        raise ValueError(f"Numéro de portable invalide : « {outbox.recipient} ».")
    if not outbox.body.strip():
        raise ValueError("SMS vide.")
    return Sms(
        recipient=outbox.recipient,
        text=outbox.body,
        tag=str(outbox.meta.get("tag") or "tourderole"),
    )


def _configured_sms_sender() -> SmsSender:
    # Imported here: ``app.sms`` builds on this module's exceptions.
    from app.sms import sms_sender_from_config

    return sms_sender_from_config(current_app.config)


def describe_state(message: OutboxMessage, zone: str, now: datetime | None = None) -> str:
    """The state of a row in French, for ``flask outbox list``."""
    meta = message.meta or {}
    attempts = int(meta.get("attempts", 0))
    error = meta.get("last_error", "")
    if message.sent_at is not None:
        return f"envoyé le {format_local(message.sent_at, zone)}"
    if meta.get("abandoned"):
        return f"abandonné après {attempts} tentative(s) : {error}"
    next_at = meta.get("next_attempt_at")
    if meta.get("claim"):
        if next_at and next_at > _stamp(now or now_utc()):
            return "en cours d'envoi"
        return "interrompu, sera repris"
    if error:
        when = format_local(datetime.fromisoformat(next_at), zone) if next_at else "maintenant"
        return f"en échec ({attempts} tentative(s)), nouvel essai à partir du {when} : {error}"
    return "en attente"
