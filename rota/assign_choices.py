"""Who the coordinator may put on a session, and how each GP stands against their share.

The assign and replace drop-downs list every active GP of the session's site with their
load in the period against their target (share + what they carry, ``rota.fairness``) and
whether the hard rules let them hold the session now. Sorted as a coordinator picks: the
GPs who may hold it first, then the most under their target, then French order of names.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.collation import french_key
from app.models import Practitioner
from rota import services
from rota.models import Session


@dataclass(frozen=True)
class Candidate:
    practitioner: Practitioner
    load: int  # sessions held in the period
    target: float  # share + carried, for the period
    breaches: tuple[str, ...]  # French reasons the hard rules refuse (empty: available)

    @property
    def available(self) -> bool:
        return not self.breaches

    @property
    def label(self) -> str:
        """The option text: "Martin Anne · 3 plages / part 4,5 · indisponible"."""
        gp = self.practitioner
        target = f"{self.target:.1f}".replace(".", ",")
        text = f"{gp.family_name} {gp.given_name} · {self.load} plage(s) / part {target}"
        return text + ("" if self.available else " · non disponible")


def candidates(session: Session) -> list[Candidate]:
    """The session site's active GPs not on it yet, ready for a drop-down."""
    held = {a.practitioner_id for a in session.assignments}
    gps = [
        gp
        for gp in services.active_gps(session.territory_id)
        if session.site_id in {s.id for s in gp.sites} and gp.id not in held
    ]
    if not gps:
        return []
    rows = {r.doctor_id: r for r in services.period_fairness(session.period)}
    found = []
    for gp in gps:
        row = rows.get(gp.id)
        found.append(
            Candidate(
                practitioner=gp,
                load=row.total if row else 0,
                target=row.total_target if row else 0.0,
                breaches=tuple(services.hard_rule_breaches(session, gp)),
            )
        )
    return sorted(
        found,
        key=lambda c: (
            not c.available,
            round(c.load - c.target, 6),
            french_key(f"{c.practitioner.family_name} {c.practitioner.given_name}"),
        ),
    )
