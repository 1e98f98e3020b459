"""Rota pages: templates and periods for the coordinator, declarations for GPs."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.enums import Role
from app.extensions import db
from app.forms import ConfirmForm, select_choices
from app.models import Practitioner, Site
from app.security import get_in_territory_or_404, roles_required
from app.timeutil import now_utc
from app.validators import parse_french_dates, parse_year_month
from app.web import attempt, current_territory
from rota import forms, services
from rota.fairness import bar_chart
from rota.models import (
    Assignment,
    AssignmentSource,
    ConsultationMode,
    HolidayRule,
    PeriodStatus,
    RotaPeriod,
    Session,
    SessionTemplate,
    SwapRequest,
    SwapStatus,
    Unavailability,
    Wish,
    mask_to_weekdays,
)

bp = Blueprint("rota", __name__)
coordinator_only = roles_required(Role.COORDINATOR)
gp_only = roles_required(Role.GP)


# --- templates -----------------------------------------------------------------------------------


@bp.route("/coordination/plages-types", methods=["GET", "POST"])
@coordinator_only
def templates():
    """Session templates of the territory, and a form to add one."""
    territory = current_territory()
    form = forms.TemplateForm()
    form.site_id.choices = select_choices((s.id, s.name) for s in territory.sites if s.active)
    if form.validate_on_submit():
        data = _template_data(form)
        ok, _ = attempt(lambda: services.create_template(territory, data, by=current_user))
        if ok:
            flash("Plage type enregistrée.", "success")
            return redirect(url_for("rota.templates"))
    items = db.session.scalars(
        sa.select(SessionTemplate)
        .join(Site, Site.id == SessionTemplate.site_id)
        .where(SessionTemplate.territory_id == territory.id)
        .order_by(Site.name, SessionTemplate.start_time)
    ).all()
    return render_template("rota/templates.html", templates=items, form=form)


def _template_data(form: forms.TemplateForm) -> services.TemplateData:
    return services.TemplateData(
        site_id=form.site_id.data,
        weekdays=frozenset(form.weekdays.data or []),
        start_time=form.start_time.data,
        end_time=form.end_time.data,
        gps_needed=form.gps_needed.data,
        slot_minutes=form.slot_minutes.data,
        mode=ConsultationMode(form.mode.data),
        sas_slots=form.sas_slots.data or 0,
        pharmacy_slots=form.pharmacy_slots.data or 0,
        valid_from=form.valid_from.data,
        valid_to=form.valid_to.data,
        on_holidays=HolidayRule(form.on_holidays.data),
    )


@bp.route("/coordination/plages-types/<int:template_id>", methods=["GET", "POST"])
@coordinator_only
def edit_template(template_id: int):
    """Change a template; sessions already created keep their times."""
    template = get_in_territory_or_404(SessionTemplate, template_id)
    territory = current_territory()
    form = forms.TemplateForm(obj=template)
    form.site_id.choices = select_choices(
        (s.id, s.name) for s in territory.sites if s.active or s.id == template.site_id
    )
    if request.method == "GET":
        form.weekdays.data = sorted(template.weekdays)
        form.mode.data = template.mode.value
        form.on_holidays.data = template.on_holidays.value
    if form.validate_on_submit():
        data = _template_data(form)
        ok, _ = attempt(lambda: services.update_template(template, data, by=current_user))
        if ok:
            flash(
                "Plage type modifiée. Les plages déjà créées dans les périodes ouvertes "
                "ne changent pas.",
                "success",
            )
            return redirect(url_for("rota.templates"))
    return render_template("rota/template_edit.html", template=template, form=form)


@bp.post("/coordination/plages-types/<int:template_id>/<any(activer, desactiver):action>")
@coordinator_only
def toggle_template(template_id: int, action: str):
    template = get_in_territory_or_404(SessionTemplate, template_id)
    ok, _ = attempt(
        lambda: services.set_template_active(template, action == "activer", by=current_user)
    )
    if ok:
        flash(
            "Plage type réactivée." if action == "activer" else "Plage type désactivée.", "success"
        )
    return redirect(url_for("rota.templates"))


# --- periods -------------------------------------------------------------------------------------


@bp.route("/coordination/periodes", methods=["GET", "POST"])
@coordinator_only
def periods():
    territory = current_territory()
    form = forms.PeriodForm()
    if form.validate_on_submit():
        ok, period = attempt(
            lambda: services.create_period(
                territory,
                name=form.name.data or "",
                start_date=form.start_date.data,
                end_date=form.end_date.data,
                by=current_user,
            )
        )
        if ok and period is not None:
            flash(f"Période « {period.name} » créée.", "success")
            return redirect(url_for("rota.period", period_id=period.id))
    items = db.session.scalars(
        sa.select(RotaPeriod)
        .where(RotaPeriod.territory_id == territory.id)
        .order_by(RotaPeriod.start_date.desc())
    ).all()
    return render_template("rota/periods.html", periods=items, form=form)


@bp.get("/coordination/periodes/<int:period_id>")
@coordinator_only
def period(period_id: int):
    """Review: the grid (sites × days), unfilled sessions, fairness table and chart."""
    period = get_in_territory_or_404(RotaPeriod, period_id)
    territory = current_territory()
    sessions = period.sessions
    days = sorted({s.local_date for s in sessions})
    grid: dict[tuple[int, object], list[Session]] = defaultdict(list)
    for s in sessions:
        grid[(s.site_id, s.local_date)].append(s)
    sites = [s for s in territory.sites if any(x.site_id == s.id for x in sessions)]
    unfilled = [s for s in sessions if not s.cancelled and len(s.assignments) < s.gps_needed]
    rows = services.period_fairness(period) if sessions else []
    answered = db.session.scalar(
        sa.select(sa.func.count()).select_from(Wish).where(Wish.period_id == period.id)
    )
    return render_template(
        "rota/period.html",
        period=period,
        days=days,
        sites=sites,
        grid=grid,
        unfilled=unfilled,
        rows=[r for r in rows if r.total or r.total_target],
        chart=bar_chart([r for r in rows if r.total or r.total_target]),
        answered=answered,
        gp_count=len(services.active_gps(territory.id)),
        form=ConfirmForm(),
        PeriodStatus=PeriodStatus,
    )


@bp.post(
    "/coordination/periodes/<int:period_id>/<any(ouvrir, generer, publier, relancer, archiver):action>"
)
@coordinator_only
def period_action(period_id: int, action: str):
    period = get_in_territory_or_404(RotaPeriod, period_id)
    if action == "ouvrir":
        ok, created = attempt(
            lambda: services.open_wishes(
                period, deadline=now_utc() + timedelta(days=14), by=current_user
            )
        )
        if ok:
            flash(
                f"Recueil des souhaits ouvert : {created} plage(s) créée(s), médecins prévenus.",
                "success",
            )
    elif action == "generer":
        ok, solution = attempt(lambda: services.generate_rota(period, by=current_user))
        if ok and solution is not None:
            f = solution.figures
            flash(f"Tableau généré : {f['filled']}/{f['places']} places pourvues.", "success")
            for item in solution.unfilled[:10]:
                flash(f"Non pourvue : {item.reason}.", "warning")
    elif action == "archiver":
        ok, _ = attempt(lambda: services.archive_period(period, by=current_user))
        if ok:
            flash("Période archivée.", "success")
    elif action == "relancer":
        ok, count = attempt(lambda: services.remind_gps(period, by=current_user))
        if ok:
            flash(f"{count} médecin(s) relancé(s) par e-mail.", "success")
    else:
        ok, version = attempt(lambda: services.publish_rota(period, by=current_user))
        if ok:
            flash(f"Tableau publié (version {version}) ; les médecins sont prévenus.", "success")
    return redirect(url_for("rota.period", period_id=period.id))


# --- manual edits ------------------------------------------------------------------------------------


@bp.get("/coordination/plages/<int:session_id>")
@coordinator_only
def session_detail(session_id: int):
    """One session: who holds it, and who else could (manual assignment)."""
    session = get_in_territory_or_404(Session, session_id)
    held = {a.practitioner_id for a in session.assignments}
    candidates = [
        gp
        for gp in services.active_gps(session.territory_id)
        if session.site_id in {s.id for s in gp.sites} and gp.id not in held
    ]
    booked = defaultdict(int, services.commitments_on(session))
    return render_template(
        "rota/session.html",
        session=session,
        candidates=candidates,
        booked=booked,
        PeriodStatus=PeriodStatus,
    )


@bp.post("/coordination/plages/<int:session_id>/affecter")
@coordinator_only
def assign(session_id: int):
    """Assign a GP by hand: a hard-rule breach is refused, a soft one is allowed with a warning."""
    session = get_in_territory_or_404(Session, session_id)
    practitioner_id = request.form.get("practitioner_id", type=int)
    if not practitioner_id:
        flash("Choisissez un médecin.", "error")
        return redirect(url_for("rota.session_detail", session_id=session.id))
    practitioner = get_in_territory_or_404(Practitioner, practitioner_id)
    warnings = services.soft_warnings(session, practitioner)
    ok, _ = attempt(
        lambda: services.assign(
            session,
            practitioner,
            source=AssignmentSource.MANUAL,
            locked=bool(request.form.get("locked")),
            by=current_user,
        )
    )
    if ok:
        flash(f"{practitioner.display_name} affecté·e.", "success")
        for warning in warnings:
            flash(warning, "warning")
    return redirect(url_for("rota.session_detail", session_id=session.id))


def _assignment_or_404(assignment_id: int) -> Assignment:
    assignment = db.session.get(Assignment, assignment_id)
    if assignment is None or assignment.session.territory_id != current_user.territory_id:
        abort(404)
    return assignment


@bp.post(
    "/coordination/affectations/<int:assignment_id>/<any(retirer, verrouiller, deverrouiller):action>"
)
@coordinator_only
def edit_assignment(assignment_id: int, action: str):
    assignment = _assignment_or_404(assignment_id)
    session_id = assignment.session_id
    if action == "retirer":
        ok, _ = attempt(lambda: services.unassign(assignment, by=current_user))
        if ok:
            flash("Affectation retirée ; la plage est à pourvoir.", "success")
    else:
        attempt(lambda: services.set_locked(assignment, action == "verrouiller", by=current_user))
    return redirect(url_for("rota.session_detail", session_id=session_id))


@bp.post("/coordination/affectations/<int:assignment_id>/remplacer")
@coordinator_only
def replace_gp(assignment_id: int):
    """Another GP on the same seat: the seat's bookings follow (same time, same place)."""
    assignment = _assignment_or_404(assignment_id)
    practitioner_id = request.form.get("practitioner_id", type=int)
    if not practitioner_id:
        flash("Choisissez un médecin.", "error")
    else:
        practitioner = get_in_territory_or_404(Practitioner, practitioner_id)
        ok, _ = attempt(lambda: services.replace_gp(assignment, practitioner, by=current_user))
        if ok:
            flash(
                f"{practitioner.display_name} assure désormais cette place ; "
                "ses rendez-vous éventuels le suivent.",
                "success",
            )
    return redirect(url_for("rota.session_detail", session_id=assignment.session_id))


@bp.post("/coordination/plages/<int:session_id>/annuler")
@coordinator_only
def cancel_session(session_id: int):
    """Cancel a session: its GPs are told and its bookings become "à replacer"."""
    session = get_in_territory_or_404(Session, session_id)
    reason = request.form.get("reason", "")
    ok, flagged = attempt(lambda: services.cancel_session(session, reason=reason, by=current_user))
    if ok:
        flash(
            "Plage annulée." + (f" {flagged} rendez-vous sont à replacer." if flagged else ""),
            "success",
        )
    return redirect(url_for("rota.session_detail", session_id=session.id))


# --- GP pages ---------------------------------------------------------------------------------------


def _me() -> Practitioner:
    practitioner = current_user.practitioner
    if practitioner is None or practitioner.territory_id != current_user.territory_id:
        abort(403)
    return practitioner


@bp.route("/mes-plages", methods=["GET", "POST"])
@gp_only
def my_sessions():
    """My upcoming sessions, my unavailability, and sessions I may volunteer for."""
    me = _me()
    form = forms.UnavailabilityForm()
    if form.validate_on_submit():
        ok, _ = attempt(
            lambda: services.declare_unavailability(
                me,
                start_date=form.start_date.data,
                end_date=form.end_date.data,
                reason=form.reason.data or "",
                by=current_user,
            )
        )
        if ok:
            flash("Indisponibilité enregistrée.", "success")
            return redirect(url_for("rota.my_sessions"))
    now = now_utc()
    upcoming = db.session.scalars(
        sa.select(Session)
        .join(Assignment, Assignment.session_id == Session.id)
        .join(RotaPeriod, RotaPeriod.id == Session.period_id)
        .where(
            Assignment.practitioner_id == me.id,
            Session.ends_at >= now,
            RotaPeriod.status.in_([PeriodStatus.PUBLISHED, PeriodStatus.WISHES_OPEN]),
        )
        .order_by(Session.starts_at)
    ).all()
    my_sites = [s.id for s in me.sites]
    open_sessions = [
        s
        for s in db.session.scalars(
            sa.select(Session)
            .join(RotaPeriod, RotaPeriod.id == Session.period_id)
            .where(
                RotaPeriod.territory_id == me.territory_id,
                RotaPeriod.status == PeriodStatus.WISHES_OPEN,
                Session.site_id.in_(my_sites),
                Session.starts_at >= now,
                ~Session.cancelled,
            )
            .order_by(Session.starts_at)
            .limit(200)
        )
        if len(s.assignments) < s.gps_needed
        and all(a.practitioner_id != me.id for a in s.assignments)
    ]
    unavailability = db.session.scalars(
        sa.select(Unavailability)
        .where(Unavailability.practitioner_id == me.id, Unavailability.end_date >= now.date())
        .order_by(Unavailability.start_date)
    ).all()
    mine = {a.session_id: a for s in upcoming for a in s.assignments if a.practitioner_id == me.id}
    offers = db.session.scalars(
        sa.select(SwapRequest)
        .join(Session, Session.id == SwapRequest.session_id)
        .where(
            SwapRequest.territory_id == me.territory_id,
            SwapRequest.status.in_([SwapStatus.OPEN, SwapStatus.PENDING]),
            Session.starts_at >= now,
        )
        .order_by(Session.starts_at)
    ).all()
    for_me = [
        o
        for o in offers
        if o.status == SwapStatus.OPEN
        and o.from_practitioner_id != me.id
        and (
            o.to_practitioner_id == me.id
            or (o.to_practitioner_id is None and o.session.site_id in my_sites)
        )
    ]
    my_offers = {o.assignment_id: o for o in offers if o.from_practitioner_id == me.id}
    my_takes = [o for o in offers if o.status == SwapStatus.PENDING and o.taken_by_id == me.id]
    bourse_places = [
        s
        for s in services.open_places(me.territory_id, site_ids=my_sites)
        if all(a.practitioner_id != me.id for a in s.assignments)
    ]
    open_periods = []
    for period in db.session.scalars(
        sa.select(RotaPeriod)
        .where(
            RotaPeriod.territory_id == me.territory_id,
            RotaPeriod.status == PeriodStatus.WISHES_OPEN,
        )
        .order_by(RotaPeriod.start_date)
    ):
        wish = db.session.scalar(
            sa.select(Wish).where(Wish.period_id == period.id, Wish.practitioner_id == me.id)
        )
        wish_form = forms.WishForm(formdata=None, prefix=_wish_prefix(period.id))
        wish_form.preferred_site_ids.choices = select_choices((s.id, s.name) for s in me.sites)
        if wish is not None:
            wish_form.weight.data = wish.weight
            wish_form.preferred_weekdays.data = sorted(
                mask_to_weekdays(wish.preferred_weekday_mask)
            )
            wish_form.preferred_site_ids.data = wish.preferred_site_ids
            wish_form.avoid_dates.data = ", ".join(
                date.fromisoformat(d).strftime("%d/%m/%Y") for d in wish.avoid_dates
            )
            wish_form.max_per_day.data = wish.max_per_day
            wish_form.max_per_period.data = wish.max_per_period
            wish_form.target_sessions.data = wish.target_sessions
        open_periods.append((period, wish, wish_form))
    latest = db.session.scalar(
        sa.select(RotaPeriod)
        .where(
            RotaPeriod.territory_id == me.territory_id, RotaPeriod.status == PeriodStatus.PUBLISHED
        )
        .order_by(RotaPeriod.start_date.desc())
        .limit(1)
    )
    fairness = None
    if latest is not None:
        rows = [r for r in services.period_fairness(latest) if r.total or r.total_target]
        mine_row = next((r for r in rows if r.doctor_id == me.id), None)
        if mine_row is not None and rows:
            fairness = {
                "period": latest,
                "me": mine_row,
                "mean_load": sum(r.total for r in rows) / len(rows),
                "max_gap": max(abs(r.total - r.total_target) for r in rows),
            }
    gps = services.active_gps(me.territory_id)
    colleagues = {
        site_id: [gp for gp in gps if gp.id != me.id and site_id in {x.id for x in gp.sites}]
        for site_id in {s.site_id for s in upcoming}
    }
    return render_template(
        "rota/my_sessions.html",
        me=me,
        upcoming=upcoming,
        open_sessions=open_sessions,
        unavailability=unavailability,
        form=form,
        confirm=ConfirmForm(),
        mine=mine,
        for_me=for_me,
        my_offers=my_offers,
        my_takes=my_takes,
        practitioner_names={gp.id: gp.display_name for gp in gps},
        bourse_places=bourse_places,
        colleagues=colleagues,
        open_periods=open_periods,
        fairness=fairness,
        PeriodStatus=PeriodStatus,
    )


def _wish_prefix(period_id: int) -> str:
    """One prefix per period's form: several on one page never share a field id."""
    return f"souhaits-{period_id}"


@bp.post("/periodes/<int:period_id>/souhaits")
@gp_only
def save_wish(period_id: int):
    """My commitment and preferences for a period whose wishes window is open."""
    me = _me()
    period = get_in_territory_or_404(RotaPeriod, period_id)
    form = forms.WishForm(prefix=_wish_prefix(period.id))
    form.preferred_site_ids.choices = select_choices((s.id, s.name) for s in me.sites)
    if not form.validate():
        flash(
            "Souhaits invalides : " + " ".join(e for errs in form.errors.values() for e in errs),
            "error",
        )
        return redirect(url_for("rota.my_sessions"))

    def save() -> Wish:
        return services.save_wish(
            period,
            me,
            weight=form.weight.data,
            preferred_weekdays=frozenset(form.preferred_weekdays.data or []),
            preferred_site_ids=list(form.preferred_site_ids.data or []),
            avoid_dates=parse_french_dates(form.avoid_dates.data or ""),
            max_per_day=form.max_per_day.data,
            max_per_period=form.max_per_period.data,
            target_sessions=form.target_sessions.data,
            by=current_user,
        )

    ok, _ = attempt(save)
    if ok:
        flash(f"Souhaits enregistrés pour « {period.name} ».", "success")
    return redirect(url_for("rota.my_sessions"))


@bp.post("/mes-plages/<int:assignment_id>/ceder")
@gp_only
def offer_swap(assignment_id: int):
    """Hand one of my sessions to a named colleague, or post it on the bourse."""
    me = _me()
    assignment = db.session.get(Assignment, assignment_id)
    if assignment is None or assignment.practitioner_id != me.id:
        abort(404)
    to_id = request.form.get("to", type=int)
    to = get_in_territory_or_404(Practitioner, to_id) if to_id else None
    message = request.form.get("message", "")
    ok, _ = attempt(
        lambda: services.offer_swap(assignment, to=to, message=message, by=current_user)
    )
    if ok:
        flash(
            f"Plage proposée à {to.display_name}."
            if to
            else "Plage proposée sur la bourse aux plages.",
            "success",
        )
    return redirect(url_for("rota.my_sessions"))


@bp.post("/echanges/<int:swap_id>/<any(accepter, annuler):action>")
@gp_only
def decide_swap(swap_id: int, action: str):
    """Accept a session offered to me (or on the bourse), or withdraw my own offer."""
    me = _me()
    swap = get_in_territory_or_404(SwapRequest, swap_id)
    if action == "annuler":
        if swap.from_practitioner_id != me.id:
            abort(404)
        ok, _ = attempt(lambda: services.cancel_swap(swap, by=current_user))
        if ok:
            flash("Proposition retirée.", "success")
    else:
        ok, taken = attempt(lambda: services.accept_swap(swap, me, by=current_user))
        if ok and taken is None:
            flash("Reprise enregistrée : elle attend la validation de la coordination.", "success")
        elif ok:
            flash("Plage reprise : elle apparaît dans vos plages à venir.", "success")
    return redirect(url_for("rota.my_sessions"))


@bp.post("/plages/<int:session_id>/prendre")
@gp_only
def take_place(session_id: int):
    """Fill an unfilled place of a published rota from the bourse."""
    me = _me()
    session = get_in_territory_or_404(Session, session_id)
    ok, _ = attempt(lambda: services.take_open_place(session, me, by=current_user))
    if ok:
        flash(
            f"Merci : vous assurerez la plage du {session.local_date:%d/%m/%Y} à "
            f"{session.site.name}.",
            "success",
        )
    return redirect(url_for("rota.my_sessions"))


# --- gaps dashboard ---------------------------------------------------------------------------------


@bp.get("/coordination/a-pourvoir")
@coordinator_only
def gaps():
    """Unfilled places of published rotas, sessions offered on the bourse, swaps to approve."""
    territory = current_territory()
    now = now_utc()
    swaps = db.session.scalars(
        sa.select(SwapRequest)
        .join(Session, Session.id == SwapRequest.session_id)
        .where(
            SwapRequest.territory_id == territory.id,
            SwapRequest.status.in_([SwapStatus.OPEN, SwapStatus.PENDING]),
            Session.starts_at >= now,
        )
        .order_by(Session.starts_at)
    ).all()
    return render_template(
        "rota/gaps.html",
        territory=territory,
        places=services.open_places(territory.id),
        pending=[w for w in swaps if w.status == SwapStatus.PENDING],
        offered=[w for w in swaps if w.status == SwapStatus.OPEN],
        practitioners={p.id: p for p in services.active_gps(territory.id)},
    )


@bp.post("/coordination/echanges/<int:swap_id>/<any(valider, refuser):action>")
@coordinator_only
def approve_swap(swap_id: int, action: str):
    swap = get_in_territory_or_404(SwapRequest, swap_id)
    if action == "valider":
        ok, _ = attempt(lambda: services.approve_swap(swap, by=current_user))
        if ok:
            flash("Échange validé : les deux médecins sont prévenus.", "success")
    else:
        ok, _ = attempt(lambda: services.refuse_swap(swap, by=current_user))
        if ok:
            flash("Échange refusé : la plage reste à son titulaire.", "success")
    return redirect(url_for("rota.gaps"))


@bp.post("/plages/<int:session_id>/volontaire")
@gp_only
def volunteer(session_id: int):
    me = _me()
    session = get_in_territory_or_404(Session, session_id)
    ok, _ = attempt(lambda: services.volunteer(session, me, by=current_user))
    if ok:
        flash(
            f"Vous assurerez la plage du {session.local_date:%d/%m/%Y} à {session.site.name}.",
            "success",
        )
    return redirect(url_for("rota.my_sessions"))


# --- printable monthly rota -------------------------------------------------------------------------


def _month_of(period: RotaPeriod, text: str | None) -> date:
    """First day of the month asked for (``AAAA-MM``), within the period; else its first month."""
    first = period.start_date.replace(day=1)
    if text:
        asked = parse_year_month(text)
        if asked is not None and first <= asked <= period.end_date:
            return asked
        abort(404)
    return first


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


@bp.get("/tableaux")
@roles_required(Role.COORDINATOR, Role.REGULATOR, Role.GP)
def rota_list():
    """Published rotas, month by month, to print or read."""
    statuses = [PeriodStatus.PUBLISHED, PeriodStatus.ARCHIVED]
    if current_user.role == Role.COORDINATOR:
        statuses += [PeriodStatus.WISHES_OPEN, PeriodStatus.GENERATED]
    periods = db.session.scalars(
        sa.select(RotaPeriod)
        .where(
            RotaPeriod.territory_id == current_user.territory_id,
            RotaPeriod.status.in_(statuses),
        )
        .order_by(RotaPeriod.start_date.desc())
    ).all()
    months = {}
    for p in periods:
        month, listed = p.start_date.replace(day=1), []
        while month <= p.end_date:
            listed.append(month)
            month = _next_month(month)
        months[p.id] = listed
    return render_template("rota/rota_list.html", periods=periods, months=months)


@bp.get("/tableaux/<int:period_id>/impression")
@roles_required(Role.COORDINATOR, Role.REGULATOR, Role.GP)
def print_rota(period_id: int):
    """The month's rota on one A4 landscape page, for the Centre 15 and the sites.

    Coordinators may print any period (drafts are marked so); others only published ones.
    """
    period = get_in_territory_or_404(RotaPeriod, period_id)
    published = period.status in (PeriodStatus.PUBLISHED, PeriodStatus.ARCHIVED)
    if not published and current_user.role != Role.COORDINATOR:
        abort(404)
    month = _month_of(period, request.args.get("mois"))
    after = _next_month(month)
    sessions = [s for s in period.sessions if month <= s.local_date < after and not s.cancelled]
    territory = current_territory()
    site_ids = {s.site_id for s in sessions}
    sites = [s for s in territory.sites if s.id in site_ids]
    cells: dict[tuple[int, date], list[Session]] = defaultdict(list)
    for s in sorted(sessions, key=lambda x: x.starts_at):
        cells[(s.site_id, s.local_date)].append(s)
    days = sorted({s.local_date for s in sessions})
    previous = (month - timedelta(days=1)).replace(day=1)
    return render_template(
        "rota/print.html",
        period=period,
        territory=territory,
        month=month,
        days=days,
        sites=sites,
        cells=cells,
        published=published,
        previous=previous if previous >= period.start_date.replace(day=1) else None,
        following=after if after <= period.end_date else None,
        printed_at=now_utc(),
    )
