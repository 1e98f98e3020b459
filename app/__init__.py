"""Tour de rôle: the Flask application factory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from app import proxy
from app.config import build_config
from app.database import configure_sqlite, engine_options
from app.extensions import csrf, db, limiter, login_manager, migrate
from app.log_format import configure_logging

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _features() -> list:
    import booking
    import demo
    import publishing
    import rota

    return [rota, booking, publishing, demo]


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app; ``config`` overrides the environment (tests pass theirs here)."""
    app = Flask(
        __name__,
        instance_path=str(PROJECT_ROOT / "instance"),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    app.config.update(build_config(instance))
    if config:
        app.config.update(config)
    app.config.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS", engine_options(app.config["SQLALCHEMY_DATABASE_URI"])
    )
    configure_logging(app.config.get("LOG_FORMAT", "text"))
    # The real client address for every per-address limit (before anything reads it).
    app.wsgi_app = proxy.wrap(app.wsgi_app, app.config.get("TRUSTED_PROXIES"))  # type: ignore[method-assign]

    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            configure_sqlite(db.engine)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)

    from app import cli, errors, health, outbox, security, templating, todo  # noqa: F401 (tables)
    from app.auth.views import bp as auth_bp
    from app.regulation.views import bp as regulation_bp
    from app.territory.views import bp as territory_bp

    security.init_security(app)
    errors.init_errors(app)
    templating.init_templating(app)
    cli.init_cli(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(territory_bp)
    app.register_blueprint(regulation_bp)
    todo.connect()
    # The composition root: each feature registers its own pages, commands and receivers.
    # The only imports from the shell up to the features (import-linter lists them).
    for feature in _features():
        feature.init_app(app)
    return app
