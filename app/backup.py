"""Backups and restores of the whole database, online and consistent.

SQLite: the online backup API copies a consistent snapshot while the app keeps running (WAL
included: pages are read through SQLite, not copied as files). PostgreSQL: ``pg_dump`` in its
custom format, restored by ``pg_restore``. A restore only goes into an empty database, so it
can never mix two histories.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import sqlalchemy as sa


class BackupError(RuntimeError):
    """A backup or restore that can't be done, with a French message."""


def _sqlite_path(url: sa.URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("Base SQLite en mémoire : rien à sauvegarder.")
    return Path(url.database)


def _libpq(url: sa.URL) -> str:
    """The URL as pg_dump/pg_restore understand it (no driver suffix), without its password:
    a command line is visible to every local user (``ps``); the password goes in the
    tool's environment (``_environment``)."""
    bare = sa.URL.create(
        "postgresql",
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query=url.query,
    )
    return bare.render_as_string(hide_password=False)


def _environment(url: sa.URL) -> dict[str, str]:
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return env


def _private_file(path: Path) -> None:
    """Create ``path`` empty and readable by its owner only (a backup holds patient data)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    os.chmod(path, 0o600)  # in case it existed


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"« {name} » est introuvable : installez les outils clients PostgreSQL.")
    return path


def _run(args: list[str], env: dict[str, str] | None = None) -> None:
    result = subprocess.run(args, capture_output=True, text=True, check=False, env=env)
    if result.returncode != 0:
        raise BackupError(f"{Path(args[0]).name} a échoué : {result.stderr.strip()[:500]}")


def backup(database_url: str, target: Path) -> None:
    """Write a consistent copy of the database to ``target`` (which must not exist)."""
    url = sa.make_url(database_url)
    if target.exists():
        raise BackupError(f"Le fichier {target} existe déjà : choisissez un autre nom.")
    target.parent.mkdir(parents=True, exist_ok=True)
    if url.get_backend_name() in ("sqlite", "postgresql"):
        _private_file(target)
    if url.get_backend_name() == "sqlite":
        source = sqlite3.connect(_sqlite_path(url))
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
            source.close()
        return
    if url.get_backend_name() == "postgresql":
        _run(
            [_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={target}", _libpq(url)],
            _environment(url),
        )
        return
    raise BackupError(f"Base « {url.get_backend_name()} » non prise en charge.")


def _tables(engine: sa.Engine) -> list[str]:
    return sa.inspect(engine).get_table_names()


def restore(database_url: str, source: Path) -> None:
    """Load a backup into an empty database."""
    if not source.is_file():
        raise BackupError(f"Sauvegarde introuvable : {source}.")
    url = sa.make_url(database_url)
    engine = sa.create_engine(url)
    try:
        existing = _tables(engine)
    finally:
        engine.dispose()
    if existing:
        raise BackupError(
            f"La base cible n'est pas vide ({len(existing)} tables) : la restauration se fait "
            "dans une base neuve."
        )
    if url.get_backend_name() == "sqlite":
        backup_db = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        target = sqlite3.connect(_sqlite_path(url))
        try:
            backup_db.backup(target)
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"Ce fichier n'est pas une sauvegarde SQLite : {exc}.") from exc
        finally:
            target.close()
            backup_db.close()
        return
    if url.get_backend_name() == "postgresql":
        _run(
            [
                _tool("pg_restore"),
                "--no-owner",
                "--exit-on-error",
                f"--dbname={_libpq(url)}",
                str(source),
            ],
            _environment(url),
        )
        return
    raise BackupError(f"Base « {url.get_backend_name()} » non prise en charge.")
