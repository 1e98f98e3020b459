"""Confirmation steps for destructive actions, without JavaScript.

A destructive POST (publish a rota, remove a GP, cancel a session, revoke a token…) acts
only when it carries ``confirmed=1``. Without it, the view answers with a page saying what
will happen ("42 médecins recevront un e-mail"), whose button POSTs the same address again
with the flag (and the CSRF token, and any field the first form carried). So a stray or
forged click, a double submit from an old form or a script that skips the page does
nothing but show the question.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from flask import render_template, request

CONFIRMED_FIELD = "confirmed"


def is_confirmed() -> bool:
    """Whether this POST comes from a confirmation page's button."""
    return request.form.get(CONFIRMED_FIELD) == "1"


@dataclass(frozen=True)
class Confirmation:
    """What the confirmation page says: a question, the consequences, the two ways out."""

    title: str  # "Publier le tableau « Janvier » ?"
    consequences: tuple[str, ...]  # one sentence each, the counts computed by the services
    button: str  # the action's verb: "Publier", "Retirer", "Révoquer"
    back_url: str  # where "Revenir sans rien changer" leads
    carried: Mapping[str, str] = field(default_factory=dict)  # fields to POST again
    danger: bool = True


def ask(confirmation: Confirmation) -> str:
    """The confirmation page, POSTing back to the address that was just called."""
    return render_template("confirm.html", c=confirmation, action=request.path)
