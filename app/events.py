"""Domain events: how a lower layer announces a change that higher layers follow.

Dependencies point one way (``app`` ← ``rota`` ← ``booking`` ← ``publishing``). When a
lower layer changes something the layers above have built on (a GP deactivated, a session
cancelled), it sends a blinker signal instead of calling up; each layer connects its
receivers in its ``init_app``. Receivers run at once, in the sender's transaction, so what
they write commits or rolls back with the change; a receiver may veto a change by raising
``app.validators.ValidationError``.
"""

from __future__ import annotations

from typing import Any

from blinker import Namespace, Signal

signals = Namespace()

#: A practitioner was deactivated (sender: the ``Practitioner``; ``by``: the ``User`` or None).
practitioner_deactivated = signals.signal("practitioner-deactivated")

#: The coordinator's home page asks what is waiting (sender: the ``Territory``; ``now``: aware
#: UTC). Each layer answers a list of ``app.todo.TodoItem`` about what it owns.
todo_items = signals.signal("todo-items")
#: A GP opens their home page (sender: the GP's ``Practitioner``; ``now``: aware UTC). Each
#: layer answers a list of ``app.home.HomePanel`` about what it owns (next session, proposals,
#: open places, balance), shown in their ``order``.
gp_home_panels = signals.signal("gp-home-panels")
#: An account was deactivated (sender: the ``User``; ``by``: the ``User`` or None). What it
#: could open without a session (API tokens, its GP's calendar feed) is revoked for good:
#: reactivating the account does not bring it back.
user_deactivated = signals.signal("user-deactivated")


def answers(signal: Signal, sender: Any, **kwargs: Any) -> list[Any]:
    """Send ``signal`` and return what its receivers answered (``None`` answers dropped)."""
    return [value for _, value in signal.send(sender, **kwargs) if value is not None]
