"""Booking commands: ``flask --app wsgi api-token create|revoke|list``, ``purge`` and
``booking remind``.

Tokens made here are for operators setting up an integration without the web UI; the
plain token is printed once and never stored. ``purge`` erases patient data past each
territory's retention (run it daily from cron or a systemd timer).
"""

from __future__ import annotations

from datetime import timedelta

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import AppGroup

from app.extensions import db
from app.models import Territory, User
from app.timeutil import format_local, now_utc
from app.validators import ValidationError
from booking import tokens
from booking.models import ApiToken, IdempotencyRecord

api_token_cli = AppGroup("api-token", help="Gérer les jetons de l'API.")

# Retries come within minutes; a day is plenty, and the records then only take space.
IDEMPOTENCY_RETENTION = timedelta(days=1)


@api_token_cli.command("create")
@click.argument("email")
@click.option("--label", default="", help="Libellé (logiciel, poste…).")
def create_token_command(email: str, label: str) -> None:
    """Issue a token for an account and print it (once)."""
    user = db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise click.ClickException(f"Aucun compte pour « {email} ».")
    try:
        plain, token = tokens.create_token(user, label, by=None)
    except ValidationError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"Jeton n° {token.id} créé pour {user.email} ({user.role.label}) :")
    click.echo(plain)
    click.echo("Copiez-le maintenant : il ne sera plus jamais affiché.")


def _find(prefix_or_id: str) -> ApiToken:
    text = prefix_or_id.strip().rstrip("…")
    if text.isdigit():
        token = db.session.get(ApiToken, int(text))
        if token is None:
            raise click.ClickException(f"Aucun jeton n° {text}.")
        return token
    if not text.startswith(tokens.TOKEN_PREFIX) or len(text) < len(tokens.TOKEN_PREFIX) + 1:
        raise click.ClickException("Donnez le numéro du jeton ou son préfixe (tdr_…).")
    found = db.session.scalars(
        sa.select(ApiToken).where(ApiToken.prefix == text[:8]).order_by(ApiToken.id)
    ).all()
    if len(text) > 8:  # a whole token was pasted: it must be that very one
        found = [t for t in found if t.token_hash == tokens.hash_token(text)]
    if not found:
        raise click.ClickException(f"Aucun jeton « {text[:8]}… ».")
    if len(found) > 1:
        numbers = ", ".join(str(t.id) for t in found)
        raise click.ClickException(
            f"Plusieurs jetons commencent par {text[:8]} (n° {numbers}) : donnez le numéro."
        )
    return found[0]


@api_token_cli.command("revoke")
@click.argument("prefix_or_id")
def revoke_token_command(prefix_or_id: str) -> None:
    """Revoke a token, named by its number or its prefix (``tdr_AbCd``)."""
    token = _find(prefix_or_id)
    try:
        tokens.revoke_token(token, by=None)
    except ValidationError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"Jeton n° {token.id} ({token.prefix}…) révoqué.")


@api_token_cli.command("list")
def list_tokens_command() -> None:
    """Every token, with its owner and state (never the token itself)."""
    rows = db.session.execute(
        sa.select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .order_by(ApiToken.revoked_at.is_not(None), ApiToken.id)
    ).all()
    if not rows:
        click.echo("Aucun jeton.")
        return
    zone = current_app.config["SNP_TIMEZONE"]
    for token, user in rows:
        if token.revoked_at is not None:
            state = f"révoqué le {format_local(token.revoked_at, zone)}"
        elif token.last_used_at is not None:
            state = f"utilisé le {format_local(token.last_used_at, zone)}"
        else:
            state = "jamais utilisé"
        label = f"  « {token.label} »" if token.label else ""
        click.echo(
            f"n° {token.id}  {token.prefix}…  {user.email}{label}  "
            f"créé le {format_local(token.created_at, zone)}  [{state}]"
        )


@click.command("purge")
def purge_command() -> None:
    """Erase patient data past each territory's retention, and stale idempotency records."""
    from booking import services

    now = now_utc()
    report = services.purge(now=now)
    stale = db.session.execute(
        sa.delete(IdempotencyRecord).where(
            IdempotencyRecord.created_at < now - IDEMPOTENCY_RETENTION
        )
    ).rowcount
    db.session.commit()
    if report.purged:
        click.echo(f"Données patient effacées pour {report.purged} rendez-vous :")
        slugs = dict(db.session.execute(sa.select(Territory.id, Territory.slug)).all())
        for territory_id, count in sorted(report.per_territory.items()):
            click.echo(f"  {slugs.get(territory_id, territory_id)} : {count}")
    else:
        click.echo("Aucune donnée patient à effacer.")
    if stale:
        click.echo(f"{stale} enregistrement(s) d'idempotence expiré(s) supprimé(s).")


booking_cli = AppGroup("booking", help="Rendez-vous : rappels aux patients.")


@booking_cli.command("remind")
def remind_command() -> None:
    """Queue the reminder of bookings starting within 2 h (each once): run it from cron."""
    from booking import patient_notice

    count = patient_notice.remind(now_utc())
    db.session.commit()
    click.echo(f"{count} rappel(s) mis en file d'envoi." if count else "Aucun rappel à envoyer.")


def init_booking_cli(app: Flask) -> None:
    """Register the booking commands."""
    app.cli.add_command(api_token_cli)
    app.cli.add_command(booking_cli)
    app.cli.add_command(purge_command)
