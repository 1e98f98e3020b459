"""Coordinator pages for API tokens: list the territory's, issue one (shown once), revoke."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user
from wtforms import SelectField, StringField
from wtforms.validators import Length, Optional

from app.confirmation import Confirmation, ask, is_confirmed
from app.enums import Role
from app.extensions import db
from app.forms import AppForm, select_choices
from app.security import roles_required
from app.validators import ValidationError
from booking import reads, tokens

bp = Blueprint("api_tokens", __name__)

coordinator_only = roles_required(Role.COORDINATOR)


class TokenForm(AppForm):
    user_id = SelectField("Compte", coerce=int, choices=[])
    label = StringField(
        "Libellé (logiciel, poste…)",
        validators=[Optional(), Length(max=tokens.MAX_LABEL, message="100 caractères au plus.")],
    )


def _token_form() -> TokenForm:
    """The form, offering the territory's active accounts that may hold a token."""
    form = TokenForm()
    holders = reads.token_holders(current_user.territory_id)
    form.user_id.choices = select_choices((u.id, f"{u.email} ({u.role.label})") for u in holders)
    return form


@bp.route("/coordination/jetons-api", methods=["GET", "POST"])
@coordinator_only
def tokens_page():
    """The territory's tokens, and a form to issue one; the new token is shown once."""
    form = _token_form()
    if form.validate_on_submit():
        user = reads.account_in_territory(form.user_id.data, current_user.territory_id)
        if user is None:  # the choices hold only the territory's accounts; belt and braces
            abort(404)
        try:
            plain, token = tokens.create_token(user, form.label.data or "", by=current_user)
            db.session.commit()
        except ValidationError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            return render_template(
                "booking/tokens_created.html",
                token=token,
                plain=plain,
                user=user,
                back_url=url_for("api_tokens.tokens_page"),
            )
    return render_template(
        "booking/tokens.html",
        tokens=tokens.territory_tokens(current_user.territory_id),
        form=form,
    )


@bp.post("/coordination/jetons-api/<int:token_id>/revoquer")
@coordinator_only
def revoke(token_id: int):
    token = tokens.find_in_territory(token_id, current_user.territory_id)
    if token is None:
        abort(404)  # another territory's token: not even confirm it exists
    if not is_confirmed():
        return ask(
            Confirmation(
                title=f"Révoquer le jeton {token.prefix}… ?",
                consequences=(
                    "Le logiciel qui l'utilise perd aussitôt l'accès à l'API (réponses 401) ; "
                    "un jeton révoqué ne se réactive pas.",
                    "Aucun e-mail n'est envoyé.",
                ),
                button="Révoquer le jeton",
                back_url=url_for("api_tokens.tokens_page"),
            )
        )
    try:
        tokens.revoke_token(token, by=current_user)
        db.session.commit()
    except ValidationError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        flash(f"Jeton {token.prefix}… révoqué : il ne donne plus accès à l'API.", "success")
    return redirect(url_for("api_tokens.tokens_page"))
