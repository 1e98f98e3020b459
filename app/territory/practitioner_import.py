"""Importing practitioners from CSV: all or nothing, and re-importing updates.

The whole file is validated before the first object is added to the session, so a file
with a single bad line leaves the database exactly as it was. Like the other territory
services, ``import_practitioners`` flushes and audits but never commits; ``import_and_commit``
is the transaction every caller (page, CLI) runs: commit on success, roll back on errors,
and survive a concurrent import of the same new practitioners.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from app import audit
from app.extensions import db
from app.models import Practitioner, Site, Territory, User
from app.territory.practitioner_csv import KnownSite, LineError, parse

#: What the coordinator reads when every attempt collided with a concurrent import.
CONCURRENT_IMPORT = LineError(
    None,
    None,
    "Un autre import modifie les mêmes professionnels en ce moment : rien n'a été importé. "
    "Relancez l'import dans un instant ; les professionnels déjà créés seront mis à jour.",
)
#: Attempts before giving up: the retry sees the other import's rows and updates them.
ATTEMPTS = 2


@dataclass
class ImportReport:
    """What happened; ``created`` and ``updated`` stay at 0 whenever there are errors."""

    created: int = 0
    updated: int = 0
    errors: list[LineError] = field(default_factory=list)


def existing_practitioners(territory_id: int) -> dict[str, Practitioner]:
    """The territory's practitioners by RPPS, with their sites: what an import updates."""
    return {
        p.rpps: p
        for p in db.session.scalars(
            sa.select(Practitioner)
            .where(Practitioner.territory_id == territory_id)
            .options(selectinload(Practitioner.sites))
        )
    }


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
    existing = existing_practitioners(territory.id)
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


def import_and_commit(territory: Territory, data: bytes, *, by: User | None) -> ImportReport:
    """Run the import as one transaction: all of it is committed, or none of it.

    Two coordinators (or a coordinator and a cron job) importing the same file at once
    both try to insert the same new RPPS: the database's unique (territory, RPPS)
    constraint refuses the second insert. Rather than a 500, the losing import starts
    again from scratch; it now finds those practitioners and updates them. Should it
    collide again, it gives up with a French message and leaves nothing behind.
    """
    territory_id, by_id = territory.id, by.id if by is not None else None
    for _ in range(ATTEMPTS):
        try:
            report = import_practitioners(territory, data, by=by)
            if report.errors:
                db.session.rollback()
                return report
            db.session.commit()
            return report
        except IntegrityError:
            db.session.rollback()
            territory = db.session.get(Territory, territory_id) or territory
            by = db.session.get(User, by_id) if by_id is not None else None
    return ImportReport(errors=[CONCURRENT_IMPORT])
