"""Coordinator pages (territory set-up) and the admin's territory list."""

from __future__ import annotations

from datetime import time
from typing import TypeVar

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app import communes_ref, todo
from app.collation import by_name
from app.enums import Profession, Role, SiteKind
from app.extensions import db
from app.forms import ConfirmForm, select_choices
from app.models import Commune, Practitioner, Site, Territory, User
from app.security import get_in_territory_or_404, roles_required
from app.territory import forms, invitations, reads, services
from app.territory.practitioner_import import import_and_commit
from app.urls import public_url
from app.validators import ValidationError
from app.web import attempt, current_territory

bp = Blueprint("territory", __name__)
T = TypeVar("T")

coordinator_only = roles_required(Role.COORDINATOR)
admin_only = roles_required(Role.ADMIN)


def _settings(form: forms.TerritoryForm) -> services.TerritorySettings:
    return services.TerritorySettings(
        name=form.name.data or "",
        finess=form.finess.data or None,
        timezone=form.timezone.data or "Europe/Paris",
        holiday_subdivision=form.holiday_subdivision.data or None,
        phone=form.phone.data or None,
        email=form.email.data or None,
        min_rest_hours=form.min_rest_hours.data if form.min_rest_hours.data is not None else 10,
        max_sessions_per_week=form.max_sessions_per_week.data or None,
        swaps_need_approval=bool(form.swaps_need_approval.data),
        absence_on_duty_to_replace=bool(form.absence_on_duty_to_replace.data),
        booking_release_minutes=_or(form.booking_release_minutes.data, 120),
        booking_horizon_hours=_or(form.booking_horizon_hours.data, 24),
        patient_data_days=_or(form.patient_data_days.data, 90),
        pdsa_weekday_from=form.pdsa_weekday_from.data or time(20),
        pdsa_weekday_until=form.pdsa_weekday_until.data or time(8),
        pdsa_saturday_from=form.pdsa_saturday_from.data or time(12),
        snp_weekly_cap=form.snp_weekly_cap.data or None,
    )


def _or(value: int | None, default: int) -> int:
    """A number left empty takes the default (0 is a real answer, so not ``or``)."""
    return default if value is None else value


# --- overview and settings -------------------------------------------------------------


@bp.get("/coordination")
@coordinator_only
def overview():
    """The territory at a glance."""
    territory = current_territory()
    stats = reads.territory_stats(territory)
    return render_template(
        "territory/overview.html", territory=territory, stats=stats, todo=todo.collect(territory)
    )


@bp.route("/coordination/territoire", methods=["GET", "POST"])
@coordinator_only
def settings():
    """Edit the territory's settings."""
    territory = current_territory()
    form = forms.TerritoryForm(obj=territory)
    if request.method == "GET":
        form.holiday_subdivision.data = territory.holiday_subdivision or ""
    if form.validate_on_submit():
        ok, _ = attempt(
            lambda: services.update_territory(territory, _settings(form), by=current_user)
        )
        if ok:
            flash("Paramètres enregistrés.", "success")
            return redirect(url_for("territory.overview"))
    return render_template("territory/settings.html", form=form, territory=territory)


# --- communes -----------------------------------------------------------------------------


@bp.get("/coordination/communes")
@coordinator_only
def communes():
    """The territory's communes, and a search in the official list to add more."""
    territory = current_territory()
    query = request.args.get("q", "").strip()[:100]
    results = communes_ref.search(query) if query else []
    epcis = communes_ref.search_epci(query) if len(query) >= 3 else []
    owners = reads.commune_owners(c.insee_code for c in results)
    return render_template(
        "territory/communes.html",
        territory=territory,
        query=query,
        results=results,
        epcis=epcis,
        owners=owners,
        epci_name=communes_ref.epci_name,
        form=ConfirmForm(),
    )


@bp.route("/coordination/communes/ajouter/<insee_code>", methods=["GET", "POST"])
@coordinator_only
def add_commune(insee_code: str):
    """Add one commune, whole or for some postal codes (split urban communes)."""
    official = communes_ref.get(insee_code)
    if official is None:
        abort(404)
    form = forms.CommuneAddForm(insee_code=official.insee_code)
    form.postal_codes.choices = select_choices((c, c) for c in official.postal_codes)
    if request.method == "POST" and form.validate():
        chosen = form.postal_codes.data or None
        ok, commune = attempt(
            lambda: services.add_commune(
                current_territory(), official.insee_code, postal_codes=chosen, by=current_user
            )
        )
        if ok and commune is not None:
            flash(f"{commune.name} ajoutée au territoire.", "success")
            return redirect(url_for("territory.communes"))
    return render_template("territory/commune_add.html", form=form, official=official)


@bp.post("/coordination/communes/epci")
@coordinator_only
def add_epci():
    """Add every commune of an EPCI that no other CPTS holds yet."""
    form = forms.EpciAddForm()
    if not form.validate():
        abort(400)
    territory = current_territory()
    members = [
        c for c in communes_ref.reference().communes.values() if c.epci_code == form.epci_code.data
    ]
    if not members:
        abort(404)
    added, skipped = [], []
    for official in members:
        try:
            with db.session.begin_nested():
                services.add_commune(territory, official.insee_code, by=current_user)
            added.append(official.name)
        except ValidationError:
            skipped.append(official.name)
    db.session.commit()
    flash(f"{len(added)} commune(s) ajoutée(s).", "success")
    if skipped:
        flash(
            "Déjà rattachées (ici ou à une autre CPTS), non ajoutées : " + ", ".join(skipped),
            "warning",
        )
    return redirect(url_for("territory.communes"))


@bp.post("/coordination/communes/<int:commune_id>/retirer")
@coordinator_only
def remove_commune(commune_id: int):
    commune = get_in_territory_or_404(Commune, commune_id)
    name = commune.name
    ok, _ = attempt(lambda: services.remove_commune(commune, by=current_user))
    if ok:
        flash(f"{name} retirée du territoire.", "success")
    return redirect(url_for("territory.communes"))


# --- commune centres ----------------------------------------------------------------------


@bp.route("/coordination/communes/centres", methods=["GET", "POST"])
@coordinator_only
def commune_centres():
    """Where each commune's distances are measured from: shipped, corrected, or imported."""
    territory = current_territory()
    form = forms.CommuneCentresImportForm()
    if form.validate_on_submit():
        data = form.file.data.read()
        ok, report = attempt(
            lambda: services.import_commune_centres(territory, data, by=current_user)
        )
        if ok and report is not None:
            flash(
                f"Centres importés : {len(report.updated)} mis à jour, "
                f"{report.unchanged} inchangé(s).",
                "success",
            )
            return redirect(url_for("territory.commune_centres"))
    return render_template(
        "territory/commune_centres.html",
        territory=territory,
        form=form,
        centre_form=forms.CommuneCentreForm,
    )


@bp.post("/coordination/communes/<int:commune_id>/centre")
@coordinator_only
def set_commune_centre(commune_id: int):
    """Correct (or clear) one commune's centre."""
    commune = get_in_territory_or_404(Commune, commune_id)
    form = forms.CommuneCentreForm()
    if not form.validate():
        abort(400)
    latitude = (form.latitude.data or "").strip() or None
    longitude = (form.longitude.data or "").strip() or None
    ok, _ = attempt(
        lambda: services.set_commune_centre(commune, latitude, longitude, by=current_user)
    )
    if ok:
        flash(f"Centre de {commune.name} enregistré.", "success")
    return redirect(url_for("territory.commune_centres"))


# --- sites --------------------------------------------------------------------------------


def _site_form(territory: Territory, site: Site | None = None) -> forms.SiteForm:
    form = forms.SiteForm(obj=site)
    form.commune_id.choices = select_choices(
        (c.id, f"{c.name} ({', '.join(c.postal_codes)})") for c in by_name(territory.communes)
    )
    return form


def _site_data(form: forms.SiteForm) -> services.SiteData:
    return services.SiteData(
        name=form.name.data or "",
        kind=SiteKind(form.kind.data),
        address_line=form.address_line.data or "",
        postal_code=form.postal_code.data or "",
        commune_id=form.commune_id.data or 0,
        phone=form.phone.data or None,
        latitude=form.latitude.data,
        longitude=form.longitude.data,
        accessibility=form.accessibility.data or "",
    )


@bp.get("/coordination/lieux")
@coordinator_only
def sites():
    territory = current_territory()
    return render_template(
        "territory/sites.html",
        territory=territory,
        sites=by_name(territory.sites),
        form=ConfirmForm(),
    )


@bp.route("/coordination/lieux/nouveau", methods=["GET", "POST"])
@coordinator_only
def new_site():
    territory = current_territory()
    form = _site_form(territory)
    if form.validate_on_submit():
        ok, site = attempt(
            lambda: services.create_site(territory, _site_data(form), by=current_user)
        )
        if ok and site is not None:
            flash(f"Lieu « {site.name} » créé.", "success")
            return redirect(url_for("territory.sites"))
    return render_template("territory/site_form.html", form=form, site=None)


@bp.route("/coordination/lieux/<int:site_id>", methods=["GET", "POST"])
@coordinator_only
def edit_site(site_id: int):
    site = get_in_territory_or_404(Site, site_id)
    form = _site_form(site.territory, site)
    if form.validate_on_submit():
        ok, _ = attempt(lambda: services.update_site(site, _site_data(form), by=current_user))
        if ok:
            flash("Lieu enregistré.", "success")
            return redirect(url_for("territory.sites"))
    return render_template("territory/site_form.html", form=form, site=site)


@bp.post("/coordination/lieux/<int:site_id>/<any(activer, desactiver):action>")
@coordinator_only
def toggle_site(site_id: int, action: str):
    site = get_in_territory_or_404(Site, site_id)
    attempt(lambda: services.set_site_active(site, action == "activer", by=current_user))
    return redirect(url_for("territory.sites"))


# --- practitioners --------------------------------------------------------------------------


def _practitioner_form(
    territory: Territory, practitioner: Practitioner | None = None
) -> forms.PractitionerForm:
    form = forms.PractitionerForm(obj=practitioner)
    form.site_ids.choices = select_choices(
        (s.id, s.name) for s in by_name(territory.sites) if s.active
    )
    if practitioner is not None and request.method == "GET":
        form.site_ids.data = [s.id for s in practitioner.sites]
    return form


def _practitioner_data(
    form: forms.PractitionerForm, practitioner: Practitioner | None = None
) -> services.PractitionerData:
    """The form's data; links to deactivated sites, which the form can't offer, are kept."""
    kept = [s.id for s in practitioner.sites if not s.active] if practitioner else []
    return services.PractitionerData(
        rpps=form.rpps.data or "",
        family_name=form.family_name.data or "",
        given_name=form.given_name.data or "",
        profession=Profession(form.profession.data),
        email=form.email.data or None,
        phone=form.phone.data or None,
        site_ids=[*(form.site_ids.data or []), *kept],
    )


@bp.get("/coordination/professionnels")
@coordinator_only
def practitioners():
    """Practitioners of the territory, filterable by name/RPPS and profession."""
    territory = current_territory()
    query = request.args.get("q", "").strip()[:100]
    profession = request.args.get("profession", "")
    return render_template(
        "territory/practitioners.html",
        practitioners=reads.practitioners(territory, query=query, profession=profession),
        query=query,
        profession=profession,
        form=ConfirmForm(),
    )


@bp.route("/coordination/professionnels/nouveau", methods=["GET", "POST"])
@coordinator_only
def new_practitioner():
    territory = current_territory()
    form = _practitioner_form(territory)
    if form.validate_on_submit():
        ok, practitioner = attempt(
            lambda: services.create_practitioner(
                territory, _practitioner_data(form), by=current_user
            )
        )
        if ok and practitioner is not None:
            flash(f"{practitioner.display_name} ajouté·e.", "success")
            return redirect(url_for("territory.practitioners"))
    return render_template("territory/practitioner_form.html", form=form, practitioner=None)


@bp.route("/coordination/professionnels/<int:practitioner_id>", methods=["GET", "POST"])
@coordinator_only
def edit_practitioner(practitioner_id: int):
    practitioner = get_in_territory_or_404(Practitioner, practitioner_id)
    form = _practitioner_form(current_territory(), practitioner)
    if form.validate_on_submit():
        ok, _ = attempt(
            lambda: services.update_practitioner(
                practitioner, _practitioner_data(form, practitioner), by=current_user
            )
        )
        if ok:
            flash("Fiche enregistrée.", "success")
            return redirect(url_for("territory.practitioners"))
    return render_template("territory/practitioner_form.html", form=form, practitioner=practitioner)


@bp.post("/coordination/professionnels/<int:practitioner_id>/<any(activer, desactiver):action>")
@coordinator_only
def toggle_practitioner(practitioner_id: int, action: str):
    practitioner = get_in_territory_or_404(Practitioner, practitioner_id)
    ok, _ = attempt(
        lambda: services.set_practitioner_active(practitioner, action == "activer", by=current_user)
    )
    if ok:
        verb = "réactivé·e" if action == "activer" else "désactivé·e (et son compte éventuel)"
        flash(f"{practitioner.display_name} {verb}.", "success")
    return redirect(url_for("territory.practitioners"))


@bp.route("/coordination/professionnels/import", methods=["GET", "POST"])
@coordinator_only
def import_practitioners_page():
    """CSV import: all or nothing, with an error per bad line."""
    form = forms.PractitionerImportForm()
    errors = []
    if form.validate_on_submit():
        data = form.file.data.read()
        report = import_and_commit(current_territory(), data, by=current_user)
        if report.errors:
            errors = report.errors
            flash(f"{len(errors)} erreur(s) : aucun professionnel n'a été importé.", "error")
        else:
            flash(
                f"Import réussi : {report.created} créé(s), {report.updated} mis à jour.", "success"
            )
            return redirect(url_for("territory.practitioners"))
    return render_template("territory/practitioner_import.html", form=form, errors=errors)


# --- user accounts ----------------------------------------------------------------------------


@bp.get("/coordination/comptes")
@coordinator_only
def users():
    territory = current_territory()
    return render_template(
        "territory/users.html", users=reads.accounts(territory), form=ConfirmForm()
    )


def _invite_form(territory: Territory) -> forms.InviteUserForm:
    form = forms.InviteUserForm()
    candidates = reads.unlinked_practitioners(territory)
    form.practitioner_id.choices = select_choices(
        [(0, "— aucun —")]
        + [(p.id, f"{p.display_name} ({p.profession.label}, RPPS {p.rpps})") for p in candidates]
    )
    return form


@bp.route("/coordination/comptes/inviter", methods=["GET", "POST"])
@coordinator_only
def invite_user():
    """Create an account and show its one-time activation link."""
    territory = current_territory()
    form = _invite_form(territory)
    if form.validate_on_submit():
        practitioner = (
            get_in_territory_or_404(Practitioner, form.practitioner_id.data)
            if form.practitioner_id.data
            else None
        )
        ok, outcome = attempt(
            lambda: invitations.invite(
                territory,
                email=form.email.data or "",
                role=Role(form.role.data),
                display_name=form.display_name.data or "",
                practitioner=practitioner,
                by=current_user,
            )
        )
        if ok and outcome is not None:
            user, token = outcome
            link = public_url("auth.accept_invitation", token=token)
            return render_template("territory/invitation_link.html", user=user, link=link)
    return render_template("territory/user_invite.html", form=form)


@bp.post("/coordination/comptes/invitation")
@coordinator_only
def invitation_action():
    """A new link, cancel or restart an invitation: by address, whatever its kind."""
    form = forms.InvitationActionForm()
    if not form.validate_on_submit():
        abort(400)
    action = form.action.data or ""
    try:
        ok, token = attempt(
            lambda: invitations.act(
                current_territory(), form.email.data or "", action, by=current_user
            )
        )
    except invitations.NoSuchInvitation:
        abort(404)
    if ok and token is not None:
        row = reads.account_row(current_territory(), form.email.data or "")
        link = public_url("auth.accept_invitation", token=token)
        return render_template("territory/invitation_link.html", user=row, link=link)
    if ok:
        flash(f"Invitation de {form.email.data} annulée.", "success")
    return redirect(url_for("territory.users"))


@bp.post("/coordination/comptes/<int:user_id>/<any(activer, desactiver):action>")
@coordinator_only
def toggle_user(user_id: int, action: str):
    user = get_in_territory_or_404(User, user_id)
    ok, _ = attempt(lambda: services.set_user_active(user, action == "activer", by=current_user))
    if ok:
        flash(
            f"Compte {user.email} {'réactivé' if action == 'activer' else 'désactivé'}.", "success"
        )
    return redirect(url_for("territory.users"))


@bp.post("/coordination/comptes/<int:user_id>/invitation")
@coordinator_only
def reinvite_user(user_id: int):
    """A new activation link (the old one dies) for an account that has not set its password."""
    user = get_in_territory_or_404(User, user_id)
    if user.password_hash is not None or not user.active:
        flash("Ce compte est déjà activé ou désactivé : pas de nouvelle invitation.", "error")
        return redirect(url_for("territory.users"))
    ok, token = attempt(lambda: services.reissue_invitation(user, by=current_user))
    if not ok or token is None:
        return redirect(url_for("territory.users"))
    link = public_url("auth.accept_invitation", token=token)
    return render_template("territory/invitation_link.html", user=user, link=link)


# --- admin: territories -------------------------------------------------------------------------


@bp.get("/admin/territoires")
@admin_only
def admin_territories():
    return render_template("territory/admin_territories.html", territories=reads.territories())


@bp.route("/admin/territoires/nouveau", methods=["GET", "POST"])
@admin_only
def admin_new_territory():
    """Create a CPTS and, optionally, invite its first coordinator."""
    form = forms.NewTerritoryForm()
    if form.validate_on_submit():

        def create() -> tuple[Territory, tuple[User, str] | None]:
            territory = services.create_territory(
                form.slug.data or "", _settings(form), by=current_user
            )
            invitation = None
            if form.coordinator_email.data:
                invitation = services.invite_user(
                    territory,
                    email=form.coordinator_email.data,
                    role=Role.COORDINATOR,
                    by=current_user,
                )
            return territory, invitation

        ok, outcome = attempt(create)
        if ok and outcome is not None:
            territory, invitation = outcome
            flash(f"Territoire « {territory.name} » créé.", "success")
            if invitation is not None:
                user, token = invitation
                link = public_url("auth.accept_invitation", token=token)
                return render_template("territory/invitation_link.html", user=user, link=link)
            return redirect(url_for("territory.admin_territories"))
    return render_template("territory/admin_territory_form.html", form=form)
