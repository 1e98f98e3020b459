"""The platform administrator's pages: regulation services and the territories they cover."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.enums import Role
from app.extensions import db
from app.forms import ConfirmForm, select_choices
from app.models import RegulationService, Territory, User
from app.regulation import forms, services
from app.security import roles_required
from app.web import attempt

bp = Blueprint("regulation", __name__)
admin_only = roles_required(Role.ADMIN)


@bp.route("/admin/regulation", methods=["GET", "POST"])
@admin_only
def services_page():
    """Every regulation service, and a form to create one."""
    form = forms.ServiceForm()
    if form.validate_on_submit():
        ok, service = attempt(
            lambda: services.create_service(form.name.data or "", by=current_user)
        )
        if ok and service is not None:
            flash(f"Service « {service.name} » créé : rattachez-lui ses territoires.", "success")
            return redirect(url_for("regulation.service_page", service_id=service.id))
    return render_template("regulation/services.html", services=services.list_services(), form=form)


@bp.route("/admin/regulation/<int:service_id>", methods=["GET", "POST"])
@admin_only
def service_page(service_id: int):
    """One service: its name, its territories, its regulators."""
    service = db.get_or_404(RegulationService, service_id)
    rename, attach, assign = _service_forms(service)
    if request.method == "POST":
        done = {
            "rename": lambda: rename.validate() and _rename(service, rename),
            "attach": lambda: attach.validate() and _attach(service, attach),
            "assign": lambda: assign.validate() and _assign(service, assign),
        }.get(request.form.get("action") or "", lambda: False)()
        if done is False:
            flash("Formulaire incomplet : rien n'a été modifié.", "error")
        return redirect(url_for("regulation.service_page", service_id=service.id))
    return render_template(
        "regulation/service.html",
        service=service,
        rename=rename,
        attach=attach,
        assign=assign,
        confirm=ConfirmForm(),
    )


def _service_forms(service: RegulationService):
    """The page's three forms, with the territories and regulators that may still join."""
    rename = forms.ServiceForm(obj=service, prefix="rename")
    attach = forms.AttachTerritoryForm(prefix="attach")
    assign = forms.AssignRegulatorForm(prefix="assign")
    attached = set(service.territory_ids)
    attach.territory_id.choices = select_choices(
        (t.id, t.name) for t in services.list_territories() if t.id not in attached
    )
    assign.user_id.choices = select_choices(
        (u.id, f"{u.email}{' (' + u.territory.name + ')' if u.territory else ''}")
        for u in services.list_regulators()
        if u.regulation_service_id != service.id
    )
    return rename, attach, assign


def _rename(service: RegulationService, form: forms.ServiceForm) -> bool:
    ok, _ = attempt(lambda: services.rename_service(service, form.name.data or "", by=current_user))
    if ok:
        flash("Service renommé.", "success")
    return True


def _attach(service: RegulationService, form: forms.AttachTerritoryForm) -> bool:
    territory = db.session.get(Territory, form.territory_id.data)
    if territory is None:
        abort(404)
    ok, _ = attempt(lambda: services.attach_territory(service, territory, by=current_user))
    if ok:
        flash(f"{territory.name} rattaché à {service.name}.", "success")
    return True


def _assign(service: RegulationService, form: forms.AssignRegulatorForm) -> bool:
    user = db.session.get(User, form.user_id.data)
    if user is None:
        abort(404)
    ok, _ = attempt(lambda: services.assign_regulator(user, service, by=current_user))
    if ok:
        flash(f"{user.email} rejoint {service.name}.", "success")
    return True


@bp.post("/admin/regulation/<int:service_id>/territoires/<int:territory_id>/retirer")
@admin_only
def detach_territory(service_id: int, territory_id: int):
    service = db.get_or_404(RegulationService, service_id)
    territory = db.session.get(Territory, territory_id)
    if territory is None:
        abort(404)
    ok, _ = attempt(lambda: services.detach_territory(service, territory, by=current_user))
    if ok:
        flash(f"{territory.name} n'est plus rattaché à {service.name}.", "success")
    return redirect(url_for("regulation.service_page", service_id=service.id))
