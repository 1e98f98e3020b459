"""Migrations: upgrade an empty database, then find no drift from the models, on both engines."""

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade

from app.extensions import db
from tests.helpers import build_app


def test_upgrade_from_empty_then_no_drift(empty_database_url):
    app = build_app(empty_database_url)
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, db.metadata)
            tables = set(sa.inspect(conn).get_table_names())
        db.engine.dispose()
    assert diff == []
    assert {"territory", "commune", "site", "practitioner", "user_account", "audit_event"} <= tables


def test_migration_files_are_named_date_first(project_root):
    names = [p.name for p in (project_root / "migrations" / "versions").glob("*.py")]
    assert names
    for name in names:
        assert name[:4].isdigit(), name
        assert name[4] == "_", name


def test_migrations_create_every_check_constraint_of_the_models(empty_database_url):
    """Autogenerate ignores CHECK constraints, so compare their names table by table."""
    app = build_app(empty_database_url)
    with app.app_context():
        upgrade()
        inspector = sa.inspect(db.engine)
        missing = {}
        for table in db.metadata.sorted_tables:
            expected = {
                c.name
                for c in table.constraints
                if isinstance(c, sa.CheckConstraint) and isinstance(c.name, str)
            }
            found = {c["name"] for c in inspector.get_check_constraints(table.name)}
            if expected - found:
                missing[table.name] = sorted(expected - found)
        db.engine.dispose()
    assert missing == {}
