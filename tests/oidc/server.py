"""The local OpenID Connect provider (tests/oidc/provider.js), started by the tests.

It is the certified ``oidc-provider`` npm package configured like Pro Santé Connect
(code flow, PKCE, ``openid scope_all``, ``acr=eidas1``, "8" + RPPS as the identifier).
``npm ci --prefix tests/oidc`` installs it (``.ci/run`` does). Without node or the
package the PSC tests are skipped, unless ``REQUIRE_OIDC=1`` or ``REQUIRE_BROWSER=1``
(CI) turns the absence into a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
CLIENT_ID = "tour-de-role-test"
CLIENT_SECRET = "test-client-secret-not-used-anywhere-else"
REQUIRED = os.environ.get("REQUIRE_OIDC") == "1" or os.environ.get("REQUIRE_BROWSER") == "1"


def _missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed (apt-get install nodejs)"
    if not (HERE / "node_modules" / "oidc-provider").is_dir():
        return "oidc-provider is not installed (npm ci --prefix tests/oidc)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class OidcProvider:
    issuer: str
    process: subprocess.Popen
    log: Path

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def app_config(self) -> dict[str, str]:
        return {
            "PSC_DISCOVERY_URL": self.discovery_url,
            "PSC_CLIENT_ID": CLIENT_ID,
            "PSC_CLIENT_SECRET": CLIENT_SECRET,
        }

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_provider(
    workdir: Path,
    redirect_uris: list[str],
    *,
    port: int | None = None,
    now: datetime | None = None,
) -> OidcProvider:
    """Start the provider on ``port`` or a free loopback port; fail (or skip) if it can't run.

    ``now``: the instant its clock starts at (the browser journeys' app runs at one).
    """
    if reason := _missing():
        if REQUIRED:
            pytest.fail(f"REQUIRE_OIDC/REQUIRE_BROWSER is set but {reason}")
        pytest.skip(reason)
    last_error = ""
    for _ in range(1 if port else 3):  # a port taken between probe and bind: try another
        chosen = port or free_port()
        config = workdir / f"oidc-{chosen}.json"
        config.write_text(
            json.dumps(
                {
                    "port": chosen,
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                    "redirect_uris": redirect_uris,
                    "now": now.isoformat() if now else None,
                }
            )
        )
        log = workdir / f"oidc-{chosen}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                ["node", str(HERE / "provider.js"), str(config)],
                cwd=HERE,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        provider = OidcProvider(issuer=f"http://127.0.0.1:{chosen}", process=process, log=log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(provider.discovery_url, timeout=2) as response:
                    if response.status == 200:
                        return provider
            except OSError:
                time.sleep(0.1)
        provider.stop()
        last_error = log.read_text()[-2000:]
    pytest.fail(f"the local OpenID Connect provider did not start:\n{last_error}")
