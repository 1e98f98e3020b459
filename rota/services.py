"""Rota use cases: templates, periods, declarations, generation, publication, manual edits.

Each function flushes and audits; the caller commits once (view or CLI).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from app import audit
from app.collation import french_key
from app.enums import Profession, Role
from app.events import answers
from app.extensions import db
from app.models import Practitioner, Site, Territory, User
from app.outbox import notify
from app.territory.services import holiday_subdivision_code
from app.timeutil import now_utc
from app.validators import ValidationError
from rota import calendar, engine, events, fairness, rules
from rota.fairness import FairnessRow
from rota.models import (
    Assignment,
    AssignmentSource,
    ConsultationMode,
    ExchangeProposal,
    FairnessLedger,
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
    weekdays_to_mask,
)

MAX_PERIOD_DAYS = 184


# --- templates ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TemplateData:
    site_id: int
    weekdays: frozenset[int]
    start_time: time
    end_time: time
    gps_needed: int
    slot_minutes: int
    mode: ConsultationMode
    sas_slots: int
    pharmacy_slots: int
    valid_from: date
    valid_to: date | None
    on_holidays: HolidayRule


def _spec(
    template: SessionTemplate | None, data: TemplateData, template_id: int
) -> calendar.TemplateSpec:
    return calendar.TemplateSpec(
        id=template_id,
        site_id=data.site_id,
        weekdays=frozenset(data.weekdays),
        start=data.start_time,
        end=data.end_time,
        gps_needed=data.gps_needed,
        valid_from=data.valid_from,
        valid_to=data.valid_to,
        on_holidays=data.on_holidays.value,
    )


def _template_data(t: SessionTemplate) -> TemplateData:
    return TemplateData(
        site_id=t.site_id,
        weekdays=t.weekdays,
        start_time=t.start_time,
        end_time=t.end_time,
        gps_needed=t.gps_needed,
        slot_minutes=t.slot_minutes,
        mode=t.mode,
        sas_slots=t.sas_slots,
        pharmacy_slots=t.pharmacy_slots,
        valid_from=t.valid_from,
        valid_to=t.valid_to,
        on_holidays=t.on_holidays,
    )


def _check_template(territory: Territory, data: TemplateData, *, template_id: int | None) -> None:
    site = db.session.get(Site, data.site_id)
    if site is None or site.territory_id != territory.id:
        raise ValidationError("Choisissez un lieu du territoire.")
    others = db.session.scalars(
        sa.select(SessionTemplate).where(
            SessionTemplate.site_id == data.site_id,
            SessionTemplate.active,
            SessionTemplate.id != (template_id or 0),
        )
    ).all()
    specs = [_spec(t, _template_data(t), t.id) for t in others]
    specs.append(_spec(None, data, template_id or 0))
    problems = calendar.check_templates(specs)
    if problems:
        raise ValidationError(" ".join(problems))
    if data.mode != ConsultationMode.WALK_IN:
        session_minutes = (
            (
                datetime.combine(date.min, data.end_time)
                - datetime.combine(date.min, data.start_time)
            ).total_seconds()
            / 60
            % (24 * 60)
        )
        slots = int(session_minutes // data.slot_minutes) * data.gps_needed
        if data.sas_slots + data.pharmacy_slots > slots:
            raise ValidationError(
                f"Les créneaux réservés ({data.sas_slots + data.pharmacy_slots}) dépassent "
                f"les {slots} créneaux de la plage."
            )


def create_template(
    territory: Territory, data: TemplateData, *, by: User | None
) -> SessionTemplate:
    _check_template(territory, data, template_id=None)
    template = SessionTemplate(
        territory_id=territory.id,
        site_id=data.site_id,
        weekday_mask=weekdays_to_mask(data.weekdays),
        start_time=data.start_time,
        end_time=data.end_time,
        gps_needed=data.gps_needed,
        slot_minutes=data.slot_minutes,
        mode=data.mode,
        sas_slots=data.sas_slots,
        pharmacy_slots=data.pharmacy_slots,
        valid_from=data.valid_from,
        valid_to=data.valid_to,
        on_holidays=data.on_holidays,
    )
    db.session.add(template)
    db.session.flush()
    audit.record("template.create", by=by, territory_id=territory.id, target=template)
    return template


def update_template(template: SessionTemplate, data: TemplateData, *, by: User | None) -> None:
    """Change a template for the periods opened from now on.

    Sessions already expanded keep their times and places: GPs may have planned around
    them, and published ones are in their calendars. Change those one by one if needed.
    """
    territory = _territory_of(template.territory_id)
    if template.active:
        _check_template(territory, data, template_id=template.id)
    elif db.session.get(Site, data.site_id) is None or data.site_id not in {
        s.id for s in territory.sites
    }:
        raise ValidationError("Choisissez un lieu du territoire.")
    before = _template_data(template)
    template.site_id = data.site_id
    template.weekday_mask = weekdays_to_mask(data.weekdays)
    template.start_time = data.start_time
    template.end_time = data.end_time
    template.gps_needed = data.gps_needed
    template.slot_minutes = data.slot_minutes
    template.mode = data.mode
    template.sas_slots = data.sas_slots
    template.pharmacy_slots = data.pharmacy_slots
    template.valid_from = data.valid_from
    template.valid_to = data.valid_to
    template.on_holidays = data.on_holidays
    db.session.flush()
    changed = {
        name: str(getattr(data, name))
        for name in TemplateData.__dataclass_fields__
        if getattr(data, name) != getattr(before, name)
    }
    audit.record(
        "template.update",
        by=by,
        territory_id=template.territory_id,
        target=template,
        detail=changed,
    )


# --- periods -----------------------------------------------------------------------------------


def create_period(
    territory: Territory, *, name: str, start_date: date, end_date: date, by: User | None
) -> RotaPeriod:
    if not name.strip():
        raise ValidationError("Le nom de la période est obligatoire.")
    if end_date < start_date:
        raise ValidationError("La fin de la période doit suivre son début.")
    if (end_date - start_date).days > MAX_PERIOD_DAYS:
        raise ValidationError("Une période couvre au plus six mois.")
    today = now_utc().astimezone(ZoneInfo(territory.timezone)).date()
    if end_date < today:
        raise ValidationError(
            f"Cette période est entièrement passée (aujourd'hui : {today:%d/%m/%Y}) : "
            "un tableau ne se prépare que pour des jours à venir."
        )
    overlap = db.session.scalar(
        sa.select(RotaPeriod.name).where(
            RotaPeriod.territory_id == territory.id,
            RotaPeriod.status != PeriodStatus.ARCHIVED,
            RotaPeriod.start_date <= end_date,
            RotaPeriod.end_date >= start_date,
        )
    )
    if overlap:
        raise ValidationError(f"Ces dates chevauchent la période « {overlap} ».")
    period = RotaPeriod(
        territory_id=territory.id,
        name=name.strip(),
        start_date=start_date,
        end_date=end_date,
        status=PeriodStatus.DRAFT,
    )
    db.session.add(period)
    db.session.flush()
    audit.record("period.create", by=by, territory_id=territory.id, target=period)
    return period


def expand_sessions(period: RotaPeriod) -> int:
    """Create the period's dated sessions from the active templates (idempotent)."""
    territory = db.session.get(Territory, period.territory_id)
    assert territory is not None
    templates = db.session.scalars(
        sa.select(SessionTemplate).where(
            SessionTemplate.territory_id == territory.id, SessionTemplate.active
        )
    ).all()
    specs = [_spec(t, _template_data(t), t.id) for t in templates]
    by_id = {t.id: t for t in templates}
    existing = set(
        db.session.execute(
            sa.select(Session.template_id, Session.local_date).where(Session.period_id == period.id)
        ).all()
    )
    created = 0
    for spec in calendar.expand(
        specs,
        start=period.start_date,
        end=period.end_date,
        timezone=territory.timezone,
        holiday_subdivision=holiday_subdivision_code(territory.holiday_subdivision),
    ):
        if (spec.template_id, spec.local_date) in existing:
            continue
        db.session.add(
            Session(
                territory_id=territory.id,
                period_id=period.id,
                template_id=spec.template_id,
                site_id=spec.site_id,
                local_date=spec.local_date,
                starts_at=spec.starts_at,
                ends_at=spec.ends_at,
                gps_needed=spec.gps_needed,
                category=spec.category,
                holiday_name=spec.holiday_name,
                slot_minutes=by_id[spec.template_id].slot_minutes,
                mode=by_id[spec.template_id].mode,
                sas_slots=by_id[spec.template_id].sas_slots,
                pharmacy_slots=by_id[spec.template_id].pharmacy_slots,
            )
        )
        created += 1
    db.session.flush()
    return created


def open_wishes(period: RotaPeriod, *, deadline: datetime | None, by: User | None) -> int:
    """Draft → wishes open: sessions are created and GPs may declare and volunteer."""
    if period.status != PeriodStatus.DRAFT:
        raise ValidationError("Seule une période en brouillon peut être ouverte aux souhaits.")
    created = expand_sessions(period)
    if created == 0 and not period.sessions:
        raise ValidationError("Aucune plage à créer : définissez d'abord des plages types actives.")
    period.status = PeriodStatus.WISHES_OPEN
    period.wishes_deadline = deadline
    for gp in active_gps(period.territory_id):
        if gp.email:
            notify(
                period.territory_id,
                gp.email,
                f"Tour de rôle : déclarez vos souhaits pour « {period.name} »",
                f"Bonjour {gp.display_name},\n\nLe recueil des souhaits est ouvert pour la période "
                f"« {period.name} » ({period.start_date:%d/%m/%Y} – {period.end_date:%d/%m/%Y}). "
                "Déclarez vos indisponibilités et portez-vous volontaire sur les plages de votre choix.",
            )
    db.session.flush()
    audit.record(
        "period.open_wishes",
        by=by,
        territory_id=period.territory_id,
        target=period,
        detail={"sessions": created},
    )
    return created


def active_gps(territory_id: int) -> list[Practitioner]:
    return list(
        db.session.scalars(
            sa.select(Practitioner)
            .where(
                Practitioner.territory_id == territory_id,
                Practitioner.active,
                Practitioner.profession == Profession.GP,
            )
            .order_by(Practitioner.id)
        )
    )


# --- declarations ------------------------------------------------------------------------------


def declare_unavailability(
    practitioner: Practitioner, *, start_date: date, end_date: date, reason: str, by: User | None
) -> Unavailability:
    if end_date < start_date:
        raise ValidationError("La fin de l'indisponibilité doit suivre son début.")
    if (end_date - start_date).days > 366:
        raise ValidationError("Une indisponibilité dure au plus un an.")
    item = Unavailability(
        practitioner_id=practitioner.id,
        start_date=start_date,
        end_date=end_date,
        reason=reason.strip()[:200],
    )
    db.session.add(item)
    db.session.flush()
    audit.record(
        "unavailability.declare", by=by, territory_id=practitioner.territory_id, target=item
    )
    return item


def save_wish(
    period: RotaPeriod,
    practitioner: Practitioner,
    *,
    weight: float,
    preferred_weekdays: frozenset[int],
    preferred_site_ids: list[int],
    avoid_dates: list[date],
    max_per_day: int = 1,
    max_per_period: int | None = None,
    target_sessions: int | None = None,
    by: User | None,
) -> Wish:
    """Record a GP's answer for a period (replacing an earlier one).

    ``target_sessions`` is a firm commitment to a number of sessions: the engine then
    gives the GP that many (when places allow) instead of a share by weight.
    """
    if period.status not in (PeriodStatus.DRAFT, PeriodStatus.WISHES_OPEN):
        raise ValidationError("Le recueil des souhaits est clos pour cette période.")
    if not 0 <= weight <= 3:
        raise ValidationError("L'engagement doit être compris entre 0 et 3.")
    if not 1 <= max_per_day <= 3:
        raise ValidationError("Le nombre de plages par jour doit être compris entre 1 et 3.")
    if max_per_period is not None and max_per_period < 0:
        raise ValidationError("Le maximum sur la période ne peut pas être négatif.")
    if target_sessions is not None and not 0 <= target_sessions <= 100:
        raise ValidationError("Le nombre de plages souhaité doit être compris entre 0 et 100.")
    if (
        target_sessions is not None
        and max_per_period is not None
        and target_sessions > max_per_period
    ):
        raise ValidationError(
            "Le nombre de plages souhaité dépasse le maximum que vous avez fixé pour la période."
        )
    wish = db.session.scalar(
        sa.select(Wish).where(Wish.period_id == period.id, Wish.practitioner_id == practitioner.id)
    ) or Wish(period_id=period.id, practitioner_id=practitioner.id)
    wish.weight = weight
    wish.preferred_weekday_mask = weekdays_to_mask(preferred_weekdays)
    wish.preferred_site_ids = sorted(preferred_site_ids)
    wish.avoid_dates = sorted(d.isoformat() for d in avoid_dates)
    wish.max_per_day = max_per_day
    wish.max_per_period = max_per_period
    wish.target_sessions = target_sessions
    wish.answered_at = now_utc()
    db.session.add(wish)
    db.session.flush()
    audit.record("wish.save", by=by, territory_id=period.territory_id, target=wish)
    return wish


# --- the engine's view of the database ---------------------------------------------------------


def _territory_of(territory_id: int) -> Territory:
    territory = db.session.get(Territory, territory_id)
    assert territory is not None
    return territory


def _zone(territory_id: int) -> ZoneInfo:
    return ZoneInfo(_territory_of(territory_id).timezone)


def _doctor(
    gp: Practitioner,
    zone: ZoneInfo,
    unavailable: list[Unavailability],
    wish: Wish | None,
    max_per_week: int | None = None,
) -> engine.Doctor:
    def local_midnight(day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)

    return engine.Doctor(
        id=gp.id,
        name=gp.display_name,
        site_ids=frozenset(s.id for s in gp.sites if s.active),
        weight=wish.weight if wish else 1.0,
        unavailable=tuple(
            engine.Unavailability(
                local_midnight(u.start_date),
                local_midnight(u.end_date + timedelta(days=1)),
                exempt=u.exempt,
            )
            for u in unavailable
        ),
        preferred_weekdays=mask_to_weekdays(wish.preferred_weekday_mask) if wish else frozenset(),
        preferred_site_ids=frozenset(wish.preferred_site_ids) if wish else frozenset(),
        avoid_dates=frozenset(date.fromisoformat(d) for d in wish.avoid_dates)
        if wish
        else frozenset(),
        usual_site_id=min((s.id for s in gp.sites if s.active), default=None),
        max_per_week=max_per_week,
        max_per_day=wish.max_per_day if wish else 1,
        max_per_period=wish.max_per_period if wish else None,
        target_sessions=wish.target_sessions if wish else None,
    )


def _engine_session(s: Session) -> engine.Session:
    return engine.Session(
        id=s.id,
        site_id=s.site_id,
        starts_at=s.starts_at,
        ends_at=s.ends_at,
        local_date=s.local_date,
        gps_needed=s.gps_needed,
        category=s.category,
        site_name=s.site.name if s.site else "",
    )


def carried_balance(period: RotaPeriod) -> dict[int, dict[str, float]]:
    """What each GP owes coming into ``period``, per category: the sum of their ledger
    balances (fair share − load) over the territory's earlier published periods.

    Read from the ledger, never recomputed from today's roster: a GP added later has no
    rows, hence owes nothing; a hand-over moved the balances of its own period only.
    """
    rows = db.session.execute(
        sa.select(
            FairnessLedger.practitioner_id,
            FairnessLedger.category,
            sa.func.sum(FairnessLedger.balance),
        )
        .join(RotaPeriod, RotaPeriod.id == FairnessLedger.period_id)
        .where(
            FairnessLedger.territory_id == period.territory_id,
            RotaPeriod.end_date < period.start_date,
            RotaPeriod.status.in_([PeriodStatus.PUBLISHED, PeriodStatus.ARCHIVED]),
        )
        .group_by(FairnessLedger.practitioner_id, FairnessLedger.category)
    ).all()
    owed: dict[int, dict[str, float]] = {}
    for gp_id, category, balance in rows:
        owed.setdefault(gp_id, dict.fromkeys(engine.CATEGORIES, 0.0))[category] = round(balance, 3)
    return owed


def build_problem(period: RotaPeriod) -> engine.Problem:
    """The period as the engine sees it: live sessions, active GPs, declarations, locks, and
    what each GP owes from earlier periods (so fairness holds over the year)."""
    zone = _zone(period.territory_id)
    sessions = [s for s in period.sessions if not s.cancelled]
    gps = active_gps(period.territory_id)
    unavailable: dict[int, list[Unavailability]] = defaultdict(list)
    for u in db.session.scalars(
        sa.select(Unavailability).where(
            Unavailability.practitioner_id.in_([g.id for g in gps]),
            Unavailability.end_date >= period.start_date - timedelta(days=1),
            Unavailability.start_date <= period.end_date + timedelta(days=1),
        )
    ):
        unavailable[u.practitioner_id].append(u)
    wishes = {
        w.practitioner_id: w
        for w in db.session.scalars(sa.select(Wish).where(Wish.period_id == period.id))
    }
    locks = tuple(
        engine.Lock(a.session_id, a.practitioner_id)
        for s in sessions
        for a in s.assignments
        if a.locked
    )
    territory = _territory_of(period.territory_id)
    owed = carried_balance(period)
    return engine.Problem(
        sessions=tuple(_engine_session(s) for s in sessions),
        doctors=tuple(
            replace(
                _doctor(
                    g, zone, unavailable[g.id], wishes.get(g.id), territory.max_sessions_per_week
                ),
                owed=tuple(sorted(owed.get(g.id, {}).items())),
            )
            for g in gps
        ),
        locks=locks,
        min_rest_hours=territory.min_rest_hours,
        period=(period.start_date, period.end_date),
    )


# --- generation and publication ----------------------------------------------------------------


def generate_rota(period: RotaPeriod, *, by: User | None) -> engine.Solution:
    """Fill the period fairly, keeping volunteered and locked assignments."""
    if period.status not in (PeriodStatus.WISHES_OPEN, PeriodStatus.GENERATED):
        raise ValidationError(
            "Le tableau se génère après l'ouverture des souhaits et avant la publication."
        )
    for session in period.sessions:
        session.assignments = [a for a in session.assignments if a.locked]
    db.session.flush()
    try:
        solution = engine.solve(build_problem(period))
    except engine.InvalidProblem as exc:
        raise ValidationError(f"Des affectations verrouillées se contredisent : {exc}") from exc
    by_session = {s.id: s for s in period.sessions}
    for a in solution.assignments:
        if a.locked:
            continue
        session = by_session[a.session_id]
        seat = _free_seat(session)
        session.assignments.append(
            Assignment(practitioner_id=a.doctor_id, seat=seat, source=AssignmentSource.GENERATED)
        )
    period.status = PeriodStatus.GENERATED
    db.session.flush()
    audit.record(
        "rota.generate",
        by=by,
        territory_id=period.territory_id,
        target=period,
        detail={k: v for k, v in solution.figures.items()},
    )
    return solution


def _free_seat(session: Session) -> int:
    taken = {a.seat for a in session.assignments}
    return next(n for n in range(1, session.gps_needed + 1) if n not in taken)


def write_ledger(period: RotaPeriod) -> int:
    """Freeze each GP's share, carried balance and load of ``period`` in the ledger.

    Every active GP gets a row per category (a share of 0 included), and so does any GP
    holding a session; existing rows of the period are replaced (a new publication).
    """
    problem = build_problem(period)
    share = engine.shares(problem)
    goal = engine.targets(problem, share)
    loads: dict[tuple[int, str], int] = defaultdict(int)
    for s in period.sessions:
        if s.cancelled:
            continue
        for a in s.assignments:
            loads[(a.practitioner_id, s.category)] += 1
    db.session.execute(sa.delete(FairnessLedger).where(FairnessLedger.period_id == period.id))
    gp_ids = sorted({d.id for d in problem.doctors} | {gp for gp, _ in loads})
    for gp_id in gp_ids:
        for category in engine.CATEGORIES:
            mine = share.get(gp_id, {}).get(category, 0.0)
            load = loads[(gp_id, category)]
            db.session.add(
                FairnessLedger(
                    territory_id=period.territory_id,
                    period_id=period.id,
                    practitioner_id=gp_id,
                    category=category,
                    share=round(mine, 4),
                    carried=round(goal.get(gp_id, {}).get(category, 0.0) - mine, 4),
                    load=load,
                    balance=round(mine - load, 4),
                )
            )
    db.session.flush()
    return len(gp_ids)


def backfill_ledger(territory_id: int | None = None) -> list[tuple[RotaPeriod, int]]:
    """Write the ledger of the published or archived periods that have none: those published
    before the ledger existed. Returns each period written and its number of GPs.

    Oldest first in each territory, so that each period's carried balance (what its GPs owed
    coming in) reads the periods just written before it, as if the ledger had always been
    there. Loads are the assignments as they stand; shares come from ``write_ledger``, hence
    from today's roster (the database keeps no older one). Idempotent: a period that already
    has rows is left alone, so a second run writes nothing. The caller owns the transaction
    (one for the whole backfill: all periods or none).
    """
    has_rows = sa.exists().where(FairnessLedger.period_id == RotaPeriod.id)
    query = (
        sa.select(RotaPeriod)
        .where(
            RotaPeriod.status.in_([PeriodStatus.PUBLISHED, PeriodStatus.ARCHIVED]),
            ~has_rows,
        )
        .order_by(RotaPeriod.territory_id, RotaPeriod.start_date, RotaPeriod.id)
    )
    if territory_id is not None:
        query = query.where(RotaPeriod.territory_id == territory_id)
    written = []
    for period in db.session.scalars(query).all():
        count = write_ledger(period)
        audit.record(
            "rota.ledger_backfill",
            by=None,
            territory_id=period.territory_id,
            target=period,
            detail={"gps": count},
        )
        written.append((period, count))
    return written


def move_ledger(session: Session, *, from_id: int | None, to_id: int | None) -> None:
    """A session of a published period changed hands: move one unit of load in the ledger.

    Only the period's own rows change, by exactly what moved; a GP with no row yet (added
    after publication) gets one with a share of 0.
    """
    if session.period.status not in (PeriodStatus.PUBLISHED, PeriodStatus.ARCHIVED):
        return
    for gp_id, delta in ((from_id, -1), (to_id, +1)):
        if gp_id is None:
            continue
        row = db.session.scalar(
            sa.select(FairnessLedger).where(
                FairnessLedger.period_id == session.period_id,
                FairnessLedger.practitioner_id == gp_id,
                FairnessLedger.category == session.category,
            )
        )
        if row is None:
            row = FairnessLedger(
                territory_id=session.territory_id,
                period_id=session.period_id,
                practitioner_id=gp_id,
                category=session.category,
                share=0.0,
                carried=0.0,
                load=0,
                balance=0.0,
            )
            db.session.add(row)
        row.load = max(0, row.load + delta)
        row.balance = round(row.share - row.load, 4)
        row.updated_at = now_utc()
    db.session.flush()


def publication_recipients(period: RotaPeriod) -> list[tuple[Practitioner, int]]:
    """The GPs publishing e-mails, with their number of sessions.

    The confirmation page counts these very rows, so the number it announces is the number
    of e-mails ``publish_rota`` sends.
    """
    counts: dict[int, int] = defaultdict(int)
    for s in period.sessions:
        for a in s.assignments:
            counts[a.practitioner_id] += 1
    return [
        (gp, counts[gp.id]) for gp in active_gps(period.territory_id) if gp.email and counts[gp.id]
    ]


def publish_rota(period: RotaPeriod, *, by: User | None) -> int:
    """Freeze a version and tell every GP of their sessions. Returns the new version."""
    if period.status != PeriodStatus.GENERATED:
        raise ValidationError("Seul un tableau généré (et relu) peut être publié.")
    period.status = PeriodStatus.PUBLISHED
    period.version += 1
    period.published_at = now_utc()
    write_ledger(period)
    for gp, count in publication_recipients(period):
        notify(
            period.territory_id,
            gp.email,
            f"Tour de rôle publié : « {period.name} »",
            f"Bonjour {gp.display_name},\n\nLe tableau « {period.name} » est publié : vous "
            f"assurez {count} plage(s). Retrouvez-les dans Tour de rôle et dans votre agenda.",
        )
    db.session.flush()
    audit.record(
        "rota.publish",
        by=by,
        territory_id=period.territory_id,
        target=period,
        detail={"version": period.version},
    )
    return period.version


# --- manual edits ------------------------------------------------------------------------------


def hard_rule_breaches(
    session: Session,
    practitioner: Practitioner,
    *,
    giving_up: Session | None = None,
    replacing: int | None = None,
) -> list[str]:
    """Why ``practitioner`` may not hold ``session`` (French; empty when they may).

    Loads what the rules need (the GP's declarations, their sessions around this one, their
    count in the period) and lets ``rota.rules`` judge, as the engine does. For an exchange
    (``rota.exchanges``), ``giving_up`` is the session the GP hands over in the same move
    and ``replacing`` the GP who leaves ``session``: the rules judge the rota after the swap.
    """
    zone = _zone(session.territory_id)
    territory = _territory_of(session.territory_id)
    unavailable = db.session.scalars(
        sa.select(Unavailability).where(
            Unavailability.practitioner_id == practitioner.id,
            Unavailability.start_date <= session.local_date + timedelta(days=1),
            Unavailability.end_date >= session.local_date - timedelta(days=1),
        )
    ).all()
    wish = db.session.scalar(
        sa.select(Wish).where(
            Wish.period_id == session.period_id, Wish.practitioner_id == practitioner.id
        )
    )
    doctor = _doctor(practitioner, zone, list(unavailable), wish, territory.max_sessions_per_week)
    # The ISO week around the session and two days either side (rest across midnight).
    nearby = db.session.scalars(
        sa.select(Session)
        .join(Assignment, Assignment.session_id == Session.id)
        .where(
            Assignment.practitioner_id == practitioner.id,
            Session.local_date >= session.local_date - timedelta(days=7),
            Session.local_date <= session.local_date + timedelta(days=7),
            Session.id != session.id,
            ~Session.cancelled,
        )
    ).all()
    period_count = None
    if doctor.max_per_period is not None:
        period_count = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Assignment)
            .join(Session, Session.id == Assignment.session_id)
            .where(
                Assignment.practitioner_id == practitioner.id,
                Session.period_id == session.period_id,
                Session.id.not_in([session.id, giving_up.id if giving_up else session.id]),
                ~Session.cancelled,
            )
        )
    checks = dict(
        held=[_engine_session(s) for s in nearby],
        holders=[a.practitioner_id for a in session.assignments if a.practitioner_id != replacing],
        period_count=period_count,
        min_rest=timedelta(hours=territory.min_rest_hours),
        active=practitioner.active and practitioner.profession == Profession.GP,
    )
    if giving_up is None:
        found = rules.addition_breaches(doctor, _engine_session(session), **checks)
    else:
        found = rules.exchange_breaches(
            doctor, _engine_session(giving_up), _engine_session(session), **checks
        )
    by_id = {s.id: s for s in nearby}
    return [breach_message(b, practitioner, session, by_id) for b in found]


def breach_message(
    breach: rules.Breach,
    practitioner: Practitioner,
    session: Session,
    others: dict[int, Session],
) -> str:
    """A hard-rule breach in the French a coordinator or a GP reads."""
    name = practitioner.display_name
    day = f"{session.local_date:%d/%m}"
    other = others.get(breach.other_session_id or 0)
    rest = f"{breach.rest_hours:g}" if breach.rest_hours is not None else ""
    messages = {
        rules.INACTIVE: f"{name} n'est pas un médecin actif du territoire.",
        rules.NOT_AT_SITE: f"{name} n'exerce pas à {session.site.name}.",
        rules.ALREADY_HOLDING: f"{name} assure déjà cette plage.",
        rules.OVERSTAFFED: "Cette plage est déjà complète.",
        rules.UNAVAILABLE: f"{name} est indisponible le {session.local_date:%d/%m/%Y}.",
        rules.TOO_CLOSE: f"{name} assure déjà une plage le "
        f"{(other.local_date if other else session.local_date):%d/%m} trop proche "
        f"(chevauchement ou moins de {rest} h de repos).",
        rules.MAX_PER_DAY: f"{name} assure déjà {breach.count} plage(s) le {day} "
        f"(maximum : {breach.limit} par jour).",
        rules.MAX_PER_WEEK: f"{name} atteint déjà le maximum de {breach.limit} plage(s) "
        "cette semaine.",
        rules.MAX_PER_PERIOD: f"{name} a atteint son maximum de {breach.limit} plage(s) "
        "sur la période.",
    }
    return messages[breach.code]


PAST_SESSION = (
    "Cette plage est passée : elle n'est plus modifiable, sauf en mode correction "
    "(qui ne prévient personne)."
)


def is_past(session: Session) -> bool:
    """A session that is over: what happened there is history, not a rota to edit."""
    return session.ends_at <= now_utc()


def check_editable(session: Session, *, correction: bool) -> None:
    """Refuse to edit a past session, unless the coordinator corrects the record."""
    if is_past(session) and not correction:
        raise ValidationError(PAST_SESSION)


def assign(
    session: Session,
    practitioner: Practitioner,
    *,
    source: AssignmentSource,
    locked: bool,
    by: User | None,
    correction: bool = False,
) -> Assignment:
    """Put a GP on a session if every hard rule allows it.

    The coordinator's manual assignment of a past session needs correction mode; the
    other sources check their own windows (``volunteer``, ``take_open_place``).
    """
    if session.cancelled:
        raise ValidationError("Cette plage est annulée.")
    if source == AssignmentSource.MANUAL:
        check_editable(session, correction=correction)
    if len(session.assignments) >= session.gps_needed:
        raise ValidationError("Cette plage est déjà complète.")
    reasons = hard_rule_breaches(session, practitioner)
    if reasons:
        raise ValidationError(" ".join(reasons))
    assignment = Assignment(
        practitioner_id=practitioner.id, seat=_free_seat(session), source=source, locked=locked
    )
    session.assignments.append(assignment)
    if session.period.status == PeriodStatus.PUBLISHED:
        session.version += 1
    db.session.flush()
    move_ledger(session, from_id=None, to_id=practitioner.id)
    audit.record(
        "assignment.create",
        by=by,
        territory_id=session.territory_id,
        target=assignment,
        detail={"session": session.id, "source": source.value, "correction": correction},
    )
    return assignment


def volunteer(session: Session, practitioner: Practitioner, *, by: User | None) -> Assignment:
    if session.period.status != PeriodStatus.WISHES_OPEN:
        raise ValidationError(
            "On ne peut se porter volontaire que pendant le recueil des souhaits."
        )
    return assign(session, practitioner, source=AssignmentSource.VOLUNTEERED, locked=True, by=by)


def commitments_on(session: Session) -> dict[int, int]:
    """How many commitments (appointments, for the booking layer) each seat carries."""
    total: dict[int, int] = {}
    for counts in answers(events.seat_commitments, session):
        for seat, count in counts.items():
            total[seat] = total.get(seat, 0) + count
    return total


def unassign(assignment: Assignment, *, by: User | None, correction: bool = False) -> None:
    """Remove a GP from a session; refused while patients are booked on their seat.

    A past session changes only in correction mode, which e-mails no one.
    """
    session = assignment.session
    if session.cancelled:
        raise ValidationError("Cette plage est annulée.")
    check_editable(session, correction=correction)
    events.assignment_removal.send(assignment, by=by)
    if session.period.status == PeriodStatus.PUBLISHED:
        session.version += 1
    audit.record(
        "assignment.delete",
        by=by,
        territory_id=session.territory_id,
        target=assignment,
        detail={
            "session": session.id,
            "practitioner": assignment.practitioner_id,
            "correction": correction,
        },
    )
    events.assignment_leaving.send(assignment, change="remove", by=by)
    close_offers(assignment, by=by)
    if not correction:
        _tell_removed(assignment)
    move_ledger(session, from_id=assignment.practitioner_id, to_id=None)
    session.assignments.remove(assignment)
    db.session.flush()


def _tell_removed(assignment: Assignment) -> None:
    """E-mail a GP taken off a published session (calendars may refresh only daily)."""
    session, gp = assignment.session, assignment.practitioner
    if session.period.status == PeriodStatus.PUBLISHED and gp.email:
        notify(
            session.territory_id,
            gp.email,
            "Tour de rôle : une plage ne vous est plus confiée",
            f"La coordination vous a retiré de la plage du {session.local_date:%d/%m/%Y} à "
            f"{session.site.name}.",
        )


def close_offers(assignment: Assignment, *, by: User | None) -> int:
    """Withdraw the live hand-over offers of a seat whose GP changes another way.

    Left open, a bourse offer would let a colleague take the seat from the new GP.
    """
    live = db.session.scalars(
        sa.select(SwapRequest).where(
            SwapRequest.assignment_id == assignment.id,
            SwapRequest.status.in_([SwapStatus.OPEN, SwapStatus.PENDING]),
        )
    ).all()
    for request in live:
        request.status = SwapStatus.CANCELLED
        request.decided_at = now_utc()
        audit.record("swap.close", by=by, territory_id=request.territory_id, target=request)
    db.session.flush()
    return len(live)


def replace_gp(
    assignment: Assignment,
    practitioner: Practitioner,
    *,
    by: User | None,
    correction: bool = False,
) -> None:
    """Put another GP on the same seat: the seat's bookings follow to the new GP.

    A past session changes only in correction mode, which e-mails no one.
    """
    session = assignment.session
    if session.cancelled:
        raise ValidationError("Cette plage est annulée.")
    check_editable(session, correction=correction)
    if practitioner.id == assignment.practitioner_id:
        raise ValidationError("Ce médecin assure déjà cette place.")
    reasons = hard_rule_breaches(session, practitioner)
    if reasons:
        raise ValidationError(" ".join(reasons))
    before = assignment.practitioner_id
    events.assignment_leaving.send(assignment, change="replace", by=by)
    close_offers(assignment, by=by)
    if not correction:
        _tell_removed(assignment)
    assignment.practitioner_id = practitioner.id
    assignment.source = AssignmentSource.MANUAL
    if session.period.status == PeriodStatus.PUBLISHED:
        session.version += 1
    db.session.flush()
    move_ledger(session, from_id=before, to_id=practitioner.id)
    db.session.expire(assignment, ["practitioner"])
    audit.record(
        "assignment.replace",
        by=by,
        territory_id=session.territory_id,
        target=assignment,
        detail={
            "session": session.id,
            "from": before,
            "to": practitioner.id,
            "correction": correction,
        },
    )
    if practitioner.email and session.period.status == PeriodStatus.PUBLISHED and not correction:
        booked = commitments_on(session).get(assignment.seat, 0)
        notify(
            session.territory_id,
            practitioner.email,
            "Tour de rôle : une plage vous est confiée",
            f"La coordination vous confie la plage du {session.local_date:%d/%m/%Y} à "
            f"{session.site.name}" + (f", avec {booked} rendez-vous déjà pris." if booked else "."),
        )


def cancellation_recipients(session: Session) -> list[str]:
    """Who ``cancel_session`` e-mails (the confirmation page counts the same list)."""
    if session.period.status != PeriodStatus.PUBLISHED:
        return []
    return [a.practitioner.email for a in session.assignments if a.practitioner.email]


def cancel_session(session: Session, *, reason: str, by: User | None) -> int:
    """Cancel a session (amendment): its GPs are told, its bookings flagged "à replacer"."""
    if session.cancelled:
        raise ValidationError("Cette plage est déjà annulée.")
    text = " ".join((reason or "").split())
    if not text:
        raise ValidationError("Indiquez le motif de l'annulation.")
    if is_past(session):
        raise ValidationError("Cette plage est passée : elle ne peut plus être annulée.")
    recipients = cancellation_recipients(session)
    events.session_cancelling.send(session, by=by)
    session.cancelled = True
    session.cancel_reason = text[:200]
    session.version += 1
    db.session.flush()
    for email in recipients:
        notify(
            session.territory_id,
            email,
            "Tour de rôle : plage annulée",
            f"La plage du {session.local_date:%d/%m/%Y} à {session.site.name} est annulée "
            f"({session.cancel_reason}).",
        )
    audit.record("session.cancel", by=by, territory_id=session.territory_id, target=session)
    return sum(answers(events.session_cancelled, session, by=by))


def period_fairness(period: RotaPeriod) -> list[FairnessRow]:
    """Load vs target per GP for the review page (rows of ``rota.fairness``).

    A published (or archived) period reads its ledger: its figures never change when GPs are
    added or later periods generated. Before publication they are computed live.
    """
    if period.status in (PeriodStatus.PUBLISHED, PeriodStatus.ARCHIVED):
        entries = db.session.execute(
            sa.select(
                FairnessLedger.practitioner_id,
                FairnessLedger.category,
                FairnessLedger.share,
                FairnessLedger.carried,
                FairnessLedger.load,
            ).where(FairnessLedger.period_id == period.id)
        ).all()
        if entries:
            names = {
                gp.id: gp.display_name
                for gp in db.session.scalars(
                    sa.select(Practitioner).where(
                        Practitioner.id.in_({e.practitioner_id for e in entries})
                    )
                )
            }
            return fairness.ledger_rows(
                [(e[0], names.get(e[0], ""), e[1], e[2], e[3], e[4]) for e in entries]
            )
    held = [(a.session_id, a.practitioner_id) for s in period.sessions for a in s.assignments]
    return fairness.fairness_rows(build_problem(period), held)


def period_site_pressure(period: RotaPeriod) -> list[engine.SitePressure]:
    """The sites whose staffing forces unequal loads in ``period`` (most pressed first)."""
    return engine.site_pressure(build_problem(period))


@dataclass(frozen=True)
class AbsenceLine:
    """An absence as a GP or the coordinator reads it: does it count, or exempt?"""

    id: int
    practitioner_id: int
    practitioner_name: str
    start_date: date
    end_date: date
    reason: str
    exempt: bool
    exempt_reason: str | None

    @property
    def effect(self) -> str:
        if self.exempt:
            return f"Exemptée ({self.exempt_reason}) : votre part est réduite au prorata."
        return "Reportée : les plages que vous n'avez pas pu assurer sont dues plus tard."


def absence_lines(
    territory_id: int, *, since: date, practitioner_id: int | None = None
) -> list[AbsenceLine]:
    """The territory's absences ending on or after ``since`` (one GP's if given), by date."""
    query = (
        sa.select(Unavailability, Practitioner)
        .join(Practitioner, Practitioner.id == Unavailability.practitioner_id)
        .where(Practitioner.territory_id == territory_id, Unavailability.end_date >= since)
        .order_by(Unavailability.start_date, Unavailability.id)
    )
    if practitioner_id is not None:
        query = query.where(Unavailability.practitioner_id == practitioner_id)
    return [
        AbsenceLine(
            u.id,
            gp.id,
            gp.display_name,
            u.start_date,
            u.end_date,
            u.reason,
            u.exempt,
            u.exempt_reason,
        )
        for u, gp in db.session.execute(query).all()
    ]


def absence_in_territory(territory_id: int, absence_id: int) -> Unavailability | None:
    """An absence of one of the territory's GPs (``None`` for another territory's)."""
    return db.session.scalar(
        sa.select(Unavailability)
        .join(Practitioner, Practitioner.id == Unavailability.practitioner_id)
        .where(Unavailability.id == absence_id, Practitioner.territory_id == territory_id)
    )


def set_absence_exemption(
    unavailability: Unavailability, *, exempt: bool, reason: str, by: User | None
) -> None:
    """The coordinator marks an absence as exempting (with a reason) or counting again.

    Periods generated from now on use it; published periods keep their ledger.
    """
    text = " ".join((reason or "").split())[:200]
    if exempt and not text:
        raise ValidationError("Indiquez le motif de l'exemption (maladie, congé parental…).")
    unavailability.exempt = exempt
    unavailability.exempt_reason = text if exempt else None
    db.session.flush()
    gp = db.session.get(Practitioner, unavailability.practitioner_id)
    assert gp is not None
    audit.record(
        "unavailability.exempt" if exempt else "unavailability.count",
        by=by,
        territory_id=gp.territory_id,
        target=unavailability,
        detail={"reason": text} if exempt else None,
    )


@dataclass(frozen=True)
class LedgerLine:
    """One GP's running figures over a year (from the ledger)."""

    practitioner_id: int
    name: str
    load: int
    share: float
    owed: float  # everything carried so far (all published history)


def running_balances(territory_id: int, *, year: int) -> list[LedgerLine]:
    """Per GP: sessions held and fair share over the published periods starting in ``year``,
    and what they owe over all published history (what the next generation carries)."""
    published = [PeriodStatus.PUBLISHED, PeriodStatus.ARCHIVED]
    in_year = sa.and_(
        RotaPeriod.start_date >= date(year, 1, 1), RotaPeriod.start_date <= date(year, 12, 31)
    )
    rows = db.session.execute(
        sa.select(
            FairnessLedger.practitioner_id,
            sa.func.sum(sa.case((in_year, FairnessLedger.load), else_=0)),
            sa.func.sum(sa.case((in_year, FairnessLedger.share), else_=0.0)),
            sa.func.sum(FairnessLedger.balance),
        )
        .join(RotaPeriod, RotaPeriod.id == FairnessLedger.period_id)
        .where(FairnessLedger.territory_id == territory_id, RotaPeriod.status.in_(published))
        .group_by(FairnessLedger.practitioner_id)
    ).all()
    names = {
        gp.id: gp.display_name
        for gp in db.session.scalars(
            sa.select(Practitioner).where(Practitioner.id.in_([r[0] for r in rows]))
        )
    }
    lines = [
        LedgerLine(gp_id, names.get(gp_id, ""), int(load or 0), float(share or 0), float(owed or 0))
        for gp_id, load, share, owed in rows
    ]
    return sorted(lines, key=lambda x: (french_key(x.name), x.practitioner_id))


@dataclass(frozen=True)
class MyFairness:
    """What "Mes plages" shows a GP about fairness: the year, the last period, absences."""

    year: int
    year_load: int
    year_share: float
    owed: float
    period_name: str | None
    period_rows: dict[str, tuple[float, float, int]]  # category → (share, carried, load)
    explanation: str | None
    absences: list[AbsenceLine]


def my_fairness(practitioner: Practitioner, *, today: date) -> MyFairness:
    """A GP's own figures, read from the ledger (and their absences since January)."""
    year = today.year
    mine = next(
        (
            x
            for x in running_balances(practitioner.territory_id, year=year)
            if x.practitioner_id == practitioner.id
        ),
        None,
    )
    latest = db.session.scalar(
        sa.select(RotaPeriod)
        .join(FairnessLedger, FairnessLedger.period_id == RotaPeriod.id)
        .where(
            FairnessLedger.practitioner_id == practitioner.id,
            RotaPeriod.status.in_([PeriodStatus.PUBLISHED, PeriodStatus.ARCHIVED]),
        )
        .order_by(RotaPeriod.start_date.desc())
        .limit(1)
    )
    rows: dict[str, tuple[float, float, int]] = {}
    explanation = None
    if latest is not None:
        for entry in db.session.scalars(
            sa.select(FairnessLedger).where(
                FairnessLedger.period_id == latest.id,
                FairnessLedger.practitioner_id == practitioner.id,
            )
        ):
            rows[entry.category] = (entry.share, entry.carried, entry.load)
        share = sum(r[0] for r in rows.values())
        load = sum(r[2] for r in rows.values())
        target = share + sum(r[1] for r in rows.values())
        explanation = (
            f"Sur « {latest.name} », votre part équitable était de {_decimal(share)} plage(s)"
            + (f", {_decimal(target)} avec le report" if abs(target - share) >= 0.05 else "")
            + f" ; vous en assurez {load}."
        )
    return MyFairness(
        year=year,
        year_load=mine.load if mine else 0,
        year_share=mine.share if mine else 0.0,
        owed=mine.owed if mine else 0.0,
        period_name=latest.name if latest else None,
        period_rows=rows,
        explanation=explanation,
        absences=absence_lines(
            practitioner.territory_id, since=date(year, 1, 1), practitioner_id=practitioner.id
        ),
    )


def _decimal(value: float) -> str:
    return f"{value:.1f}".replace(".", ",")


def soft_warnings(session: Session, practitioner: Practitioner) -> list[str]:
    """What a manual assignment would bend without breaking (French; allowed, but said)."""
    warnings = []
    wish = db.session.scalar(
        sa.select(Wish).where(
            Wish.period_id == session.period_id, Wish.practitioner_id == practitioner.id
        )
    )
    if wish is not None and session.local_date.isoformat() in wish.avoid_dates:
        warnings.append(
            f"{practitioner.display_name} avait demandé à éviter le {session.local_date:%d/%m}."
        )
    if (
        wish is not None
        and wish.preferred_weekday_mask
        and not (wish.preferred_weekday_mask >> session.local_date.weekday()) & 1
    ):
        warnings.append(
            f"Ce jour ne fait pas partie des jours préférés de {practitioner.display_name}."
        )
    rows = {r.doctor_id: r for r in period_fairness(session.period)}
    row = rows.get(practitioner.id)
    if (
        row is not None
        and row.loads.get(session.category, 0) + 1 > row.targets.get(session.category, 0) + 1
    ):
        warnings.append(
            f"{practitioner.display_name} dépassera sa cible équitable "
            f"({row.targets.get(session.category, 0):.1f}) pour cette catégorie.".replace(
                ".", ",", 1
            )
        )
    return warnings


def set_locked(assignment: Assignment, locked: bool, *, by: User | None) -> None:
    if assignment.session.cancelled:
        raise ValidationError("Cette plage est annulée.")
    check_editable(assignment.session, correction=False)
    assignment.locked = locked
    db.session.flush()
    audit.record(
        "assignment.lock" if locked else "assignment.unlock",
        by=by,
        territory_id=assignment.session.territory_id,
        target=assignment,
    )


# --- swaps and the bourse ------------------------------------------------------------------------


def offer_swap(
    assignment: Assignment, *, to: Practitioner | None, message: str, by: User | None
) -> SwapRequest:
    """A GP hands over one of their sessions: to a named colleague, or on the bourse."""
    session = assignment.session
    if session.period.status != PeriodStatus.PUBLISHED:
        raise ValidationError("Seules les plages d'un tableau publié peuvent être cédées.")
    if session.starts_at <= now_utc():
        raise ValidationError("Cette plage a déjà commencé.")
    if to is not None and (
        to.territory_id != session.territory_id or to.id == assignment.practitioner_id
    ):
        raise ValidationError("Choisissez un confrère ou une consœur du territoire.")
    live = [SwapStatus.OPEN, SwapStatus.PENDING]
    if db.session.scalar(
        sa.select(SwapRequest.id).where(
            SwapRequest.assignment_id == assignment.id, SwapRequest.status.in_(live)
        )
    ) or db.session.scalar(
        sa.select(ExchangeProposal.id).where(
            ExchangeProposal.assignment_id == assignment.id, ExchangeProposal.status.in_(live)
        )
    ):
        raise ValidationError("Cette plage est déjà proposée (cession ou échange en cours).")
    request = SwapRequest(
        territory_id=session.territory_id,
        assignment_id=assignment.id,
        session_id=session.id,
        from_practitioner_id=assignment.practitioner_id,
        to_practitioner_id=to.id if to else None,
        status=SwapStatus.OPEN,
        message=message.strip()[:300],
    )
    db.session.add(request)
    db.session.flush()
    if to is not None and to.email:
        notify(
            session.territory_id,
            to.email,
            "Tour de rôle : un confrère vous propose une plage",
            f"{assignment.practitioner.display_name} vous propose la plage du "
            f"{session.local_date:%d/%m/%Y} à {session.site.name}. Acceptez-la dans Tour de rôle.",
        )
    audit.record(
        "swap.offer",
        by=by,
        territory_id=session.territory_id,
        target=request,
        detail={"to": to.id if to else None},
    )
    return request


def coordinator_emails(territory_id: int) -> list[str]:
    """Who hears of what needs the coordination's decision (swaps, exchanges, the bourse)."""
    return list(
        db.session.scalars(
            sa.select(User.email)
            .where(
                User.territory_id == territory_id,
                User.role == Role.COORDINATOR,
                User.active,
            )
            .order_by(User.email)
        )
    )


def _swap_assignment(request: SwapRequest, taker: Practitioner) -> Assignment:
    """The assignment a swap hands over, once checked that ``taker`` may hold it now."""
    assert request.assignment_id is not None
    assignment = db.session.get(Assignment, request.assignment_id)
    assert assignment is not None
    session = assignment.session
    if session.starts_at <= now_utc():
        raise ValidationError("Cette plage a déjà commencé.")
    reasons = hard_rule_breaches(session, taker)
    if reasons:
        raise ValidationError(" ".join(reasons))
    return assignment


def accept_swap(request: SwapRequest, taker: Practitioner, *, by: User | None) -> Assignment | None:
    """The colleague takes the session, if every hard rule allows it.

    Where the territory wants swaps approved, the request waits for the coordinator
    (``None`` is returned) and the session does not move yet.
    """
    if request.status != SwapStatus.OPEN or request.assignment_id is None:
        raise ValidationError("Cette proposition n'est plus ouverte.")
    if request.to_practitioner_id is not None and request.to_practitioner_id != taker.id:
        raise ValidationError("Cette proposition est adressée à un autre médecin.")
    if taker.id == request.from_practitioner_id:
        raise ValidationError("Vous ne pouvez pas reprendre votre propre plage.")
    assignment = _swap_assignment(request, taker)
    if _territory_of(request.territory_id).swaps_need_approval:
        request.status = SwapStatus.PENDING
        request.taken_by_id = taker.id
        db.session.flush()
        session = assignment.session
        for email in coordinator_emails(request.territory_id):
            notify(
                request.territory_id,
                email,
                "Tour de rôle : un échange attend votre validation",
                f"{taker.display_name} reprendrait la plage du {session.local_date:%d/%m/%Y} "
                f"à {session.site.name} de {assignment.practitioner.display_name}. "
                "Validez ou refusez l'échange dans Tour de rôle (plages à pourvoir).",
            )
        audit.record(
            "swap.take",
            by=by,
            territory_id=request.territory_id,
            target=request,
            detail={"from": request.from_practitioner_id, "to": taker.id},
        )
        return None
    return _complete_swap(request, assignment, taker, by=by)


def _complete_swap(
    request: SwapRequest, assignment: Assignment, taker: Practitioner, *, by: User | None
) -> Assignment:
    session = assignment.session
    giver = assignment.practitioner
    events.assignment_leaving.send(assignment, change="swap", by=by)
    assignment.practitioner_id = taker.id
    assignment.source = AssignmentSource.SWAPPED
    assignment.locked = True
    session.version += 1
    request.status = SwapStatus.ACCEPTED
    request.taken_by_id = taker.id
    request.decided_at = now_utc()
    db.session.flush()
    move_ledger(session, from_id=giver.id, to_id=taker.id)
    if giver.email:
        notify(
            session.territory_id,
            giver.email,
            "Tour de rôle : votre plage est reprise",
            f"{taker.display_name} assurera la plage du {session.local_date:%d/%m/%Y} à "
            f"{session.site.name}.",
        )
    audit.record(
        "swap.accept",
        by=by,
        territory_id=session.territory_id,
        target=request,
        detail={"from": giver.id, "to": taker.id},
    )
    return assignment


def approve_swap(request: SwapRequest, *, by: User | None) -> Assignment:
    """The coordinator lets a taken swap go through, the hard rules checked again."""
    if request.status != SwapStatus.PENDING or request.taken_by_id is None:
        raise ValidationError("Cet échange n'attend pas de validation.")
    if request.assignment_id is None:
        raise ValidationError("La plage de cet échange n'existe plus.")
    taker = db.session.get(Practitioner, request.taken_by_id)
    assert taker is not None
    assignment = _swap_assignment(request, taker)
    return _complete_swap(request, assignment, taker, by=by)


def refuse_swap(request: SwapRequest, *, by: User | None) -> None:
    """The coordinator refuses a taken swap: the session stays with the GP who offered it."""
    if request.status != SwapStatus.PENDING:
        raise ValidationError("Cet échange n'attend pas de validation.")
    request.status = SwapStatus.REFUSED
    request.decided_at = now_utc()
    db.session.flush()
    session = request.session
    for gp in (request.from_practitioner, db.session.get(Practitioner, request.taken_by_id)):
        if gp is not None and gp.email:
            notify(
                request.territory_id,
                gp.email,
                "Tour de rôle : échange refusé par la coordination",
                f"L'échange de la plage du {session.local_date:%d/%m/%Y} à {session.site.name} "
                f"n'a pas été validé : {request.from_practitioner.display_name} la garde.",
            )
    audit.record("swap.refuse", by=by, territory_id=request.territory_id, target=request)


def cancel_swap(request: SwapRequest, *, by: User | None) -> None:
    if request.status not in (SwapStatus.OPEN, SwapStatus.PENDING):
        raise ValidationError("Cette proposition n'est plus ouverte.")
    request.status = SwapStatus.CANCELLED
    request.decided_at = now_utc()
    db.session.flush()
    audit.record("swap.cancel", by=by, territory_id=request.territory_id, target=request)


def take_open_place(session: Session, practitioner: Practitioner, *, by: User | None) -> Assignment:
    """A GP fills an unfilled place of a published rota from the bourse.

    Filling a gap needs no approval: the coordinator is told, and the hard rules apply.
    """
    if session.period.status != PeriodStatus.PUBLISHED:
        raise ValidationError("Cette plage n'appartient pas à un tableau publié.")
    if session.starts_at <= now_utc():
        raise ValidationError("Cette plage a déjà commencé.")
    assignment = assign(session, practitioner, source=AssignmentSource.BOURSE, locked=True, by=by)
    for email in coordinator_emails(session.territory_id):
        notify(
            session.territory_id,
            email,
            "Tour de rôle : une plage à pourvoir a trouvé preneur",
            f"{practitioner.display_name} assurera la plage du {session.local_date:%d/%m/%Y} "
            f"à {session.site.name}.",
        )
    return assignment


def open_places(territory_id: int, *, site_ids: Iterable[int] | None = None) -> list[Session]:
    """Upcoming sessions of published rotas that still miss GPs (the gaps dashboard, the bourse)."""
    query = (
        sa.select(Session)
        .join(RotaPeriod, RotaPeriod.id == Session.period_id)
        .where(
            Session.territory_id == territory_id,
            RotaPeriod.status == PeriodStatus.PUBLISHED,
            Session.starts_at >= now_utc(),
            ~Session.cancelled,
        )
        .order_by(Session.starts_at, Session.site_id)
    )
    if site_ids is not None:
        query = query.where(Session.site_id.in_(list(site_ids)))
    return [s for s in db.session.scalars(query) if len(s.assignments) < s.gps_needed]


def remind_gps(period: RotaPeriod, *, by: User | None) -> int:
    """E-mail the GPs who have not answered the wishes window yet."""
    if period.status != PeriodStatus.WISHES_OPEN:
        raise ValidationError("Le recueil des souhaits n'est pas ouvert.")
    answered = set(
        db.session.scalars(sa.select(Wish.practitioner_id).where(Wish.period_id == period.id))
    )
    silent = [gp for gp in active_gps(period.territory_id) if gp.id not in answered and gp.email]
    for gp in silent:
        notify(
            period.territory_id,
            gp.email,
            f"Rappel : vos souhaits pour « {period.name} »",
            f"Bonjour {gp.display_name},\n\nVous n'avez pas encore répondu pour la période "
            f"« {period.name} ». Déclarez vos souhaits et indisponibilités dans Tour de rôle.",
        )
    db.session.flush()
    audit.record(
        "period.remind",
        by=by,
        territory_id=period.territory_id,
        target=period,
        detail={"reminded": len(silent)},
    )
    return len(silent)


def set_template_active(template: SessionTemplate, active: bool, *, by: User | None) -> None:
    """Deactivated templates create no new sessions; existing sessions are left as they are."""
    if active:
        template.active = True
        try:
            _check_template(
                template.site.territory, _template_data(template), template_id=template.id
            )
        except ValidationError:
            template.active = False
            raise
    else:
        template.active = False
    db.session.flush()
    audit.record(
        "template.activate" if active else "template.deactivate",
        by=by,
        territory_id=template.territory_id,
        target=template,
    )


def can_archive(period: RotaPeriod) -> bool:
    """Published and over: the page offers "Archiver" only then."""
    return period.status == PeriodStatus.PUBLISHED and period.end_date < now_utc().date()


def archive_period(period: RotaPeriod, *, by: User | None) -> None:
    if not can_archive(period):
        raise ValidationError("Seule une période publiée et terminée peut être archivée.")
    period.status = PeriodStatus.ARCHIVED
    db.session.flush()
    audit.record("period.archive", by=by, territory_id=period.territory_id, target=period)


def delete_draft(period: RotaPeriod, *, by: User | None) -> None:
    """Delete a period still in draft: nothing was created from it nor sent to anyone."""
    if period.status != PeriodStatus.DRAFT:
        raise ValidationError("Seule une période en brouillon peut être supprimée.")
    audit.record(
        "period.delete",
        by=by,
        territory_id=period.territory_id,
        target=period,
        detail={"name": period.name},
    )
    db.session.delete(period)
    db.session.flush()
