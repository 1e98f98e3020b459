"""What the journeys need to know about the demo before they start clicking.

The demo's rota comes out of the solver, so which GP account holds which evening, and
which colleague could take it over, is read from the demo database rather than written
down here: the swap journey then keeps working when the demo or the engine changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

GP_ACCOUNTS = [f"medecin{i}@demo.tourderole.fr" for i in range(1, 6)]


@dataclass(frozen=True)
class SwapPlan:
    """A published session that ``giver`` may hand to ``taker``, both demo GP accounts."""

    giver: str
    taker: str
    taker_option: str  # how the colleague reads in the "Destinataire" list
    taker_name: str  # display name, as the flash message says it
    session_label: str  # "mardi 09/03/2027 à 17:00, MSP des Marais"


def swap_plan(database_url: str, now: datetime) -> SwapPlan:
    """The first session of the first demo GP account that another account may take."""
    from app import create_app
    from app.extensions import db
    from app.models import User
    from app.templating import FRENCH_WEEKDAYS
    from app.timeutil import local
    from rota.models import Assignment, PeriodStatus, RotaPeriod, Session
    from rota.services import hard_rule_breaches

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True})
    with app.app_context():
        try:
            users = {
                u.email: u
                for u in db.session.scalars(sa.select(User).where(User.email.in_(GP_ACCOUNTS)))
            }
            accounts = [users[email] for email in GP_ACCOUNTS]
            for giver in accounts:
                held = db.session.scalars(
                    sa.select(Session)
                    .join(Assignment, Assignment.session_id == Session.id)
                    .join(RotaPeriod, RotaPeriod.id == Session.period_id)
                    .where(
                        Assignment.practitioner_id == giver.practitioner_id,
                        RotaPeriod.status == PeriodStatus.PUBLISHED,
                        Session.starts_at > now + timedelta(days=1),
                        ~Session.cancelled,
                    )
                    .order_by(Session.starts_at)
                )
                for session in held:
                    for taker in accounts:
                        doctor = taker.practitioner
                        if taker is giver or hard_rule_breaches(session, doctor):
                            continue
                        start = local(session.starts_at, giver.territory.timezone)
                        day = f"{FRENCH_WEEKDAYS[start.weekday()]} {start:%d/%m/%Y}"
                        return SwapPlan(
                            giver=giver.email,
                            taker=taker.email,
                            taker_option=f"{doctor.family_name} {doctor.given_name}",
                            taker_name=doctor.display_name,
                            session_label=f"{day} à {start:%H:%M}, {session.site.name}",
                        )
            raise LookupError("no demo GP account can hand a session to another")
        finally:
            db.session.remove()
            db.engine.dispose()


@dataclass(frozen=True)
class ExchangePlan:
    """Two demo GP accounts whose sessions of one month may be exchanged, both ways."""

    giver: str
    taker: str
    taker_name: str  # display name, as the proposal page groups the colleague's sessions
    giver_label: str  # "mardi 09/03/2027 à 17:00, MSP des Marais" (my session, "Échanger …")
    taker_day: str  # "jeudi 11/03/2027" (the colleague's session, as its checkbox reads)
    giver_start: datetime  # UTC
    taker_start: datetime  # UTC


def exchange_plan(database_url: str, now: datetime) -> ExchangePlan:
    """The first pair of published sessions of two demo GP accounts, in one month, that the
    rules let them swap (see ``rota.exchanges``)."""
    from app import create_app
    from app.extensions import db
    from app.models import User
    from app.templating import FRENCH_WEEKDAYS
    from app.timeutil import local
    from rota.models import Assignment, PeriodStatus, RotaPeriod, Session
    from rota.services import hard_rule_breaches

    def day_of(session: Session, zone: str) -> tuple[str, datetime]:
        start = local(session.starts_at, zone)
        return f"{FRENCH_WEEKDAYS[start.weekday()]} {start:%d/%m/%Y}", start

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True})
    with app.app_context():
        try:
            users = {
                u.email: u
                for u in db.session.scalars(sa.select(User).where(User.email.in_(GP_ACCOUNTS)))
            }
            accounts = [users[email] for email in GP_ACCOUNTS]

            def held(user: User) -> list[Session]:
                return list(
                    db.session.scalars(
                        sa.select(Session)
                        .join(Assignment, Assignment.session_id == Session.id)
                        .join(RotaPeriod, RotaPeriod.id == Session.period_id)
                        .where(
                            Assignment.practitioner_id == user.practitioner_id,
                            RotaPeriod.status == PeriodStatus.PUBLISHED,
                            Session.starts_at > now + timedelta(days=1),
                            ~Session.cancelled,
                        )
                        .order_by(Session.starts_at)
                    )
                )

            for giver in accounts:
                for mine in held(giver):
                    for taker in accounts:
                        if taker is giver:
                            continue
                        for theirs in held(taker):
                            if (theirs.local_date.year, theirs.local_date.month) != (
                                mine.local_date.year,
                                mine.local_date.month,
                            ) or hard_rule_breaches(
                                theirs,
                                giver.practitioner,
                                giving_up=mine,
                                replacing=taker.practitioner_id,
                            ):
                                continue
                            if hard_rule_breaches(
                                mine,
                                taker.practitioner,
                                giving_up=theirs,
                                replacing=giver.practitioner_id,
                            ):
                                continue
                            zone = giver.territory.timezone
                            my_day, my_start = day_of(mine, zone)
                            their_day, _ = day_of(theirs, zone)
                            return ExchangePlan(
                                giver=giver.email,
                                taker=taker.email,
                                taker_name=taker.practitioner.display_name,
                                giver_label=f"{my_day} à {my_start:%H:%M}, {mine.site.name}",
                                taker_day=their_day,
                                giver_start=mine.starts_at,
                                taker_start=theirs.starts_at,
                            )
            raise LookupError("no two demo GP accounts can exchange sessions")
        finally:
            db.session.remove()
            db.engine.dispose()
