"""CLI: account creation (the practitioners import and demo have their own test files)."""

import sqlalchemy as sa

from app.enums import Role
from app.extensions import db
from app.models import User
from app.passwords import verify_password


def test_users_create_reads_the_password_from_stdin(runner, make_territory):
    territory = make_territory("cpts-nord")
    result = runner.invoke(
        args=[
            "users",
            "create",
            "Coord@Example.org",
            "--role",
            "coordinator",
            "--territory",
            "cpts-nord",
            "--password-stdin",
        ],
        input="a long enough password\n",
    )
    assert result.exit_code == 0, result.output
    assert "Compte créé : coord@example.org" in result.output
    user = db.session.scalar(sa.select(User).where(User.email == "coord@example.org"))
    assert (user.role, user.territory_id) == (Role.COORDINATOR, territory.id)
    assert verify_password(user.password_hash, "a long enough password")


def test_users_create_prompts_for_the_password(runner):
    result = runner.invoke(
        args=["users", "create", "root@example.org", "--role", "admin"],
        input="a long enough password\na long enough password\n",
    )
    assert result.exit_code == 0, result.output
    assert (
        db.session.scalar(sa.select(User.role).where(User.email == "root@example.org"))
        == Role.ADMIN
    )


def test_users_create_refuses_a_short_password_and_writes_nothing(runner, make_territory):
    make_territory("cpts-nord")
    result = runner.invoke(
        args=[
            "users",
            "create",
            "x@example.org",
            "--role",
            "gp",
            "--territory",
            "cpts-nord",
            "--password-stdin",
        ],
        input="short\n",
    )
    assert result.exit_code != 0
    assert "au moins 12 caractères" in result.output
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 0


def test_users_create_needs_a_territory_except_for_admins(runner):
    result = runner.invoke(
        args=["users", "create", "x@example.org", "--role", "gp", "--password-stdin"],
        input="a long enough password\n",
    )
    assert result.exit_code != 0
    assert "rattaché à un territoire" in result.output


def test_users_create_unknown_territory(runner):
    result = runner.invoke(
        args=[
            "users",
            "create",
            "x@example.org",
            "--role",
            "gp",
            "--territory",
            "nowhere",
            "--password-stdin",
        ],
        input="a long enough password\n",
    )
    assert result.exit_code != 0
    assert "Territoire inconnu" in result.output


def test_access_log_paths_hide_tokens_and_queries():
    from app.access_log import redact_path

    assert redact_path("/ical/tdr_SeCrEt-Token_123.ics") == "/ical/***"
    assert redact_path("/invitation/abcdef123456") == "/invitation/***"
    assert redact_path(None) == ""  # a request cut before its line was read
    assert redact_path("/ical/site/4.ics") == "/ical/site/4.ics"
    assert redact_path("/disponibilites?q=Challans") == "/disponibilites"
    assert redact_path("/creneaux") == "/creneaux"
