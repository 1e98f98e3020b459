"""The JSON API under /api/v1/ (bearer tokens): free slots, book, read and cancel a booking.

Views stay thin: they read and check the request, call ``booking.services`` and turn the
result, or its ``BookingError``, into JSON. Every error is ``{"code", "message"}`` with a
French message, and bad input is a 4xx, never a 500. Cookies are ignored here: only an
``Authorization: Bearer`` token opens the API, so a browser session can't be ridden
cross-site (the blueprint is CSRF-exempt for that reason).

``POST /bookings`` honours an ``Idempotency-Key``: the first successful answer is stored
with the booking, in the same transaction, and replayed to retries carrying that key.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, date, datetime
from typing import Any

from flask import Blueprint, Response, g, jsonify, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from app import audit
from app.enums import Role
from app.extensions import db, limiter
from app.models import Practitioner, Site, User
from app.timeutil import local, now_utc
from app.validators import ValidationError, normalise_insee
from booking import idempotency, openapi, page_cache, reads, services, tokens
from booking import slots as slotlib
from booking.api_access import (
    api_rate_limit,
    booking_rate_limit,
    commit_token_touch,
    storable,
    token_rate_key,
)
from booking.models import Booking
from rota.models import Session

bp = Blueprint("api", __name__, url_prefix="/api/v1")

PUBLIC_ENDPOINTS = {"api.openapi"}
DEFAULT_CANCEL_REASON = "Annulé via l'API"
MAX_IDEMPOTENCY_KEY = 200
# Besides its own channel, anyone may narrow a search to the slots open to everybody.
CHANNELS_ALLOWED = {
    Role.REGULATOR: {slotlib.SAS, slotlib.OPEN},
    Role.PHARMACIST: {slotlib.PHARMACY, slotlib.OPEN},
    Role.COORDINATOR: {slotlib.SAS, slotlib.PHARMACY, slotlib.OPEN, slotlib.ANY},
}
# An unencoded "+" of a query string arrives as a space: "…T17:00:00 01:00".
_SPACE_OFFSET = re.compile(r"^(\d{4}-\d{2}-\d{2}T[\d:.,]+) (\d{2}(?::?\d{2})?)$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def bad_request(message: str, code: str = "invalid_body") -> services.BookingError:
    return services.BookingError(message, code=code, status=400)


# --- authentication, errors, headers -------------------------------------------------------------


@bp.before_request
def authenticate() -> Response | None:
    """Every route but the OpenAPI document needs a live bearer token."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    user = tokens.authenticate(request.headers.get("Authorization"))
    if user is None:
        response = jsonify(code="unauthorized", message="Jeton d'API absent, invalide ou révoqué.")
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="tourderole"'
        return response
    if db.session.dirty:  # last_used_at was refreshed: keep it even if the request fails
        commit_token_touch()
    g.api_user = user
    return None


@bp.errorhandler(services.BookingError)
def refused(error: services.BookingError) -> tuple[Response, int]:
    """A refused operation: its code and French message; nothing it began is kept."""
    body: dict[str, Any] = {"code": error.code, "message": str(error)}
    if error.opens_at is not None:
        body["opens_at"] = _iso(error.opens_at, _zone())
    if isinstance(error, services.SlotTaken):
        body["alternatives"] = [free_slot_json(f, _zone()) for f in error.alternatives]
    db.session.rollback()
    return jsonify(body), error.status


@bp.after_request
def no_store(response: Response) -> Response:
    """Answers carry patient data or live availability: never cache them."""
    if request.endpoint not in PUBLIC_ENDPOINTS:
        response.headers["Cache-Control"] = "no-store"
    return response


def _user() -> User:
    return g.api_user


def _zone() -> str:
    """The clock answers are written in: the token's territory, or its service's first."""
    territory = services.home_territory(_user())
    assert territory is not None  # tokens.authenticate refuses users with no desk
    return territory.timezone


# --- JSON shapes ---------------------------------------------------------------------------------


def _iso(moment: datetime, zone: str) -> str:
    """ISO 8601 in the territory's wall-clock time, with its offset (``+01:00``)."""
    return local(moment, zone).isoformat()


def site_json(site: Site) -> dict[str, Any]:
    commune = site.commune
    return {
        "id": site.id,
        "name": site.name,
        "address": f"{site.address_line}, {site.postal_code} {commune.name}",
        "commune": commune.name,
        "commune_insee": commune.insee_code,
        "territory": site.territory.name,
        "latitude": site.latitude,
        "longitude": site.longitude,
    }


def practitioner_json(practitioner: Practitioner | None) -> dict[str, Any] | None:
    if practitioner is None:
        return None
    return {"rpps": practitioner.rpps, "name": practitioner.display_name}


def _slot_json(
    *,
    slot_id: str,
    starts_at: datetime,
    ends_at: datetime,
    session: Session,
    practitioner: Practitioner | None,
    channel: str,
    zone: str,
) -> dict[str, Any]:
    return {
        "id": slot_id,
        "start": _iso(starts_at, zone),
        "end": _iso(ends_at, zone),
        "site": site_json(session.site),
        "practitioner": practitioner_json(practitioner),
        "channel": channel,
        "mode": session.mode.value,
    }


def free_slot_json(found: services.FreeSlot, zone: str) -> dict[str, Any]:
    body = _slot_json(
        slot_id=found.id,
        starts_at=found.slot.starts_at,
        ends_at=found.slot.ends_at,
        session=found.session,
        practitioner=found.practitioner,
        channel=found.channel,
        zone=zone,
    )
    if found.km is not None:
        body["distance_km"] = round(found.km, 1)
    return body


def booked_slot_json(booking: Booking, zone: str) -> dict[str, Any]:
    """The booking's slot; its GP is whoever holds the seat now (swaps move bookings)."""
    return _slot_json(
        slot_id=booking.slot_id,
        starts_at=booking.starts_at,
        ends_at=booking.ends_at,
        session=booking.session,
        practitioner=services.holder_of(booking),
        channel=booking.slot_channel,
        zone=zone,
    )


def booking_json(booking: Booking, zone: str) -> dict[str, Any]:
    """A booking as its readers see it; ``patient`` is ``null`` once purged, and for a
    booking of the SAS platform, which keeps the patient's identity with the regulation."""
    purged = booking.purged_at is not None or booking.family_name is None
    return {
        "reference": booking.reference,
        "status": booking.status.value,
        "slot": booked_slot_json(booking, zone),
        "patient": None
        if purged
        else {
            "family_name": booking.family_name,
            "given_name": booking.given_name,
            "birth_date": booking.birth_date.isoformat() if booking.birth_date else None,
            "phone": booking.phone,
            "email": booking.patient_email,
            "mobile": booking.patient_mobile,
        },
        "reason": booking.reason,
        "reason_code": booking.reason_code,
        "without_gp": booking.without_gp,
        "channel": booking.channel,
        "booked_at": _iso(booking.created_at, zone),
        "cancel_reason": booking.cancel_reason,
        "cancelled_by_patient": booking.cancelled_by_patient,
    }


# --- request parsing -----------------------------------------------------------------------------


def _json_body(*, required: bool) -> dict[str, Any]:
    """The request body as a JSON object (whatever its Content-Type), or a 400."""
    raw = request.get_data(cache=True)
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(raw) >= limit:
        # A streamed (chunked) body is cut at the limit as it is read, not refused: say so
        # rather than parse a truncated body.
        raise RequestEntityTooLarge()
    if not raw.strip():
        if required:
            raise bad_request("Corps JSON attendu.", "invalid_json")
        return {}
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):
        raise bad_request(
            "Le corps de la requête n'est pas du JSON valide.", "invalid_json"
        ) from None
    if not isinstance(payload, dict):
        raise bad_request("Le corps de la requête doit être un objet JSON.", "invalid_json")
    if not storable(payload):
        raise bad_request(
            "Le corps de la requête contient un caractère interdit "
            "(caractère nul ou Unicode invalide).",
            "invalid_json",
        )
    return payload


def _text(data: dict[str, Any], name: str, label: str, *, default: str | None = None) -> str:
    value = data.get(name, default)
    if value is None:
        raise bad_request(f"Champ « {label} » obligatoire.")
    if not isinstance(value, str):
        raise bad_request(f"Champ « {label} » : texte attendu.")
    return value


def _patient_request(payload: dict[str, Any]) -> tuple[str, services.PatientData]:
    """``(slot id, patient)`` from a booking body; structure and types only (400)."""
    slot_id = _text(payload, "slot_id", "slot_id").strip()
    if not slot_id:
        raise bad_request("Champ « slot_id » obligatoire.")
    patient = payload.get("patient")
    if not isinstance(patient, dict):
        raise bad_request("Champ « patient » : objet attendu.")
    birth = _text(patient, "birth_date", "patient.birth_date").strip()
    try:
        if not _DATE.match(birth):
            raise ValueError(birth)
        birth_date = date.fromisoformat(birth)
    except ValueError:
        raise bad_request("Champ « patient.birth_date » : date AAAA-MM-JJ attendue.") from None
    reason_code = _text(payload, "reason_code", "reason_code", default="autre")
    if reason_code not in services.REASONS:
        raise bad_request(
            f"Champ « reason_code » inconnu ; valeurs possibles : {', '.join(services.REASONS)}."
        )
    without_gp = payload.get("without_gp", False)
    if not isinstance(without_gp, bool):
        raise bad_request("Champ « without_gp » : true ou false attendu.")
    reason = payload.get("reason", "")
    if reason is None:
        reason = ""
    if not isinstance(reason, str):
        raise bad_request("Champ « reason » : texte attendu.")
    consent = patient.get("contact_consent", False)
    if not isinstance(consent, bool):
        raise bad_request("Champ « patient.contact_consent » : true ou false attendu.")
    return slot_id, services.PatientData(
        commune_insee=_patient_commune(patient),
        family_name=_text(patient, "family_name", "patient.family_name"),
        given_name=_text(patient, "given_name", "patient.given_name"),
        birth_date=birth_date,
        phone=_text(patient, "phone", "patient.phone"),
        reason=reason,
        reason_code=reason_code,
        without_gp=without_gp,
        email=_optional_text(patient, "email", "patient.email"),
        mobile=_optional_text(patient, "mobile", "patient.mobile"),
        contact_consent=consent,
    )


def _patient_commune(patient: dict[str, Any]) -> str | None:
    """The patient's commune (INSEE code), optional: counted in the indicators, never shown."""
    raw = _optional_text(patient, "commune_insee", "patient.commune_insee").strip()
    if not raw:
        return None
    try:
        return normalise_insee(raw[:10])
    except ValidationError as exc:
        raise bad_request(f"Champ « patient.commune_insee » : {exc}") from exc


def _optional_text(data: dict[str, Any], name: str, label: str) -> str:
    """An optional text field: absent or ``null`` is empty; anything but text is a 400."""
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise bad_request(f"Champ « {label} » : texte attendu.")
    return value


def _instant(name: str) -> datetime | None:
    """An ISO 8601 query parameter with its offset, in UTC; absent → ``None``."""
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    refusal = bad_request(
        f"Paramètre « {name} » : date et heure ISO 8601 avec décalage attendues "
        "(ex. 2027-03-01T17:00:00+01:00).",
        "invalid_datetime",
    )
    if len(raw) > 40:
        raise refusal
    try:
        value = datetime.fromisoformat(_SPACE_OFFSET.sub(r"\1+\2", raw))
        if value.tzinfo is None or value.utcoffset() is None:
            raise refusal
        return value.astimezone(UTC)
    except (ValueError, OverflowError):
        raise refusal from None


def _channel(user: User) -> str:
    """The ``channel`` parameter: the user's own channel by default, never someone else's."""
    own = services.booker_channel(user)
    value = (request.args.get("channel") or "").strip().lower()
    if not value:
        return own
    if value not in (*slotlib.CHANNELS, slotlib.ANY):
        raise bad_request(
            "Paramètre « channel » : sas, pharmacy, open ou any attendu.", "invalid_channel"
        )
    if value not in CHANNELS_ALLOWED.get(user.role, set()):
        raise services.BookingError(
            "Vous ne pouvez pas consulter les créneaux d'un autre canal que le vôtre.",
            code="channel_forbidden",
            status=403,
        )
    return value


def _commune(user: User) -> tuple[str | None, str | None]:
    """``(INSEE code, note)``: the note says when the commune is not the territory's."""
    raw = (request.args.get("commune") or "").strip()
    if not raw:
        return None, None
    try:
        code = normalise_insee(raw[:10])
    except ValidationError as exc:
        raise bad_request(str(exc), "invalid_commune") from exc
    if reads.is_desk_commune(user, code):
        return code, None
    return code, (
        f"La commune {code} n'appartient à aucun de vos territoires : "
        "les créneaux restent classés par heure et distance depuis son centre."
    )


def _idempotency_key() -> str | None:
    raw = request.headers.get("Idempotency-Key")
    if raw is None:
        return None
    key = raw.strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise bad_request(
            f"En-tête Idempotency-Key : 1 à {MAX_IDEMPOTENCY_KEY} caractères imprimables attendus.",
            "invalid_idempotency_key",
        )
    return key


# --- idempotency ---------------------------------------------------------------------------------


def fingerprint(payload: dict[str, Any]) -> str:
    """SHA-256 of the body in canonical JSON: key order and spacing don't matter."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _replay(user: User, key: str, request_hash: str) -> Response | None:
    """The stored answer for this key, or ``None`` if the key is new; refuses a new body."""
    record = idempotency.find_record(user, key)
    if record is None:
        return None
    if record.request_hash != request_hash:
        raise services.BookingError(
            "Cette clé d'idempotence a déjà servi pour une autre requête.",
            code="idempotency_conflict",
            status=422,
        )
    response = jsonify(record.body)
    response.status_code = record.status_code
    response.headers["Idempotent-Replayed"] = "true"
    return response


# --- routes --------------------------------------------------------------------------------------


@bp.get("/openapi.json", endpoint="openapi")
def openapi_document() -> Response:
    """The OpenAPI 3.1 description of this API (public: it holds no data)."""
    return jsonify(openapi.document())


DEFAULT_SLOT_LIMIT = 50
MAX_SLOT_LIMIT = 500


def _limit() -> int:
    """``limit`` query parameter: the soonest N slots (default 50, at most 500)."""
    raw = request.args.get("limit")
    if raw is None or raw == "":
        return DEFAULT_SLOT_LIMIT
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_SLOT_LIMIT:
        raise bad_request(
            f"Le paramètre « limit » est un entier entre 1 et {MAX_SLOT_LIMIT}.", "invalid_limit"
        )
    return int(raw)


@bp.get("/slots")
@api_rate_limit
def list_slots() -> Response:
    """Free slots the token's user may book now, soonest first."""
    user = _user()
    channel = _channel(user)
    start, end = _instant("from"), _instant("to")
    if start is not None and end is not None and start > end:
        raise bad_request("Le paramètre « from » doit précéder « to ».", "invalid_datetime")
    limit = _limit()
    now = now_utc()
    key = _search_key(user, channel, limit, now)
    cached = page_cache.slot_searches.get(key, now)
    if cached is not None:
        return Response(cached, mimetype="application/json")
    response = jsonify(_slots_body(user, channel, start, end, limit=limit, now=now))
    page_cache.slot_searches.put(key, response.get_data(), now)
    return response


def _search_key(user: User, channel: str, limit: int, now: datetime) -> tuple[Any, ...]:
    """The cache key of a slot search.

    Regulators of a territory repeat the same searches: the answer is kept for the
    minute, under the territory's change marker (any booking, cancellation or rota
    change is a new key). A release or the window moving is at most a minute late.
    Only answers are kept, so a parameter refused earlier is refused every time.
    """
    territory_ids = tuple(services.booker_territory_ids(user))
    return (
        "slots",
        territory_ids,
        channel,
        request.args.get("commune"),
        request.args.get("from"),
        request.args.get("to"),
        limit,
        tuple(audit.change_marker(t) for t in territory_ids),
        now.replace(second=0, microsecond=0),
    )


def _slots_body(
    user: User,
    channel: str,
    start: datetime | None,
    end: datetime | None,
    *,
    limit: int,
    now: datetime,
) -> dict[str, Any]:
    """The search's answer: the soonest ``limit`` free slots within the booking window."""
    commune, note = _commune(user)
    territory_ids = services.booker_territory_ids(user)
    # Both ends are clamped into the window (the widest of the desk's territories, each
    # keeping its own), so the answer's "from" and "to" always describe it (a "to" of
    # the year 363 used to come back as is, in local mean time).
    first, last = now + services.MARGIN, now + services.desk_horizon(territory_ids)
    start = min(max(start, first), last) if start else first
    end = min(max(end, first), last) if end else last
    found = (
        services.desk_free_slots(
            territory_ids,
            channel,
            now=now,
            commune_insee=commune,
            until=end,
            since=start,
            limit=limit + 1,  # one more tells whether there are more
        )
        if start <= end
        else []
    )
    zone = _zone()
    body: dict[str, Any] = {
        "slots": [free_slot_json(f, zone) for f in found[:limit]],
        "more": len(found) > limit,
        "from": _iso(start, zone),
        "to": _iso(end, zone),
        "channel": channel,
        "next_opening": _next_opening(territory_ids, channel, now, zone),
    }
    if note:
        body["note"] = note
    return body


def _next_opening(territory_ids: list[int], channel: str, now: datetime, zone: str) -> Any:
    """The desk's first free slot beyond the horizon and when it opens: what the public page
    shows for tomorrow and cannot be booked yet (``null`` when none within two days)."""
    found = services.desk_next_opening(territory_ids, channel, now=now)
    if found is None:
        return None
    slot, opens, _ = found
    return {"opens_at": _iso(opens, zone), "slot": free_slot_json(slot, zone)}


@bp.post("/bookings")
@api_rate_limit
@limiter.limit(booking_rate_limit, key_func=token_rate_key)
def create_booking() -> tuple[Response, int, dict[str, str]] | Response:
    """Book a slot; with an Idempotency-Key, a retry gets the first answer back."""
    user = _user()
    now = now_utc()
    key = _idempotency_key()
    payload = _json_body(required=True)
    request_hash = fingerprint(payload)
    if key is not None and (stored := _replay(user, key, request_hash)) is not None:
        return stored
    slot_id, patient = _patient_request(payload)
    try:  # the patient's fields first: a bad body is a 400 whatever the slot
        patient.cleaned(now.date())
    except services.BookingError as exc:
        raise bad_request(str(exc)) from exc
    record = None
    if key is not None:
        record = idempotency.claim(user, key, request_hash, now)
        if record is None:
            stored = _replay(user, key, request_hash)
            if stored is not None:
                return stored
            raise services.BookingError(  # the first request's record vanished meanwhile
                "Une requête avec la même clé d'idempotence est en cours ; réessayez.",
                code="idempotency_in_progress",
                status=409,
            )
    booking = services.book(user, slot_id, patient, now=now)
    body = {
        "reference": booking.reference,
        "slot": booked_slot_json(booking, _zone()),
        "status": booking.status.value,
    }
    if record is not None:
        record.status_code = 201
        record.body = body
    db.session.commit()
    location = url_for("api.get_booking", reference=body["reference"])
    return jsonify(body), 201, {"Location": location}


@bp.get("/bookings/<reference>")
@api_rate_limit
def get_booking(reference: str) -> Response:
    """A booking the user may see; anyone else's is "not found", not "forbidden"."""
    user = _user()
    booking = services.get_visible(user, reference)
    body = booking_json(booking, _zone())
    services.audit_read(user, [booking], "api")
    return jsonify(body)


@bp.delete("/bookings/<reference>")
@api_rate_limit
def cancel_booking(reference: str) -> Response:
    """Cancel a booking the user may see; the slot is free again at once."""
    user = _user()
    payload = _json_body(required=False)
    reason = payload.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise bad_request("Champ « reason » : texte attendu.")
    booking = services.get_visible(user, reference)
    try:
        services.cancel(booking, user, reason=(reason or "").strip() or DEFAULT_CANCEL_REASON)
    except services.BookingError as exc:
        if exc.status == 400:
            raise bad_request(str(exc)) from exc
        raise
    db.session.commit()
    return jsonify(booking_json(booking, _zone()))
