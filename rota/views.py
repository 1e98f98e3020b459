"""Rota pages: templates and periods for the coordinator, declarations for GPs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import date, timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.collation import by_name
from app.confirmation import Confirmation, ask, is_confirmed
from app.enums import Role
from app.forms import ConfirmForm, select_choices
from app.models import Practitioner
from app.security import get_in_territory_or_404, roles_required
from app.timeutil import local, now_utc
from app.validators import parse_french_dates, parse_year_month
from app.web import attempt, current_territory
from rota import assign_choices, declarations, exchange_reads, forms, reads, services
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
    Wish,
    mask_to_weekdays,
)
from rota.overview import gp_overview

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
    form.site_id.choices = select_choices(
        (s.id, s.name) for s in by_name(territory.sites) if s.active
    )
    if form.validate_on_submit():
        data = _template_data(form)
        ok, _ = attempt(lambda: services.create_template(territory, data, by=current_user))
        if ok:
            flash("Plage type enregistrée.", "success")
            return redirect(url_for("rota.templates"))
    items = reads.session_templates(territory.id)
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
        (s.id, s.name) for s in by_name(territory.sites) if s.active or s.id == template.site_id
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
    return render_template("rota/periods.html", periods=reads.periods_of(territory.id), form=form)


@bp.get("/coordination/periodes/<int:period_id>")
@coordinator_only
def period(period_id: int):
    """Review: the grid (sites × days), unfilled sessions, fairness table and chart."""
    period = get_in_territory_or_404(RotaPeriod, period_id)
    review = reads.period_review(period, current_territory())
    return render_template(
        "rota/period.html",
        period=period,
        **vars(review),
        form=ConfirmForm(),
        can_archive=services.can_archive(period),
        PeriodStatus=PeriodStatus,
    )


@bp.post(
    "/coordination/periodes/<int:period_id>/"
    "<any(ouvrir, generer, publier, relancer, archiver, supprimer):action>"
)
@coordinator_only
def period_action(period_id: int, action: str):
    """One step of the period's life: open wishes, generate, publish, remind, archive, delete.

    Publishing (e-mails to every rostered GP) and deleting a draft go through a
    confirmation page first (``app.confirmation``).
    """
    period = get_in_territory_or_404(RotaPeriod, period_id)
    confirmation = CONFIRMED_ACTIONS[action](period) if action in CONFIRMED_ACTIONS else None
    if confirmation is not None and not is_confirmed():
        return ask(confirmation)
    if action == "supprimer":
        ok, _ = attempt(lambda: services.delete_draft(period, by=current_user))
        if ok:
            flash(f"Période « {period.name} » supprimée.", "success")
            return redirect(url_for("rota.periods"))
        return redirect(url_for("rota.period", period_id=period.id))
    PERIOD_ACTIONS[action](period)
    return redirect(url_for("rota.period", period_id=period.id))


def _confirm_publish(period: RotaPeriod) -> Confirmation | None:
    """What publishing will do; ``None`` where it can only fail (the service says why)."""
    if period.status != PeriodStatus.GENERATED:
        return None
    recipients = services.publication_recipients(period)
    return Confirmation(
        title=f"Publier le tableau « {period.name} » ?",
        consequences=(
            f"{len(recipients)} médecin(s) recevront un e-mail leur annonçant leurs plages.",
            "Le tableau devient visible des médecins, de la régulation et dans les agendas.",
            "Les échanges et la bourse aux plages s'ouvrent ; les changements ultérieurs "
            "préviennent les médecins concernés.",
        ),
        button="Publier et prévenir les médecins",
        back_url=url_for("rota.period", period_id=period.id),
        danger=False,
    )


def _confirm_delete(period: RotaPeriod) -> Confirmation | None:
    if period.status != PeriodStatus.DRAFT:
        return None
    return Confirmation(
        title=f"Supprimer la période « {period.name} » ?",
        consequences=(
            "La période, encore en brouillon, disparaît ; personne n'en a été prévenu.",
            "Aucun e-mail n'est envoyé.",
        ),
        button="Supprimer la période",
        back_url=url_for("rota.period", period_id=period.id),
    )


CONFIRMED_ACTIONS: dict[str, Callable[[RotaPeriod], Confirmation | None]] = {
    "publier": _confirm_publish,
    "supprimer": _confirm_delete,
}


def _open_wishes(period: RotaPeriod) -> None:
    deadline = now_utc() + timedelta(days=14)
    ok, created = attempt(lambda: services.open_wishes(period, deadline=deadline, by=current_user))
    if ok:
        flash(
            f"Recueil des souhaits ouvert : {created} plage(s) créée(s), médecins prévenus.",
            "success",
        )


def _generate(period: RotaPeriod) -> None:
    ok, solution = attempt(lambda: services.generate_rota(period, by=current_user))
    if ok and solution is not None:
        f = solution.figures
        flash(f"Tableau généré : {f['filled']}/{f['places']} places pourvues.", "success")
        for item in solution.unfilled[:10]:
            flash(f"Non pourvue : {item.reason}.", "warning")


def _archive(period: RotaPeriod) -> None:
    ok, _ = attempt(lambda: services.archive_period(period, by=current_user))
    if ok:
        flash("Période archivée.", "success")


def _remind(period: RotaPeriod) -> None:
    ok, count = attempt(lambda: services.remind_gps(period, by=current_user))
    if ok:
        flash(f"{count} médecin(s) relancé(s) par e-mail.", "success")


def _publish(period: RotaPeriod) -> None:
    ok, version = attempt(lambda: services.publish_rota(period, by=current_user))
    if ok:
        flash(f"Tableau publié (version {version}) ; les médecins sont prévenus.", "success")


PERIOD_ACTIONS: dict[str, Callable[[RotaPeriod], None]] = {
    "ouvrir": _open_wishes,
    "generer": _generate,
    "archiver": _archive,
    "relancer": _remind,
    "publier": _publish,
}


# --- manual edits ------------------------------------------------------------------------------------


@bp.get("/coordination/plages/<int:session_id>")
@coordinator_only
def session_detail(session_id: int):
    """One session: who holds it, and who else could (manual assignment)."""
    session = get_in_territory_or_404(Session, session_id)
    past = services.is_past(session)
    editable = not session.cancelled and (not past or _correction())
    return render_template(
        "rota/session.html",
        session=session,
        candidates=assign_choices.candidates(session) if editable else [],
        booked=defaultdict(int, services.commitments_on(session)),
        past=past,
        correction=past and _correction(),
        editable=editable,
        PeriodStatus=PeriodStatus,
    )


def _correction() -> bool:
    """Correction mode: a past session edited to fix the record, telling no one."""
    return (request.values.get("correction") or "") == "1"


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
            correction=_correction(),
        )
    )
    if ok:
        flash(f"{practitioner.display_name} affecté·e.", "success")
        for warning in warnings:
            flash(warning, "warning")
    return _back_to(session)


def _back_to(session: Session):
    """The session's page, still in correction mode if the coordinator was in it."""
    extra = {"correction": "1"} if _correction() else {}
    return redirect(url_for("rota.session_detail", session_id=session.id, **extra))


def _assignment_or_404(assignment_id: int) -> Assignment:
    assignment = reads.assignment_in_territory(assignment_id, current_user.territory_id)
    if assignment is None:
        abort(404)
    return assignment


@bp.post(
    "/coordination/affectations/<int:assignment_id>/<any(retirer, verrouiller, deverrouiller):action>"
)
@coordinator_only
def edit_assignment(assignment_id: int, action: str):
    """Lock, unlock or remove an assignment; removing goes through a confirmation page."""
    assignment = _assignment_or_404(assignment_id)
    session = assignment.session
    if action == "retirer" and not is_confirmed():
        return ask(_confirm_removal(assignment))
    if action == "retirer":
        correction = _correction()
        ok, _ = attempt(
            lambda: services.unassign(assignment, by=current_user, correction=correction)
        )
        if ok:
            flash("Affectation retirée ; la plage est à pourvoir.", "success")
    else:
        attempt(lambda: services.set_locked(assignment, action == "verrouiller", by=current_user))
    return _back_to(session)


def _confirm_removal(assignment: Assignment) -> Confirmation:
    session, gp = assignment.session, assignment.practitioner
    correction = _correction()
    told = session.period.status == PeriodStatus.PUBLISHED and bool(gp.email) and not correction
    return Confirmation(
        title=f"Retirer {gp.display_name} de la plage du {session.local_date:%d/%m/%Y} ?",
        consequences=(
            f"La place de {gp.display_name} à {session.site.name} redevient à pourvoir.",
            f"1 médecin recevra un e-mail ({gp.display_name})."
            if told
            else "Aucun e-mail n'est envoyé.",
        ),
        button="Retirer le médecin",
        back_url=url_for("rota.session_detail", session_id=session.id),
        carried={"correction": "1"} if correction else {},
    )


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
        correction = _correction()
        ok, _ = attempt(
            lambda: services.replace_gp(
                assignment, practitioner, by=current_user, correction=correction
            )
        )
        if ok:
            flash(
                f"{practitioner.display_name} assure désormais cette place ; "
                "ses rendez-vous éventuels le suivent.",
                "success",
            )
    return _back_to(assignment.session)


@bp.post("/coordination/plages/<int:session_id>/annuler")
@coordinator_only
def cancel_session(session_id: int):
    """Cancel a session: its GPs are told and its bookings become "à replacer"."""
    session = get_in_territory_or_404(Session, session_id)
    reason = request.form.get("reason", "")
    if not " ".join(reason.split()):
        flash("Indiquez le motif de l'annulation.", "error")
    elif not is_confirmed():
        return ask(_confirm_cancel(session, reason))
    else:
        _cancel(session, reason)
    return redirect(url_for("rota.session_detail", session_id=session.id))


def _cancel(session: Session, reason: str) -> None:
    ok, flagged = attempt(lambda: services.cancel_session(session, reason=reason, by=current_user))
    if ok:
        flash(
            "Plage annulée." + (f" {flagged} rendez-vous sont à replacer." if flagged else ""),
            "success",
        )


def _confirm_cancel(session: Session, reason: str) -> Confirmation:
    emails = len(services.cancellation_recipients(session))
    booked = sum(services.commitments_on(session).values())
    return Confirmation(
        title=f"Annuler la plage du {session.local_date:%d/%m/%Y} à {session.site.name} ?",
        consequences=(
            f"{emails} médecin(s) recevront un e-mail d'annulation.",
            f"{booked} rendez-vous passeront « à replacer » ; la coordination et les "
            "réservants sont alertés."
            if booked
            else "Aucun rendez-vous n'est pris sur cette plage.",
            f"Motif communiqué : « {' '.join(reason.split())} ».",
        ),
        button="Annuler la plage",
        back_url=url_for("rota.session_detail", session_id=session.id),
        carried={"reason": reason},
    )


# --- GP pages ---------------------------------------------------------------------------------------


def _me() -> Practitioner:
    practitioner = current_user.practitioner
    if practitioner is None or practitioner.territory_id != current_user.territory_id:
        abort(403)
    return practitioner


@bp.get("/mes-plages")
@gp_only
def my_sessions():
    """My upcoming sessions, exchanges, wishes; my unavailability has its own page."""
    return _my_sessions_page(_me())


def _my_sessions_page(
    me: Practitioner, failed: tuple[int, forms.WishForm] | None = None
) -> tuple[str, int] | str:
    """The page; ``failed`` is a period's wishes form sent back with its errors, shown in
    place of the saved answer and summarised at the top (status 422)."""
    overview = gp_overview(me, now=now_utc())
    wishes = [
        (p, wish, failed[1] if failed and failed[0] == p.id else _wish_form(me, p.id, wish))
        for p, wish in overview.open_periods
    ]
    page = render_template(
        "rota/my_sessions.html",
        **(vars(overview) | {"open_periods": wishes}),
        me=me,
        my_fairness=services.my_fairness(
            me, today=local(now_utc(), current_territory().timezone).date()
        ),
        confirm=ConfirmForm(),
        PeriodStatus=PeriodStatus,
        form=failed[1] if failed else None,
    )
    return (page, 422) if failed else page


def _wish_prefix(period_id: int) -> str:
    """One prefix per period's form: several on one page never share a field id."""
    return f"souhaits-{period_id}"


def _wish_form(me: Practitioner, period_id: int, wish: Wish | None) -> forms.WishForm:
    """The wishes form of one open period, filled with my earlier answer if any."""
    form = forms.WishForm(formdata=None, prefix=_wish_prefix(period_id))
    form.preferred_site_ids.choices = select_choices((s.id, s.name) for s in by_name(me.sites))
    if wish is not None:
        form.weight.data = wish.weight
        form.preferred_weekdays.data = sorted(mask_to_weekdays(wish.preferred_weekday_mask))
        form.preferred_site_ids.data = wish.preferred_site_ids
        form.avoid_dates.data = ", ".join(
            date.fromisoformat(d).strftime("%d/%m/%Y") for d in wish.avoid_dates
        )
        form.max_per_day.data = wish.max_per_day
        form.max_per_period.data = wish.max_per_period
        form.target_sessions.data = wish.target_sessions
    return form


@bp.post("/periodes/<int:period_id>/souhaits")
@gp_only
def save_wish(period_id: int):
    """My commitment and preferences for a period whose wishes window is open."""
    me = _me()
    period = get_in_territory_or_404(RotaPeriod, period_id)
    form = forms.WishForm(prefix=_wish_prefix(period.id))
    form.preferred_site_ids.choices = select_choices((s.id, s.name) for s in by_name(me.sites))
    if not form.validate():
        return _my_sessions_page(me, failed=(period.id, form))

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
    assignment = reads.assignment_of(assignment_id, me.id)
    if assignment is None:
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
    swaps = reads.live_swaps(territory.id, now_utc())
    return render_template(
        "rota/gaps.html",
        territory=territory,
        places=reads.open_places(territory.id),
        to_replace=declarations.to_replace(territory.id, now_utc()),
        pending=[w for w in swaps if w.status == SwapStatus.PENDING],
        exchanges_pending=exchange_reads.awaiting_approval(territory.id, now_utc()),
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


@bp.get("/tableaux")
@roles_required(Role.COORDINATOR, Role.REGULATOR, Role.GP)
def rota_list():
    """Published rotas, month by month, to print or read."""
    statuses = [PeriodStatus.PUBLISHED, PeriodStatus.ARCHIVED]
    if current_user.role == Role.COORDINATOR:
        statuses += [PeriodStatus.WISHES_OPEN, PeriodStatus.GENERATED]
    periods = reads.periods_of(current_user.territory_id, statuses)
    months = {p.id: reads.months_of(p) for p in periods}
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
    territory = current_territory()
    sheet = reads.print_sheet(period, territory, _month_of(period, request.args.get("mois")))
    return render_template(
        "rota/print.html",
        period=period,
        territory=territory,
        **vars(sheet),
        published=published,
        printed_at=now_utc(),
    )
