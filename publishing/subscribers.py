"""How calendar feeds follow the changes of the layers below (tombstones, revocation)."""

from __future__ import annotations

from app import events as app_events
from app.models import Practitioner, User
from publishing import feeds
from rota import events as rota_events
from rota.models import Assignment, Session


def tombstone_departure(assignment: Assignment, *, change: str, by: User | None) -> None:
    feeds.record_departure(assignment)


def tombstone_cancellation(session: Session, *, by: User | None) -> None:
    feeds.record_cancellation(session)


def revoke_feed(practitioner: Practitioner, *, by: User | None) -> None:
    feeds.revoke_gp_feed(practitioner, by=by)


def revoke_account_feed(user: User, *, by: User | None) -> None:
    """A GP's account deactivated: their feed goes too (a new one can be issued later)."""
    if user.practitioner is not None:
        feeds.revoke_gp_feed(user.practitioner, by=by)


def connect() -> None:
    rota_events.assignment_leaving.connect(tombstone_departure)
    rota_events.session_cancelling.connect(tombstone_cancellation)
    app_events.practitioner_deactivated.connect(revoke_feed)
    app_events.user_deactivated.connect(revoke_account_feed)
