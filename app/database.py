"""Engine set-up that differs between SQLite (embedded) and PostgreSQL (production)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from flask import has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine

READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CONNECT_TIMEOUT_SECONDS = 5
_writing: ContextVar[bool] = ContextVar("sqlite_writing", default=False)


@contextmanager
def write_transactions() -> Iterator[None]:
    """Make the transactions begun inside this block take SQLite's write lock up front.

    For the rare GET that must write (e.g. an API token's "last used" time): commit the
    read first, then write inside this block.
    """
    token = _writing.set(True)
    try:
        yield
    finally:
        _writing.reset(token)


def _reads_only() -> bool:
    return not _writing.get() and has_request_context() and request.method in READ_ONLY_METHODS


def engine_options(url: str) -> dict[str, Any]:
    """Options for ``SQLALCHEMY_ENGINE_OPTIONS`` by backend."""
    if url.startswith("sqlite"):
        # isolation_level=None hands transaction control to us (see below).
        # hide_parameters: an error's text never carries the statement's values (patient
        # names, phones) into a log.
        return {
            "connect_args": {"timeout": 30, "isolation_level": None},
            "hide_parameters": True,
        }
    # pool_pre_ping: a connection that died while pooled (PostgreSQL restarted) is
    # replaced before use, so the first request after an outage succeeds.
    # connect_timeout: an unreachable server is a 503 in seconds, well before gunicorn's
    # worker time-out (30 s) would kill the worker.
    return {
        "pool_pre_ping": True,
        "pool_recycle": 1800,
        "connect_args": {"connect_timeout": CONNECT_TIMEOUT_SECONDS},
        "hide_parameters": True,
    }


def create_private_database_file(engine: Engine) -> None:
    """Create the SQLite file readable by its owner only (0600), before SQLite does.

    It holds patient data; SQLite creates it with the process's umask (often 0644), and
    gives its ``-wal`` and ``-shm`` files the database file's own permissions.
    """
    path = engine.url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError:
        return  # a directory out of reach: the first query says so (a 503)


def configure_sqlite(engine: Engine) -> None:
    """WAL, a busy timeout and ``BEGIN IMMEDIATE``: several workers, never "database is locked".

    pysqlite's own transaction handling starts transactions lazily with a plain
    ``BEGIN``, so two writers can both read and then deadlock on upgrade; SQLAlchemy's
    documented recipe is to disable it and emit ``BEGIN IMMEDIATE`` ourselves, which
    takes the write lock up front and lets ``busy_timeout`` queue the other writers.

    Requests that only read (GET, HEAD, OPTIONS) begin a plain deferred transaction
    instead: in WAL mode readers never wait for the writer, so a burst of searches no
    longer queues behind one lock (the booking bench measured /healthz stalling for
    seconds). A GET that must write does so in ``write_transactions()``.
    """

    create_private_database_file(engine)

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
        conn.exec_driver_sql("BEGIN" if _reads_only() else "BEGIN IMMEDIATE")
