"""The administrator's page for a regulation service's API tokens: list, issue, revoke.

A service's regulator may have no territory of their own, so no coordinator can equip
them; the SAS desk's software and the national SAS platform still need their tokens.
Here (in ``booking``, since ``app`` may not import it) rather than beside the service page.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from app.confirmation import Confirmation, ask, is_confirmed
from app.enums import Role
from app.extensions import db
from app.forms import select_choices
from app.models import RegulationService, User
from app.security import roles_required
from app.web import attempt
from booking import reads, tokens
from booking.forms import ServiceTokenForm

bp = Blueprint("service_tokens", __name__)

admin_only = roles_required(Role.ADMIN)


def _token_form(service: RegulationService) -> ServiceTokenForm:
    """The form, offering the service's active regulators (and where each account was made)."""
    form = ServiceTokenForm()
    form.user_id.choices = select_choices(
        (u.id, f"{u.email} ({u.territory.name})" if u.territory else u.email)
        for u in reads.service_token_holders(service.id)
    )
    return form


@bp.route("/admin/regulation/<int:service_id>/jetons-api", methods=["GET", "POST"])
@admin_only
def page(service_id: int):
    """The service's tokens, and a form to issue one; the new token is shown once."""
    service = db.get_or_404(RegulationService, service_id)
    form = _token_form(service)
    if form.validate_on_submit():
        user = db.session.get(User, form.user_id.data) if form.user_id.data else None
        ok, issued = attempt(
            lambda: tokens.issue_service_token(
                service, user, form.label.data or "", by=current_user
            )
        )
        if ok and issued is not None:
            plain, token = issued
            return render_template(
                "booking/tokens_created.html",
                token=token,
                plain=plain,
                user=user,
                back_url=url_for("service_tokens.page", service_id=service.id),
            )
    return render_template(
        "booking/service_tokens.html",
        service=service,
        tokens=tokens.service_tokens(service.id),
        form=form,
    )


@bp.post("/admin/regulation/<int:service_id>/jetons-api/<int:token_id>/revoquer")
@admin_only
def revoke(service_id: int, token_id: int):
    service = db.get_or_404(RegulationService, service_id)
    token = tokens.find_in_service(token_id, service.id)
    if token is None:
        abort(404)  # another service's token (or a coordinator's): not this page's to revoke
    back = url_for("service_tokens.page", service_id=service.id)
    if not is_confirmed():
        return ask(
            Confirmation(
                title=f"Révoquer le jeton {token.prefix}… ?",
                consequences=(
                    f"Le logiciel qui l'utilise au nom de {token.user.email} ({service.name}) "
                    "perd aussitôt l'accès à l'API et à l'interface FHIR (réponses 401) ; "
                    "un jeton révoqué ne se réactive pas.",
                    "Aucun e-mail n'est envoyé.",
                ),
                button="Révoquer le jeton",
                back_url=back,
            )
        )
    ok, _ = attempt(lambda: tokens.revoke_token(token, by=current_user))
    if ok:
        flash(f"Jeton {token.prefix}… révoqué : il ne donne plus accès à l'API.", "success")
    return redirect(back)
