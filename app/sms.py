"""SMS behind the outbox: pluggable senders, chosen by ``SMS_BACKEND``.

``app.mail.send_pending`` hands each outbox row of channel ``sms`` to an ``SmsSender``:

- ``log`` (default): writes the message to the log and counts it as sent (development);
- ``brevo``: Brevo's transactional SMS REST API (Brevo, ex-Sendinblue, a French company,
  Paris), ``POST https://api.brevo.com/v3/transactionalSMS/send`` with the ``api-key``
  header and a JSON body ``{"sender", "recipient", "content", "type", "tag",
  "unicodeEnabled"}``; ``201`` answers ``{"messageId": …}``, errors answer
  ``{"code": …, "message": …}`` with 400 (bad request: a bad number or text, never
  better on retry), 401/403 (key refused), 402 (not enough credits), 429/5xx (retry later).

Configuration: ``SMS_BACKEND`` (``log`` | ``brevo``), ``BREVO_API_KEY``, ``SMS_SENDER``
(the name shown to the patient: 3–11 letters or digits, e.g. ``CPTS``; or up to 15
digits), ``SMS_API_URL`` (defaults to Brevo's; the tests point it at a local server),
``SMS_TIMEOUT`` (seconds, default 15).
"""

from __future__ import annotations

import json
import logging
import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import phonenumbers

from app.mail import PermanentFailure, SenderUnavailable
from app.validators import FRENCH_REGIONS, ValidationError

log = logging.getLogger("tourderole.sms")

BREVO_URL = "https://api.brevo.com/v3/transactionalSMS/send"
_SENDER_NAME = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9]{3,11}$|^[0-9]{3,15}$")
# The GSM 03.38 basic alphabet: a text made of these goes as GSM-7 (160 characters a
# part); anything else ("ê", "œ", "’") needs UCS-2 (70 a part), which Brevo sends only
# when told ``unicodeEnabled``.
GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
    "^{}\\[~]|€"  # the extension table (two septets each)
)


def normalise_mobile(value: str) -> str:
    """A mobile number (French, overseas or international) in E.164; French error otherwise."""
    raw = (value or "").strip()
    if not raw:
        raise ValidationError("Le numéro de portable est obligatoire.")
    if len(raw) > 30:
        raise ValidationError("Numéro de portable trop long.")
    mobile = {
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    }
    # Metropolitan France first, then the overseas regions (0692… is a Réunion mobile).
    for region in FRENCH_REGIONS:
        try:
            number = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException as exc:
            raise ValidationError(f"Numéro de portable illisible : « {raw} ».") from exc
        if phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) in mobile:
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if raw.startswith("+"):
            break  # an international number has only one reading
    raise ValidationError(f"Ce numéro n'est pas un numéro de portable : « {raw} ».")


def is_gsm7(text: str) -> bool:
    return all(c in GSM7 for c in text)


@dataclass(frozen=True)
class Sms:
    """One SMS: E.164 recipient, text, and a tag saying what it is (for the provider's logs)."""

    recipient: str
    text: str
    tag: str = "tourderole"


class SmsSender(Protocol):
    def send(self, sms: Sms) -> str:
        """Deliver or raise (``PermanentFailure``, ``SenderUnavailable``, anything = retry).

        Returns the provider's message id ("" when it has none).
        """

    def close(self) -> None:
        """Release resources; the sender may still be used afterwards."""


def masked(number: str) -> str:
    """+336•••••78: enough to tell two numbers apart in a log, not to call the patient."""
    return number[:4] + "•" * max(0, len(number) - 6) + number[-2:]


class LogSmsSender:
    """Development: the SMS goes to the log (number masked) and counts as sent."""

    def send(self, sms: Sms) -> str:
        log.info("SMS not sent (SMS_BACKEND=log)\nTo: %s\n\n%s", masked(sms.recipient), sms.text)
        return ""

    def close(self) -> None:
        pass


@dataclass
class MemorySmsSender:
    """Tests: keeps what it was given."""

    sent: list[Sms] = field(default_factory=list)

    def send(self, sms: Sms) -> str:
        self.sent.append(sms)
        return str(len(self.sent))

    def close(self) -> None:
        pass


class BrevoSmsSender:
    """Brevo's transactional SMS API (see the module docstring for the contract)."""

    def __init__(self, api_key: str, sender: str, *, url: str = BREVO_URL, timeout: float = 15):
        if not api_key:
            raise ValueError("BREVO_API_KEY manquant pour SMS_BACKEND=brevo.")
        if not _SENDER_NAME.match(sender):
            raise ValueError(
                f"SMS_SENDER invalide : « {sender} » (3 à 11 lettres ou chiffres, ou 15 chiffres)."
            )
        self.api_key, self.sender, self.url, self.timeout = api_key, sender, url, timeout

    def send(self, sms: Sms) -> str:
        body = {
            "sender": self.sender,
            "recipient": sms.recipient.removeprefix("+"),  # country code, no plus sign
            "content": sms.text,
            "type": "transactional",  # sent at any hour, never with a STOP code
            "tag": sms.tag,
            "unicodeEnabled": not is_gsm7(sms.text),
        }
        request = urllib.request.Request(
            self.url,
            data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
            method="POST",
            headers={
                "accept": "application/json",
                "content-type": "application/json",
                "api-key": self.api_key,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                payload = _json(answer.read())
        except urllib.error.HTTPError as exc:
            raise _error_for(exc.code, _json(exc.read())) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise SenderUnavailable(f"Brevo injoignable : {getattr(exc, 'reason', exc)}") from exc
        return str(payload.get("messageId", ""))

    def close(self) -> None:
        pass


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _error_for(status: int, payload: dict[str, Any]) -> Exception:
    detail = f"{payload.get('code', '')} {payload.get('message', '')}".strip() or "sans détail"
    if status == 400:
        return PermanentFailure(f"SMS refusé par Brevo (400) : {detail}")
    if status in (401, 402, 403):
        # The key, the account or its credits: every other SMS would fail the same way.
        return SenderUnavailable(f"Brevo refuse l'envoi ({status}) : {detail}")
    return RuntimeError(f"Brevo indisponible ({status}) : {detail}")


def sms_sender_from_config(config: Mapping[str, Any]) -> SmsSender:
    """The sender ``SMS_BACKEND`` asks for; ``ValueError`` (French) on a bad configuration."""
    backend = str(config.get("SMS_BACKEND") or "log").strip().lower()
    if backend == "log":
        return LogSmsSender()
    if backend != "brevo":
        raise ValueError(f"SMS_BACKEND inconnu : « {backend} » (log ou brevo).")
    try:
        timeout = float(config.get("SMS_TIMEOUT") or 15)
    except ValueError as exc:
        raise ValueError("SMS_TIMEOUT doit être un nombre.") from exc
    return BrevoSmsSender(
        str(config.get("BREVO_API_KEY") or ""),
        str(config.get("SMS_SENDER") or ""),
        url=str(config.get("SMS_API_URL") or BREVO_URL),
        timeout=timeout,
    )
