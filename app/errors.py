"""Error answers: French pages for people, JSON under /api/, OperationOutcome under /fhir/.

A database that does not answer (PostgreSQL restarted, a connection cut, SQLite's file
out of reach) is a 503 "réessayez dans un instant", not a 500: the request's transaction
is rolled back, the pool drops the dead connection (``pool_pre_ping`` checks the others
before use) and the next request reconnects. ``bench/faults.py`` restarts PostgreSQL
under load to prove it.
"""

from __future__ import annotations

import logging
import sqlite3
import traceback

import psycopg
from flask import Flask, g, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed

from app.access_log import redact_path
from app.extensions import db, login_manager

log = logging.getLogger(__name__)

# Seconds a client should wait before retrying a 503 (the ``Retry-After`` header).
RETRY_AFTER_SECONDS = 5
# SQLite's result codes for a database out of reach (busy past the timeout, file missing
# or unreadable, disk full). sqlite3 raises OperationalError for mistakes in the SQL too
# (SQLITE_ERROR: "no such table"), which stay 500s with their traceback.
SQLITE_OUT_OF_REACH = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_CANTOPEN",
    "SQLITE_IOERR",
    "SQLITE_FULL",
)

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


def database_unavailable(error: BaseException | None) -> bool:
    """Whether ``error``, or an exception it was raised from, says the database is out of reach.

    That is PostgreSQL's ``OperationalError`` (refused or lost connection, server shutting
    down or starting up, a statement cancelled, a deadlock), SQLite's for a lock held past
    the busy timeout or a file out of reach, a DBAPI error after which SQLAlchemy
    invalidated the connection, or the pool's time-out. The chain is followed because a
    lost connection can surface as a secondary error (a savepoint that can't be rolled
    back on a dead connection).
    """
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
            return True
        if isinstance(error, sa_exc.TimeoutError | psycopg.OperationalError):
            return True
        if isinstance(error, sa_exc.OperationalError) and _out_of_reach(error.orig):
            return True
        if isinstance(error, sqlite3.OperationalError) and _out_of_reach(error):
            return True
        error = error.__cause__ or error.__context__
        seen += 1
    return False


def _out_of_reach(driver_error: BaseException) -> bool:
    if isinstance(driver_error, sqlite3.Error):
        return (getattr(driver_error, "sqlite_errorname", None) or "").startswith(
            SQLITE_OUT_OF_REACH
        )
    return True  # psycopg's OperationalError is always about the server's state


def _first_line(error: BaseException) -> str:
    """The driver's own message, first line only: never the SQL or its parameters."""
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()
    return f"{type(original).__name__}: {text[0][:200] if text else ''}"


def unavailable_response(error: BaseException):
    """A 503 for a database out of reach; the request's transaction is abandoned."""
    log.warning(
        "database unavailable on %s %s (%s)",
        request.method,
        redact_path(request.path),
        _first_line(error),
    )
    try:
        db.session.rollback()  # on a dead connection this just forgets the transaction
    except Exception as exc:  # noqa: BLE001 - the 503 is answered whatever happens here
        log.warning("rollback after a database error failed too (%s)", _first_line(exc))
    # The page's header shows the logged-in user; loading them (or their territory) would
    # hit the database again and turn the 503 into a 500: render it as for a visitor.
    g._login_user = login_manager.anonymous_user()
    response = make_response(error_response(503))
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response.headers["Cache-Control"] = "no-store"
    return response


def end_transaction(_error: BaseException | None = None) -> None:
    """When the app context ends, roll back what is still open, quietly if the link died.

    Flask-SQLAlchemy closes the session right after, which rolls back too, but a rollback
    on a connection the server has just dropped (PostgreSQL restarting after the view
    ran) raises from that teardown: the exception leaves the WSGI app, gunicorn logs a
    traceback and answers its own English 500 instead of the page the view had built.
    Here the failure only invalidates the connection, which the session then closes
    without a word.
    """
    try:
        db.session.rollback()
    except Exception as exc:
        if not database_unavailable(exc):
            raise
        log.warning("database connection lost at the end of a request (%s)", _first_line(exc))


class OutageLogFilter(logging.Filter):
    """One warning line, not a traceback, when Flask logs a database outage.

    Flask logs any exception raised *by an error handler* (say, a blueprint's handler
    rolling back on a connection that just died) with its traceback before answering it
    through the 500 handler, which answers 503 for these. During a restart that would be
    one traceback per unlucky request, and an exception's text may hold SQL parameters.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and database_unavailable(error):
            record.msg = f"{record.getMessage()}: database unavailable ({_first_line(error)})"
            record.args = None
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def log_unexpected(error: BaseException) -> None:
    """Log a 500 with its traceback, but a database error's message without its values.

    The engine hides the statement's parameters (``hide_parameters``), yet PostgreSQL's own
    message carries them in its DETAIL ("Failing row contains (…, Durand, …)"): for
    database errors only the driver's first line is kept, and the frames.
    """
    where = f"{request.method} {redact_path(request.path)}"
    if isinstance(error, sa_exc.StatementError):
        frames = "".join(traceback.format_tb(error.__traceback__))
        log.error("unhandled database error on %s: %s\n%s", where, _first_line(error), frames)
    else:
        log.error("unhandled error on %s", where, exc_info=error)


def init_errors(app: Flask) -> None:
    if not any(isinstance(f, OutageLogFilter) for f in app.logger.filters):
        app.logger.addFilter(OutageLogFilter())  # the logger is shared by apps of one name
    # App-context teardowns run in reverse order of registration: this one runs before
    # Flask-SQLAlchemy's (registered by ``db.init_app``, earlier in ``create_app``).
    app.teardown_appcontext(end_transaction)

    @app.errorhandler(CSRFError)
    def _csrf(error: CSRFError):
        return error_response(
            400,
            code="csrf_failed",
            message="Le formulaire a expiré ou n'est pas valide. Merci de recharger la page et de recommencer.",
        )

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        # An error outside the view (an after-request hook) arrives wrapped in a 500.
        if isinstance(error, InternalServerError) and database_unavailable(
            error.original_exception
        ):
            return unavailable_response(error.original_exception)
        response = make_response(error_response(error.code or 500))
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            # RFC 9110: a 405 lists the methods the resource does allow.
            response.headers["Allow"] = ", ".join(sorted(error.valid_methods))
        return response

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        if database_unavailable(error):
            return unavailable_response(error)
        log_unexpected(error)
        return error_response(InternalServerError.code)
