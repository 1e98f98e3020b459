"""Finding 1: behind the documented reverse proxy, each client has its own rate-limit budget.

A real nginx (Debian's package) runs on a loopback port in front of gunicorn, both started
here with configurations of their own in a temporary directory. Two clients connect from
two loopback addresses (127.0.0.2 and 127.0.0.3), so nginx sees two peers and says so in
``X-Forwarded-For``; gunicorn itself only ever sees nginx (127.0.0.1). Without
``TRUSTED_PROXIES`` every client would share nginx's budget. Without nginx at
/usr/sbin/nginx the test is skipped, unless ``REQUIRE_NGINX=1`` (CI) makes it a failure.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from app.extensions import db
from tests.helpers import build_app

ROOT = Path(__file__).resolve().parent.parent
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
REQUIRE_NGINX = os.environ.get("REQUIRE_NGINX") == "1"
ALICE, BOB = "127.0.0.2", "127.0.0.3"
START_TIMEOUT = 30.0

NGINX_CONF = """
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
{user}
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            # What docs/deploy.md tells operators to write.
            proxy_pass http://127.0.0.1:{upstream};
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
}}
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait(port: int, process: subprocess.Popen, log: Path, path: str = "/healthz") -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited early:\n{log.read_text()[-3000:]}")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            connection.request("GET", path)
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.05)
        finally:
            connection.close()
    raise RuntimeError(f"no answer on port {port}:\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@pytest.fixture(params=["1", "127.0.0.1, ::1"], ids=["count", "networks"])
def behind_nginx(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[int]:
    """gunicorn (one worker, a migrated SQLite file) behind nginx; yields nginx's port."""
    if not os.access(NGINX, os.X_OK):
        if REQUIRE_NGINX:
            pytest.fail(f"REQUIRE_NGINX=1 but nginx is not at {NGINX}")
        pytest.skip("nginx not installed")
    database = f"sqlite:///{tmp_path / 'proxy.sqlite3'}"
    app = build_app(database)
    with app.app_context():
        db.create_all()
        db.engine.dispose()

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.set_inheritable(True)
    upstream = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_", "RATELIMIT"))}
    env.update(
        DATABASE_URL=database,
        SECRET_KEY="proxy-test",
        TRUSTED_PROXIES=request.param,
        RATELIMIT_STORAGE_URI="memory://",
        LOGIN_RATE_LIMIT_IP="3 per 10 minutes",
        LOGIN_RATE_LIMIT_ACCOUNT="1000 per minute",
        ICAL_RATE_LIMIT="3 per minute",
        MAIL_BACKEND="log",
        GUNICORN_WORKERS="1",
        GUNICORN_BIND=f"fd://{sock.fileno()}",
    )
    gunicorn_log = tmp_path / "gunicorn.log"
    with gunicorn_log.open("ab") as out:
        gunicorn = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--no-control-socket", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            pass_fds=[sock.fileno()],
            start_new_session=True,
        )
    sock.close()
    nginx = None
    try:
        _wait(upstream, gunicorn, gunicorn_log)
        for attempt in range(5):  # the port is free when chosen; another test may take it
            port = _free_port()
            conf = tmp_path / "nginx.conf"
            user = "user root root;" if os.geteuid() == 0 else ""
            conf.write_text(
                NGINX_CONF.format(tmp=tmp_path, port=port, upstream=upstream, user=user)
            )
            nginx_log = tmp_path / "nginx.out"
            with nginx_log.open("ab") as out:
                nginx = subprocess.Popen(
                    [NGINX, "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "e.log")],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            try:
                _wait(port, nginx, tmp_path / "nginx-error.log")
                break
            except RuntimeError:
                _stop(nginx) if nginx.poll() is None else None
                nginx = None
                if attempt == 4:
                    raise
        yield port
    finally:
        if nginx is not None:
            _stop(nginx)
        _stop(gunicorn)


class Browser:
    """A client at one loopback address, with its session cookie and the form's CSRF token."""

    def __init__(self, port: int, source: str) -> None:
        self.port, self.source = port, source
        page = self.request("GET", "/connexion")
        assert page.status == 200
        self.cookie = page.getheader("Set-Cookie", "").split(";", 1)[0]
        self.csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text)[1]

    def request(self, method: str, path: str, body: str | None = None, **headers: str):
        connection = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=10, source_address=(self.source, 0)
        )
        try:
            connection.request(method, path, body=body, headers=headers)
            answer = connection.getresponse()
            answer.text = answer.read().decode()
            return answer
        finally:
            connection.close()

    def login(self, **headers: str) -> int:
        """A wrong password: the login page again (200), or 429 once the budget is spent."""
        body = urlencode(
            {"csrf_token": self.csrf, "email": "personne@example.org", "password": "pas le bon"}
        )
        return self.request(
            "POST",
            "/connexion",
            body,
            **{"Content-Type": "application/x-www-form-urlencoded", "Cookie": self.cookie},
            **headers,
        ).status


def _get(port: int, source: str, path: str) -> int:
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=10, source_address=(source, 0)
    )
    connection.request("GET", path)
    status = connection.getresponse().status
    connection.close()
    return status


def test_each_client_behind_nginx_has_its_own_login_budget(behind_nginx):
    alice, bob = Browser(behind_nginx, ALICE), Browser(behind_nginx, BOB)
    assert [alice.login() for _ in range(3)] == [200, 200, 200]
    assert alice.login() == 429
    # A header of Alice's own making does not buy her a fresh budget: nginx appends the
    # address it sees, and only that last hop is believed.
    assert alice.login(**{"X-Forwarded-For": "203.0.113.9"}) == 429
    assert bob.login() == 200


def test_each_client_behind_nginx_has_its_own_feed_budget(behind_nginx):
    port = behind_nginx
    assert [_get(port, ALICE, "/ical/nope.ics") for _ in range(3)] == [404, 404, 404]
    assert _get(port, ALICE, "/ical/nope.ics") == 429
    assert _get(port, BOB, "/ical/nope.ics") == 404


# --- the middleware alone -------------------------------------------------------------------


def _seen(setting: str, peer: str, forwarded: str | None) -> str:
    """The client address the app sees for a request from ``peer`` with that header."""
    from werkzeug.test import EnvironBuilder

    from app.proxy import wrap

    def echo(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["REMOTE_ADDR"].encode()]

    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    environ = EnvironBuilder(headers=headers, environ_base={"REMOTE_ADDR": peer}).get_environ()
    return b"".join(wrap(echo, setting)(environ, lambda *a: None)).decode()


@pytest.mark.parametrize(
    ("setting", "peer", "forwarded", "client"),
    [
        ("", "127.0.0.1", "203.0.113.9", "127.0.0.1"),  # no proxy declared: the peer
        ("1", "127.0.0.1", "198.51.100.1, 203.0.113.9", "203.0.113.9"),
        ("2", "127.0.0.1", "198.51.100.1, 203.0.113.9, 10.0.0.5", "203.0.113.9"),
        (
            "10.0.0.0/8, 127.0.0.1",
            "127.0.0.1",
            "198.51.100.1, 203.0.113.9, 10.0.0.5",
            "203.0.113.9",
        ),
        ("10.0.0.0/8", "192.0.2.7", "203.0.113.9", "192.0.2.7"),  # not a proxy of ours
        ("10.0.0.0/8", "10.1.2.3", None, "10.1.2.3"),
        ("10.0.0.0/8", "10.1.2.3", "not-an-address, 203.0.113.9", "203.0.113.9"),
        ("10.0.0.0/8", "10.1.2.3", "203.0.113.9, garbage", "10.1.2.3"),
    ],
)
def test_the_client_address_is_read_from_trusted_proxies_only(setting, peer, forwarded, client):
    assert _seen(setting, peer, forwarded) == client


def test_an_unreadable_setting_stops_the_app(monkeypatch):
    from app.proxy import TrustedProxiesError

    with pytest.raises(TrustedProxiesError, match="TRUSTED_PROXIES illisible"):
        _seen("nginx", "127.0.0.1", None)
