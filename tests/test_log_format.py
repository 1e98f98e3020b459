"""Structured logs (LOG_FORMAT=json): every line one JSON object, secrets masked."""

from __future__ import annotations

import json
import logging
import os
import runpy
from pathlib import Path

from flask import Flask

from app.log_format import JsonFormatter

ROOT = Path(__file__).resolve().parent.parent


def _record(message: str, *args: object, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("app.test", logging.WARNING, __file__, 1, message, args, exc_info)


def test_a_line_is_one_json_object_with_the_request_and_no_secret():
    app = Flask(__name__)
    with app.test_request_context("/ical/tdr_SeCrEt-Token_123.ics?q=Challans", method="GET"):
        line = JsonFormatter().format(_record("feed %s answered", "304"))
    entry = json.loads(line)
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "app.test"
    assert entry["message"] == "feed 304 answered"
    assert (entry["method"], entry["path"]) == ("GET", "/ical/***")
    assert "SeCrEt" not in line
    assert "Challans" not in line
    assert entry["time"].endswith("+00:00")


def test_an_exception_travels_inside_the_object():
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        line = JsonFormatter().format(_record("failed", exc_info=sys.exc_info()))
    entry = json.loads(line)
    assert "ValueError: boom" in entry["exception"]
    assert "method" not in entry  # no request: no request fields


def test_gunicorns_json_access_line_parses(monkeypatch):
    monkeypatch.setitem(os.environ, "LOG_FORMAT", "json")
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    atoms = {"h": "203.0.113.7", "m": "GET", "U": "/ical/***", "s": "304", "B": "-", "M": "3"}
    assert json.loads(settings["access_log_format"] % atoms) == {
        "remote": "203.0.113.7",
        "method": "GET",
        "path": "/ical/***",
        "status": 304,
        "bytes": "-",
        "ms": 3,
    }
