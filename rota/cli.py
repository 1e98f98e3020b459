"""``flask --app wsgi rota generate|publish PERIOD_ID`` and ``rota ledger-backfill``."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from app.extensions import db
from app.validators import ValidationError
from rota import services
from rota.models import RotaPeriod

rota_cli = AppGroup("rota", help="Générer et publier les tableaux.")


def _period(period_id: int) -> RotaPeriod:
    period = db.session.get(RotaPeriod, period_id)
    if period is None:
        raise click.ClickException(f"Période inconnue : {period_id}.")
    return period


@rota_cli.command("generate")
@click.argument("period_id", type=int)
def generate_command(period_id: int) -> None:
    """Fill the period fairly (volunteered and locked assignments are kept)."""
    period = _period(period_id)
    try:
        solution = services.generate_rota(period, by=None)
    except ValidationError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    f = solution.figures
    click.echo(
        f"« {period.name} » généré : {f['filled']}/{f['places']} places pourvues, "
        f"écart max {f['max_deviation_weekday']} (semaine) / "
        f"{f['max_deviation_weekend_holiday']} (week-end et fériés)."
    )
    for unfilled in solution.unfilled:
        click.echo(f"  non pourvue : {unfilled.reason}")


@rota_cli.command("publish")
@click.argument("period_id", type=int)
def publish_command(period_id: int) -> None:
    """Publish a generated period and notify its GPs."""
    period = _period(period_id)
    try:
        version = services.publish_rota(period, by=None)
    except ValidationError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"« {period.name} » publié (version {version}).")


@rota_cli.command("ledger-backfill")
@click.option("--territory", "territory_id", type=int, default=None, help="Un seul territoire.")
@click.option("--dry-run", is_flag=True, help="Affiche ce qui serait écrit, sans rien écrire.")
def ledger_backfill_command(territory_id: int | None, dry_run: bool) -> None:
    """Write the fairness ledger of periods published before it existed (idempotent).

    One transaction: every period is written, or none (an error rolls everything back).
    """
    try:
        written = services.backfill_ledger(territory_id)
        lines = [
            f"  « {period.name} » (territoire {period.territory_id}) : {count} médecin(s)"
            for period, count in written
        ]
    except Exception:
        db.session.rollback()
        raise
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()
    for line in lines:
        click.echo(line)
    verb = "seraient inscrites" if dry_run else "inscrite(s)"
    click.echo(f"{len(written)} période(s) publiée(s) sans registre d'équité {verb} au registre.")
