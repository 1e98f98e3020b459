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
from typing import Any

from flask import has_request_context, request

from app.access_log import mask_secrets, redact_path

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
        if record.exc_info or record.exc_text:
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _masking_factory(make_record: Any) -> Any:
    """Wrap a log record factory so each record's text has its secret path segments masked.

    A record factory sees every record of the process, from any logger (ours, Flask's,
    gunicorn's, a library's), before any handler or formatter does: the message is
    rendered and masked once, and so is the traceback, which formatters then reuse.
    """

    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string is logging's to report
            return record
        masked = mask_secrets(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = mask_secrets(_TRACEBACKS.formatException(record.exc_info))
        return record

    make.masks_secrets = True  # type: ignore[attr-defined]
    return make


_TRACEBACKS = logging.Formatter()


def install_secret_masking() -> None:
    """Mask secrets in every log record of the process (once, whatever the app count)."""
    current = logging.getLogRecordFactory()
    if not getattr(current, "masks_secrets", False):
        logging.setLogRecordFactory(_masking_factory(current))


def configure_logging(log_format: str) -> None:
    """Text lines by default; with ``json``, the root logger's only handler writes JSON."""
    install_secret_masking()
    if log_format == "json":
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    else:
        logging.basicConfig(level=logging.INFO)
