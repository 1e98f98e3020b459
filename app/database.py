"""Engine set-up that differs between SQLite (embedded) and PostgreSQL (production)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


def engine_options(url: str) -> dict[str, Any]:
    """Options for ``SQLALCHEMY_ENGINE_OPTIONS`` by backend."""
    if url.startswith("sqlite"):
        # isolation_level=None hands transaction control to us (see below).
        return {"connect_args": {"timeout": 30, "isolation_level": None}}
    return {"pool_pre_ping": True, "pool_recycle": 1800}


def configure_sqlite(engine: Engine) -> None:
    """WAL, a busy timeout and ``BEGIN IMMEDIATE``: several workers, never "database is locked".

    pysqlite's own transaction handling starts transactions lazily with a plain
    ``BEGIN``, so two writers can both read and then deadlock on upgrade; SQLAlchemy's
    documented recipe is to disable it and emit ``BEGIN IMMEDIATE`` ourselves, which
    takes the write lock up front and lets ``busy_timeout`` queue the other writers.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
