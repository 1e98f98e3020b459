"""How bookings follow the rota's changes (``rota.events``), in the rota's transaction."""

from __future__ import annotations

from collections import Counter

from app import events as app_events
from app.models import User
from app.validators import ValidationError
from booking import tokens
from booking.services import flag_for_replacement, live_bookings_of
from rota import events
from rota.models import Assignment, Session


def refuse_stranding(assignment: Assignment, *, by: User | None) -> None:
    """A seat with patients booked on it is replaced or cancelled, never emptied."""
    booked = len(live_bookings_of(assignment.session_id, assignment.seat))
    if booked:
        raise ValidationError(
            f"{booked} patient(s) ont rendez-vous sur cette place : remplacez le médecin "
            "(les rendez-vous le suivront) ou annulez la plage, plutôt que de la vider."
        )


def flag_bookings(session: Session, *, by: User | None) -> int:
    """A cancelled session's bookings become "à replacer"; answers how many."""
    return flag_for_replacement(session, by=by)


def bookings_per_seat(session: Session) -> dict[int, int]:
    return dict(Counter(b.seat for b in live_bookings_of(session.id)))


def revoke_api_tokens(user: User, *, by: User | None) -> None:
    tokens.revoke_user_tokens(user, by=by)


def connect() -> None:
    events.assignment_removal.connect(refuse_stranding)
    events.session_cancelled.connect(flag_bookings)
    events.seat_commitments.connect(bookings_per_seat)
    app_events.user_deactivated.connect(revoke_api_tokens)
