"""FHIR R4 resources for the national SAS platform (ANS guide "Service d'Accès aux Soins").

Our app plays the guide's "gestionnaire d'agenda CPTS": the platform searches our free
slots and books them. This module is pure: it turns our objects into FHIR resources (plain
dicts, JSON-ready) and reads the platform's parameters and Appointments into checked
values, raising ``FhirError`` with a French message. ``publishing.fhir_views`` does the HTTP.

Identifiers: a GP is ``8`` + RPPS under ``urn:oid:1.2.250.1.71.4.2.1`` (type IDNPS), the
CPTS ``1`` + FINESS under ``urn:oid:1.2.250.1.71.4.2.2`` (type IDNST). Resource ids are
ours: a Slot's id is our slot id (``session-seat-index``), a walk-in Slot's
``walkin-session-seat``, a Schedule's and a PractitionerRole's ``practitioner-site``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

FHIR_VERSION = "4.0.1"
MIME = "application/fhir+json"
ACCEPTED_MIMES = ("application/fhir+json", "application/json+fhir", "application/json")

RPPS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"
FINESS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.2"
SAS_TECHNICAL_SYSTEM = "urn:oid:1.2.250.1.213.3.6"
ID_TYPE_SYSTEM = "http://interopsante.org/fhir/CodeSystem/fr-v2-0203"
ID_TYPE_SYSTEMS = {ID_TYPE_SYSTEM, "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"}
SLOT_TYPE_SYSTEM = "https://mos.esante.gouv.fr/NOS/TRE_R314-TypeCreneau/FHIR/TRE-R314-TypeCreneau"
ACT_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CATEGORY_SYSTEM = (
    "https://mos.esante.gouv.fr/NOS/TRE_R66-CategorieEtablissement/FHIR/"
    "TRE-R66-CategorieEtablissement"
)
CPTS_CATEGORY = "604"
SPECIALTY_SYSTEM = (
    "https://mos.esante.gouv.fr/NOS/TRE_R38-SpecialiteOrdinale/FHIR/TRE-R38-SpecialiteOrdinale"
)
GENERAL_MEDICINE = "SM54"
APPOINTMENT_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0276"
SERVICE_TYPE_R5 = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Slot.serviceType"
OPERATOR_EXTENSION = "http://interopsante.org/fhir/StructureDefinition/FrAppointmentOperator"
SLOT_PROFILE = (
    "https://interop.esante.gouv.fr/ig/fhir/sas/StructureDefinition/sas-cpts-slot-aggregator"
)
APPOINTMENT_PROFILE = "http://sas.fr/fhir/StructureDefinition/FrAppointmentSAS"

# Our booking channels as the platform's slot visibility (TRE_R314); every slot is a CPTS's.
SECURITY_OF_CHANNEL = {"sas": "SNP", "pharmacy": "PRO", "open": "PUBLIC"}
SECURITY_DISPLAY = {
    "SNP": "Réservé aux régulateurs et effecteurs de soins non programmés",
    "PRO": "Réservé aux professionnels de santé",
    "PUBLIC": "Grand public",
    "CPTS": "Réservé à la CPTS",
}
# Our consultation modes as the v3-ActCode encounter codes the guide uses.
SERVICE_OF_MODE = {
    "surgery": ("AMB", "Consultation au cabinet"),
    "walk_in": ("AMB", "Consultation sans rendez-vous"),
    "home": ("HH", "Visite à domicile"),
    "video": ("VR", "Téléconsultation"),
}
MAX_PRACTITIONERS = 25
# Appointment statuses the platform may send on an update, and what they mean here.
UPDATE_STATUSES = ("booked", "cancelled", "fulfilled", "noshow")

_RPPS_VALUE = re.compile(r"^8(\d{11})$")
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
_DATETIME = re.compile(
    r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(Z|[+-]\d{2}:\d{2})?$"
)


class FhirError(Exception):
    """A request the platform must fix (400) or a rule that refuses it (422)."""

    def __init__(self, message: str, *, status: int = 400, code: str = "invalid"):
        super().__init__(message)
        self.status = status
        self.code = code


# --- reading the platform's parameters ------------------------------------------------------------


def parse_instant(text: str, zone: str, *, upper: bool) -> datetime:
    """A FHIR date or dateTime as an aware instant.

    A bare date (or year-month) covers its whole day (month): ``upper`` picks its end for
    ``le``/``lt``. A dateTime without offset is read in the territory's zone. An unencoded
    ``+`` of the offset arrives as a space and is put back.
    """
    text = text.strip()
    if re.match(r"^\d{4}-\d{2}-\d{2}T\S+ \d{2}:\d{2}$", text):
        text = text.replace(" ", "+")
    tz = ZoneInfo(zone)
    if _DATE.match(text):
        parts = [int(p) for p in text.split("-")]
        try:
            if len(parts) == 3:
                first = date(*parts)
                last = first
            elif len(parts) == 2:
                first = date(parts[0], parts[1], 1)
                last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(1)
            else:
                first, last = date(parts[0], 1, 1), date(parts[0], 12, 31)
        except ValueError as exc:
            raise FhirError(f"Date invalide : « {text} ».") from exc
        if upper:
            return datetime.combine(last + timedelta(days=1), time(), tz) - timedelta(
                microseconds=1
            )
        return datetime.combine(first, time(), tz)
    match = _DATETIME.match(text)
    if match is None:
        raise FhirError(
            f"Date et heure invalides : « {text[:40]} » (attendu : AAAA-MM-JJThh:mm:ss+hh:mm)."
        )
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise FhirError(f"Date et heure invalides : « {text[:40]} ».") from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)


@dataclass(frozen=True)
class StartRange:
    """The ``start`` parameters: the slot starts within ``[low, high]``."""

    low: datetime
    high: datetime


def parse_start(values: list[str], zone: str) -> StartRange:
    """``start=ge…&start=le…``: both bounds are required (``gt``/``lt`` are accepted too)."""
    low = high = None
    for raw in values:
        prefix, text = raw[:2], raw[2:]
        if prefix in ("ge", "gt"):
            if low is not None:
                raise FhirError("Paramètre « start » : une seule borne basse (ge) attendue.")
            low = parse_instant(text, zone, upper=False)
            if prefix == "gt":
                low += timedelta(microseconds=1)
        elif prefix in ("le", "lt"):
            if high is not None:
                raise FhirError("Paramètre « start » : une seule borne haute (le) attendue.")
            high = parse_instant(text, zone, upper=True)
            if prefix == "lt":
                high -= timedelta(microseconds=1)
        else:
            raise FhirError(
                "Paramètre « start » : préfixe ge (à partir de) ou le (jusqu'à) attendu, "
                f"reçu « {raw[:40]} »."
            )
    if low is None or high is None:
        raise FhirError(
            "Les paramètres start=ge… et start=le… sont obligatoires (début et fin de la recherche)."
        )
    if low > high:
        raise FhirError("Paramètre « start » : la borne basse suit la borne haute.")
    return StartRange(low, high)


def parse_rpps_token(token: str) -> str:
    """``[system|]8RPPS`` → the 11-digit RPPS; refuses another system or a malformed value."""
    system, bar, value = token.strip().rpartition("|")
    if bar and system and system != RPPS_SYSTEM:
        raise FhirError(
            f"Système d'identifiant inconnu : « {system[:60]} » (attendu {RPPS_SYSTEM})."
        )
    match = _RPPS_VALUE.match(value.strip())
    if match is None:
        raise FhirError(
            f"Identifiant de praticien invalide : « {value[:40]} » (attendu 8 suivi du RPPS)."
        )
    return match.group(1)


def parse_practitioners(values: list[str]) -> list[str]:
    """The comma-separated practitioner identifiers (1 to 25), as RPPS numbers."""
    if not values or not any(v.strip() for v in values):
        raise FhirError(
            "Le paramètre schedule.actor:Practitioner.identifier est obligatoire "
            f"(1 à {MAX_PRACTITIONERS} praticiens)."
        )
    if len(values) > 1:
        raise FhirError(
            "Donnez les praticiens dans un seul paramètre schedule.actor:Practitioner.identifier, "
            "séparés par des virgules."
        )
    tokens = [t for t in values[0].split(",") if t.strip()]
    if not 1 <= len(tokens) <= MAX_PRACTITIONERS:
        raise FhirError(f"De 1 à {MAX_PRACTITIONERS} praticiens par recherche.")
    return list(dict.fromkeys(parse_rpps_token(t) for t in tokens))


def parse_status(values: list[str]) -> None:
    """``status=free`` is required: we publish free slots only."""
    statuses = {s.strip() for v in values for s in v.split(",")}
    if not values:
        raise FhirError("Le paramètre status=free est obligatoire.")
    if statuses != {"free"}:
        raise FhirError("Seuls les créneaux libres sont publiés : utilisez status=free.")


def resource_id(text: str) -> str:
    if not _FHIR_ID.match(text):
        raise FhirError("Identifiant de ressource invalide.", status=404, code="not_found")
    return text


# --- reading an Appointment -------------------------------------------------------------------------


@dataclass(frozen=True)
class AppointmentRequest:
    """What a SAS Appointment asks: this GP, at this time, booked by this regulator."""

    identifier_system: str
    identifier_value: str
    status: str
    start: datetime
    end: datetime
    rpps: str
    operator: str  # "system|value" of the regulator (national id or SAS technical id)
    slot_id: str | None
    cancel_reason: str | None


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FhirError(f"{where} : objet JSON attendu.")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise FhirError(f"{where} : tableau JSON attendu.")
    return value


def _string(value: Any, where: str, *, max_length: int = 200) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FhirError(f"{where} : texte obligatoire.")
    if len(value) > max_length:
        raise FhirError(f"{where} : {max_length} caractères au plus.")
    return value.strip()


def _instant(value: Any, where: str) -> datetime:
    text = _string(value, where, max_length=40)
    match = _DATETIME.match(text)
    if match is None or match.group(3) is None:
        raise FhirError(
            f"{where} : date et heure avec fuseau attendues (ex. 2026-06-12T14:00:00+02:00)."
        )
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise FhirError(f"{where} : date et heure invalides.") from exc


def _operator(resource: dict[str, Any]) -> str:
    for extension in _list(resource.get("extension"), "Appointment.extension"):
        extension = _object(extension, "Appointment.extension")
        if extension.get("url") != OPERATOR_EXTENSION:
            continue
        reference = _object(extension.get("valueReference"), "Opérateur (valueReference)")
        identifier = _object(reference.get("identifier"), "Opérateur (identifier)")
        system = _string(identifier.get("system"), "Opérateur : identifier.system")
        value = _string(identifier.get("value"), "Opérateur : identifier.value", max_length=40)
        codings = _list(
            _object(identifier.get("type"), "Opérateur : identifier.type").get("coding"),
            "Opérateur : identifier.type.coding",
        )
        codes = {_object(c, "coding").get("code") for c in codings}
        if not codes & {"IDNPS", "INTRN"}:
            raise FhirError("Opérateur : type d'identifiant IDNPS ou INTRN attendu.")
        return f"{system}|{value}"
    raise FhirError(
        "L'extension FrAppointmentOperator (le régulateur qui prend le rendez-vous) est obligatoire."
    )


def _practitioner_rpps(resource: dict[str, Any]) -> str:
    found = []
    for participant in _list(resource.get("participant"), "Appointment.participant"):
        participant = _object(participant, "Appointment.participant")
        actor = participant.get("actor")
        if not isinstance(actor, dict) or not isinstance(actor.get("identifier"), dict):
            continue  # the patient or another participant: not ours to read
        identifier = actor["identifier"]
        system = identifier.get("system")
        if system is not None and system != RPPS_SYSTEM:
            continue
        value = identifier.get("value")
        if not isinstance(value, str):
            raise FhirError("Participant : identifier.value du médecin attendu.")
        found.append(parse_rpps_token(value))
    if len(found) != 1:
        raise FhirError(
            "Un participant médecin (identifiant 8 + RPPS, système "
            f"{RPPS_SYSTEM}) est attendu, et un seul."
        )
    return found[0]


def _slot_reference(resource: dict[str, Any]) -> str | None:
    slots = _list(resource.get("slot"), "Appointment.slot")
    if not slots:
        return None
    if len(slots) > 1:
        raise FhirError("Un seul créneau (Appointment.slot) par rendez-vous.")
    reference = _string(_object(slots[0], "Appointment.slot").get("reference"), "Appointment.slot")
    kind, _, ident = reference.rstrip("/").rpartition("/")
    if not kind.endswith("Slot") or not ident:
        raise FhirError("Appointment.slot : référence Slot/<id> attendue.")
    return ident


def read_appointment(payload: Any) -> AppointmentRequest:
    """Check a FrAppointmentSAS body; ``FhirError`` (400) names the first problem."""
    resource = _object(payload, "Corps de la requête")
    if resource.get("resourceType") != "Appointment":
        raise FhirError("Ressource Appointment attendue (resourceType).")
    identifiers = _list(resource.get("identifier"), "Appointment.identifier")
    if len(identifiers) != 1:
        raise FhirError("Appointment.identifier : un identifiant (system, value) attendu.")
    identifier = _object(identifiers[0], "Appointment.identifier")
    status = _string(resource.get("status"), "Appointment.status", max_length=20)
    if status not in UPDATE_STATUSES:
        raise FhirError(
            "Appointment.status : booked, cancelled, fulfilled ou noshow attendu "
            f"(reçu « {status} »)."
        )
    start = _instant(resource.get("start"), "Appointment.start")
    end = _instant(resource.get("end"), "Appointment.end")
    if end <= start:
        raise FhirError("Appointment.end doit suivre Appointment.start.")
    reason = resource.get("cancelationReason")
    reason_text = None
    if isinstance(reason, dict) and isinstance(reason.get("text"), str):
        reason_text = reason["text"].strip()[:200] or None
    return AppointmentRequest(
        identifier_system=_string(identifier.get("system"), "Appointment.identifier.system"),
        identifier_value=_string(identifier.get("value"), "Appointment.identifier.value"),
        status=status,
        start=start,
        end=end,
        rpps=_practitioner_rpps(resource),
        operator=_operator(resource),
        slot_id=_slot_reference(resource),
        cancel_reason=reason_text,
    )


def parse_identifier_token(text: str) -> tuple[str, str]:
    """``system|value`` of a conditional update; both parts are required."""
    system, bar, value = (text or "").partition("|")
    if not bar or not system.strip() or not value.strip():
        raise FhirError("Paramètre identifier : « système|valeur » attendu.")
    return system.strip(), value.strip()


# --- building resources ------------------------------------------------------------------------------


def iso(moment: datetime, zone: str) -> str:
    """An instant in the territory's local time with its offset, to the second."""
    return moment.astimezone(ZoneInfo(zone)).isoformat(timespec="seconds")


def reference(kind: str, ident: str) -> dict[str, str]:
    return {"reference": f"{kind}/{ident}"}


def _coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return coding


@dataclass(frozen=True)
class Cpts:
    """The territory as the guide's CPTS: Organization + HealthcareService."""

    id: int
    name: str
    finess: str | None  # already prefixed by 1 (``Territory.fhir_finess``)
    phone: str | None
    email: str | None

    @property
    def key(self) -> str:
        return f"cpts-{self.id}"


@dataclass(frozen=True)
class Place:
    id: int
    name: str
    address_line: str
    postal_code: str
    city: str
    phone: str | None


@dataclass(frozen=True)
class Doctor:
    id: int
    rpps: str
    family_name: str
    given_name: str


@dataclass(frozen=True)
class FreeSlotView:
    """One slot as the platform sees it: who, where, when, on which channels."""

    id: str
    start: datetime
    end: datetime
    doctor: Doctor
    place: Place
    mode: str  # ConsultationMode value
    channel: str | None  # effective booking channel; None for walk-in hours
    busy: bool = False


def schedule_id(doctor_id: int, place_id: int) -> str:
    return f"{doctor_id}-{place_id}"


def practitioner_identifier(rpps: str) -> dict[str, Any]:
    return {
        "type": {"coding": [_coding(ID_TYPE_SYSTEM, "IDNPS")]},
        "system": RPPS_SYSTEM,
        "value": f"8{rpps}",
    }


def slot_resource(view: FreeSlotView, cpts: Cpts, zone: str, booking_url: str) -> dict[str, Any]:
    """A Slot of profile sas-cpts-slot-aggregator."""
    return SlotResources().slot(view, cpts, zone, booking_url)


class SlotResources:
    """``slot_resource`` for the many Slots of one search answer.

    A search's Slots differ by id, schedule, times and booking link; their codings depend
    on the channel, the mode and the CPTS alone, and a time recurs (each seat has a slot
    at it; an end is the next start). Each of those is built once here and the same dicts
    are shared by the answer's Slots: the answer is encoded as it is, never changed.
    """

    def __init__(self) -> None:
        self._codings: dict[tuple[str | None, str, str], tuple[Any, ...]] = {}
        self._times: dict[tuple[datetime, str], str] = {}

    def slot(self, view: FreeSlotView, cpts: Cpts, zone: str, booking_url: str) -> dict[str, Any]:
        meta, service_type, specialty, appointment_type = self._shared(view, cpts)
        return {
            "resourceType": "Slot",
            "id": view.id,
            "meta": meta,
            "serviceType": service_type,
            "specialty": specialty,
            "appointmentType": appointment_type,
            "schedule": reference("Schedule", schedule_id(view.doctor.id, view.place.id)),
            "status": "busy" if view.busy else "free",
            "start": self._iso(view.start, zone),
            "end": self._iso(view.end, zone),
            "comment": booking_url,
        }

    def _iso(self, moment: datetime, zone: str) -> str:
        key = (moment, zone)
        text = self._times.get(key)
        if text is None:
            text = self._times[key] = iso(moment, zone)
        return text

    def _shared(self, view: FreeSlotView, cpts: Cpts) -> tuple[Any, ...]:
        key = (view.channel, view.mode, cpts.key)
        parts = self._codings.get(key)
        if parts is None:
            parts = self._codings[key] = _slot_codings(view.channel, view.mode, cpts)
        return parts


def _slot_codings(channel: str | None, mode: str, cpts: Cpts) -> tuple[Any, ...]:
    """A Slot's meta, serviceType, specialty and appointmentType: what its channel, its
    mode and its CPTS decide."""
    security = [SECURITY_OF_CHANNEL[channel]] if channel else ["PUBLIC"]
    code, label = SERVICE_OF_MODE.get(mode, SERVICE_OF_MODE["surgery"])
    walk_in = channel is None
    return (
        {
            "profile": [SLOT_PROFILE],
            "security": [
                _coding(SLOT_TYPE_SYSTEM, c, SECURITY_DISPLAY[c]) for c in [*security, "CPTS"]
            ],
        },
        [
            {"coding": [_coding(ACT_CODE_SYSTEM, code)], "text": label},
            {
                "extension": [
                    {
                        "url": SERVICE_TYPE_R5,
                        "valueReference": reference("HealthcareService", cpts.key),
                    }
                ],
                "coding": [
                    _coding(
                        CATEGORY_SYSTEM,
                        CPTS_CATEGORY,
                        "Communauté Professionnelle Territoriale de Santé (CPTS)",
                    )
                ],
            },
        ],
        [{"coding": [_coding(SPECIALTY_SYSTEM, GENERAL_MEDICINE, "Médecine générale (SM)")]}],
        {"coding": [_coding(APPOINTMENT_TYPE_SYSTEM, "WALKIN" if walk_in else "ROUTINE")]},
    )


def schedule_resource(doctor: Doctor, place: Place) -> dict[str, Any]:
    ident = schedule_id(doctor.id, place.id)
    return {
        "resourceType": "Schedule",
        "id": ident,
        "active": True,
        "actor": [
            reference("Practitioner", str(doctor.id)),
            reference("PractitionerRole", ident),
        ],
        "comment": f"Soins non programmés – {place.name}",
    }


def practitioner_resource(doctor: Doctor) -> dict[str, Any]:
    return {
        "resourceType": "Practitioner",
        "id": str(doctor.id),
        "identifier": [practitioner_identifier(doctor.rpps)],
        "name": [{"family": doctor.family_name, "given": [doctor.given_name]}],
    }


def practitioner_role_resource(doctor: Doctor, place: Place) -> dict[str, Any]:
    """The GP at a site, the site as the one *contained* Location the guide asks for."""
    location: dict[str, Any] = {
        "resourceType": "Location",
        "id": "lieu",
        "name": place.name,
        "address": {
            "line": [place.address_line],
            "city": place.city,
            "postalCode": place.postal_code,
            "country": "FR",
        },
    }
    if place.phone:
        location["telecom"] = [{"system": "phone", "value": place.phone}]
    return {
        "resourceType": "PractitionerRole",
        "id": schedule_id(doctor.id, place.id),
        "contained": [location],
        "active": True,
        "practitioner": reference("Practitioner", str(doctor.id)),
        "location": [{"reference": "#lieu"}],
    }


def healthcare_service_resource(cpts: Cpts) -> dict[str, Any]:
    return {
        "resourceType": "HealthcareService",
        "id": cpts.key,
        "active": True,
        "providedBy": reference("Organization", cpts.key),
        "name": f"Soins non programmés – {cpts.name}",
    }


def organization_resource(cpts: Cpts) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Organization", "id": cpts.key, "name": cpts.name}
    if cpts.finess:
        resource["identifier"] = [
            {
                "type": {"coding": [_coding(ID_TYPE_SYSTEM, "IDNST")]},
                "system": FINESS_SYSTEM,
                "value": cpts.finess,
            }
        ]
    telecom = []
    if cpts.phone:
        telecom.append({"system": "phone", "value": cpts.phone})
    if cpts.email:
        telecom.append({"system": "email", "value": cpts.email})
    if telecom:
        resource["telecom"] = telecom
    return resource


@dataclass(frozen=True)
class AppointmentView:
    reference: str
    identifier_system: str | None
    identifier_value: str | None
    status: str  # our BookingStatus value
    start: datetime
    end: datetime
    doctor: Doctor | None
    operator: str | None
    slot_id: str
    created: datetime
    cancel_reason: str | None


# Our statuses as FHIR Appointment statuses ("to_replace": the slot was withdrawn; the
# appointment stands until someone books another slot, hence "booked" plus a comment).
APPOINTMENT_STATUS = {
    "booked": "booked",
    "honoured": "fulfilled",
    "no_show": "noshow",
    "cancelled": "cancelled",
    "to_replace": "booked",
}


def appointment_resource(view: AppointmentView, zone: str) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": view.reference,
        "meta": {"profile": [APPOINTMENT_PROFILE]},
        "status": APPOINTMENT_STATUS[view.status],
        "start": iso(view.start, zone),
        "end": iso(view.end, zone),
        "created": iso(view.created, zone),
        "slot": [reference("Slot", view.slot_id)],
        "participant": [],
    }
    if view.identifier_system and view.identifier_value:
        resource["identifier"] = [
            {"system": view.identifier_system, "value": view.identifier_value}
        ]
    if view.operator:
        system, _, value = view.operator.partition("|")
        kind = "IDNPS" if system == RPPS_SYSTEM else "INTRN"
        resource["extension"] = [
            {
                "url": OPERATOR_EXTENSION,
                "valueReference": {
                    "identifier": {
                        "type": {"coding": [_coding(ID_TYPE_SYSTEM, kind)]},
                        "system": system,
                        "value": value,
                    }
                },
            }
        ]
    if view.doctor is not None:
        resource["participant"].append(
            {
                "actor": {
                    "reference": f"Practitioner/{view.doctor.id}",
                    "identifier": practitioner_identifier(view.doctor.rpps),
                    "display": f"{view.doctor.given_name} {view.doctor.family_name}",
                },
                "status": "accepted",
            }
        )
    else:
        resource["participant"].append(
            {"type": [{"text": "Médecin à désigner"}], "status": "needs-action"}
        )
    if view.status == "to_replace":
        resource["comment"] = "Plage annulée : rendez-vous à replacer."
    if view.status == "cancelled" and view.cancel_reason:
        resource["cancelationReason"] = {"text": view.cancel_reason}
    return resource


# --- bundles and outcomes --------------------------------------------------------------------------


def searchset(
    self_url: str,
    base: str,
    matches: Iterable[dict[str, Any]],
    includes: Iterable[dict[str, Any]] = (),
) -> dict[str, Any]:
    """A searchset Bundle: ``total`` counts the matches; every entry has its ``fullUrl``."""

    def entry(resource: dict[str, Any], mode: str) -> dict[str, Any]:
        return {
            "fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}",
            "resource": resource,
            "search": {"mode": mode},
        }

    matched = [entry(r, "match") for r in matches]
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(matched),
        "link": [{"relation": "self", "url": self_url}],
        "entry": matched + [entry(r, "include") for r in includes],
    }


def operation_outcome(
    message: str, *, code: str = "invalid", severity: str = "error"
) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "details": {"text": message}}],
    }


def capability_statement(base: str, software_version: str, now: datetime) -> dict[str, Any]:
    """What this server does, in the shape of the guide's "gestionnaire d'agenda CPTS"."""

    def read_search(kind: str, params: list[tuple[str, str, str]], **extra: Any) -> dict[str, Any]:
        return {
            "type": kind,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [
                {"name": name, "type": kind_, "documentation": doc} for name, kind_, doc in params
            ],
            **extra,
        }

    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": now.date().isoformat(),
        "publisher": "Tour de rôle",
        "kind": "instance",
        "software": {"name": "Tour de rôle", "version": software_version},
        "implementation": {
            "description": "Créneaux de soins non programmés de la CPTS",
            "url": base,
        },
        "fhirVersion": FHIR_VERSION,
        "format": [MIME, "application/json+fhir", "json"],
        "implementationGuide": ["https://interop.esante.gouv.fr/ig/fhir/sas"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Gestionnaire d'agenda CPTS pour la plateforme SAS. Accès par jeton "
                "d'API (Authorization: Bearer) d'un compte de régulation.",
                "security": {
                    "cors": False,
                    "description": "Jeton d'API porteur (Bearer) délivré par la coordination de la CPTS.",
                },
                "resource": [
                    read_search(
                        "Slot",
                        [
                            (
                                "start",
                                "date",
                                "Début du créneau : start=ge… et start=le… obligatoires",
                            ),
                            (
                                "schedule.actor:Practitioner.identifier",
                                "token",
                                f"1 à {MAX_PRACTITIONERS} praticiens, {RPPS_SYSTEM}|8+RPPS, séparés par des virgules",
                            ),
                            ("status", "token", "free (obligatoire)"),
                        ],
                        profile=SLOT_PROFILE,
                        searchInclude=[
                            "Slot:schedule",
                            "Schedule:actor",
                            "Slot:service-type-reference",
                            "HealthcareService:organization",
                        ],
                    ),
                    read_search(
                        "Schedule",
                        [("actor.identifier", "token", f"{RPPS_SYSTEM}|8+RPPS")],
                    ),
                    read_search("Practitioner", [("identifier", "token", f"{RPPS_SYSTEM}|8+RPPS")]),
                    {"type": "PractitionerRole", "interaction": [{"code": "read"}]},
                    {"type": "HealthcareService", "interaction": [{"code": "read"}]},
                    {"type": "Organization", "interaction": [{"code": "read"}]},
                    {
                        "type": "Appointment",
                        "profile": APPOINTMENT_PROFILE,
                        "interaction": [{"code": "create"}, {"code": "update"}, {"code": "read"}],
                        "conditionalUpdate": True,
                        "searchParam": [
                            {
                                "name": "identifier",
                                "type": "token",
                                "documentation": "Mise à jour conditionnelle : PUT Appointment?identifier=système|valeur",
                            }
                        ],
                    },
                ],
            }
        ],
    }
