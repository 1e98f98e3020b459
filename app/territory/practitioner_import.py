"""Importing practitioners from CSV: all or nothing, re-import updates."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from app import audit
from app.communes_ref import fold
from app.extensions import db
from app.models import Practitioner, Site, Territory, User
from app.territory.practitioner_csv import LineError, parse


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    errors: list[LineError] = field(default_factory=list)


def import_practitioners(territory: Territory, data: bytes, *, by: User | None) -> ImportReport:
    """Validate the whole file first; write only if every line is good (the caller commits).

    Practitioners are matched by (territory, RPPS), so importing the same file twice
    updates the existing records instead of duplicating them.
    """
    parsed = parse(data)
    report = ImportReport(errors=list(parsed.errors))
    sites = {
        fold(site.name): site
        for site in db.session.scalars(sa.select(Site).where(Site.territory_id == territory.id))
    }
    for row in parsed.rows:
        for name in row.site_names:
            if fold(name) not in sites:
                report.errors.append(
                    LineError(row.line, "sites", f"Lieu inconnu sur le territoire : « {name} ».")
                )
    if report.errors:
        report.errors.sort(key=lambda e: e.line)
        return report

    existing = {
        p.rpps: p
        for p in db.session.scalars(
            sa.select(Practitioner).where(Practitioner.territory_id == territory.id)
        )
    }
    for row in parsed.rows:
        practitioner = existing.get(row.rpps)
        if practitioner is None:
            practitioner = Practitioner(territory_id=territory.id, rpps=row.rpps)
            db.session.add(practitioner)
            report.created += 1
        else:
            report.updated += 1
        practitioner.family_name = row.family_name
        practitioner.given_name = row.given_name
        practitioner.profession = row.profession
        practitioner.email = row.email
        practitioner.phone = row.phone
        practitioner.sites = [sites[fold(n)] for n in dict.fromkeys(row.site_names)]
    db.session.flush()
    audit.record(
        "practitioner.import",
        by=by,
        territory_id=territory.id,
        detail={"created": report.created, "updated": report.updated},
    )
    return report
