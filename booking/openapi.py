"""The OpenAPI 3.1 description of the JSON API, as a plain dict served by ``booking.api``.

Written by hand rather than generated: the API is small, and a hand-written contract
is the one integrators (SAS software, pharmacy software) read. A test checks that every
route of the ``api`` blueprint is described here, and validates the document.
"""

from __future__ import annotations

import copy
from typing import Any

from booking.services import REASONS

VERSION = "1.0.0"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


UNAUTHORIZED = {"$ref": "#/components/responses/Unauthorized"}
NOT_FOUND = _error("No such booking, or not one this token's user may see.")
RATE_LIMITED = _error(
    "Too many requests for this token (rate_limited): 300 a minute in all by default, "
    "and 30 bookings a minute."
)
UNAVAILABLE = _error(
    "The database is out of reach for a moment (unavailable): nothing was done; retry after "
    "the Retry-After header's seconds (with the same Idempotency-Key for a booking)."
)

DATETIME_WITH_OFFSET = {
    "type": "string",
    "format": "date-time",
    "description": "ISO 8601 with offset, in the territory's time zone (e.g. +01:00).",
    "examples": ["2027-03-01T17:00:00+01:00"],
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": {
                "type": "string",
                "description": "Stable machine code, e.g. invalid_body, slot_taken, "
                "outside_window, wrong_channel, slot_unavailable, idempotency_conflict.",
            },
            "message": {"type": "string", "description": "Human message, in French."},
            "opens_at": {
                **DATETIME_WITH_OFFSET,
                "description": "outside_window for a slot beyond the horizon: when it "
                "becomes bookable.",
            },
        },
    },
    "SlotTaken": {
        "allOf": [
            _ref("Error"),
            {
                "type": "object",
                "required": ["alternatives"],
                "properties": {
                    "alternatives": {
                        "type": "array",
                        "description": "Up to three other free slots for the same user.",
                        "items": _ref("Slot"),
                    }
                },
            },
        ]
    },
    "Site": {
        "type": "object",
        "required": ["id", "name", "address", "commune", "commune_insee"],
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "address": {"type": "string", "description": "Street, postal code and commune."},
            "commune": {"type": "string"},
            "commune_insee": {"type": "string", "pattern": "^(\\d{5}|2[AB]\\d{3})$"},
            "territory": {
                "type": "string",
                "description": "The CPTS the slot belongs to (a regulation service spans several).",
            },
            "latitude": {"type": ["number", "null"], "description": "WGS 84, if entered."},
            "longitude": {"type": ["number", "null"], "description": "WGS 84, if entered."},
        },
    },
    "Practitioner": {
        "type": ["object", "null"],
        "required": ["rpps", "name"],
        "properties": {
            "rpps": {"type": "string", "pattern": "^\\d{11}$"},
            "name": {"type": "string"},
        },
    },
    "Slot": {
        "type": "object",
        "required": ["id", "start", "end", "site", "practitioner", "channel", "mode"],
        "properties": {
            "id": {
                "type": "string",
                "pattern": "^\\d+-\\d+-\\d+$",
                "description": "Stable while the session exists: session-seat-index.",
            },
            "start": DATETIME_WITH_OFFSET,
            "end": DATETIME_WITH_OFFSET,
            "site": _ref("Site"),
            "practitioner": _ref("Practitioner"),
            "channel": {
                "type": "string",
                "enum": ["sas", "pharmacy", "open"],
                "description": "Who may book it now: a reserved slot still free two hours "
                "(territory setting) before its start becomes open.",
            },
            "mode": {"type": "string", "enum": ["surgery", "walk_in", "home", "video"]},
            "distance_km": {
                "type": "number",
                "description": "Straight-line distance from the centre of the commune asked "
                "for to the site, when both are known (slots are then ranked by waiting time "
                "plus 2 minutes per km).",
            },
        },
    },
    "SlotList": {
        "type": "object",
        "required": ["slots", "more", "from", "to", "channel"],
        "properties": {
            "slots": {"type": "array", "items": _ref("Slot")},
            "more": {
                "type": "boolean",
                "description": "True when more free slots exist past the limit.",
            },
            "from": {**DATETIME_WITH_OFFSET, "description": "Effective start of the search."},
            "to": {**DATETIME_WITH_OFFSET, "description": "Effective end of the search."},
            "channel": {"type": "string", "enum": ["sas", "pharmacy", "open", "any"]},
            "next_opening": {
                "type": ["object", "null"],
                "description": "The first free slot beyond the booking horizon (not bookable "
                "yet) and when it opens (horizon hours before its start); null if none within "
                "two days. The public page says the same.",
                "properties": {"opens_at": DATETIME_WITH_OFFSET, "slot": _ref("Slot")},
            },
            "note": {
                "type": "string",
                "description": "Present when the commune asked for is not in the territory.",
            },
        },
    },
    "Patient": {
        "type": "object",
        "required": ["family_name", "given_name", "birth_date", "phone"],
        "properties": {
            # Blank names are refused: at least one character that is not a space.
            "family_name": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": r"\S"},
            "given_name": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": r"\S"},
            "birth_date": {"type": "string", "format": "date"},
            "phone": {
                "type": "string",
                "minLength": 1,
                "maxLength": 30,
                "pattern": r"\S",
                "description": "French (incl. overseas) or international number.",
                "examples": ["06 12 34 56 78", "+33612345678"],
            },
            "mobile": {
                "type": ["string", "null"],
                "maxLength": 30,
                "description": "Optional: the patient's mobile, for the SMS confirmation with "
                "a cancellation link (needs contact_consent). Answered in E.164.",
                "examples": ["06 12 34 56 78"],
            },
            "email": {
                "type": ["string", "null"],
                "maxLength": 254,
                "description": "Optional: the patient's e-mail, for the confirmation with a "
                "cancellation link (needs contact_consent).",
            },
            "commune_insee": {
                "type": ["string", "null"],
                "pattern": "^(\\d{5}|2[AB]\\d{3})$",
                "description": "Optional: the INSEE code of the patient's commune. Only counted "
                "in the coordinator's indicators (patients from inside or outside the "
                "territory); never answered back.",
                "examples": ["85047"],
            },
            "contact_consent": {
                "type": "boolean",
                "default": False,
                "description": "The patient agrees to receive the confirmation; required "
                "(true) when mobile or email is given. Never answered back.",
            },
        },
    },
    "BookingRequest": {
        "type": "object",
        "required": ["slot_id", "patient"],
        "properties": {
            "slot_id": {"type": "string", "minLength": 1, "pattern": r"\S"},
            "patient": _ref("Patient"),
            "reason": {"type": "string", "maxLength": 200, "description": "Free text."},
            "reason_code": {"type": "string", "enum": list(REASONS), "default": "autre"},
            "without_gp": {
                "type": "boolean",
                "default": False,
                "description": "The patient has no regular GP (médecin traitant).",
            },
        },
    },
    "BookingCreated": {
        "type": "object",
        "required": ["reference", "slot", "status"],
        "properties": {
            "reference": {"type": "string", "pattern": "^[A-Z2-9]{8}$"},
            "slot": _ref("Slot"),
            "status": {"type": "string", "const": "booked"},
        },
    },
    "Booking": {
        "type": "object",
        "required": ["reference", "status", "slot", "patient", "reason_code", "without_gp"],
        "properties": {
            "reference": {"type": "string"},
            "status": {
                "type": "string",
                "enum": ["booked", "honoured", "no_show", "cancelled", "to_replace"],
            },
            "slot": _ref("Slot"),
            "patient": {
                "oneOf": [_ref("Patient"), {"type": "null"}],
                "description": "null once the retention period has erased patient data.",
            },
            "reason": {"type": ["string", "null"]},
            "reason_code": {"type": "string"},
            "without_gp": {"type": "boolean"},
            "channel": {"type": "string", "enum": ["sas", "pharmacy", "open", "any"]},
            "booked_at": DATETIME_WITH_OFFSET,
            "cancel_reason": {"type": ["string", "null"]},
            "cancelled_by_patient": {
                "type": "boolean",
                "description": "The patient cancelled with the link of their confirmation.",
            },
        },
    },
    "CancelRequest": {
        "type": "object",
        "properties": {
            "reason": {"type": "string", "maxLength": 200, "default": "Annulé via l'API"}
        },
    },
}

REFERENCE = {
    "name": "reference",
    "in": "path",
    "required": True,
    "description": "The booking reference (8 characters, case-insensitive).",
    "schema": {"type": "string"},
}

PATHS: dict[str, Any] = {
    "/slots": {
        "get": {
            "operationId": "listSlots",
            "summary": "Free slots the token's user may book now, soonest first.",
            "parameters": [
                {
                    "name": "commune",
                    "in": "query",
                    "allowEmptyValue": True,  # empty: as if absent (the default)
                    "description": "The patient's commune (INSEE code): its sites come first "
                    "among slots starting at the same time.",
                    "schema": {"type": "string", "pattern": "^(\\d{5}|2[AB]\\d{3})$"},
                },
                {
                    "name": "from",
                    "in": "query",
                    "allowEmptyValue": True,  # empty: as if absent (the default)
                    "description": "ISO 8601 with offset (encode + as %2B); clamped to the "
                    "booking window.",
                    "schema": {"type": "string", "format": "date-time"},
                },
                {
                    "name": "to",
                    "in": "query",
                    "allowEmptyValue": True,  # empty: as if absent (the default)
                    "description": "ISO 8601 with offset; clamped to the booking window "
                    "(24 or 48 hours ahead).",
                    "schema": {"type": "string", "format": "date-time"},
                },
                {
                    "name": "channel",
                    "in": "query",
                    "allowEmptyValue": True,  # empty: as if absent (the default)
                    "description": "Defaults to the user's own (regulator: sas, pharmacist: "
                    "pharmacy, coordinator: any); open is allowed to all, other channels "
                    "only to coordinators (403 channel_forbidden).",
                    "schema": {"type": "string", "enum": ["sas", "pharmacy", "open", "any"]},
                },
                {
                    "name": "limit",
                    "in": "query",
                    "allowEmptyValue": True,  # empty: as if absent (the default)
                    "description": "The soonest N free slots (default 50).",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
                },
            ],
            "responses": {
                "200": _json(_ref("SlotList"), "The free slots."),
                "400": _error("Bad parameter (invalid_datetime, invalid_commune, …)."),
                "401": UNAUTHORIZED,
                "403": _error("channel_forbidden: another channel than the user's own."),
                "429": RATE_LIMITED,
                "503": UNAVAILABLE,
            },
        }
    },
    "/bookings": {
        "post": {
            "operationId": "createBooking",
            "summary": "Book a slot for a patient.",
            "parameters": [
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "description": "Per-user key (at most 200 characters): a retry with the "
                    "same key and body gets the first answer back without booking again; "
                    "the same key with another body is refused (422 idempotency_conflict).",
                    "schema": {"type": "string", "maxLength": 200},
                }
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("BookingRequest")}},
            },
            "responses": {
                "201": {
                    **_json(_ref("BookingCreated"), "Booked (or replayed for the same key)."),
                    "headers": {
                        "Location": {
                            "description": "URL of the booking.",
                            "schema": {"type": "string"},
                        }
                    },
                },
                "400": _error("Bad JSON or body (invalid_json, invalid_body, …)."),
                "401": UNAUTHORIZED,
                "404": _error("No such slot in the user's territory (not_found)."),
                "409": _json(
                    _ref("SlotTaken"),
                    "slot_taken (with alternatives), or idempotency_in_progress.",
                ),
                "422": _error(
                    "outside_window, wrong_channel, slot_unavailable or idempotency_conflict."
                ),
                "429": RATE_LIMITED,
                "503": UNAVAILABLE,
            },
        }
    },
    "/bookings/{reference}": {
        "parameters": [REFERENCE],
        "get": {
            "operationId": "getBooking",
            "summary": "A booking the token's user may see.",
            "responses": {
                "200": _json(_ref("Booking"), "The booking."),
                "401": UNAUTHORIZED,
                "404": NOT_FOUND,
                "429": RATE_LIMITED,
                "503": UNAVAILABLE,
            },
        },
        "delete": {
            "operationId": "cancelBooking",
            "summary": "Cancel a booking; its slot is free again.",
            "requestBody": {
                "required": False,
                "content": {"application/json": {"schema": _ref("CancelRequest")}},
            },
            "responses": {
                "200": _json(_ref("Booking"), "The cancelled booking."),
                "400": _error("Bad JSON or reason."),
                "401": UNAUTHORIZED,
                "404": NOT_FOUND,
                "409": _error("already_cancelled or already_done."),
                "429": RATE_LIMITED,
                "503": UNAVAILABLE,
            },
        },
    },
    "/indicators": {
        "get": {
            "operationId": "getIndicators",
            "summary": "The territory's SNP indicators over a period (coordinator tokens only).",
            "description": "The same figures as the coordinator's indicators page and the "
            "`flask indicators` command; keys are stable and documented in docs/indicators.md. "
            "Days are cut at local midnight in the territory's time zone.",
            "parameters": [
                {
                    "name": "from",
                    "in": "query",
                    "required": True,
                    "schema": {"type": "string", "format": "date"},
                    "description": "First day (local), inclusive.",
                },
                {
                    "name": "to",
                    "in": "query",
                    "required": True,
                    "schema": {"type": "string", "format": "date"},
                    "description": "Last day (local), inclusive; three years at most.",
                },
                {
                    "name": "site",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer"},
                    "description": "Only this site of the territory.",
                },
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["territory", "from", "to", "offer", "activity"],
                        "properties": {
                            "territory": {"type": "string"},
                            "timezone": {"type": "string"},
                            "from": {"type": "string", "format": "date"},
                            "to": {"type": "string", "format": "date"},
                            "site_id": {"type": ["integer", "null"]},
                            "offer": {"type": "object"},
                            "activity": {"type": "object"},
                        },
                    },
                    "The indicators (counts only, no patient).",
                ),
                "400": _error("Bad period or site (invalid_query)."),
                "401": UNAUTHORIZED,
                "403": _error("The token's user is not a coordinator (forbidden)."),
                "429": RATE_LIMITED,
            },
        }
    },
    "/openapi.json": {
        "get": {
            "operationId": "getOpenApi",
            "summary": "This document.",
            "security": [],
            "responses": {
                "200": {
                    "description": "The OpenAPI document.",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    },
}


def document() -> dict[str, Any]:
    """The whole OpenAPI document (a fresh dict each time: callers may change theirs)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Tour de rôle — booking API",
            "version": VERSION,
            "description": "Same-day booking of unscheduled-care slots of a CPTS, for "
            "regulators (SAS / Centre 15), pharmacists and coordinators. Send "
            "`Authorization: Bearer <token>` (tokens are issued by the coordinator). "
            "Errors are JSON {code, message} with a French message.",
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}],
        "paths": copy.deepcopy(PATHS),
        "components": {
            "schemas": copy.deepcopy(SCHEMAS),
            "responses": {"Unauthorized": _error("No, bad or revoked token (unauthorized).")},
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A personal API token, `tdr_` followed by 43 characters.",
                }
            },
        },
    }
