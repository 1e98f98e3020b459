"""What leaves the app for others to read: iCalendar feeds, the FHIR interface for the SAS
platform, the public availability page.

It reads the rota and the bookings and stands above both: nothing imports it back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def init_app(app: Flask) -> None:
    """Register the feeds, FHIR and public pages, the ``ical`` commands, the receivers."""
    from app.extensions import csrf
    from booking.api_access import limit_tokenless_calls
    from publishing import indicator_tallies, subscribers
    from publishing.cli import ical_cli
    from publishing.feed_views import bp as feeds_bp
    from publishing.fhir_views import bp as fhir_bp
    from publishing.indicator_cli import indicators_cli
    from publishing.indicator_views import api_indicators
    from publishing.indicator_views import bp as indicators_bp
    from publishing.public_views import bp as public_bp

    app.register_blueprint(feeds_bp)
    app.register_blueprint(public_bp)
    csrf.exempt(fhir_bp)  # the SAS platform's bearer token: no cookie, nothing to forge
    limit_tokenless_calls(app, fhir_bp)
    app.register_blueprint(fhir_bp)
    app.register_blueprint(indicators_bp)
    # One more operation of the JSON API (``api.`` endpoint: its token check, rate limit,
    # JSON errors and headers; CSRF-exempt with the ``api`` blueprint).
    app.add_url_rule("/api/v1/indicators", endpoint="api.indicators", view_func=api_indicators)
    app.cli.add_command(indicators_cli)
    app.cli.add_command(ical_cli)
    subscribers.connect()
    indicator_tallies.listen()
