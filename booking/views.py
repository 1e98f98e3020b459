"""Booking pages: search and book (regulators, pharmacists), bookings, GP day view, public page.

Views stay thin: ``booking.services`` decides who may book which slot and writes; a view
reads the request, calls one use case, commits once and says the outcome in French.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_limiter.util import get_remote_address
from flask_login import current_user

from app import communes_ref
from app.enums import Role
from app.extensions import db, limiter
from app.security import roles_required
from app.timeutil import local, now_utc
from app.web import attempt, current_territory
from booking import forms, reads, services
from booking import slots as slotlib
from booking.models import Booking, BookingStatus

bp = Blueprint("booking", __name__)

bookers = roles_required(Role.COORDINATOR, Role.REGULATOR, Role.PHARMACIST)
readers = roles_required(Role.COORDINATOR, Role.REGULATOR, Role.PHARMACIST, Role.GP)
markers = roles_required(Role.COORDINATOR, Role.GP)
coordinator_only = roles_required(Role.COORDINATOR)
gp_only = roles_required(Role.GP)

OUTSIDE_NOTE = (
    "Commune hors du territoire de la CPTS : les créneaux proposés restent accessibles au patient."
)
LIST_LIMIT = reads.LIST_LIMIT
# Per account, as the API's per token: a booker takes a few patients a minute at most; a
# script replaying the form is stopped long before it fills a territory's day.
DEFAULT_BOOKING_RATE_LIMIT = "30 per minute"


# --- helpers ---------------------------------------------------------------------------------


def _visible_or_404(reference: str) -> Booking:
    """A booking the current user may see; anyone else's (or none) is simply not found."""
    try:
        return services.get_visible(current_user, reference)
    except services.NotFound:
        abort(404)


def _today(zone: str) -> date:
    return local(now_utc(), zone).date()


def age_label(birth: date | None, day: date) -> str:
    """ "34 ans", or "8 mois" for an infant: how a GP reads an age on the day sheet."""
    if birth is None:
        return ""
    months = (day.year - birth.year) * 12 + day.month - birth.month - (day.day < birth.day)
    if months < 24:
        return f"{max(months, 0)} mois"
    return f"{months // 12} ans"


# --- search and book ----------------------------------------------------------------------------


@bp.get("/creneaux")
@bookers
def search():
    """Free slots of the booker's desk (a regulation service: all its territories) that
    their channel may take now, ranked by time and distance from the patient's commune."""
    desk = reads.desk(current_user)
    text = request.args.get("commune", "")
    lookup = forms.resolve_commune(
        text, insee=request.args.get("insee", ""), local=desk.local_codes
    )
    commune = lookup.commune
    replacing = _replacing(request.args.get("remplace", "").strip()[:8])
    found = []
    if not lookup.candidates and not lookup.error:
        found = services.user_free_slots(
            current_user, now=now_utc(), commune_insee=commune.insee_code if commune else None
        )
    return render_template(
        "booking/search.html",
        desk=desk,
        text=text if commune is None else forms.datalist_label(commune.name, commune.postal_codes),
        lookup=lookup,
        did_you_mean=forms.did_you_mean(text, lookup, among=desk.local_codes),
        commune=commune,
        outside=commune is not None and commune.insee_code not in desk.local_codes,
        outside_note=OUTSIDE_NOTE,
        local_codes=desk.local_codes,
        suggestions=desk.labels,
        slots=found[:LIST_LIMIT],
        more=max(0, len(found) - LIST_LIMIT),
        located=commune is not None and services.origin_of(commune.insee_code) is not None,
        labels=slotlib.CHANNEL_LABELS,
        replacing=replacing,
        **_opening(),
    )


def _opening() -> dict:
    """The desk's next slot beyond the horizon and when it opens (``_opening_note.html``)."""
    now = now_utc()
    found = services.desk_next_opening(
        services.booker_territory_ids(current_user), services.booker_channel(current_user), now=now
    )
    return {
        "opening": found[:2] if found else None,
        "opening_territory": found[2] if found else None,
        "opening_words": lambda opens: services.opening_words(opens, now, found[2].timezone),
    }


def _replacing(reference: str) -> Booking | None:
    """The "à replacer" booking whose patient is being given a new slot, if any."""
    if not reference:
        return None
    booking = _visible_or_404(reference)
    if booking.status != BookingStatus.TO_REPLACE:
        return None
    return booking


def _booking_rate_limit() -> str:
    return current_app.config.get("BOOKING_RATE_LIMIT", DEFAULT_BOOKING_RATE_LIMIT)


def _booker_key() -> str:
    """Rate-limit key: the account (a desk shares one address), else the address."""
    if current_user.is_authenticated:
        return f"booker:{current_user.id}"
    return get_remote_address()


@bp.route("/reserver", methods=["GET", "POST"])
@limiter.limit(_booking_rate_limit, methods=["POST"], key_func=_booker_key)
@bookers
def book():
    """The patient form for one slot; on success, the confirmation (the booking's page)."""
    slot_id = (request.values.get("creneau") or "").strip()[:40]
    replacing = _replacing((request.values.get("remplace") or "").strip()[:8])
    now = now_utc()
    form = forms.BookingForm()
    if request.method == "GET" and replacing is not None and replacing.purged_at is None:
        form.fill_from(_patient_of(replacing))
    error, alternatives = None, []
    if form.validate_on_submit():
        insee = (request.values.get("insee") or "").strip()[:5]
        patient = replace(form.patient(), commune_insee=insee if communes_ref.get(insee) else None)
        booking, error, alternatives = _place(slot_id, patient, replacing, now)
        if booking is not None:
            flash(f"Rendez-vous réservé : référence {booking.reference}.", "success")
            return redirect(url_for("booking.detail", reference=booking.reference))
    return _book_page(form, slot_id, replacing, error, alternatives, now)


def _place(
    slot_id: str, patient: services.PatientData, replacing: Booking | None, now: datetime
) -> tuple[Booking | None, str | None, list[services.FreeSlot]]:
    """Book (or re-place the patient of ``replacing``) and commit once.

    Returns ``(booking, None, [])``, or ``(None, why, alternatives)`` with nothing kept.
    """
    try:
        if replacing is None:
            booking = services.book(current_user, slot_id, patient, now=now)
        else:
            booking = services.rebook(replacing, current_user, slot_id, patient, now=now)
        db.session.commit()
    except services.SlotTaken as exc:
        db.session.rollback()
        return None, str(exc), exc.alternatives
    except services.BookingError as exc:
        db.session.rollback()
        return None, str(exc), []
    return booking, None, []


def _book_page(
    form: forms.BookingForm,
    slot_id: str,
    replacing: Booking | None,
    error: str | None,
    alternatives: list[services.FreeSlot],
    now: datetime,
) -> str:
    """The booking form: the slot offered, or why it no longer is, and the alternatives."""
    offer = services.offer(current_user, slot_id, now=now) if slot_id else None
    notice = None
    if offer is None and not alternatives and error is None:
        notice = (
            "Ce créneau n'est plus disponible (pris, passé ou hors de votre canal) : "
            "choisissez-en un autre."
            if slot_id
            else "Choisissez d'abord un créneau dans la liste des créneaux libres."
        )
    insee = (request.values.get("insee") or "").strip()[:5]
    official = communes_ref.get(insee) if insee else None
    if offer is not None and official is not None:
        offer = (services.rank_nearest([offer], services.origin_of(insee), now=now) or [offer])[0]
    local_codes = reads.desk(current_user).local_codes
    return render_template(
        "booking/book.html",
        form=form,
        offer=offer if not alternatives else None,
        slot_id=slot_id,
        error=error,
        notice=notice,
        alternatives=alternatives,
        insee=insee if official else "",
        outside=official is not None and official.insee_code not in local_codes,
        outside_note=OUTSIDE_NOTE,
        replacing=replacing,
        labels=slotlib.CHANNEL_LABELS,
    )


def _patient_of(booking: Booking) -> services.PatientData:
    return services.PatientData(
        family_name=booking.family_name or "",
        given_name=booking.given_name or "",
        birth_date=booking.birth_date,
        phone=booking.phone or "",
        reason=booking.reason or "",
        reason_code=booking.reason_code,
        without_gp=booking.without_gp,
    )


# --- one booking ------------------------------------------------------------------------------


@bp.get("/rendez-vous/<reference>")
@readers
def detail(reference: str):
    """A booking: what to tell the patient (printable), and what may still be done with it."""
    booking = _visible_or_404(reference)
    now = now_utc()
    live = booking.status in (BookingStatus.BOOKED, BookingStatus.TO_REPLACE)
    markable = current_user.role in (Role.GP, Role.COORDINATOR) and booking.status in (
        BookingStatus.BOOKED,
        BookingStatus.HONOURED,
        BookingStatus.NO_SHOW,
    )
    zone = current_territory().timezone
    page = render_template(
        "booking/detail.html",
        booking=booking,
        gp=services.holder_of(booking),
        site=booking.session.site,
        reason_label=services.REASONS.get(booking.reason_code, booking.reason_code),
        age=age_label(booking.birth_date, local(booking.starts_at, zone).date()),
        can_cancel=live,
        can_mark=markable and booking.starts_at <= now,
        mark_later=markable and booking.starts_at > now,
        can_replace=booking.status == BookingStatus.TO_REPLACE
        and current_user.role != Role.GP
        and booking.purged_at is None,
        cancel_form=forms.CancelForm(formdata=None),
        mark_form=forms.MarkForm(formdata=None),
        labels=slotlib.CHANNEL_LABELS,
        Role=Role,
    )
    services.audit_read(current_user, [booking], "detail")
    return page


@bp.post("/rendez-vous/<reference>/annuler")
@readers
def cancel(reference: str):
    """Cancel with a reason: whoever may see the booking (booker, regulation, its GP,
    coordinator) may cancel it, and the slot is free again at once."""
    booking = _visible_or_404(reference)
    form = forms.CancelForm()
    if not form.validate():
        flash("Indiquez le motif de l'annulation (200 caractères au plus).", "error")
        return redirect(url_for("booking.detail", reference=booking.reference))
    ok, _ = attempt(lambda: services.cancel(booking, current_user, reason=form.reason.data or ""))
    if ok:
        flash(f"Rendez-vous {booking.reference} annulé ; le créneau est libéré.", "success")
    return redirect(url_for("booking.detail", reference=booking.reference))


@bp.post("/rendez-vous/<reference>/presence")
@markers
def mark(reference: str):
    """The GP (or the coordinator) says whether the patient came, once the slot started."""
    booking = _visible_or_404(reference)
    answer = request.form.get("presence", "")
    back = (
        url_for(
            "booking.gp_day",
            date=local(booking.starts_at, current_territory().timezone).date().isoformat(),
        )
        if request.form.get("retour") == "jour" and current_user.role == Role.GP
        else url_for("booking.detail", reference=booking.reference)
    )
    if answer not in forms.MarkForm.ANSWERS or not forms.MarkForm().validate():
        flash("Indiquez si le patient est venu ou non.", "error")
        return redirect(back)
    honoured, billing = forms.MarkForm.ANSWERS[answer]
    ok, _ = attempt(
        lambda: services.mark(booking, current_user, honoured=honoured, billing=billing)
    )
    if ok:
        flash(
            f"{booking.reference} : patient {'venu' if honoured else 'absent'}.",
            "success",
        )
    return redirect(back)


# --- the patient's cancellation link ------------------------------------------------------------

# What the link's page says, by state: (title, message, HTTP status).
LINK_PAGES = {
    services.LinkState.VALID: ("Annuler votre rendez-vous", "", 200),
    services.LinkState.CANCELLED: (
        "Rendez-vous annulé",
        "Votre rendez-vous est annulé : le créneau est libéré pour un autre patient. "
        "Merci de nous avoir prévenus.",
        200,
    ),
    services.LinkState.CANCELLED_ELSEWHERE: (
        "Rendez-vous déjà annulé",
        "Ce rendez-vous a déjà été annulé par la CPTS ou la régulation. "
        "Pour un nouveau rendez-vous, appelez le 15 ou demandez à votre pharmacie.",
        200,
    ),
    services.LinkState.EXPIRED: (
        "Lien expiré",
        "Ce lien d'annulation n'est plus valable : il l'était jusqu'à l'heure du rendez-vous. "
        "Si vous ne pouvez pas venir, appelez le lieu de consultation.",
        410,
    ),
    services.LinkState.UNKNOWN: (
        "Lien inconnu",
        "Ce lien d'annulation n'existe pas ou plus. Vérifiez qu'il est complet "
        "(copiez-le en entier depuis votre message).",
        404,
    ),
}


@bp.route("/annulation/<token>", methods=["GET", "POST"])
@limiter.limit("30 per minute", key_func=get_remote_address)
def patient_cancel(token: str):
    """The patient's link: a confirm button (GET changes nothing), then the slot is freed.

    No account: the token is the right. A second press says it is done, and changes nothing.
    """
    now = now_utc()
    form = forms.PatientCancelForm()
    if request.method == "POST":  # the app-wide CSRF check has passed
        state, booking = services.cancel_by_patient(token, now=now)
        db.session.commit()
    else:
        state, booking = services.patient_link(token, now=now)
    title, message, status = LINK_PAGES[state]
    page = render_template(
        "booking/patient_cancel.html",
        state=state.value,
        title=title,
        message=message,
        booking=booking,
        site=booking.session.site if booking is not None else None,
        when=services.when_for_patient(booking) if booking is not None else "",
        form=form,
    )
    response = make_response(page, status)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


# --- lists --------------------------------------------------------------------------------------


def _by_reference(text: str) -> Response | None:
    """Jump to a booking typed by reference, or say it is not visible here."""
    ref = "".join(text.split()).upper()[:20]
    if not ref:
        return None
    try:
        booking = services.get_visible(current_user, ref)
    except services.NotFound:
        flash(f"Aucun rendez-vous visible avec la référence « {ref} ».", "warning")
        return None
    return redirect(url_for("booking.detail", reference=booking.reference))


@bp.get("/rendez-vous")
@readers
def my_bookings():
    """The bookings the user may follow: to re-place first, then coming, then the last week."""
    jump = _by_reference(request.args.get("ref", ""))
    if jump is not None:
        return jump
    found = reads.followed_bookings(current_user, now=now_utc())
    page = render_template(
        "booking/my_bookings.html",
        to_replace=found.to_replace,
        coming=found.coming,
        past=found.past,
        ref=request.args.get("ref", ""),
    )
    services.audit_read(current_user, found.all, "my_bookings")
    return page


@bp.get("/coordination/rendez-vous")
@coordinator_only
def territory_bookings():
    """Every booking of the territory: those to re-place on top, then a day's, by status."""
    jump = _by_reference(request.args.get("ref", ""))
    if jump is not None:
        return jump
    territory = current_territory()
    day = forms.parse_day(request.args.get("jour"), _today(territory.timezone))
    found = reads.territory_day(
        current_user, day, territory.timezone, request.args.get("statut", "")
    )
    page = render_template(
        "booking/territory_bookings.html",
        to_replace=found.to_replace,
        rows=found.rows,
        day=day,
        status=found.status,
        statuses=list(BookingStatus),
        previous=day - timedelta(days=1),
        following=day + timedelta(days=1),
    )
    services.audit_read(current_user, found.all, "territory_bookings")
    return page


# --- GP day view -------------------------------------------------------------------------------


@bp.get("/ma-journee")
@gp_only
def gp_day():
    """My sessions of a day, slot by slot, with each patient: the sheet I work from."""
    me = current_user.practitioner
    if me is None or me.territory_id != current_user.territory_id:
        abort(403)
    territory = current_territory()
    day = forms.parse_day(request.args.get("date"), _today(territory.timezone))
    sheet = reads.gp_day(me, day)
    page = render_template(
        "booking/gp_day.html",
        me=me,
        day=day,
        sheets=sheet.sheets,
        now=now_utc(),
        age_label=age_label,
        reasons=services.REASONS,
        labels=slotlib.CHANNEL_LABELS,
        mark_form=forms.MarkForm(formdata=None),
        previous=day - timedelta(days=1),
        following=day + timedelta(days=1),
        BookingStatus=BookingStatus,
    )
    services.audit_read(current_user, sheet.bookings, "gp_day")
    return page
