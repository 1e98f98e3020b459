"""Finding 10: database files and backups are private (0600); pg_dump/pg_restore never see
the password on their command line (where ``ps`` shows it to every local user)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from app import backup
from app.extensions import db
from tests.helpers import build_app

SECRET = "s3cret-Pa55word"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_sqlite_database_wal_and_backup_are_private(tmp_path):
    old = os.umask(0o022)  # the usual umask: files would be world-readable
    try:
        path = tmp_path / "tdr.sqlite3"
        app = build_app(f"sqlite:///{path}")
        with app.app_context():
            db.create_all()
            with db.engine.begin() as conn:
                conn.execute(sa.text("SELECT 1"))
                created = {p.name: _mode(p) for p in tmp_path.iterdir()}
            target = tmp_path / "sauvegarde.sqlite3"
            backup.backup(app.config["SQLALCHEMY_DATABASE_URI"], target)
            db.engine.dispose()
    finally:
        os.umask(old)
    assert {"tdr.sqlite3", "tdr.sqlite3-wal", "tdr.sqlite3-shm"} <= set(created)
    assert set(created.values()) == {0o600}, created
    assert _mode(target) == 0o600


FAKE_TOOL = """#!{python}
import json, os, sys
with open({record!r}, "a") as out:
    json.dump({{"argv": sys.argv, "PGPASSWORD": os.environ.get("PGPASSWORD")}}, out)
    out.write("\\n")
for arg in sys.argv:
    if arg.startswith("--file="):
        open(arg.split("=", 1)[1], "ab").close()
"""


@pytest.fixture
def recording_tools(tmp_path, monkeypatch):
    """pg_dump and pg_restore stand-ins on PATH that write down how they were called."""
    record = tmp_path / "calls.jsonl"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("pg_dump", "pg_restore"):
        tool = bin_dir / name
        tool.write_text(FAKE_TOOL.format(python=sys.executable, record=str(record)))
        tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return record


def test_pg_dump_gets_the_password_from_its_environment(recording_tools, tmp_path):
    import json

    url = f"postgresql+psycopg://tdr:{SECRET}@127.0.0.1:5432/tourderole"
    target = tmp_path / "out.dump"
    backup.backup(url, target)
    calls = [json.loads(line) for line in recording_tools.read_text().splitlines()]
    assert len(calls) == 1
    assert not any(SECRET in arg for arg in calls[0]["argv"])
    assert any("tdr@127.0.0.1:5432/tourderole" in arg for arg in calls[0]["argv"])
    assert calls[0]["PGPASSWORD"] == SECRET
    assert _mode(target) == 0o600
