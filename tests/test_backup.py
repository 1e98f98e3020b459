"""Backup and restore round-trip the demo data on both engines."""

import hashlib
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
import time_machine

from app.extensions import db
from tests.helpers import build_app


@pytest.fixture
def app(make_app):
    """A development app: ``flask demo`` refuses to run elsewhere."""
    app = make_app(ENV_NAME="development")
    with app.app_context():
        yield app


def _fingerprint(engine: sa.Engine) -> tuple[dict[str, int], str]:
    """Row count of every table, and a checksum of the bookings."""
    counts = {}
    with engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            counts[table.name] = conn.execute(
                sa.select(sa.func.count()).select_from(table)
            ).scalar()
        booking = db.metadata.tables["booking"]
        rows = conn.execute(sa.select(booking).order_by(booking.c.id)).all()
    return counts, hashlib.sha256(repr(rows).encode()).hexdigest()


def test_backup_then_restore_into_an_empty_database(app, runner, tmp_path, empty_database_url):
    with time_machine.travel(datetime(2027, 3, 2, 9, 0, tzinfo=UTC), tick=False):
        assert runner.invoke(args=["demo"]).exit_code == 0
    before = _fingerprint(db.engine)
    assert before[0]["booking"] == 3
    assert before[0]["snp_session"] > 50

    dump = tmp_path / "sauvegarde.dump"
    result = runner.invoke(args=["backup", str(dump)])
    assert result.exit_code == 0, result.output
    assert "Sauvegarde écrite" in result.output
    again = runner.invoke(args=["backup", str(dump)])
    assert again.exit_code != 0
    assert "existe déjà" in again.output

    target = build_app(empty_database_url)
    with target.app_context():  # the CLI runs in the current app context: make it the target's
        restored = target.test_cli_runner().invoke(args=["restore", str(dump)])
        assert restored.exit_code == 0, restored.output
        after = _fingerprint(db.engine)
        refused = target.test_cli_runner().invoke(args=["restore", str(dump)])
        db.session.remove()
        db.engine.dispose()
    assert after == before
    assert refused.exit_code != 0
    assert "n'est pas vide" in refused.output
