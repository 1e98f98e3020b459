"""Fixtures of the browser journeys: Debian's Chromium, the demo served by gunicorn.

Each journey runs on SQLite, and on PostgreSQL when TEST_DATABASE_URL is set (the
``backend`` fixture of tests/conftest.py decides, and fails under REQUIRE_POSTGRES=1).
Without Chromium at /usr/bin/chromium or the ``playwright`` package the journeys are
skipped, unless REQUIRE_BROWSER=1 (CI), which turns the absence into a failure.
Playwright's own browser downloads are never used.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.databases import DemoDatabases
from tests.browser.facts import ExchangePlan, SwapPlan, exchange_plan, swap_plan
from tests.browser.journey import Journey
from tests.browser.server import NOW, LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--lang=fr-FR",  # date fields read jj/mm/aaaa, as French users see them
]
REQUIRE_BROWSER = os.environ.get("REQUIRE_BROWSER") == "1"
CALL_REPORT = pytest.StashKey[pytest.TestReport]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """Keep the test's own outcome, so that a failed journey leaves pictures of its pages."""
    report = yield
    if report.when == "call":
        item.stash[CALL_REPORT] = report
    return report


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium per pytest worker; each person gets a context of their own."""
    if reason := _missing():
        if REQUIRE_BROWSER:
            pytest.fail(f"REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def demo_databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoDatabases]:
    """The run's demo templates; under pytest-xdist the workers share them."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    databases = DemoDatabases(
        workdir=tmp_path_factory.mktemp("journeys"),
        shared=shared,
        postgres_url=os.environ.get("TEST_DATABASE_URL", ""),
    )
    yield databases
    databases.close()


@pytest.fixture
def live_server(
    browser: Browser, backend: str, demo_databases: DemoDatabases, tmp_path: Path
) -> Iterator[LiveServer]:
    """The demo, freshly copied, served by gunicorn for this journey alone."""
    url = demo_databases.fresh_copy(backend)
    server = LiveServer(url, log=tmp_path / "gunicorn.log")
    try:
        yield server.start()
    finally:
        server.stop()
        demo_databases.drop(url)


@pytest.fixture
def swap_plan_of_demo(live_server: LiveServer) -> SwapPlan:
    """Which demo GP hands which session to which colleague (see tests/browser/facts.py)."""
    return swap_plan(live_server.database_url, NOW)


@pytest.fixture
def exchange_plan_of_demo(live_server: LiveServer) -> ExchangePlan:
    """Which two demo GPs exchange which sessions (see tests/browser/facts.py)."""
    return exchange_plan(live_server.database_url, NOW)


@pytest.fixture
def journey(
    request: pytest.FixtureRequest, browser: Browser, live_server: LiveServer
) -> Iterator[Journey]:
    trip = Journey(browser, live_server.url, request.node.name)
    try:
        yield trip
    finally:
        report = request.node.stash.get(CALL_REPORT, None)
        if report is not None and report.failed:
            trip.capture_failure()
            if live_server.log.exists():  # shown with the failure, in CI's log too
                print("gunicorn log (end):\n" + live_server.log.read_text()[-3000:])
        trip.close()
        if live_server.log.exists():
            shutil.copy(live_server.log, trip.artifacts / "gunicorn.log")
