"""What a GP's home page shows first, gathered from the layers that own it.

The shell knows neither rota nor bookings: the home page sends ``events.gp_home_panels``
and each layer answers its panels (a template and what it needs). A GP reads the page on
their phone between two patients, so the order is what they act on: their next session
(10), proposals waiting for them (20), open places they may take (30), their balance (40).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app import events
from app.models import Practitioner
from app.timeutil import now_utc

NEXT_SESSION, PROPOSALS, OPEN_PLACES, BALANCE = 10, 20, 30, 40


@dataclass(frozen=True)
class HomePanel:
    key: str  # stable, for tests and for a layer replacing its own panel
    order: int  # NEXT_SESSION, PROPOSALS, OPEN_PLACES, BALANCE, or between them
    template: str  # included by templates/auth/home.html with ``panel.context``
    context: Mapping[str, Any] = field(default_factory=dict)


def gp_panels(practitioner: Practitioner | None, now: datetime | None = None) -> list[HomePanel]:
    """Every layer's panels for this GP, in reading order (none without a practitioner)."""
    if practitioner is None:
        return []
    found: list[HomePanel] = []
    for answer in events.answers(events.gp_home_panels, practitioner, now=now or now_utc()):
        found.extend(answer)
    return sorted(found, key=lambda p: (p.order, p.key))
