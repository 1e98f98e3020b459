"""Login, logout, invitation acceptance and the home page."""

from __future__ import annotations

from datetime import datetime, timedelta
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
    session,
    url_for,
)
from flask_login import current_user, login_required, logout_user

from app.auth import psc, reset, rules, services, sessions, totp
from app.auth.forms import (
    ChangePasswordForm,
    EnableTotpForm,
    ForgotPasswordForm,
    LoginForm,
    LoginRulesForm,
    SecondFactorForm,
    SetPasswordForm,
)
from app.database import write_transactions
from app.enums import Role
from app.errors import error_response
from app.extensions import db, limiter
from app.home import gp_panels
from app.models import User
from app.security import roles_required
from app.territory import invitations
from app.timeutil import now_utc
from app.web import attempt, current_territory

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
            if refused := _password_login_refused(user):
                return refused
            if totp.has_second_factor(user):
                return _ask_second_factor(user, form.next.data)
            services.open_session(user)
            return redirect(_safe_next(form.next.data) or url_for("auth.home"))
        flash(GENERIC_LOGIN_ERROR, "error")
    return render_template("auth/login.html", form=form, psc_enabled=psc.psc_enabled())


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
        held = invitations.find_address_invitation(token)
        if held is None:
            abort(404)
        return render_template("auth/invitation_held.html", invitation=held)
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
    panels = gp_panels(current_user.practitioner) if current_user.role == Role.GP else []
    return render_template("auth/home.html", panels=panels)


# --- second factor, Pro Santé Connect, password reset and change, sessions ------------------

PENDING_2FA = "pending_2fa"
PENDING_2FA_MINUTES = 5
# Pages a logged-in account that still owes its second factor may open.
OPEN_BEFORE_ENROLMENT = {"auth.totp_setup", "auth.logout", "auth.home", "static"}


def _password_login_refused(user: User):
    if psc.password_refused_for(user):
        flash(
            "Votre CPTS demande aux médecins généralistes de se connecter avec Pro Santé "
            "Connect (carte CPS ou application e-CPS).",
            "error",
        )
        return redirect(url_for("auth.login"))
    return None


def _ask_second_factor(user: User, next_url: str | None):
    """The password was right: remember who is halfway in, then ask for the code."""
    session.clear()
    session[PENDING_2FA] = {
        "user": user.id,
        "token": user.session_token,
        "at": now_utc().isoformat(),
        "next": _safe_next(next_url) or "",
    }
    return redirect(url_for("auth.second_factor"))


def _pending_user() -> User | None:
    data = session.get(PENDING_2FA)
    if not isinstance(data, dict):
        return None
    try:
        started = datetime.fromisoformat(data["at"])
    except (KeyError, TypeError, ValueError):
        return None
    if now_utc() - started > timedelta(minutes=PENDING_2FA_MINUTES):
        return None
    return totp.user_awaiting_second_factor(data.get("user"), data.get("token"))


def _second_factor_key() -> str:
    data = session.get(PENDING_2FA)
    user_id = data.get("user") if isinstance(data, dict) else None
    return f"login-2fa:{user_id}"


@bp.before_app_request
def check_account_session():
    """Every logged-in request: its session row still open, its second factor in place."""
    if request.endpoint == "static" or not current_user.is_authenticated:
        return None
    user = current_user._get_current_object()
    row = sessions.current_user_session(user)
    if row is None:  # closed from "Mes sessions", or a cookie from before sessions existed
        logout_user()
        session.clear()
        if request.path.startswith(("/api/", "/fhir/")):
            abort(401)
        flash("Votre session a été fermée. Merci de vous reconnecter.", "warning")
        return redirect(url_for("auth.login"))
    if sessions.needs_touch(row):
        db.session.commit()  # end the read; a GET writes in a write transaction (SQLite)
        with write_transactions():
            sessions.touch_user_session(row)
            db.session.commit()
    if (
        session.get("auth_method") != "psc"
        and request.endpoint not in OPEN_BEFORE_ENROLMENT
        and totp.second_factor_required(user)
        and not totp.has_second_factor(user)
    ):
        flash(
            "La double authentification est obligatoire pour votre compte : activez-la "
            "pour continuer.",
            "warning",
        )
        return redirect(url_for("auth.totp_setup"))
    return None


@bp.route("/connexion/code", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT_IP"], methods=["POST"])
@limiter.limit(
    lambda: current_app.config["LOGIN_RATE_LIMIT_ACCOUNT"],
    methods=["POST"],
    key_func=_second_factor_key,
)
def second_factor():
    """Second step of a password login: the authenticator's code, or a recovery code."""
    if current_user.is_authenticated:
        return redirect(url_for("auth.home"))
    user = _pending_user()
    if user is None:
        session.pop(PENDING_2FA, None)
        flash("Merci de vous reconnecter.", "info")
        return redirect(url_for("auth.login"))
    form = SecondFactorForm()
    if form.validate_on_submit():
        method = totp.verify_second_factor(user, form.code.data or "")
        if method is not None:
            next_url = session[PENDING_2FA].get("next") or ""
            services.open_session(user)
            if method == "recovery":
                flash(
                    f"Code de secours utilisé : il vous en reste {totp.remaining_recovery_codes(user)}.",
                    "warning",
                )
            return redirect(_safe_next(next_url) or url_for("auth.home"))
        db.session.rollback()
        flash("Code incorrect ou déjà utilisé.", "error")
    return render_template("auth/second_factor.html", form=form)


@bp.route("/compte")
@login_required
def account():
    """My account: password, second factor, sessions."""
    user = current_user._get_current_object()
    return render_template(
        "auth/account.html",
        has_totp=totp.has_second_factor(user),
        totp_required=totp.second_factor_required(user),
        psc_session=session.get("auth_method") == "psc",
    )


@bp.route("/compte/double-authentification", methods=["GET", "POST"])
@login_required
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT_IP"], methods=["POST"])
def totp_setup():
    """Enrol an authenticator app (QR code), or see the factor's state once enrolled."""
    user = current_user._get_current_object()
    if totp.has_second_factor(user):
        return render_template(
            "auth/totp_status.html",
            remaining=totp.remaining_recovery_codes(user),
            required=totp.second_factor_required(user),
            form=EnableTotpForm(),
        )
    secret = session.get("totp_pending")
    if not isinstance(secret, str) or request.method == "GET":
        secret = session["totp_pending"] = totp.new_secret()
    form = EnableTotpForm()
    if form.validate_on_submit():
        ok, codes = attempt(lambda: totp.enable_totp(user, secret, form.code.data or "", by=user))
        if ok:
            session.pop("totp_pending", None)
            return render_template("auth/recovery_codes.html", codes=codes, first=True)
    uri = totp.provisioning_uri(user, secret)
    return render_template(
        "auth/totp_setup.html", form=form, secret=secret, qr=totp.qr_svg(uri), uri=uri
    )


@bp.post("/compte/double-authentification/codes-de-secours")
@login_required
def totp_recovery_codes():
    """New recovery codes (the old ones stop working), shown once."""
    user = current_user._get_current_object()
    if not totp.has_second_factor(user):
        return redirect(url_for("auth.totp_setup"))
    ok, codes = attempt(lambda: totp.regenerate_recovery_codes(user, by=user))
    if not ok:
        return redirect(url_for("auth.totp_setup"))
    return render_template("auth/recovery_codes.html", codes=codes, first=False)


@bp.post("/compte/double-authentification/desactiver")
@login_required
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT_IP"])
def totp_disable():
    """Turn the second factor off, with a current code as proof (when not mandatory)."""
    user = current_user._get_current_object()
    form = EnableTotpForm()
    if not totp.has_second_factor(user):
        return redirect(url_for("auth.totp_setup"))
    if form.validate_on_submit() and totp.verify_second_factor(user, form.code.data or ""):
        ok, _ = attempt(lambda: totp.disable_totp(user, by=user))
        if ok:
            flash("La double authentification est désactivée.", "info")
    else:
        db.session.rollback()
        flash("Code incorrect : la double authentification reste active.", "error")
    return redirect(url_for("auth.totp_setup"))


@bp.get("/connexion/psc")
def psc_login():
    """Off to Pro Santé Connect (e-CPS app or CPS card)."""
    if current_user.is_authenticated:
        return redirect(url_for("auth.home"))
    if not psc.psc_enabled():
        flash("La connexion Pro Santé Connect n'est pas configurée sur ce service.", "error")
        return redirect(url_for("auth.login"))
    redirect_uri = current_app.config.get("PSC_REDIRECT_URI") or url_for(
        "auth.psc_callback", _external=True
    )
    try:
        return psc.authorize_redirect(redirect_uri)
    except psc.PscError as exc:
        flash(str(exc), "error")
        return redirect(url_for("auth.login"))


@bp.get("/connexion/psc/retour")
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT_IP"])
def psc_callback():
    """Back from Pro Santé Connect: finish the code flow and log the matching account in."""
    if not psc.psc_enabled():
        flash("La connexion Pro Santé Connect n'est pas configurée sur ce service.", "error")
        return redirect(url_for("auth.login"))
    try:
        user = psc.find_psc_account(psc.identity_from_callback())
    except psc.PscError as exc:
        flash(str(exc), "error")
        return redirect(url_for("auth.login"))
    services.open_session(user, method="psc")
    return redirect(url_for("auth.home"))


def _reset_email_key() -> str:
    return "reset-account:" + request.form.get("email", "").strip().lower()


@bp.route("/mot-de-passe-oublie", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT_IP"], methods=["POST"])
@limiter.limit(
    lambda: current_app.config["LOGIN_RATE_LIMIT_ACCOUNT"],
    methods=["POST"],
    key_func=_reset_email_key,
)
def forgot_password():
    """Ask for a reset link; the answer is the same whether the address has an account."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        attempt(lambda: reset.request_password_reset(form.email.data or ""))
        flash(
            "Si un compte actif correspond à cette adresse, un lien de réinitialisation vient "
            "de lui être envoyé. Il est valable une heure.",
            "info",
        )
        return redirect(url_for("auth.login"))
    return render_template("auth/forgot_password.html", form=form)


@bp.route("/mot-de-passe/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    """Choose a new password from a reset link (single use, one hour)."""
    found = reset.find_reset(token)
    if found is None:
        abort(404)
    form = SetPasswordForm()
    if form.validate_on_submit():
        ok, _ = attempt(lambda: reset.reset_password(found, form.password.data or ""))
        if ok:
            flash(
                "Votre mot de passe est changé, et vos sessions ouvertes sont fermées. "
                "Vous pouvez vous connecter.",
                "success",
            )
            return redirect(url_for("auth.login"))
    return render_template("auth/reset_password.html", form=form)


@bp.route("/compte/mot-de-passe", methods=["GET", "POST"])
@login_required
@limiter.limit(
    lambda: current_app.config["LOGIN_RATE_LIMIT_ACCOUNT"],
    methods=["POST"],
    key_func=lambda: f"change-password:{current_user.id}",
)
def change_password():
    """Change my password; the current one is asked first."""
    user = current_user._get_current_object()
    form = ChangePasswordForm()
    if form.validate_on_submit():
        ok, _ = attempt(
            lambda: reset.change_password(user, form.current.data or "", form.password.data or "")
        )
        if ok:
            flash("Votre mot de passe est changé ; vos autres sessions sont fermées.", "success")
            return redirect(url_for("auth.account"))
    return render_template("auth/change_password.html", form=form)


@bp.get("/compte/sessions")
@login_required
def my_sessions():
    """My open sessions: which device, since when, last used."""
    user = current_user._get_current_object()
    return render_template("auth/sessions.html", sessions=sessions.list_user_sessions(user))


@bp.post("/compte/sessions/fermer")
@login_required
def end_session():
    """Close one of my sessions (this one included)."""
    user = current_user._get_current_object()
    session_id = request.form.get("session", type=int)
    current = sessions.current_user_session(user)
    if session_id is None:
        abort(400)
    ok, found = attempt(lambda: sessions.end_user_session(user, session_id, by=user))
    if ok and not found:
        abort(404)
    if current is not None and current.id == session_id:
        logout_user()
        session.clear()
        flash("Cette session est fermée.", "info")
        return redirect(url_for("auth.login"))
    flash("La session est fermée.", "success")
    return redirect(url_for("auth.my_sessions"))


@bp.post("/compte/sessions/tout-fermer")
@login_required
def end_all_sessions():
    """Log out everywhere, this browser included."""
    user = current_user._get_current_object()
    attempt(lambda: sessions.end_all_user_sessions(user, by=user))
    logout_user()
    session.clear()
    flash("Toutes vos sessions sont fermées.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/coordination/connexion", methods=["GET", "POST"])
@roles_required(Role.COORDINATOR)
def login_rules():
    """The territory's login rules: PSC for GPs, a second factor for everyone."""
    territory = current_territory()
    form = LoginRulesForm(obj=territory)
    if form.validate_on_submit():
        ok, _ = attempt(
            lambda: rules.update_login_rules(
                territory,
                require_psc_for_gps=form.require_psc_for_gps.data,
                require_2fa=form.require_2fa.data,
                psc_available=psc.psc_enabled(),
                by=current_user._get_current_object(),
            )
        )
        if ok:
            flash("Les règles de connexion sont enregistrées.", "success")
            return redirect(url_for("auth.login_rules"))
    return render_template("auth/login_rules.html", form=form, psc_enabled=psc.psc_enabled())


@bp.record_once
def _register_psc(state) -> None:
    psc.init_psc(state.app)
