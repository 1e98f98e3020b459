"""The rota: session templates, periods, fair generation, publication, swaps.

It builds on the shell (``app``) and knows nothing of bookings or feeds: it announces its
changes through ``rota.events``. ``python -m rota solve`` runs the pure engine alone, so
importing this package costs nothing; ``init_app`` loads the web parts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def init_app(app: Flask) -> None:
    """Register the rota's pages and commands."""
    from rota import home, todo
    from rota.cli import rota_cli
    from rota.declaration_views import bp as declarations_bp
    from rota.exchange_views import bp as exchanges_bp
    from rota.fairness_views import bp as fairness_bp
    from rota.views import bp

    app.register_blueprint(bp)
    app.register_blueprint(fairness_bp)
    app.register_blueprint(declarations_bp)
    app.register_blueprint(exchanges_bp)
    app.cli.add_command(rota_cli)
    todo.connect()
    home.connect()
