"""Finding 3: secret path segments never reach a log line, whatever the logger or the level."""

from __future__ import annotations

import logging

import pytest

from tests.helpers import build_app

TOKEN = "s3cr3t-feed-token-AbCdEf0123456789"


@pytest.mark.parametrize("path", [f"/ical/{TOKEN}.ics", f"/invitation/{TOKEN}"])
def test_a_503_on_a_secret_path_logs_the_path_masked(tmp_path, caplog, path):
    app = build_app(f"sqlite:///{tmp_path}/missing-dir/none.sqlite3")
    caplog.set_level(logging.INFO)
    response = app.test_client().get(path)
    assert response.status_code == 503
    assert "database unavailable" in caplog.text  # the line is there, so the check is real
    assert TOKEN not in caplog.text
    assert path.split("/")[1] + "/***" in caplog.text


def test_a_500_on_a_secret_path_logs_neither_the_token_nor_it_in_the_traceback(make_app, caplog):
    app = make_app(PROPAGATE_EXCEPTIONS=False)

    @app.get("/invitation/<token>/boom")
    def boom(token: str):
        raise RuntimeError(f"failed for /invitation/{token}")

    caplog.set_level(logging.INFO)
    assert app.test_client().get(f"/invitation/{TOKEN}/boom").status_code == 500
    assert "unhandled error" in caplog.text
    assert TOKEN not in caplog.text
    for record in caplog.records:
        assert TOKEN not in (record.exc_text or "")


def test_any_logger_masks_secret_paths_in_its_text(app, caplog):
    caplog.set_level(logging.INFO)
    logging.getLogger("somewhere.else").warning(
        "feed %s and invitation %s failed", f"GET /ical/{TOKEN}.ics", f"/invitation/{TOKEN}?x=1"
    )
    assert TOKEN not in caplog.text
    assert caplog.text.count("***") == 2


def test_public_site_feeds_are_not_masked(app, caplog):
    caplog.set_level(logging.INFO)
    logging.getLogger("somewhere.else").warning("GET /ical/site/12.ics")
    assert "/ical/site/12.ics" in caplog.text
