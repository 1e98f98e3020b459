"""Command-line interface: ``flask --app wsgi users create | import practitioners | outbox``."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import AppGroup

from app.enums import Role
from app.extensions import db
from app.models import Territory
from app.validators import ValidationError

users_cli = AppGroup("users", help="Gérer les comptes.")
import_cli = AppGroup("import", help="Importer des données.")
outbox_cli = AppGroup("outbox", help="Envoyer et consulter les courriels de notification.")


def _territory(slug: str | None) -> Territory | None:
    if slug is None:
        return None
    territory = db.session.scalar(sa.select(Territory).where(Territory.slug == slug))
    if territory is None:
        raise click.ClickException(f"Territoire inconnu : « {slug} ».")
    return territory


@users_cli.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--territory", "territory_slug", help="Slug du territoire (sauf admin).")
@click.option("--name", "display_name", default="", help="Nom affiché.")
@click.option("--password-stdin", is_flag=True, help="Lire le mot de passe sur l'entrée standard.")
def create_user_command(
    email: str, role: str, territory_slug: str | None, display_name: str, password_stdin: bool
) -> None:
    """Create an account with a password (asked for, or read from stdin)."""
    from app.territory.services import create_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Mot de passe", hide_input=True, confirmation_prompt=True)
    try:
        user = create_user(
            email=email,
            role=Role(role),
            territory=_territory(territory_slug),
            display_name=display_name,
            password=password,
            by=None,
        )
    except ValidationError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"Compte créé : {user.email} ({user.role.label}).")


@import_cli.command("practitioners")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--territory", "territory_slug", required=True, help="Slug du territoire.")
def import_practitioners_command(path: str, territory_slug: str) -> None:
    """Import practitioners from a CSV file; all or nothing."""
    from app.territory.practitioner_import import import_and_commit

    territory = _territory(territory_slug)
    assert territory is not None
    with open(path, "rb") as fh:
        data = fh.read()
    report = import_and_commit(territory, data, by=None)
    if report.errors:
        for error in report.errors:
            click.echo(str(error), err=True)
        raise click.ClickException(f"{len(report.errors)} erreur(s) : rien n'a été importé.")
    click.echo(f"{report.created} professionnel(s) créé(s), {report.updated} mis à jour.")


@outbox_cli.command("send")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Nombre maximal de messages traités.",
)
def outbox_send_command(limit: int) -> None:
    """Send the due notifications; run it every minute (cron, systemd timer).

    Exits 1 when a message failed or was abandoned, so that cron mails the operator and
    systemd marks the unit failed.
    """
    from app import mail

    try:
        sender = mail.sender_from_config(current_app.config)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        report = mail.send_pending(sender, limit=limit)
    finally:
        sender.close()
    for failure in report.failed:
        click.echo(f"  en échec : n° {failure.message_id} à {failure.recipient} : {failure.error}")
    for failure in report.abandoned:
        click.echo(f"  abandonné : n° {failure.message_id} à {failure.recipient} : {failure.error}")
    if report.stopped:
        click.echo(f"Envoi interrompu, serveur injoignable : {report.stopped}")
    click.echo(f"{report.summary()}.")
    if not report.ok:
        sys.exit(1)


@outbox_cli.command("list")
@click.option("--pending", is_flag=True, help="Seulement les messages non envoyés.")
@click.option(
    "--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Nombre de messages."
)
def outbox_list_command(pending: bool, limit: int) -> None:
    """Print the most recent messages, newest first, with their state."""
    from app.mail import describe_state
    from app.outbox import OutboxMessage
    from app.timeutil import format_local

    query = sa.select(OutboxMessage).order_by(
        OutboxMessage.created_at.desc(), OutboxMessage.id.desc()
    )
    if pending:
        query = query.where(OutboxMessage.sent_at.is_(None))
    messages = db.session.scalars(query.limit(limit)).all()
    if not messages:
        click.echo("Aucun message non envoyé." if pending else "Aucun message.")
    zone = current_app.config["SNP_TIMEZONE"]
    for message in messages:
        click.echo(
            f"n° {message.id}  {format_local(message.created_at, zone)}  {message.recipient}  "
            f"{message.subject}  [{describe_state(message, zone)}]"
        )


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def backup_command(path: Path) -> None:
    """Write a consistent copy of the database to PATH (SQLite: online backup; PostgreSQL:
    pg_dump custom format). Safe while the app runs."""
    from app import backup

    db.session.remove()  # no transaction of ours holds the database meanwhile
    try:
        backup.backup(current_app.config["SQLALCHEMY_DATABASE_URI"], path)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Sauvegarde écrite : {path} ({path.stat().st_size} octets).")


@click.command("restore")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def restore_command(path: Path) -> None:
    """Load the backup at PATH into the (empty) configured database."""
    from app import backup

    db.session.remove()
    db.engine.dispose()
    try:
        backup.restore(current_app.config["SQLALCHEMY_DATABASE_URI"], path)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Sauvegarde {path} restaurée.")


def init_cli(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(import_cli)
    app.cli.add_command(outbox_cli)
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)
