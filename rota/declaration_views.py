"""The GP's unavailability page: declare, list, delete (``rota.declarations``).

Its own page, with the form at the top: on "Mes plages" it sat under some forty rows and
its errors showed at the bottom of a 4,500 px page.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from app.enums import Role
from app.forms import ConfirmForm
from app.models import Practitioner
from app.security import roles_required
from app.web import attempt, current_territory
from rota import declarations, forms

bp = Blueprint("declarations", __name__)
gp_only = roles_required(Role.GP)


def _me() -> Practitioner:
    practitioner = current_user.practitioner
    if practitioner is None or practitioner.territory_id != current_user.territory_id:
        abort(403)
    return practitioner


@bp.route("/mes-indisponibilites", methods=["GET", "POST"])
@gp_only
def page():
    """Declare an absence (checked against my roster), and my entries still to come."""
    me = _me()
    territory = current_territory()
    form = forms.UnavailabilityForm()
    if form.validate_on_submit():
        ok, done = attempt(
            lambda: declarations.declare(
                me,
                start_date=form.start_date.data,
                end_date=form.end_date.data,
                reason=form.reason.data or "",
                by=current_user,
            )
        )
        if ok and done is not None:
            flash(_said(done), "success")
            return redirect(url_for("declarations.page"))
    today = declarations.local_today(territory)
    return render_template(
        "rota/unavailability.html",
        form=form,
        lines=declarations.my_declarations(me, today),
        today=today,
        to_replace=territory.absence_on_duty_to_replace,
        confirm=ConfirmForm(),
    )


def _said(done: declarations.Declared) -> str:
    text = "Indisponibilité enregistrée."
    if done.to_replace:
        text += (
            f" {len(done.to_replace)} plage(s) de garde passent « à remplacer » : elles sont "
            "sur la bourse et la coordination est prévenue. Vous en restez titulaire tant "
            "que personne ne les a reprises."
        )
    if done.released:
        text += f" {done.released} plage(s) d'un tableau non publié vous sont retirées."
    return text


@bp.post("/mes-indisponibilites/<int:item_id>/supprimer")
@gp_only
def delete(item_id: int):
    """Withdraw one of my entries, until the rota of its days is generated."""
    me = _me()
    item = declarations.my_declaration(me, item_id)
    if item is None:
        abort(404)
    ok, _ = attempt(lambda: declarations.delete(item, by=current_user))
    if ok:
        flash("Indisponibilité supprimée.", "success")
    return redirect(url_for("declarations.page"))
