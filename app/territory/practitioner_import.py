"""Importing practitioners from CSV: all or nothing, and re-importing updates.

The whole file is validated before the first object is added to the session, so a file
with a single bad line leaves the database exactly as it was. Like the other territory
services this one flushes and audits but never commits: the caller commits on success and
rolls back when the report has errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app import audit
from app.extensions import db
from app.models import Practitioner, Site, Territory, User
from app.territory.practitioner_csv import KnownSite, LineError, parse


@dataclass
class ImportReport:
    """What happened; ``created`` and ``updated`` stay at 0 whenever there are errors."""

    created: int = 0
    updated: int = 0
    errors: list[LineError] = field(default_factory=list)


def import_practitioners(territory: Territory, data: bytes, *, by: User | None) -> ImportReport:
    """Create or update the file's practitioners, or write nothing and report every error.

    Practitioners are matched by (territory, RPPS), so importing the same file twice
    updates the existing records instead of duplicating them. Only the columns present
    in the file are updated: a file without a ``sites`` column leaves sites alone, while
    an empty ``sites`` cell detaches the practitioner from every site. The ``active``
    flag is never touched: a deactivated practitioner stays deactivated.
    """
    sites = list(db.session.scalars(sa.select(Site).where(Site.territory_id == territory.id)))
    parsed = parse(data, [KnownSite(site.name, site.active) for site in sites])
    if parsed.errors:
        return ImportReport(errors=parsed.errors)

    sites_by_name = {site.name: site for site in sites}
    existing = {
        p.rpps: p
        for p in db.session.scalars(
            sa.select(Practitioner)
            .where(Practitioner.territory_id == territory.id)
            .options(selectinload(Practitioner.sites))
        )
    }
    report = ImportReport()
    for row in parsed.rows:
        practitioner = existing.get(row.rpps)
        if practitioner is None:
            practitioner = Practitioner(territory_id=territory.id, rpps=row.rpps, sites=[])
            db.session.add(practitioner)
            report.created += 1
        else:
            report.updated += 1
        practitioner.family_name = row.family_name
        practitioner.given_name = row.given_name
        practitioner.profession = row.profession
        if "email" in parsed.columns:
            practitioner.email = row.email
        if "telephone" in parsed.columns:
            practitioner.phone = row.phone
        if "sites" in parsed.columns:
            practitioner.sites = [sites_by_name[name] for name in row.site_names]
    db.session.flush()
    audit.record(
        "practitioner.import",
        by=by,
        territory_id=territory.id,
        detail={"created": report.created, "updated": report.updated},
    )
    return report
