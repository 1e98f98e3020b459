"""Fairness pages for the coordinator: exempting absences, a period's fairness in detail."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from app.enums import Role
from app.security import get_in_territory_or_404, roles_required
from app.timeutil import now_utc
from app.web import attempt, current_territory
from rota import forms, services
from rota.models import RotaPeriod

bp = Blueprint("fairness", __name__)
coordinator_only = roles_required(Role.COORDINATOR)


@bp.get("/coordination/absences")
@coordinator_only
def absences():
    """The territory's absences of the past year and to come: which count, which exempt."""
    territory = current_territory()
    lines = services.absence_lines(territory.id, since=now_utc().date() - timedelta(days=365))
    return render_template(
        "rota/absences.html", lines=lines, forms={x.id: _form_for(x) for x in lines}
    )


@bp.post("/coordination/absences/<int:absence_id>/exemption")
@coordinator_only
def absence_exemption(absence_id: int):
    """Mark an absence as exempting (with a reason) or as moving duty in time."""
    absence = services.absence_in_territory(current_territory().id, absence_id)
    if absence is None:
        abort(404)
    form = forms.ExemptionForm()
    if form.validate_on_submit():
        exempt = form.exempt.data == "1"
        ok, _ = attempt(
            lambda: services.set_absence_exemption(
                absence, exempt=exempt, reason=form.reason.data or "", by=current_user
            )
        )
        if ok:
            flash("Absence exemptée." if exempt else "Absence reportée.", "success")
    else:
        for errors in form.errors.values():
            flash(" ".join(errors), "error")
    return redirect(url_for("fairness.absences"))


@bp.get("/coordination/periodes/<int:period_id>/equite")
@coordinator_only
def period_fairness(period_id: int):
    """Shares, carried balances and loads of a period; the sites that force unequal loads."""
    period = get_in_territory_or_404(RotaPeriod, period_id)
    rows = [r for r in services.period_fairness(period) if r.total or r.total_target]
    return render_template(
        "rota/period_fairness.html",
        period=period,
        rows=rows,
        pressed=services.period_site_pressure(period),
        year=period.start_date.year,
        balances=services.running_balances(period.territory_id, year=period.start_date.year),
    )


def _form_for(line: services.AbsenceLine) -> forms.ExemptionForm:
    form = forms.ExemptionForm(formdata=None)
    form.exempt.data = "1" if line.exempt else "0"
    form.reason.data = line.exempt_reason or ""
    return form
