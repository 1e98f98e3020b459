"""What the JSON API and the FHIR interface share about bearer tokens: rate limits, usage.

Both speak for an account through an API token (``booking.tokens``); both spend the same
per-token budget and record when a token was last used.
"""

from __future__ import annotations

from typing import Any

import limits
import sqlalchemy as sa
from flask import Blueprint, Flask, Response, current_app, make_response, request
from flask_limiter.util import get_remote_address

from app.database import write_transactions
from app.errors import error_response
from app.extensions import db, limiter
from booking import tokens
from booking.models import ApiToken

# Per token: a regulation desk books a few patients a minute at most; a runaway client
# retrying in a loop is stopped long before it fills a territory's day.
DEFAULT_BOOKING_RATE_LIMIT = "30 per minute"
# Per token, every call together: searches cost a scan of the day's sessions; five a
# second is far above a desk's pace and keeps one runaway client from starving the others.
DEFAULT_API_RATE_LIMIT = "300 per minute"


def commit_token_touch() -> None:
    """Save the token's new ``last_used_at`` in a write transaction of its own.

    On a GET the request's transaction only reads (SQLite: deferred); upgrading it to a
    write could fail at once if another worker wrote meanwhile, so the change is replayed
    in a fresh transaction that takes the write lock up front.
    """
    touched = [(obj.id, obj.last_used_at) for obj in db.session.dirty if isinstance(obj, ApiToken)]
    db.session.rollback()
    with write_transactions():
        for token_id, used_at in touched:
            db.session.execute(
                sa.update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=used_at)
            )
        db.session.commit()


def token_rate_key() -> str:
    """Rate-limit key: the token (hashed), or the address for requests without one.

    Route limits are checked as the view starts, after ``authenticate``: the token read
    here is a live one (the address is only a fallback).
    """
    plain = tokens.parse_bearer(request.headers.get("Authorization"))
    return f"api-token:{tokens.hash_token(plain)[:32]}" if plain else get_remote_address()


def booking_rate_limit() -> str:
    return current_app.config.get("API_BOOKING_RATE_LIMIT", DEFAULT_BOOKING_RATE_LIMIT)


def api_rate_limit_value() -> str:
    return current_app.config.get("API_RATE_LIMIT", DEFAULT_API_RATE_LIMIT)


# One budget per token shared by every route but the public OpenAPI document. It is
# checked as the view starts, after ``authenticate``: a request without a live token is
# refused (401) before it could spend anyone's budget.
api_rate_limit = limiter.shared_limit(api_rate_limit_value, scope="api", key_func=token_rate_key)


# Per client address, for calls refused for want of a live token (401): guessing tokens,
# or a client left running after its token was revoked, is slowed down before it costs
# a token lookup per call. Calls with a live token never count here.
DEFAULT_ANONYMOUS_RATE_LIMIT = "60 per minute"


def anonymous_rate_limit_value() -> str:
    return current_app.config.get("API_ANONYMOUS_RATE_LIMIT", DEFAULT_ANONYMOUS_RATE_LIMIT)


def limit_tokenless_calls(app: Flask, blueprint: Blueprint) -> None:
    """Put a blueprint's calls without a live token under a per-address budget.

    Checked before the blueprint authenticates anyone (an app-level hook runs first), so
    a spent budget costs no token lookup; spent only by answers that are 401s.
    """
    names = app.extensions.setdefault("tokenless_limited", set())
    if not names:
        app.before_request(_refuse_when_spent)
        app.after_request(_spend_on_401)
    names.add(blueprint.name)


def _tokenless_item() -> limits.RateLimitItem | None:
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return None
    if request.blueprint not in current_app.extensions.get("tokenless_limited", ()):
        return None
    return limits.parse(anonymous_rate_limit_value())


def _refuse_when_spent() -> Response | None:
    item = _tokenless_item()
    if item is None or limiter.limiter.test(item, "api-anonymous", get_remote_address()):
        return None
    return make_response(error_response(429))


def _spend_on_401(response: Response) -> Response:
    item = _tokenless_item()
    if item is not None and response.status_code == 401:
        limiter.limiter.hit(item, "api-anonymous", get_remote_address())
    return response


def storable(payload: dict[str, Any]) -> bool:
    """Whether every text of a JSON body may be stored: no NUL, no lone surrogate.

    JSON lets a string say ``\\u0000`` or ``\\ud800``; PostgreSQL refuses the first and
    no database can encode the second, so either would be a 500 rather than a 400. Walked
    without recursion: a body may nest as deep as the JSON parser allows.
    """
    stack: list[Any] = [payload]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value or any("\ud800" <= c <= "\udfff" for c in value):
                return False
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return True
