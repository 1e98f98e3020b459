"""The demo territories (``flask demo``): every layer's services, used as people would.

It stands above every feature (it builds a rota, publishes it, books slots), so it lives
outside the shell.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from flask import Flask


@click.command("demo")
@click.option(
    "--force", is_flag=True, help="Charger même hors développement ou à côté de vrais comptes."
)
def demo_command(force: bool) -> None:
    """Load the demo territories (idempotent) and print the demo accounts.

    Refused outside development, or on a database with accounts of real people, unless
    ``--force``: the demo's accounts (an administrator too) have a published password.
    """
    from flask import current_app

    from demo.loader import DEMO_ACCOUNTS, load_demo, refusal

    if not force and (reason := refusal(env_name=current_app.config["ENV_NAME"])):
        raise click.ClickException(reason)
    created = load_demo()
    click.echo("Démo chargée." if created else "Démo déjà présente : rien à faire.")
    click.echo("Comptes de démonstration :")
    for email, password, label in DEMO_ACCOUNTS:
        click.echo(f"  {label:<40} {email:<40} {password}")


def init_app(app: Flask) -> None:
    app.cli.add_command(demo_command)
