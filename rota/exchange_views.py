"""Exchange pages: propose a swap, answer one (also from the home page), approve one."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app.enums import Role
from app.forms import ConfirmForm, select_choices
from app.models import Practitioner
from app.security import get_in_territory_or_404, roles_required
from app.timeutil import now_utc
from app.web import attempt
from rota import exchange_reads, exchanges
from rota.exchange_forms import AnswerExchangeForm, ProposeExchangeForm
from rota.models import ExchangeProposal

bp = Blueprint("exchanges", __name__)
gp_only = roles_required(Role.GP)
coordinator_only = roles_required(Role.COORDINATOR)
CACHE_KEY = "tourderole.exchange_offers"


def _me() -> Practitioner:
    practitioner = current_user.practitioner
    if practitioner is None or practitioner.territory_id != current_user.territory_id:
        abort(403)
    return practitioner


def _offers() -> list[exchange_reads.Offer]:
    """Proposals waiting for the signed-in GP, read once per request (nav badge and home)."""
    cache = request.environ  # request-scoped, unlike ``g`` when an app context is reused
    if CACHE_KEY not in cache:
        user = current_user
        gp = (
            user.is_authenticated
            and user.role == Role.GP
            and user.practitioner is not None
            and user.practitioner.territory_id == user.territory_id
        )
        cache[CACHE_KEY] = exchange_reads.offers_for(user.practitioner, now_utc()) if gp else []
    return cache[CACHE_KEY]


def answer_form(offer: exchange_reads.Offer) -> AnswerExchangeForm:
    """The answer form of one offer; a prefix per proposal keeps ids unique on one page."""
    form = AnswerExchangeForm(prefix=f"offre-{offer.proposal.id}")
    form.counterpart.choices = select_choices((a.id, a.id) for a in offer.choices)
    return form


@bp.app_context_processor
def exchange_context() -> dict[str, Any]:
    """``exchanges_waiting()`` for the nav badge, ``exchange_offers()`` for the home block."""
    return {
        "exchanges_waiting": lambda: len(_offers()),
        "exchange_offers": lambda: [(o, answer_form(o)) for o in _offers()],
    }


@bp.get("/echanges")
@gp_only
def page():
    """Proposals waiting for my answer, and my own proposals."""
    me = _me()
    return render_template(
        "rota/exchanges.html",
        mine=exchange_reads.my_proposals(me.id, now_utc()),
        confirm=ConfirmForm(),
    )


@bp.route("/mes-plages/<int:assignment_id>/echanger", methods=["GET", "POST"])
@gp_only
def propose(assignment_id: int):
    """Offer one of my sessions against colleagues' sessions, or any session this month."""
    me = _me()
    assignment = exchange_reads.my_assignment(assignment_id, me.id)
    if assignment is None:
        abort(404)
    colleagues = exchange_reads.colleague_sessions(assignment, now_utc())
    form = ProposeExchangeForm()
    form.counterparts.choices = select_choices(
        (a.id, a.id) for c in colleagues for a in c.assignments
    )
    if form.validate_on_submit():
        chosen = exchange_reads.assignments_by_id(list(form.counterparts.data or []))
        ok, _ = attempt(
            lambda: exchanges.propose(
                assignment,
                counterparts=chosen,
                any_in_month=bool(form.any_in_month.data),
                message=form.message.data or "",
                by=current_user,
            )
        )
        if ok:
            flash("Proposition d'échange envoyée : vos confrères sont prévenus.", "success")
            return redirect(url_for("exchanges.page"))
    return render_template(
        "rota/exchange_propose.html", assignment=assignment, colleagues=colleagues, form=form
    )


@bp.post("/echanges/propositions/<int:proposal_id>/accepter")
@gp_only
def accept(proposal_id: int):
    """Accept a proposal, giving one of my sessions in return."""
    me = _me()
    proposal = get_in_territory_or_404(ExchangeProposal, proposal_id)
    offer = next((o for o in _offers() if o.proposal.id == proposal.id), None)
    if offer is None:
        flash(exchanges.TAKEN_BY_ANOTHER, "error")
        return redirect(url_for("exchanges.page"))
    form = answer_form(offer)
    if not form.validate():
        flash(" ".join(e for errs in form.errors.values() for e in errs), "error")
        return redirect(url_for("exchanges.page"))
    counterpart = next(a for a in offer.choices if a.id == form.counterpart.data)
    ok, done = attempt(lambda: exchanges.accept(proposal, me, counterpart, by=current_user))
    if ok and done:
        flash("Échange conclu : vos plages sont à jour, votre agenda aussi.", "success")
    elif ok:
        flash("Échange accepté : il attend la validation de la coordination.", "success")
    return redirect(url_for("exchanges.page"))


@bp.post("/echanges/propositions/<int:proposal_id>/decliner")
@gp_only
def decline(proposal_id: int):
    """Say no to a proposal addressed to me: it leaves my list, its author is told."""
    me = _me()
    proposal = get_in_territory_or_404(ExchangeProposal, proposal_id)
    ok, closed = attempt(lambda: exchanges.decline(proposal, me, by=current_user))
    if ok:
        flash(
            "Proposition déclinée : son auteur est prévenu et garde sa plage."
            if closed or not proposal.any_in_month
            else "Proposition déclinée : elle ne vous sera plus présentée.",
            "success",
        )
    return redirect(url_for("exchanges.page"))


@bp.post("/echanges/propositions/<int:proposal_id>/retirer")
@gp_only
def withdraw(proposal_id: int):
    me = _me()
    proposal = get_in_territory_or_404(ExchangeProposal, proposal_id)
    if proposal.from_practitioner_id != me.id:
        abort(404)
    ok, _ = attempt(lambda: exchanges.withdraw(proposal, by=current_user))
    if ok:
        flash("Proposition d'échange retirée.", "success")
    return redirect(url_for("exchanges.page"))


@bp.post("/coordination/echanges-croises/<int:proposal_id>/<any(valider, refuser):action>")
@coordinator_only
def decide(proposal_id: int, action: str):
    """The coordinator approves or refuses an accepted exchange."""
    proposal = get_in_territory_or_404(ExchangeProposal, proposal_id)
    if action == "valider":
        ok, _ = attempt(lambda: exchanges.approve(proposal, by=current_user))
        message = "Échange validé : les deux médecins sont prévenus."
    else:
        ok, _ = attempt(lambda: exchanges.refuse(proposal, by=current_user))
        message = "Échange refusé : chacun garde sa plage."
    if ok:
        flash(message, "success")
    return redirect(url_for("rota.gaps"))
