"""The app as a person meets it: gunicorn on a loopback port, over a fresh demo database.

Every process runs under ``tests.browser.clock``, at the same instant (``NOW``), with the
environment of ``make run`` (development cookies over http). The databases come from
``tests.browser.databases``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = Path(sys.executable)

# A Tuesday at 10:00 in Paris: the demo's rota runs from Monday 1 March 2027 for five
# weeks (DST on 28 March, Easter Monday on 29 March); this evening's slots are bookable.
NOW = datetime(2027, 3, 2, 9, 0, tzinfo=UTC)
DEMO_PASSWORD = "demo-tourderole-2026"
START_TIMEOUT = 30.0


def app_environment(database_url: str) -> dict[str, str]:
    """What the app reads: development cookies over http, and a clock at ``NOW``.

    Rate limits stay on, as in production, with ceilings no journey reaches (several
    logins a minute from one address would otherwise trip the per-address limit).
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GUNICORN_", "FLASK_", "LOGIN_RATE", "API_BOOKING", "RATELIMIT"))
    }
    env.update(
        DATABASE_URL=database_url,
        TOURDEROLE_ENV="development",
        SECRET_KEY="browser-journeys-only",
        TDR_TEST_NOW=NOW.isoformat(),
        RATELIMIT_STORAGE_URI="memory://",
        LOGIN_RATE_LIMIT_IP="1000 per minute",
        LOGIN_RATE_LIMIT_ACCOUNT="1000 per minute",
        MAIL_BACKEND="log",
    )
    return env


def run_clocked(args: list[str], database_url: str, log: Path) -> None:
    """Run ``flask …`` at ``NOW`` on ``database_url``; its output goes to ``log``."""
    with log.open("ab") as out:
        done = subprocess.run(
            [str(PYTHON), "-m", "tests.browser.clock", *args],
            cwd=ROOT,
            env=app_environment(database_url),
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=300,
            check=False,
        )
    if done.returncode:
        raise RuntimeError(f"{' '.join(args)} failed:\n{log.read_text()[-4000:]}")


class LiveServer:
    """gunicorn (the project's gunicorn.conf.py, two workers) serving ``wsgi:app``.

    The listening socket is opened here, on port 0, and handed to gunicorn as
    ``fd://N``: no window in which another worker of the test run could take the port.
    """

    def __init__(self, database_url: str, log: Path) -> None:
        self.database_url = database_url
        self.log = log
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self._sock.set_inheritable(True)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> LiveServer:
        env = app_environment(self.database_url)
        env.update(GUNICORN_WORKERS="2", GUNICORN_BIND=f"fd://{self._sock.fileno()}")
        with self.log.open("ab") as out:
            self._process = subprocess.Popen(
                # No control socket: parallel servers would share ~/.gunicorn/gunicorn.ctl.
                [str(PYTHON), "-m", "tests.browser.clock", "gunicorn", "--no-control-socket"]
                + ["--preload", "wsgi:app"],  # the app is imported once, not once per worker
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                pass_fds=[self._sock.fileno()],
                start_new_session=True,  # its own process group, for ``stop``
            )
        self._sock.close()  # gunicorn holds it now
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log.read_text()[-4000:]}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer in {START_TIMEOUT} s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self._process is None:
            return
        # The database copy is thrown away: no need for a graceful (seconds-long) shutdown.
        os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait()
        self._process = None
