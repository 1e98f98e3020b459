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
def demo_command() -> None:
    """Load the demo territories (idempotent) and print the demo accounts."""
    from demo.loader import DEMO_ACCOUNTS, load_demo

    created = load_demo()
    click.echo("Démo chargée." if created else "Démo déjà présente : rien à faire.")
    click.echo("Comptes de démonstration :")
    for email, password, label in DEMO_ACCOUNTS:
        click.echo(f"  {label:<40} {email:<40} {password}")


def init_app(app: Flask) -> None:
    app.cli.add_command(demo_command)
