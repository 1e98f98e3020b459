"""What the rota announces to the layers built on it (bookings, calendar feeds).

The rota knows nothing of what others hang on its sessions; it says what is about to
change, or has changed, and lets them follow in the same transaction (see ``app.events``).
"""

from __future__ import annotations

from app.events import signals

#: A coordinator asks to empty a seat (sender: the ``Assignment``; ``by``), before anything
#: is written. A receiver vetoes with a ``ValidationError`` when the removal would strand
#: what was built on the seat.
assignment_removal = signals.signal("rota.assignment-removal")

#: An assignment is about to leave its GP (sender: the ``Assignment``, still on that GP;
#: ``change``: "remove", "replace" or "swap"; ``by``).
assignment_leaving = signals.signal("rota.assignment-leaving")

#: A session is about to be cancelled (sender: the ``Session``, still live; ``by``).
session_cancelling = signals.signal("rota.session-cancelling")

#: A session was cancelled (sender: the ``Session``; ``by``). Receivers answer how many
#: items of theirs the cancellation left to be dealt with (e.g. appointments to move).
session_cancelled = signals.signal("rota.session-cancelled")

#: Who counts on each seat of a session (sender: the ``Session``). Receivers answer a
#: ``{seat: count}`` mapping of the commitments they hold there (e.g. appointments).
seat_commitments = signals.signal("rota.seat-commitments")
