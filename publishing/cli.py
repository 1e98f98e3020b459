"""``flask --app wsgi ical url RPPS [--rotate]``, ``ical url --territory SLUG``, ``ical revoke``,
``ical purge``.

Tokens are stored hashed, so an address can be printed only when it is issued: for a
feed that already has one, ``--rotate`` issues a new one (and the old one dies at once).
"""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup

from app.extensions import db
from app.models import Practitioner, Territory
from app.validators import ValidationError, normalise_rpps
from publishing import feeds
from publishing.models import CalendarFeed

ical_cli = AppGroup("ical", help="Adresses des agendas iCalendar (abonnements).")

# Where ``make run`` serves the app; used when no public address is configured.
LOCAL_BASE_URL = "http://127.0.0.1:8000"


def _territory(slug: str | None) -> Territory | None:
    if slug is None:
        return None
    territory = db.session.scalar(sa.select(Territory).where(Territory.slug == slug))
    if territory is None:
        raise click.ClickException(f"Territoire inconnu : « {slug} ».")
    return territory


def _gp(rpps: str, territory: Territory | None) -> Practitioner:
    try:
        number = normalise_rpps(rpps)
    except ValidationError as exc:
        raise click.ClickException(str(exc)) from exc
    query = sa.select(Practitioner).where(Practitioner.rpps == number)
    if territory is not None:
        query = query.where(Practitioner.territory_id == territory.id)
    found = db.session.scalars(query.order_by(Practitioner.id)).all()
    if not found:
        raise click.ClickException(f"Aucun professionnel n° RPPS {number}.")
    if len(found) > 1:
        raise click.ClickException(
            f"Le n° RPPS {number} existe dans plusieurs territoires : précisez --territory."
        )
    return found[0]


def _target(rpps: str | None, slug: str | None) -> tuple[str, CalendarFeed | None, object]:
    """What the command acts on: a GP (by RPPS), or a territory's feed (--territory alone)."""
    territory = _territory(slug)
    if rpps:
        gp = _gp(rpps, territory)
        return gp.display_name, feeds.gp_feed(gp), gp
    if territory is None:
        raise click.UsageError(
            "Donnez un n° RPPS, ou --territory SLUG pour l'agenda du territoire."
        )
    return f"le territoire {territory.name}", feeds.territory_feed(territory), territory


def _url(token: str, base_url: str | None) -> str:
    """The feed's public address: --base-url, else SERVER_NAME, else ``make run``'s."""
    path = current_app.url_map.bind("localhost").build("feeds.token_feed", {"token": token})
    if base_url:
        return base_url.rstrip("/") + path
    if server := current_app.config.get("SERVER_NAME"):
        return f"{current_app.config['PREFERRED_URL_SCHEME']}://{server}{path}"
    return LOCAL_BASE_URL + path


@ical_cli.command("url")
@click.argument("rpps", required=False)
@click.option("--territory", "territory_slug", help="Slug du territoire.")
@click.option("--rotate", is_flag=True, help="Remplacer l'adresse active par une nouvelle.")
@click.option(
    "--base-url",
    envvar="PUBLIC_BASE_URL",
    help="Adresse publique du serveur (par défaut : SERVER_NAME, sinon celle de make run).",
)
def url_command(
    rpps: str | None, territory_slug: str | None, rotate: bool, base_url: str | None
) -> None:
    """Print a GP's feed address (RPPS), or the territory's (--territory alone)."""
    label, feed, owner = _target(rpps, territory_slug)
    if feed is not None and feed.live and not rotate:
        raise click.ClickException(
            f"{label} a déjà une adresse active. Elle n'est conservée que sous forme "
            "d'empreinte et ne peut pas être réaffichée : relancez avec --rotate pour en "
            "générer une nouvelle (l'ancienne cessera aussitôt de fonctionner)."
        )
    try:
        if isinstance(owner, Practitioner):
            token = feeds.issue_gp_token(owner, by=None)
        else:
            assert isinstance(owner, Territory)
            token = feeds.issue_territory_token(owner, by=None)
    except ValidationError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    url = _url(token, base_url)
    click.echo(f"Adresse d'abonnement de {label} :")
    click.echo(url)
    click.echo("webcal://" + url.split("://", 1)[1])
    click.echo("Transmettez-la par un canal sûr : elle ne sera plus jamais affichée.")


@ical_cli.command("revoke")
@click.argument("rpps", required=False)
@click.option("--territory", "territory_slug", help="Slug du territoire.")
def revoke_command(rpps: str | None, territory_slug: str | None) -> None:
    """Revoke a GP's feed address (RPPS), or the territory's (--territory alone)."""
    label, feed, _ = _target(rpps, territory_slug)
    try:
        feeds.revoke(feed, by=None)
    except ValidationError as exc:
        db.session.rollback()
        raise click.ClickException(f"{label} : {exc}") from exc
    db.session.commit()
    click.echo(f"Adresse de {label} révoquée.")


@ical_cli.command("purge")
def purge_command() -> None:
    """Delete the cancelled events no feed shows any more (run it daily with ``purge``)."""
    count = feeds.purge_tombstones()
    db.session.commit()
    click.echo(f"{count} événement(s) annulé(s) supprimé(s).")
