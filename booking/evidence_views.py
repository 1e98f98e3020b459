"""« Mes actes régulés »: a GP's evidence for the majoration SNP / MRT (page, CSV, print),
and the coordinator's per-GP counts (never a patient)."""

from __future__ import annotations

import csv
import io
from datetime import date

from flask import Blueprint, Response, abort, render_template, request
from flask_login import current_user

from app.enums import Role
from app.security import roles_required
from app.timeutil import local, now_utc
from app.web import current_territory
from booking import evidence

bp = Blueprint("evidence", __name__)

gp_only = roles_required(Role.GP)
coordinator_only = roles_required(Role.COORDINATOR)
BILLING_LABELS = {"snp": "SNP", "mrt": "MRT", None: "non précisé"}


def _month() -> date:
    today = local(now_utc(), current_territory().timezone).date()
    return evidence.parse_month(request.args.get("mois"), today)


def _neighbours(month: date) -> tuple[date, date]:
    previous = date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)
    following = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
    return previous, following


def _own() -> evidence.Evidence:
    if current_user.practitioner_id is None:
        abort(404)
    return evidence.gp_evidence(current_territory(), current_user.practitioner_id, _month())


@bp.get("/mes-actes-regules")
@gp_only
def mine():
    """The GP's regulated consultations of a month, with the majoration's conditions."""
    found = _own()
    previous, following = _neighbours(found.month)
    return render_template(
        "booking/evidence.html",
        evidence=found,
        previous=previous,
        following=following,
        labels=BILLING_LABELS,
        printable=False,
    )


@bp.get("/mes-actes-regules/impression")
@gp_only
def print_mine():
    """The same list on one page to hand to the CPAM (initials and birth year only)."""
    found = _own()
    return render_template(
        "booking/evidence.html",
        evidence=found,
        labels=BILLING_LABELS,
        printable=True,
        gp=current_user.practitioner,
    )


def _yes(value: bool) -> str:
    return "oui" if value else "non"


@bp.get("/mes-actes-regules/export.csv")
@gp_only
def export_mine():
    """CSV (UTF-8 BOM, ``;``) for the GP's own records; nothing a spreadsheet would run."""
    found = _own()
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(
        [
            "Référence",
            "Identifiant SAS",
            "Régulé le",
            "Consultation le",
            "Facturation",
            "Dans les 48 h",
            "Hors horaires PDSA",
            "Initiales",
            "Année de naissance",
        ]
    )
    for act in found.acts:
        external = act.external_id or ""
        writer.writerow(
            [
                act.reference,
                "'" + external if external.startswith(("=", "+", "-", "@")) else external,
                act.regulated_at.strftime("%d/%m/%Y %H:%M"),
                act.seen_at.strftime("%d/%m/%Y %H:%M"),
                BILLING_LABELS[act.billing],
                _yes(act.within_48h),
                _yes(act.outside_pdsa),
                act.initials,
                act.birth_year or "",
            ]
        )
    response = Response(("\ufeff" + out.getvalue()).encode(), mimetype="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="actes-regules-{found.month:%Y-%m}.csv"'
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/coordination/actes-regules")
@coordinator_only
def coordination():
    """Per GP, the month's regulated consultations and how many meet the majoration's terms."""
    month = _month()
    previous, following = _neighbours(month)
    territory = current_territory()
    return render_template(
        "booking/evidence_counts.html",
        month=month,
        previous=previous,
        following=following,
        rows=evidence.territory_counts(territory, month),
        cap=territory.snp_weekly_cap,
    )
