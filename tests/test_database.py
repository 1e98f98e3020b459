"""SQLite set-up for several gunicorn workers: WAL, busy timeout, BEGIN IMMEDIATE."""

import threading

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent
from tests.helpers import build_app


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path):
    app = build_app(f"sqlite:///{tmp_path}/wal.sqlite3")
    with app.app_context(), db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_sqlite_concurrent_writers_never_see_database_is_locked(tmp_path):
    """Read-then-write transactions from many connections: the classic deadlock with plain BEGIN."""
    url = f"sqlite:///{tmp_path}/concurrent.sqlite3"
    app = build_app(url)
    with app.app_context():
        db.create_all()
        engine = db.engine
    errors: list[Exception] = []

    def worker(n: int) -> None:
        try:
            for i in range(20):
                with engine.begin() as conn:
                    count = conn.execute(sa.select(sa.func.count(AuditEvent.id))).scalar()
                    conn.execute(
                        sa.insert(AuditEvent).values(
                            action="test.write", detail={"worker": n, "i": i, "seen": count}
                        )
                    )
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count(AuditEvent.id))).scalar() == 120
    engine.dispose()


def test_postgresql_uses_pool_pre_ping():
    from app.database import engine_options

    assert engine_options("postgresql+psycopg://x@y/z")["pool_pre_ping"] is True
    assert "pool_pre_ping" not in engine_options("sqlite:///x")


def test_sqlite_read_only_requests_do_not_hold_the_write_lock(tmp_path):
    """A GET's transaction is deferred: a writer elsewhere goes on while it is open; a POST's
    (or a GET inside ``write_transactions()``) takes the lock up front."""
    import sqlite3

    from app.database import write_transactions

    path = tmp_path / "readers.sqlite3"
    app = build_app(f"sqlite:///{path}")
    with app.app_context():
        db.create_all()

    def other_writer_can_write() -> bool:
        conn = sqlite3.connect(path, timeout=0.2, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError:  # database is locked
            return False
        finally:
            conn.close()

    for method, writing, expected in [
        ("GET", False, True),
        ("HEAD", False, True),
        ("POST", False, False),
        ("GET", True, False),
    ]:
        with app.test_request_context("/", method=method):
            if writing:
                with write_transactions():
                    db.session.scalar(sa.select(sa.func.count(AuditEvent.id)))
            else:
                db.session.scalar(sa.select(sa.func.count(AuditEvent.id)))
            assert other_writer_can_write() is expected, (method, writing)
            db.session.rollback()
        with app.app_context():
            db.session.remove()
    with app.app_context():
        db.engine.dispose()


def test_database_errors_are_logged_without_the_statements_values(app, caplog):
    """A refused statement reaches the log as a 500's traceback: its values (patient
    names, phones) must not, neither SQLAlchemy's parameters nor PostgreSQL's DETAIL."""
    from datetime import UTC, datetime

    from app.errors import log_unexpected
    from app.models import Territory

    db.session.add(
        Territory(
            name="Secretpatient Durand",
            slug="x",
            timezone="Europe/Paris",
            created_at=datetime.now(UTC),
        )
    )
    with pytest.raises(sa.exc.IntegrityError) as caught:
        db.session.flush()
    db.session.rollback()
    with app.test_request_context("/coordination"), caplog.at_level("ERROR"):
        log_unexpected(caught.value)
    assert "slug_length" in caplog.text  # the constraint is named
    assert "test_database.py" in caplog.text  # and the frames are there
    assert "Secretpatient" not in caplog.text
