"""Login, logout, invitation acceptance and the home page."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required

from app.auth import services
from app.auth.forms import LoginForm, SetPasswordForm
from app.enums import Role
from app.errors import error_response
from app.extensions import limiter

bp = Blueprint("auth", __name__)

GENERIC_LOGIN_ERROR = "Adresse e-mail ou mot de passe incorrect."


def _login_failed(response) -> bool:
    """Only failures spend the address's budget: a successful login redirects."""
    return response.status_code != 302


def _safe_next(target: str | None) -> str | None:
    """Only same-site relative paths, so the login page is no open redirect."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/connexion", methods=["GET", "POST"])
@limiter.limit(
    lambda: current_app.config["LOGIN_RATE_LIMIT_IP"], methods=["POST"], deduct_when=_login_failed
)
def login():
    """Log in; the same error whatever was wrong, so accounts can't be enumerated."""
    if current_user.is_authenticated:
        return redirect(url_for("auth.home"))
    form = LoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.email.data or "", form.password.data or "")
        except services.LoginThrottled as wait:
            message = (
                "Trop de tentatives pour ce compte. "
                f"Réessayez dans {wait.seconds} seconde{'s' if wait.seconds > 1 else ''}."
            )
            response = make_response(error_response(429, message=message))
            response.headers["Retry-After"] = str(wait.seconds)
            return response
        if user is not None:
            services.open_session(user)
            return redirect(_safe_next(form.next.data) or url_for("auth.home"))
        flash(GENERIC_LOGIN_ERROR, "error")
    return render_template("auth/login.html", form=form)


@bp.post("/deconnexion")
@login_required
def logout():
    services.close_session(current_user._get_current_object())
    flash("Vous êtes déconnecté·e.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/invitation/<token>", methods=["GET", "POST"])
def accept_invitation(token: str):
    """An invited user chooses their password."""
    user = services.find_invited_user(token)
    if user is None:
        abort(404)
    form = SetPasswordForm()
    if form.validate_on_submit():
        services.accept_invitation(user, form.password.data or "")
        flash("Votre mot de passe est enregistré. Vous pouvez vous connecter.", "success")
        return redirect(url_for("auth.login"))
    return render_template("auth/invitation.html", form=form, user=user)


@bp.get("/")
def home():
    """Public landing for visitors; each role's starting points once logged in."""
    if not current_user.is_authenticated:
        return render_template("auth/landing.html")
    if current_user.role == Role.COORDINATOR:
        return redirect(url_for("territory.overview"))
    if current_user.role == Role.ADMIN:
        return redirect(url_for("territory.admin_territories"))
    return render_template("auth/home.html")
