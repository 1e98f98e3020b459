"""Exchanges between GPs: "your Tuesday for my Saturday", in one transaction.

A hand-over (``services.offer_swap``) moves one session to a colleague. An exchange moves two:
the proposer offers one of their sessions against named sessions of colleagues, or against
any session of any colleague in the same month; the colleague who accepts picks one
counterpart, and both assignments change hands together. Both GPs are checked against every
hard rule on their rota *after* the swap (``rules.exchange_breaches``), the territory's
approval setting applies as for hand-overs, and what hangs on the seats follows: bookings are
attached to the seat, so they move with the session to its new GP; the feeds of both GPs get
their tombstones through ``events.assignment_leaving``; the fairness ledger moves one unit
each way.

Two colleagues accepting the same proposal at once: the acceptance *claims* the proposal with
a conditional ``UPDATE ... WHERE status = 'open'`` before touching any assignment, so exactly
one claim succeeds (PostgreSQL row lock, SQLite's ``BEGIN IMMEDIATE``); the other gets a clear
French message and changes nothing.
"""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from app import audit
from app.extensions import db
from app.models import Practitioner, Territory, User
from app.outbox import notify
from app.timeutil import now_utc
from app.validators import ValidationError
from rota import events, services
from rota.models import (
    Assignment,
    AssignmentSource,
    ExchangeCounterpart,
    ExchangeDecline,
    ExchangeProposal,
    PeriodStatus,
    Session,
    SwapRequest,
    SwapStatus,
)

LIVE = (SwapStatus.OPEN, SwapStatus.PENDING)
TAKEN_BY_ANOTHER = (
    "Cette proposition n'est plus ouverte : un confrère vient de l'accepter, ou elle a été "
    "retirée. Rien n'a été modifié."
)


def month_of(day: date) -> tuple[date, date]:
    """The first day of ``day``'s month and the first day of the next (a half-open range)."""
    first = day.replace(day=1)
    return first, (first + timedelta(days=32)).replace(day=1)


def exchangeable(session: Session) -> str | None:
    """Why ``session`` can't take part in an exchange now (French), or ``None`` if it can."""
    if session.period.status != PeriodStatus.PUBLISHED:
        return "Seules les plages d'un tableau publié peuvent être échangées."
    if session.cancelled:
        return "Cette plage est annulée."
    if session.starts_at <= now_utc():
        return f"La plage du {session.local_date:%d/%m/%Y} a déjà commencé."
    return None


def _check(reason: str | None) -> None:
    if reason:
        raise ValidationError(reason)


def _live_elsewhere(assignment_id: int, *, but: int | None = None) -> bool:
    """Whether the assignment is already offered (hand-over or another live exchange)."""
    handed = db.session.scalar(
        sa.select(SwapRequest.id).where(
            SwapRequest.assignment_id == assignment_id, SwapRequest.status.in_(LIVE)
        )
    )
    query = sa.select(ExchangeProposal.id).where(
        ExchangeProposal.assignment_id == assignment_id, ExchangeProposal.status.in_(LIVE)
    )
    if but is not None:
        query = query.where(ExchangeProposal.id != but)
    return handed is not None or db.session.scalar(query) is not None


def propose(
    assignment: Assignment,
    *,
    counterparts: list[Assignment],
    any_in_month: bool,
    message: str,
    by: User | None,
) -> ExchangeProposal:
    """Offer ``assignment``'s session against ``counterparts`` (or any session of its month)."""
    session = assignment.session
    _check(exchangeable(session))
    if any_in_month == bool(counterparts):
        raise ValidationError(
            "Choisissez une ou plusieurs plages de confrères, ou « n'importe quelle plage du "
            "mois », mais pas les deux."
        )
    if _live_elsewhere(assignment.id):
        raise ValidationError("Cette plage est déjà proposée (cession ou échange en cours).")
    me = assignment.practitioner
    for other in counterparts:
        if other.session.territory_id != session.territory_id:
            raise ValidationError("Choisissez des plages de confrères du territoire.")
        if other.practitioner_id == me.id or other.session_id == session.id:
            raise ValidationError("Choisissez des plages tenues par un confrère.")
        _check(exchangeable(other.session))
        reasons = services.hard_rule_breaches(
            other.session, me, giving_up=session, replacing=other.practitioner_id
        )
        if reasons:
            raise ValidationError(
                f"Plage du {other.session.local_date:%d/%m/%Y} : " + " ".join(reasons)
            )
    proposal = ExchangeProposal(
        territory_id=session.territory_id,
        assignment_id=assignment.id,
        session_id=session.id,
        from_practitioner_id=me.id,
        any_in_month=any_in_month,
        status=SwapStatus.OPEN,
        message=message.strip()[:300],
    )
    for other in counterparts:
        proposal.counterparts.append(
            ExchangeCounterpart(
                assignment_id=other.id,
                session_id=other.session_id,
                practitioner_id=other.practitioner_id,
            )
        )
    db.session.add(proposal)
    db.session.flush()
    _tell_colleagues(proposal, counterparts)
    audit.record(
        "exchange.propose",
        by=by,
        territory_id=session.territory_id,
        target=proposal,
        detail={"counterparts": [a.id for a in counterparts], "any_in_month": any_in_month},
    )
    return proposal


def _tell_colleagues(proposal: ExchangeProposal, counterparts: list[Assignment]) -> None:
    """E-mail the colleagues the proposal speaks to (named, or holding a session that month)."""
    session = proposal.session
    if counterparts:
        recipients = {a.practitioner_id: a.practitioner for a in counterparts}
        what = "contre une de vos plages"
    else:
        first, following = month_of(session.local_date)
        recipients = {
            a.practitioner_id: a.practitioner
            for a in db.session.scalars(
                sa.select(Assignment)
                .join(Session, Session.id == Assignment.session_id)
                .where(
                    Session.territory_id == session.territory_id,
                    Session.local_date >= first,
                    Session.local_date < following,
                    Session.starts_at > now_utc(),
                    ~Session.cancelled,
                    Assignment.practitioner_id != proposal.from_practitioner_id,
                )
            )
        }
        what = f"contre n'importe laquelle de vos plages de {session.local_date:%m/%Y}"
    giver = proposal.from_practitioner.display_name
    for gp in recipients.values():
        if gp.email and gp.active:
            notify(
                proposal.territory_id,
                gp.email,
                "Tour de rôle : un confrère vous propose un échange",
                f"{giver} vous propose sa plage du {session.local_date:%d/%m/%Y} à "
                f"{session.site.name} {what}. Répondez dans Tour de rôle (Échanges).",
            )


def _claim(proposal: ExchangeProposal, *, status: SwapStatus, values: dict) -> None:
    """Move the proposal out of ``status`` atomically; the loser of a race gets an error."""
    claimed = db.session.execute(
        sa.update(ExchangeProposal)
        .where(ExchangeProposal.id == proposal.id, ExchangeProposal.status == status)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        raise ValidationError(TAKEN_BY_ANOTHER)
    db.session.refresh(proposal)


def _locked_pair(proposal: ExchangeProposal) -> tuple[Assignment, Assignment]:
    """Both assignments of a chosen exchange, row-locked, still held by the expected GPs."""
    ids = [proposal.assignment_id, proposal.counterpart_assignment_id]
    if None in ids:
        raise ValidationError("Une des plages de cet échange n'existe plus.")
    rows = {
        a.id: a
        for a in db.session.scalars(
            sa.select(Assignment)
            .where(Assignment.id.in_(ids))
            .order_by(Assignment.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    }
    mine, theirs = rows.get(ids[0]), rows.get(ids[1])
    if mine is None or theirs is None:
        raise ValidationError("Une des plages de cet échange n'existe plus.")
    if mine.practitioner_id != proposal.from_practitioner_id:
        raise ValidationError(
            "La plage proposée a changé de titulaire : l'échange n'est plus valable."
        )
    if theirs.practitioner_id != proposal.taken_by_id:
        raise ValidationError("Votre plage a changé de titulaire : l'échange n'est plus valable.")
    return mine, theirs


def check_pair(mine: Assignment, theirs: Assignment) -> None:
    """Every hard rule, for both GPs, on their rotas after the swap (French, both sides)."""
    for assignment in (mine, theirs):
        _check(exchangeable(assignment.session))
    giver, taker = mine.practitioner, theirs.practitioner
    reasons = services.hard_rule_breaches(
        mine.session, taker, giving_up=theirs.session, replacing=giver.id
    ) + services.hard_rule_breaches(
        theirs.session, giver, giving_up=mine.session, replacing=taker.id
    )
    if reasons:
        raise ValidationError("Échange impossible : " + " ".join(reasons))


def choices_ok(proposal: ExchangeProposal, taker: Practitioner, counterpart: Assignment) -> None:
    """Whether ``taker`` may answer ``proposal`` with ``counterpart`` (French error if not)."""
    if taker.id == proposal.from_practitioner_id:
        raise ValidationError("Vous ne pouvez pas accepter votre propre proposition.")
    if counterpart.practitioner_id != taker.id:
        raise ValidationError("Choisissez une de vos plages.")
    if proposal.any_in_month:
        first, following = month_of(proposal.session.local_date)
        if not first <= counterpart.session.local_date < following:
            raise ValidationError("Choisissez une de vos plages du même mois.")
        if counterpart.session.territory_id != proposal.territory_id:
            raise ValidationError("Choisissez une de vos plages du territoire.")
    elif counterpart.id not in {c.assignment_id for c in proposal.counterparts}:
        raise ValidationError("Cette plage ne fait pas partie de la proposition.")


def accept(
    proposal: ExchangeProposal, taker: Practitioner, counterpart: Assignment, *, by: User | None
) -> bool:
    """``taker`` accepts, giving ``counterpart``: True when done, False when awaiting approval.

    The proposal is claimed first (one winner under a race), then both assignments are
    locked and checked; any failure rolls the claim back with the rest.
    """
    if proposal.status != SwapStatus.OPEN:
        raise ValidationError(TAKEN_BY_ANOTHER)
    choices_ok(proposal, taker, counterpart)
    _claim(
        proposal,
        status=SwapStatus.OPEN,
        values={
            "status": SwapStatus.PENDING,
            "taken_by_id": taker.id,
            "counterpart_assignment_id": counterpart.id,
            "counterpart_session_id": counterpart.session_id,
        },
    )
    mine, theirs = _locked_pair(proposal)
    check_pair(mine, theirs)
    if _live_elsewhere(theirs.id, but=proposal.id):
        raise ValidationError(
            "Votre plage est déjà proposée ailleurs (cession ou échange) : retirez d'abord "
            "cette proposition."
        )
    if db.session.get(Territory, proposal.territory_id).swaps_need_approval:
        _ask_coordinators(proposal, mine, theirs)
        audit.record(
            "exchange.take",
            by=by,
            territory_id=proposal.territory_id,
            target=proposal,
            detail={"from": proposal.from_practitioner_id, "to": taker.id},
        )
        return False
    _complete(proposal, mine, theirs, by=by)
    return True


def _ask_coordinators(proposal: ExchangeProposal, mine: Assignment, theirs: Assignment) -> None:
    text = _describe(mine, theirs)
    for email in services.coordinator_emails(proposal.territory_id):
        notify(
            proposal.territory_id,
            email,
            "Tour de rôle : un échange attend votre validation",
            f"{text} Validez ou refusez l'échange dans Tour de rôle (plages à pourvoir).",
        )
    giver = mine.practitioner
    if giver.email:
        notify(
            proposal.territory_id,
            giver.email,
            "Tour de rôle : votre échange est accepté, en attente de validation",
            f"{text} La coordination doit encore valider l'échange.",
        )


def _describe(mine: Assignment, theirs: Assignment) -> str:
    s1, s2 = mine.session, theirs.session
    return (
        f"{mine.practitioner.display_name} ({s1.local_date:%d/%m/%Y}, {s1.site.name}) et "
        f"{theirs.practitioner.display_name} ({s2.local_date:%d/%m/%Y}, {s2.site.name}) "
        "échangent leurs plages."
    )


def _complete(
    proposal: ExchangeProposal, mine: Assignment, theirs: Assignment, *, by: User | None
) -> None:
    """Both assignments change hands; feeds, ledger, other offers and people follow."""
    giver, taker = mine.practitioner, theirs.practitioner
    text = _describe(mine, theirs)
    for assignment in (mine, theirs):
        events.assignment_leaving.send(assignment, change="swap", by=by)
    mine.practitioner_id, theirs.practitioner_id = taker.id, giver.id
    for assignment in (mine, theirs):
        assignment.source = AssignmentSource.SWAPPED
        assignment.locked = True
        assignment.session.version += 1
    proposal.status = SwapStatus.ACCEPTED
    proposal.decided_at = now_utc()
    db.session.flush()
    services.move_ledger(mine.session, from_id=giver.id, to_id=taker.id)
    services.move_ledger(theirs.session, from_id=taker.id, to_id=giver.id)
    _close_other_offers(proposal, [mine.id, theirs.id])
    for assignment in (mine, theirs):
        db.session.expire(assignment, ["practitioner"])
    for gp in (giver, taker):
        if gp.email:
            notify(proposal.territory_id, gp.email, "Tour de rôle : échange de plages conclu", text)
    audit.record(
        "exchange.accept",
        by=by,
        territory_id=proposal.territory_id,
        target=proposal,
        detail={"from": giver.id, "to": taker.id, "sessions": [mine.session_id, theirs.session_id]},
    )


def _close_other_offers(proposal: ExchangeProposal, assignment_ids: list[int]) -> None:
    """Offers still live on the two seats spoke of their former holders: withdraw them."""
    closed = {"status": SwapStatus.CANCELLED, "decided_at": now_utc()}
    db.session.execute(
        sa.update(SwapRequest)
        .where(SwapRequest.assignment_id.in_(assignment_ids), SwapRequest.status.in_(LIVE))
        .values(**closed)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        sa.update(ExchangeProposal)
        .where(
            ExchangeProposal.assignment_id.in_(assignment_ids),
            ExchangeProposal.status.in_(LIVE),
            ExchangeProposal.id != proposal.id,
        )
        .values(**closed)
        .execution_options(synchronize_session=False)
    )


def approve(proposal: ExchangeProposal, *, by: User | None) -> None:
    """The coordinator lets an accepted exchange go through, every rule checked again."""
    if proposal.status != SwapStatus.PENDING:
        raise ValidationError("Cet échange n'attend pas de validation.")
    _claim(proposal, status=SwapStatus.PENDING, values={"status": SwapStatus.PENDING})
    mine, theirs = _locked_pair(proposal)
    check_pair(mine, theirs)
    _complete(proposal, mine, theirs, by=by)


def refuse(proposal: ExchangeProposal, *, by: User | None) -> None:
    """The coordinator refuses: each GP keeps their session, both are told."""
    if proposal.status != SwapStatus.PENDING:
        raise ValidationError("Cet échange n'attend pas de validation.")
    _claim(
        proposal,
        status=SwapStatus.PENDING,
        values={"status": SwapStatus.REFUSED, "decided_at": now_utc()},
    )
    session = proposal.session
    for gp in (proposal.from_practitioner, proposal.taken_by):
        if gp is not None and gp.email:
            notify(
                proposal.territory_id,
                gp.email,
                "Tour de rôle : échange refusé par la coordination",
                f"L'échange de la plage du {session.local_date:%d/%m/%Y} à {session.site.name} "
                "n'a pas été validé : chacun garde sa plage.",
            )
    audit.record("exchange.refuse", by=by, territory_id=proposal.territory_id, target=proposal)


def withdraw(proposal: ExchangeProposal, *, by: User | None) -> None:
    """The proposer withdraws an exchange still open or awaiting approval."""
    if proposal.status not in LIVE:
        raise ValidationError("Cette proposition n'est plus ouverte.")
    _claim(
        proposal,
        status=proposal.status,
        values={"status": SwapStatus.CANCELLED, "decided_at": now_utc()},
    )
    audit.record("exchange.cancel", by=by, territory_id=proposal.territory_id, target=proposal)


def decline(proposal: ExchangeProposal, gp: Practitioner, *, by: User | None) -> bool:
    """``gp`` says no to an open proposal addressed to them: True when that closed it.

    The proposal leaves ``gp``'s list for good. A named proposal tells its author who
    declined, and closes once every named colleague has; an "any session this month" one
    is a market offer and stays open for the others, so its author hears nothing.
    """
    if proposal.status != SwapStatus.OPEN:
        raise ValidationError(TAKEN_BY_ANOTHER)
    named = {c.practitioner_id for c in proposal.counterparts}
    if gp.id == proposal.from_practitioner_id or not (proposal.any_in_month or gp.id in named):
        raise ValidationError("Cette proposition ne vous est pas adressée.")
    already = db.session.scalar(
        sa.select(ExchangeDecline.id).where(
            ExchangeDecline.proposal_id == proposal.id, ExchangeDecline.practitioner_id == gp.id
        )
    )
    if already is not None:
        return False  # said twice (a double tap): told and recorded once
    db.session.add(ExchangeDecline(proposal_id=proposal.id, practitioner_id=gp.id))
    db.session.flush()
    audit.record("exchange.decline", by=by, territory_id=proposal.territory_id, target=proposal)
    if proposal.any_in_month:
        return False
    declined = set(
        db.session.scalars(
            sa.select(ExchangeDecline.practitioner_id).where(
                ExchangeDecline.proposal_id == proposal.id
            )
        )
    )
    closes = named <= declined
    if closes:
        _claim(
            proposal,
            status=SwapStatus.OPEN,
            values={"status": SwapStatus.CANCELLED, "decided_at": now_utc()},
        )
    _tell_author_declined(proposal, gp, closes=closes)
    return closes


def _tell_author_declined(proposal: ExchangeProposal, gp: Practitioner, *, closes: bool) -> None:
    author = proposal.from_practitioner
    if not author.email:
        return
    session = proposal.session
    text = (
        f"{gp.display_name} décline votre proposition d'échange de la plage du "
        f"{session.local_date:%d/%m/%Y} à {session.site.name}."
    )
    if closes:
        text += (
            " Tous les confrères sollicités ont décliné : la proposition est close et vous gardez "
            "votre plage. Vous pouvez en faire une autre, ou céder la plage à la bourse."
        )
    notify(
        proposal.territory_id, author.email, "Tour de rôle : proposition d'échange déclinée", text
    )
