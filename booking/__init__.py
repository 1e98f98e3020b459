"""Slots and bookings for regulators and pharmacists, built on the rota's published sessions.

It knows the rota (below it) and follows its changes through ``rota.events``; nothing
below imports it back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def init_app(app: Flask) -> None:
    """Register the booking pages, the JSON API, the commands and the event receivers."""
    from app.extensions import csrf
    from booking import subscribers, todo
    from booking.api import bp as api_bp
    from booking.api_access import limit_tokenless_calls
    from booking.cli import init_booking_cli
    from booking.evidence_views import bp as evidence_bp
    from booking.service_token_views import bp as service_tokens_bp
    from booking.token_views import bp as api_tokens_bp
    from booking.views import bp as booking_bp

    app.register_blueprint(booking_bp)
    app.register_blueprint(api_tokens_bp)
    app.register_blueprint(service_tokens_bp)
    app.register_blueprint(evidence_bp)
    csrf.exempt(api_bp)  # bearer tokens, not cookies: no cross-site request to forge
    limit_tokenless_calls(app, api_bp)
    app.register_blueprint(api_bp)
    init_booking_cli(app)
    subscribers.connect()
    todo.connect()
