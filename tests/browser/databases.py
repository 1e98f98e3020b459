"""Fresh demo databases for the journeys, one per journey, from a template per engine.

Loading the demo (``flask db upgrade`` then ``flask demo``, the README's commands) takes
seconds, copying it a few milliseconds: the first pytest worker that needs an engine builds
its *template*, under a file lock shared by the run's workers, and every journey gets a copy
(SQLite online backup, PostgreSQL ``CREATE DATABASE … TEMPLATE``), so no journey sees
another's bookings and they may run in any order and any worker. The PostgreSQL databases
are created next to TEST_DATABASE_URL's, named ``tdr_browser_…``, and dropped at the end:
each worker counts itself in and out of a template, and the last one out drops it.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from tests.browser.server import run_clocked

LOAD_DEMO = ["flask", "--app", "wsgi", "db", "upgrade", "+", "--app", "wsgi", "demo"]


class DemoDatabases:
    """This worker's view of the run's demo templates and of its own copies."""

    def __init__(self, workdir: Path, shared: Path, postgres_url: str) -> None:
        self.workdir = workdir  # this worker's copies (SQLite) and logs
        self.shared = shared  # the templates and their bookkeeping, for every worker
        self.postgres_url = postgres_url
        self._state = shared / "demo-templates.json"
        self._lock = shared / "demo-templates.lock"
        self._joined: set[str] = set()
        self._copies: list[str] = []
        self._counter = itertools.count()

    @contextmanager
    def _locked(self) -> Iterator[dict[str, dict]]:
        """The shared bookkeeping, read and written by one worker at a time."""
        with self._lock.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                state = json.loads(self._state.read_text()) if self._state.exists() else {}
                yield state
                self._state.write_text(json.dumps(state))
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def fresh_copy(self, engine: str) -> str:
        """A database holding exactly the demo, for one journey."""
        with self._locked() as state:
            if engine not in state:
                state[engine] = {"url": self._build_template(engine), "users": 0}
            if engine not in self._joined:
                state[engine]["users"] += 1
                self._joined.add(engine)
            # Under the lock: PostgreSQL copies nothing while another session reads it.
            return self._copy(engine, state[engine]["url"])

    def _build_template(self, engine: str) -> str:
        if engine == "sqlite":
            url = f"sqlite:///{self.shared / f'demo-{uuid.uuid4().hex[:8]}.sqlite3'}"
        else:
            name = f"tdr_browser_{os.getpid()}_{uuid.uuid4().hex[:8]}"
            self._admin(f'CREATE DATABASE "{name}"')
            url = self._postgres(name)
        log = self.workdir / f"demo-{engine}.log"
        try:
            run_clocked(LOAD_DEMO, url, log)
        except BaseException:
            if engine != "sqlite":
                self._admin(f'DROP DATABASE IF EXISTS "{sa.make_url(url).database}" WITH (FORCE)')
            raise
        return url

    def _copy(self, engine: str, template: str) -> str:
        n = next(self._counter)
        if engine == "sqlite":
            url = f"sqlite:///{self.workdir / f'journey-{n}.sqlite3'}"
            source = sqlite3.connect(sa.make_url(template).database)
            target = sqlite3.connect(sa.make_url(url).database)
            try:
                source.backup(target)
            finally:
                target.close()
                source.close()
            return url
        source = sa.make_url(template).database
        name = f"{source}_{os.getpid()}_{n}"
        self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
        self._copies.append(name)
        return self._postgres(name)

    def drop(self, url: str) -> None:
        """Drop one journey's PostgreSQL copy (SQLite copies go with the temporary folder)."""
        name = sa.make_url(url).database
        if name in self._copies:
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self._copies.remove(name)

    def close(self) -> None:
        """Drop this worker's copies, and the templates nobody else uses any more."""
        for name in list(self._copies):
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._copies.clear()
        if not self._joined:
            return
        with self._locked() as state:
            for engine in self._joined:
                state[engine]["users"] -= 1
                if state[engine]["users"] == 0:
                    url = state.pop(engine)["url"]
                    if engine == "sqlite":
                        Path(sa.make_url(url).database).unlink(missing_ok=True)
                    else:
                        self._admin(
                            f'DROP DATABASE IF EXISTS "{sa.make_url(url).database}" WITH (FORCE)'
                        )
        self._joined.clear()

    def _postgres(self, name: str) -> str:
        return (
            sa.make_url(self.postgres_url).set(database=name).render_as_string(hide_password=False)
        )

    def _admin(self, statement: str) -> None:
        engine = sa.create_engine(self.postgres_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(sa.text(statement))
        finally:
            engine.dispose()
