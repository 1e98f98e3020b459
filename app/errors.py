"""Error answers: French pages for people, JSON under /api/, OperationOutcome under /fhir/."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)

MESSAGES: dict[int, tuple[str, str]] = {
    400: ("bad_request", "La requête est invalide."),
    401: ("unauthorized", "Authentification requise."),
    403: ("forbidden", "Vous n'avez pas accès à cette page."),
    404: ("not_found", "Page introuvable."),
    405: ("method_not_allowed", "Cette méthode n'est pas autorisée ici."),
    413: ("payload_too_large", "La requête est trop volumineuse."),
    429: (
        "rate_limited",
        "Trop de tentatives. Merci de patienter quelques minutes avant de réessayer.",
    ),
    500: ("server_error", "Une erreur interne est survenue. L'équipe technique a été prévenue."),
    503: (
        "unavailable",
        "Le service est momentanément indisponible. Merci de réessayer dans un instant.",
    ),
}

FHIR_ISSUE_CODES = {
    400: "invalid",
    401: "security",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    413: "too-long",
    422: "business-rule",
    429: "throttled",
    500: "exception",
    503: "transient",
}


def error_response(status: int, *, message: str | None = None, code: str | None = None):
    """Build the error answer that fits the path the client asked for."""
    default_code, default_message = MESSAGES.get(status, ("error", "Erreur."))
    code = code or default_code
    message = message or default_message
    if request.path.startswith("/api/"):
        return jsonify(code=code, message=message), status
    if request.path.startswith("/fhir/") or request.path == "/fhir":
        outcome = {
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": "error",
                    "code": FHIR_ISSUE_CODES.get(status, "processing"),
                    "details": {"text": message},
                    "diagnostics": code,
                }
            ],
        }
        response = jsonify(outcome)
        response.status_code = status
        response.mimetype = "application/fhir+json"
        return response
    return render_template("errors/error.html", status=status, message=message), status


def init_errors(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(error: CSRFError):
        return error_response(
            400,
            code="csrf_failed",
            message="Le formulaire a expiré ou n'est pas valide. Merci de recharger la page et de recommencer.",
        )

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        return error_response(error.code or 500)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(InternalServerError.code)
