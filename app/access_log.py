"""gunicorn's access log without secrets: tokens in paths are masked, query strings dropped."""

from __future__ import annotations

import re
from typing import Any

from gunicorn.glogging import Logger

# Paths whose next segment is a bearer secret: calendar feeds, invitation links, password
# resets and patients' cancellation links.
SECRET_PATH_PREFIXES = ("/ical/", "/invitation/", "/mot-de-passe/", "/annulation/")
_PREFIXES = "|".join(re.escape(prefix) for prefix in SECRET_PATH_PREFIXES)
_SECRET_SEGMENT = re.compile(rf"^({_PREFIXES})(?!site/)[^/]+")
# The same anywhere in a text (a log message, a traceback): up to a separator.
_SECRET_IN_TEXT = re.compile(rf"({_PREFIXES})(?!site/)[^/\s?#\"'<>()]+")


def redact_path(path: str | None) -> str:
    """``/ical/AbC…xyz.ics`` → ``/ical/***``; other paths unchanged (never a query string).

    A request cut before its line was read (a worker stopping) has no path at all.
    """
    return _SECRET_SEGMENT.sub(r"\1***", (path or "").split("?", 1)[0])


def mask_secrets(text: str) -> str:
    """Every secret path segment of ``text`` masked: ``… /ical/AbC…xyz.ics …`` → ``… /ical/*** …``."""
    return _SECRET_IN_TEXT.sub(r"\1***", text)


class RedactingLogger(Logger):
    """Access log atoms with ``%(U)s`` redacted and ``%(r)s``/``%(q)s`` emptied of secrets."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["U"] = redact_path(atoms.get("U"))
        atoms["q"] = ""
        atoms["r"] = f"{atoms.get('m', '')} {atoms['U']} {atoms.get('H', '')}"
        return atoms
