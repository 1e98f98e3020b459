"""Structured logs: one JSON object per line when ``LOG_FORMAT=json``.

Log collectors (journald, Loki, an HDS host's SIEM) parse these without regular
expressions. Each line says when, how bad, which logger and what; inside a request also
the method and the path, with secret path segments masked as in the access log (feed and
invitation tokens); never the query string. Messages themselves never carry patient data
(``tests/test_log_secrets.py``).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from flask import has_request_context, request

from app.access_log import redact_path

FORMATS = ("text", "json")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if has_request_context():
            entry["method"] = request.method
            entry["path"] = redact_path(request.path)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(log_format: str) -> None:
    """Text lines by default; with ``json``, the root logger's only handler writes JSON."""
    if log_format == "json":
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    else:
        logging.basicConfig(level=logging.INFO)
