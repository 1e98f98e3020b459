"""``flask --app wsgi indicators --territory SLUG --from YYYY-MM-DD --to YYYY-MM-DD
[--site ID] [--format json|csv|xlsx] [-o FILE]``: the indicators page's figures, for
automation and for checking the page."""

from __future__ import annotations

import json
import sys

import click
import sqlalchemy as sa
from flask.cli import with_appcontext

from app.extensions import db
from app.models import Territory
from app.timeutil import now_utc
from app.validators import ValidationError
from publishing import indicator_exports as exports
from publishing import indicators
from publishing.indicator_forms import resolve_period


@click.command("indicators", help="Indicateurs SNP d'un territoire sur une période.")
@click.option("--territory", "slug", required=True, help="Identifiant court du territoire.")
@click.option("--from", "start", required=True, help="Premier jour (AAAA-MM-JJ).")
@click.option("--to", "end", required=True, help="Dernier jour inclus (AAAA-MM-JJ).")
@click.option("--site", "site_id", type=int, default=None, help="Un seul lieu (son id).")
@click.option(
    "--format", "fmt", type=click.Choice(["json", "csv", "xlsx"]), default="json", show_default=True
)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None)
@with_appcontext
def indicators_cli(
    slug: str, start: str, end: str, site_id: int | None, fmt: str, output: str | None
) -> None:
    territory = db.session.scalar(sa.select(Territory).where(Territory.slug == slug))
    if territory is None:
        raise click.ClickException(f"Territoire inconnu : « {slug} ».")
    try:
        first, last = resolve_period(start, end, now_utc().date())
    except ValidationError as exc:
        raise click.ClickException(str(exc)) from exc
    if site_id is not None and site_id not in dict(indicators.site_choices(territory.id)):
        raise click.ClickException(f"Lieu inconnu dans ce territoire : {site_id}.")
    result = indicators.compute(territory, first, last, site_id=site_id)
    if fmt == "json":
        body = (json.dumps(result.as_json(), ensure_ascii=False, indent=2) + "\n").encode()
    elif fmt == "csv":
        body = exports.indicators_csv(result)
    else:
        if output is None:
            raise click.ClickException("Le format xlsx s'écrit dans un fichier : précisez -o.")
        body = exports.indicators_xlsx(result)
    if output is None:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
    else:
        with open(output, "wb") as handle:
            handle.write(body)
        click.echo(f"Indicateurs écrits dans {output}.", err=True)
