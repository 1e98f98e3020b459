"""Faults: a database out of reach is a French 503, and the app recovers by itself.

In-process tests cover the mapping (app/errors.py) and the pool's recovery on each
engine; the last tests run ``bench/faults.py --quick`` (real gunicorn workers SIGKILLed,
a private PostgreSQL cluster stopped and started under load, SQLite under write load)
and are part of the CI run like every test here. With ``REQUIRE_POSTGRES=1`` the
PostgreSQL half fails, rather than skips, when PostgreSQL's server binaries are missing.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import event
from sqlalchemy import exc as sa_exc

from app.enums import Role
from app.errors import database_unavailable
from app.extensions import db
from app.models import AuditEvent
from app.territory import services as territory_services
from app.territory.services import TerritorySettings
from booking import tokens
from tests.helpers import logged_in, password_hash

ROOT = Path(__file__).resolve().parent.parent
REQUIRE_POSTGRES = os.environ.get("REQUIRE_POSTGRES") == "1"
UNAVAILABLE = "Le service est momentanément indisponible. Merci de réessayer dans un instant."
COORDINATOR = "coordination@panne.example.org"


def _world(app: Flask) -> str:
    """A territory, a coordinator who can log in, and a regulator's API token (returned)."""
    with app.app_context():
        territory = territory_services.create_territory(
            "cpts-panne",
            TerritorySettings(
                name="CPTS en panne",
                finess=None,
                timezone="Europe/Paris",
                holiday_subdivision=None,
                phone=None,
                email=None,
            ),
            by=None,
        )
        territory_services.add_commune(territory, "85047", by=None)
        coordinator = territory_services.create_user(
            email=COORDINATOR, role=Role.COORDINATOR, territory=territory, by=None
        )
        coordinator.password_hash = password_hash()
        regulator = territory_services.create_user(
            email="regulation@panne.example.org", role=Role.REGULATOR, territory=territory, by=None
        )
        plain, _ = tokens.create_token(regulator, "essai", by=None)
        db.session.commit()
    return plain


@contextmanager
def database_refused(app: Flask) -> Iterator[None]:
    """Like a stopped server: pooled connections are gone and every new one is refused."""
    with app.app_context():
        engine = db.engine

    def refuse(*_args: object, **_kwargs: object) -> None:
        if engine.dialect.name == "sqlite":  # the file out of reach: SQLITE_CANTOPEN
            sqlite3.connect("/nonexistent-directory/tourderole.sqlite3")
        raise psycopg.OperationalError("connection refused (simulated outage)")

    engine.dispose()
    event.listen(engine, "do_connect", refuse)
    try:
        yield
    finally:
        event.remove(engine, "do_connect", refuse)


def _add_probe_routes(app: Flask, killer: sa.Engine | None = None) -> None:
    """A FHIR-side and an API-side route that need the database, whatever the blueprints."""

    @app.get("/fhir/_essai-panne")
    def fhir_probe():
        return {"count": db.session.scalar(sa.select(sa.func.count(AuditEvent.id)))}

    @app.get("/api/v1/_essai-pid")
    def backend_pid():
        return {"pid": db.session.scalar(sa.text("SELECT pg_backend_pid()"))}

    @app.get("/api/v1/_essai-coupure-apres")
    def cut_after_the_view():
        pid = db.session.scalar(sa.text("SELECT pg_backend_pid()"))
        assert killer is not None
        with killer.connect() as conn:  # the server drops the link once the view is done
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        return {"pid": pid}

    @app.post("/api/v1/_essai-coupure")
    def cut_mid_transaction():
        db.session.add(AuditEvent(action="test.fault", detail={}))
        db.session.flush()
        # The server ends this very connection, as a restart would, mid-transaction.
        db.session.execute(
            sa.text("SELECT pg_terminate_backend(pg_backend_pid()), :name"),
            {"name": "Patient-Secret"},
        )
        db.session.commit()
        return {"ok": True}


def _assert_french_503(response, kind: str) -> None:
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert response.headers["Cache-Control"] == "no-store"
    text = response.get_data(as_text=True)
    for leak in ("Traceback", "OperationalError", "psycopg", "sqlite", "SELECT"):
        assert leak not in text
    if kind == "page":
        assert response.mimetype == "text/html"
        assert "Erreur 503" in text
        assert UNAVAILABLE in text
    elif kind == "api":
        assert response.mimetype == "application/json"
        assert response.get_json() == {"code": "unavailable", "message": UNAVAILABLE}
    else:
        assert response.mimetype == "application/fhir+json"
        body = response.get_json()
        assert body["resourceType"] == "OperationOutcome"
        assert body["issue"][0]["code"] == "transient"
        assert body["issue"][0]["details"]["text"] == UNAVAILABLE


def test_a_database_out_of_reach_is_a_french_503_everywhere_then_recovers(make_app):
    app = make_app()
    _add_probe_routes(app)
    bearer = {"Authorization": f"Bearer {_world(app)}"}
    visitor = app.test_client()
    coordinator = logged_in(app, COORDINATOR)
    probes = [
        (visitor, "/disponibilites", {}, "page"),
        (coordinator, "/coordination", {}, "page"),  # the user can't even be loaded
        (visitor, "/api/v1/slots", bearer, "api"),
        (visitor, "/fhir/_essai-panne", bearer, "fhir"),
    ]
    for client, path, headers, _kind in probes:
        assert client.get(path, headers=headers).status_code == 200, path

    with database_refused(app):
        for client, path, headers, kind in probes:
            _assert_french_503(client.get(path, headers=headers), kind)
        page = coordinator.get("/coordination").get_data(as_text=True)
        assert COORDINATOR not in page  # rendered as for a visitor: no user to show
        health = visitor.get("/healthz")
        assert health.status_code == 503
        assert health.get_json()["status"] == "unavailable"

    for client, path, headers, _kind in probes:  # back without a restart of the app
        assert client.get(path, headers=headers).status_code == 200, path
    assert visitor.get("/healthz").status_code == 200


def test_an_outage_met_inside_an_error_handler_is_a_503_logged_in_one_line(make_app, caplog):
    """A blueprint's error handler that rolls back on a connection that just died."""
    app = make_app(PROPAGATE_EXCEPTIONS=False)

    class Refused(Exception):
        pass

    @app.errorhandler(Refused)
    def refused(_error):
        lost = psycopg.OperationalError("server closed the connection unexpectedly")
        raise sa_exc.OperationalError("ROLLBACK", {}, lost)

    @app.get("/api/v1/_essai-refus")
    def refuse():
        raise Refused

    with caplog.at_level(logging.WARNING):
        response = app.test_client().get("/api/v1/_essai-refus")
    _assert_french_503(response, "api")
    assert "database unavailable (OperationalError: server closed" in caplog.text
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_connection_cut_mid_transaction_is_rolled_back_and_the_pool_recovers(make_app, caplog):
    app = make_app()
    _add_probe_routes(app)
    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger="app.errors"):
        response = client.post("/api/v1/_essai-coupure")
    _assert_french_503(response, "api")
    assert "database unavailable on POST /api/v1/_essai-coupure" in caplog.text
    assert "Patient-Secret" not in caplog.text  # the statement's parameters are never logged
    with app.app_context():
        written = db.session.scalar(
            sa.select(sa.func.count(AuditEvent.id)).where(AuditEvent.action == "test.fault")
        )
    assert written == 0
    assert client.get("/api/v1/_essai-pid").status_code == 200
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_connection_dropped_after_the_view_keeps_the_answer(make_app, database_urls, caplog):
    """The request's read transaction can't be rolled back on a dead link: that must not
    turn the view's answer into gunicorn's 500 (the teardown used to raise)."""
    app = make_app()
    killer = sa.create_engine(database_urls["postgresql"])
    _add_probe_routes(app, killer)
    client = app.test_client()
    try:
        with caplog.at_level(logging.WARNING, logger="app.errors"):
            response = client.get("/api/v1/_essai-coupure-apres")
    finally:
        killer.dispose()
    assert response.status_code == 200
    assert "database connection lost at the end of a request" in caplog.text
    assert client.get("/api/v1/_essai-pid").get_json()["pid"] != response.get_json()["pid"]


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_pooled_connections_killed_while_idle_are_replaced_before_use(make_app, database_urls):
    """What a PostgreSQL restart does to the pool: pool_pre_ping notices, nobody sees it."""
    app = make_app()
    _add_probe_routes(app)
    client = app.test_client()
    first = client.get("/api/v1/_essai-pid").get_json()["pid"]
    killer = sa.create_engine(database_urls["postgresql"])
    with killer.connect() as conn:
        assert conn.scalar(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
    killer.dispose()
    response = client.get("/api/v1/_essai-pid")
    assert response.status_code == 200
    assert response.get_json()["pid"] != first


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_write_lock_held_too_long_is_a_503_never_database_is_locked(make_app, database_urls):
    """SQLite's busy timeout waits for the writer; past it, a French 503, not the driver's text."""
    app = make_app()
    bearer = {"Authorization": f"Bearer {_world(app)}"}
    with app.app_context():

        @event.listens_for(db.engine, "connect")
        def _impatient(dbapi_connection, _record) -> None:
            dbapi_connection.execute("PRAGMA busy_timeout=200")  # instead of 30 s

        db.engine.dispose()
    client = app.test_client()
    holder = sqlite3.connect(sa.make_url(database_urls["sqlite"]).database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # e.g. a long backup or a stuck process
    try:
        response = client.delete("/api/v1/bookings/ABCDEFGH", headers=bearer)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    _assert_french_503(response, "api")
    assert "locked" not in response.get_data(as_text=True).lower()
    assert client.delete("/api/v1/bookings/ABCDEFGH", headers=bearer).status_code == 404


def test_what_counts_as_the_database_being_out_of_reach(tmp_path):
    refused = psycopg.OperationalError("connection refused")
    assert database_unavailable(sa_exc.OperationalError("SELECT 1", {}, refused))
    assert database_unavailable(refused)
    assert database_unavailable(sa_exc.TimeoutError("QueuePool limit reached"))
    assert database_unavailable(
        sa_exc.DBAPIError(
            "SELECT 1", {}, psycopg.InterfaceError("closed"), connection_invalidated=True
        )
    )
    secondary = sa_exc.InvalidRequestError("savepoint on a dead connection")
    secondary.__cause__ = sa_exc.OperationalError("SELECT 1", {}, refused)
    assert database_unavailable(secondary)  # raised while handling a lost connection
    path = tmp_path / "locks.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError) as locked:  # SQLITE_BUSY: "database is locked"
        other.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError) as mistake:  # SQLITE_ERROR: a bug
        other.execute("SELECT * FROM nowhere")
    holder.close()
    other.close()
    assert database_unavailable(sa_exc.OperationalError("BEGIN", {}, locked.value))
    assert not database_unavailable(sa_exc.OperationalError("SELECT", {}, mistake.value))
    duplicate = psycopg.IntegrityError("duplicate key")
    assert not database_unavailable(sa_exc.IntegrityError("INSERT", {}, duplicate))
    assert not database_unavailable(ValueError("bad"))
    assert not database_unavailable(None)


# --- the reduced fault bench: real gunicorn workers, a private PostgreSQL cluster ----------------


def _run_fault_bench(engine: str, tmp_path: Path) -> dict:
    figures = tmp_path / "faults.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "faults.py"),
            "--quick",
            "--engine",
            engine,
            "--json",
            str(figures),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    result = json.loads(figures.read_text()) if figures.exists() else {}
    if engine == "postgresql" and result.get("postgres_unavailable") and not REQUIRE_POSTGRES:
        pytest.skip(f"no private PostgreSQL cluster here: {result['postgres_unavailable']}")
    assert done.returncode == 0, f"{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
    return result["figures"]


def test_fault_bench_sqlite_kills_and_write_load(tmp_path):
    figures = _run_fault_bench("sqlite", tmp_path)["SQLite"]
    assert figures["kill"]["workers SIGKILLed"] == 3
    assert figures["kill"]["5xx other than the outages' 503"] == 0
    assert figures["write"]["'database is locked' in answers"] == 0
    assert figures["write"]["5xx other than the outages' 503"] == 0
    assert figures["after"]["replays with another answer"] == 0
    assert figures["database"]["confirmed bookings lost"] == 0
    assert figures["database"]["partial (total)"] == 0
    assert figures["log"]["'database is locked'"] == 0


def test_fault_bench_postgresql_restarts(tmp_path):
    figures = _run_fault_bench("postgresql", tmp_path)["PostgreSQL"]
    assert figures["restart"]["503 during the outages"] > 0
    assert figures["restart"]["503 not in French / wrong shape"] == 0
    assert figures["restart"]["5xx other than the outages' 503"] == 0
    assert figures["restart"]["failed once the database was back"] == 0
    assert figures["after"]["failed requests"] == 0
    assert figures["database"]["confirmed bookings lost"] == 0
    assert figures["database"]["partial (total)"] == 0
