"""Finding 6: ``flask demo`` (accounts with a published password) only on a development
database holding nothing but the demo, unless ``--force``."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.enums import Role
from app.extensions import db
from app.models import Territory, User
from demo.loader import ADMIN_EMAIL, MAIN_SLUG


def _demo_loaded() -> bool:
    return db.session.scalar(sa.select(Territory.id).where(Territory.slug == MAIN_SLUG)) is not None


@pytest.fixture
def production(make_app):
    app = make_app(ENV_NAME="production")
    with app.app_context():
        yield app


@pytest.fixture
def development(make_app):
    app = make_app(ENV_NAME="development")
    with app.app_context():
        yield app


def test_demo_is_refused_outside_development(production):
    result = production.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code != 0
    assert "développement" in result.output
    assert not _demo_loaded()
    assert db.session.scalar(sa.select(User.id).where(User.email == ADMIN_EMAIL)) is None


def test_demo_is_refused_on_a_database_with_real_accounts(development, make_user):
    make_user(Role.ADMIN, email="vraie.admin@cpts-exemple.fr")
    result = development.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code != 0
    assert "comptes" in result.output
    assert not _demo_loaded()


def test_force_loads_the_demo_anyway(production, make_user):
    make_user(Role.ADMIN, email="vraie.admin@cpts-exemple.fr")
    result = production.test_cli_runner().invoke(args=["demo", "--force"])
    assert result.exit_code == 0, result.output
    assert _demo_loaded()


def test_demo_loads_on_an_empty_development_database_and_again_after(development):
    runner = development.test_cli_runner()
    assert runner.invoke(args=["demo"]).exit_code == 0
    again = runner.invoke(args=["demo"])  # only demo accounts now: idempotent, no refusal
    assert again.exit_code == 0, again.output
    assert "rien à faire" in again.output
