"""Absolute addresses: built on the configured ``PUBLIC_URL``, never on the Host header.

Whatever leaves the app with an address in it (calendar feeds and their UIDs, FHIR
``fullUrl`` and ``Location``, invitation links) must name the same server whoever asked
and under whatever name: a Host header is the client's to choose, and a UID that follows
it duplicates every event in a subscriber's calendar.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, request, url_for

log = logging.getLogger(__name__)
_warned: set[str] = set()


def public_base() -> str:
    """``scheme://host[:port]`` of the public server, without a trailing slash.

    ``PUBLIC_URL`` when set; else ``SERVER_NAME`` (with ``PREFERRED_URL_SCHEME``); else,
    for ``make run`` on a laptop, the request's own address, with a warning outside
    development.
    """
    config = current_app.config
    if configured := (config.get("PUBLIC_URL") or "").strip():
        return configured.rstrip("/")
    if server := config.get("SERVER_NAME"):
        return f"{config.get('PREFERRED_URL_SCHEME') or 'https'}://{server}"
    if config.get("ENV_NAME") != "development" and current_app.name not in _warned:
        _warned.add(current_app.name)
        log.warning("PUBLIC_URL is not set: absolute addresses follow the request's Host header")
    return request.host_url.rstrip("/")


def public_url(endpoint: str, **values: Any) -> str:
    """``url_for`` as an absolute address on the public server."""
    return public_base() + url_for(endpoint, **values)


def public_path(path: str) -> str:
    """A path of this server (``request.full_path``, say) as an absolute public address."""
    return public_base() + path


def public_host() -> str:
    """The public server's host name (calendar UIDs are ``…@host``)."""
    return urlsplit(public_base()).hostname or "localhost"
