"""The FHIR R4 interface under /fhir for the national SAS platform.

The platform's technical account is a regulator-role user of the CPTS with an API token
(``Authorization: Bearer``); a coordinator's token works too. Searches answer with the
slots that account may book (its channel, as the UI and the JSON API do), plus walk-in
hours; bookings go through ``booking.services.book`` like every other booking, so the
same rules and the same database constraint settle a race. Every answer is
``application/fhir+json``; every error an OperationOutcome with a French message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from importlib import metadata as importlib_metadata
from typing import Any, TypeVar

import orjson
from flask import Blueprint, Response, g, request
from werkzeug.exceptions import RequestEntityTooLarge

from app.enums import Role
from app.extensions import db, limiter
from app.models import Practitioner, Territory, User
from app.timeutil import now_utc
from app.urls import public_base, public_path, public_url
from booking import services, tokens
from booking.api_access import (
    api_rate_limit,
    booking_rate_limit,
    commit_token_touch,
    storable,
    token_rate_key,
)
from booking.models import Booking
from publishing import fhir
from publishing import fhir_reads as reads
from publishing.fhir import FhirError

T = TypeVar("T")

bp = Blueprint("fhir", __name__, url_prefix="/fhir")

PUBLIC_ENDPOINTS = {"fhir.metadata"}
# Every other route is decorated with ``api_rate_limit``: the platform's token draws on
# the same per-token budget as the JSON API (API_RATE_LIMIT).
FHIR_ROLES = (Role.REGULATOR, Role.COORDINATOR)
SAS_CANCEL_REASON = "Annulé par la plateforme SAS"
ACCEPTABLE = (*fhir.ACCEPTED_MIMES, "*/*", "application/*")
PRACTITIONER_PARAM = "schedule.actor:Practitioner.identifier"


# --- HTTP plumbing ---------------------------------------------------------------------------------


def fhir_response(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    response = Response(encode(body), status=status, mimetype=fhir.MIME)
    response.headers["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def encode(body: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON, byte for byte ``json.dumps(body, ensure_ascii=False,
    separators=(",", ":"))`` for what ``publishing.fhir`` builds (text, integers, booleans,
    null, lists, objects with text keys; never a float), written by orjson: a search of
    25 GPs answers some 150 resources, which ``json`` took 1.5 ms to write, orjson 0.1."""
    return orjson.dumps(body)


def outcome(message: str, status: int, code: str) -> Response:
    db.session.rollback()
    return fhir_response(fhir.operation_outcome(message, code=code), status)


@bp.errorhandler(FhirError)
def _fhir_error(error: FhirError) -> Response:
    code = {400: "invalid", 404: "not-found", 422: "business-rule"}.get(error.status, "processing")
    return outcome(str(error), error.status, code)


@bp.errorhandler(services.BookingError)
def _booking_error(error: services.BookingError) -> Response:
    """A refused booking operation: 403 stays, a missing resource is 404, the rest 422."""
    if error.status == 403:
        return outcome(str(error), 403, "forbidden")
    if error.status == 404:
        return outcome(str(error), 404, "not-found")
    if error.status == 400:
        return outcome(str(error), 400, "invalid")
    return outcome(str(error), 422, "business-rule")


def _accepts_fhir_json() -> bool:
    accept = request.headers.get("Accept", "")
    if not accept.strip():
        return True
    offered = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    return any(kind in offered for kind in ACCEPTABLE)


@bp.before_request
def authenticate() -> Response | None:
    """Everything but the CapabilityStatement needs a live token of a regulator or coordinator."""
    if not _accepts_fhir_json():
        return outcome("Seul le format application/fhir+json est proposé.", 406, "not-supported")
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    user = tokens.authenticate(request.headers.get("Authorization"))
    if user is None:
        response = outcome("Jeton d'API absent, invalide ou révoqué.", 401, "security")
        response.headers["WWW-Authenticate"] = 'Bearer realm="tourderole"'
        return response
    if db.session.dirty:
        commit_token_touch()
    if user.role not in FHIR_ROLES:
        return outcome(
            "L'interface FHIR est réservée à la régulation (plateforme SAS) et à la coordination.",
            403,
            "forbidden",
        )
    g.fhir_user = user
    return None


def _user() -> User:
    return g.fhir_user


def _territories() -> list[Territory]:
    """The token's desk: its regulation service's territories, or its own one."""
    territories = reads.desk_territories(_user())
    if not territories:  # a service detached from every territory answers nothing
        raise FhirError("Ce jeton ne couvre aucun territoire.", status=403, code="forbidden")
    return territories


def _territory() -> Territory:
    """The first territory of the desk: its clock reads dates sent without an offset."""
    return _territories()[0]


def _base() -> str:
    return public_base() + bp.url_prefix


def _json_body() -> Any:
    kind = (request.mimetype or "").lower()
    if kind not in fhir.ACCEPTED_MIMES:
        raise FhirError("Corps attendu en application/fhir+json.")
    raw = request.get_data(cache=False)
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(raw) >= limit:
        raise RequestEntityTooLarge()  # a streamed body cut at the limit: not a short one
    try:
        payload = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise FhirError("Corps de la requête : JSON invalide.") from exc
    if isinstance(payload, dict) and not storable(payload):
        raise FhirError("Corps de la requête : caractère nul ou Unicode invalide.")
    return payload


# --- our objects as FHIR views ---------------------------------------------------------------------


def _booking_url(slot_id: str | None) -> str:
    if slot_id is None:
        return public_url("public.availability_page")
    return public_url("booking.book", creneau=slot_id)


_PLAIN_SLOT_ID = re.compile(r"[0-9-]+")
_SLOT_ID_MARK = "0-0-0"


def _booking_urls() -> Callable[[str | None], str]:
    """``_booking_url`` for a whole search: ``url_for`` runs once, not once per Slot, and
    each slot id takes the place of a sample one (an id of digits and hyphens is written
    in a query string as it is; any other goes through ``url_for``)."""
    walk_in = _booking_url(None)
    head, _, tail = _booking_url(_SLOT_ID_MARK).rpartition(_SLOT_ID_MARK)

    def booking_url(slot_id: str | None) -> str:
        if slot_id is None:
            return walk_in
        if _PLAIN_SLOT_ID.fullmatch(slot_id) is None:
            return _booking_url(slot_id)
        return f"{head}{slot_id}{tail}"

    return booking_url


def _includes() -> set[str]:
    return {
        value.strip()
        for name in ("_include", "_include:iterate")
        for raw in request.args.getlist(name)
        for value in raw.split(",")
    }


def _bundle_for(views: list[tuple[fhir.FreeSlotView, Territory]]) -> dict[str, Any]:
    """The searchset: the Slots (each with its own CPTS), then what ``_include`` asks for."""
    wanted = _includes()
    territories = {t.id: t for _, t in views}
    cpts_by_territory = {t.id: reads.cpts_of(t) for t in territories.values()}
    slots, booking_url = fhir.SlotResources(), _booking_urls()
    matches = [
        slots.slot(
            view,
            cpts_by_territory[territory.id],
            territory.timezone,
            booking_url(None if view.channel is None else view.id),
        )
        for view, territory in views
    ]
    included: list[dict[str, Any]] = []
    pairs = list(dict.fromkeys((v.doctor, v.place) for v, _ in views))
    if "Slot:schedule" in wanted:
        included += [fhir.schedule_resource(d, p) for d, p in pairs]
        if "Schedule:actor" in wanted:
            doctors = list(dict.fromkeys(d for d, _ in pairs))
            included += [fhir.practitioner_resource(d) for d in doctors]
            included += [fhir.practitioner_role_resource(d, p) for d, p in pairs]
    if "Slot:service-type-reference" in wanted:
        for cpts in cpts_by_territory.values():
            included.append(fhir.healthcare_service_resource(cpts))
            if "HealthcareService:organization" in wanted:
                included.append(fhir.organization_resource(cpts))
    return fhir.searchset(public_path(request.full_path.rstrip("?")), _base(), matches, included)


# --- routes ------------------------------------------------------------------------------------------


@bp.get("/metadata", endpoint="metadata")
def capability_statement() -> Response:
    """The CapabilityStatement (public: it holds no data)."""
    try:
        version = importlib_metadata.version("tourderole")
    except importlib_metadata.PackageNotFoundError:  # pragma: no cover - run from a checkout
        version = "dev"
    return fhir_response(fhir.capability_statement(_base(), version, now_utc()))


@bp.get("/Slot")
@api_rate_limit
def search_slots() -> Response:
    """The SAS search: free slots of 1–25 GPs starting within [ge, le]."""
    user, territories = _user(), _territories()
    fhir.parse_status(request.args.getlist("status"))
    window = fhir.parse_start(request.args.getlist("start"), territories[0].timezone)
    wanted = fhir.parse_practitioners(request.args.getlist(PRACTITIONER_PARAM))
    channel = services.booker_channel(user)
    # The service's CPTS, each with its own GPs and rules, read together.
    views = reads.desk_free_slot_views(territories, channel, window, wanted, now=now_utc())
    return fhir_response(_bundle_for(views))


@bp.get("/Slot/<slot_id>")
@api_rate_limit
def read_slot(slot_id: str) -> Response:
    territory, view = _in_desk(lambda t: reads.slot_view(t, slot_id))
    resource = fhir.slot_resource(
        view,
        reads.cpts_of(territory),
        territory.timezone,
        _booking_url(None if view.channel is None else view.id),
    )
    return fhir_response(resource)


def _in_desk(find: Callable[[Territory], T]) -> tuple[Territory, T]:
    """The first of the desk's territories where ``find`` succeeds (404 otherwise)."""
    missing: FhirError | None = None
    for territory in _territories():
        try:
            return territory, find(territory)
        except FhirError as exc:
            missing = exc
    assert missing is not None
    raise missing


def _by_rpps(rpps: str) -> list[Practitioner]:
    """GPs with this RPPS across the desk (one per territory they practise in)."""
    return [p for t in _territories() for p in reads.practitioners_by_rpps(t, [rpps])]


def _schedules_of(practitioner: Practitioner) -> list[dict[str, Any]]:
    doctor = reads.doctor_of(practitioner)
    return [fhir.schedule_resource(doctor, reads.place_of(site)) for site in practitioner.sites]


def _one_rpps(param: str) -> str:
    values = request.args.getlist(param)
    if len(values) != 1:
        raise FhirError(
            f"Le paramètre {param} est obligatoire (un praticien : {fhir.RPPS_SYSTEM}|8+RPPS)."
        )
    return fhir.parse_rpps_token(values[0])


@bp.get("/Schedule")
@api_rate_limit
def search_schedules() -> Response:
    rpps = _one_rpps("actor.identifier")
    matches = [r for p in _by_rpps(rpps) for r in _schedules_of(p)]
    return fhir_response(
        fhir.searchset(public_path(request.full_path.rstrip("?")), _base(), matches)
    )


@bp.get("/Schedule/<ident>")
@api_rate_limit
def read_schedule(ident: str) -> Response:
    _, (practitioner, site) = _in_desk(lambda t: reads.schedule_pair(t, ident))
    return fhir_response(
        fhir.schedule_resource(reads.doctor_of(practitioner), reads.place_of(site))
    )


@bp.get("/PractitionerRole/<ident>")
@api_rate_limit
def read_practitioner_role(ident: str) -> Response:
    _, (practitioner, site) = _in_desk(lambda t: reads.schedule_pair(t, ident))
    return fhir_response(
        fhir.practitioner_role_resource(reads.doctor_of(practitioner), reads.place_of(site))
    )


@bp.get("/Practitioner")
@api_rate_limit
def search_practitioners() -> Response:
    rpps = _one_rpps("identifier")
    matches = [fhir.practitioner_resource(reads.doctor_of(p)) for p in _by_rpps(rpps)]
    return fhir_response(
        fhir.searchset(public_path(request.full_path.rstrip("?")), _base(), matches)
    )


@bp.get("/Practitioner/<ident>")
@api_rate_limit
def read_practitioner(ident: str) -> Response:
    fhir.resource_id(ident)
    practitioner = next(
        (p for t in _territories() if (p := reads.practitioner(t, ident)) is not None), None
    )
    if practitioner is None:
        raise FhirError("Praticien introuvable.", status=404, code="not_found")
    return fhir_response(fhir.practitioner_resource(reads.doctor_of(practitioner)))


def _cpts_or_404(ident: str) -> fhir.Cpts:
    """One of the desk's CPTS (a service's token reads each territory it covers)."""
    for territory in _territories():
        cpts = reads.cpts_of(territory)
        if ident == cpts.key:
            return cpts
    raise FhirError("Ressource introuvable.", status=404, code="not_found")


@bp.get("/HealthcareService/<ident>")
@api_rate_limit
def read_healthcare_service(ident: str) -> Response:
    return fhir_response(fhir.healthcare_service_resource(_cpts_or_404(ident)))


@bp.get("/Organization/<ident>")
@api_rate_limit
def read_organization(ident: str) -> Response:
    return fhir_response(fhir.organization_resource(_cpts_or_404(ident)))


# --- appointments ------------------------------------------------------------------------------------


def appointment_of(booking: Booking) -> dict[str, Any]:
    holder = services.holder_of(booking)
    view = fhir.AppointmentView(
        reference=booking.reference,
        identifier_system=booking.external_system,
        identifier_value=booking.external_id,
        status=booking.status.value,
        start=booking.starts_at,
        end=booking.ends_at,
        doctor=reads.doctor_of(holder) if holder is not None else None,
        operator=booking.operator,
        slot_id=booking.slot_id,
        created=booking.created_at,
        cancel_reason=booking.cancel_reason,
    )
    return fhir.appointment_resource(view, _territory().timezone)


def _location(booking: Booking) -> dict[str, str]:
    return {"Location": f"{_base()}/Appointment/{booking.reference}"}


def _same_request(booking: Booking, wanted: fhir.AppointmentRequest) -> bool:
    holder = services.holder_of(booking)
    return (
        booking.starts_at == wanted.start
        and booking.ends_at == wanted.end
        and holder is not None
        and holder.rpps == wanted.rpps
    )


def _replay(user: User, wanted: fhir.AppointmentRequest) -> Response | None:
    """A retry of an Appointment we already booked: the same answer, not a second booking."""
    booking = services.by_external_id(user, wanted.identifier_system, wanted.identifier_value)
    if booking is None:
        return None
    if not _same_request(booking, wanted):
        raise FhirError(
            "Cet identifiant de rendez-vous a déjà servi pour un autre créneau.",
            status=422,
            code="duplicate",
        )
    return fhir_response(appointment_of(booking), 200, _location(booking))


def _slot_for(wanted: fhir.AppointmentRequest) -> str:
    """Our slot for this GP and time (and the Slot reference, when the platform gives one),
    in whichever of the desk's territories the GP holds it."""
    practitioners = [
        (t, p) for t in _territories() if (p := reads.practitioner_by_rpps(t, wanted.rpps))
    ]
    if not practitioners:
        raise FhirError("Ce médecin n'exerce pas dans la CPTS.", status=422, code="unknown_gp")
    found = next(
        (
            slot
            for t, p in practitioners
            if (slot := services.slot_at(t.id, p.id, wanted.start, wanted.end)) is not None
        ),
        None,
    )
    if wanted.slot_id is not None and wanted.slot_id != found:
        raise FhirError(
            "Le créneau référencé ne correspond pas au médecin et à l'horaire du rendez-vous.",
            status=422,
            code="slot_mismatch",
        )
    if found is None:
        raise FhirError(
            "Aucun créneau de ce médecin ne commence et ne finit à ces heures.",
            status=422,
            code="no_slot",
        )
    return found


@bp.post("/Appointment")
@api_rate_limit
@limiter.limit(booking_rate_limit, key_func=token_rate_key)
def create_appointment() -> Response:
    """Book the GP's slot at that time for the SAS platform: 201, or 422 with the reason."""
    user = _user()
    wanted = fhir.read_appointment(_json_body())
    if wanted.status != "booked":
        raise FhirError("Un nouveau rendez-vous a le statut booked.")
    if (replayed := _replay(user, wanted)) is not None:
        return replayed
    slot_id = _slot_for(wanted)
    external = services.ExternalRef(
        system=wanted.identifier_system, value=wanted.identifier_value, operator=wanted.operator
    )
    try:
        booking = services.book(user, slot_id, None, external=external)
        db.session.commit()
    except services.SlotTaken as exc:
        db.session.rollback()
        if (replayed := _replay(user, wanted)) is not None:  # our own retry won the race
            return replayed
        return outcome(str(exc), 422, "conflict")
    return fhir_response(appointment_of(booking), 201, _location(booking))


@bp.put("/Appointment")
@api_rate_limit
def update_appointment() -> Response:
    """Conditional update by identifier: cancel, or say the patient came (or not)."""
    user = _user()
    system, value = fhir.parse_identifier_token(request.args.get("identifier", ""))
    wanted = fhir.read_appointment(_json_body())
    if (wanted.identifier_system, wanted.identifier_value) != (system, value):
        raise FhirError("L'identifiant du corps diffère de celui de l'URL.")
    booking = services.by_external_id(user, system, value)
    if booking is None:
        raise FhirError("Aucun rendez-vous avec cet identifiant.", status=404, code="not_found")
    current = fhir.APPOINTMENT_STATUS[booking.status.value]
    if wanted.status != current:
        if wanted.status == "cancelled":
            services.cancel(booking, user, reason=wanted.cancel_reason or SAS_CANCEL_REASON)
        elif wanted.status in ("fulfilled", "noshow"):
            services.mark(booking, user, honoured=wanted.status == "fulfilled")
        else:
            raise FhirError(
                "Un rendez-vous annulé ou passé ne revient pas à l'état booked : "
                "prenez un nouveau rendez-vous.",
                status=422,
                code="invalid_transition",
            )
        db.session.commit()
    return fhir_response(appointment_of(booking), 200, _location(booking))


@bp.get("/Appointment/<reference>")
@api_rate_limit
def read_appointment(reference: str) -> Response:
    user = _user()
    fhir.resource_id(reference)
    try:
        booking = services.get_visible(user, reference)
    except services.NotFound as exc:
        raise FhirError("Rendez-vous introuvable.", status=404, code="not_found") from exc
    resource = appointment_of(booking)
    services.audit_read(user, [booking], "fhir")
    return fhir_response(resource)
