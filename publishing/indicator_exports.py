"""The indicators and the published rota as files for the annual review: CSV and XLSX.

What leaves here goes into spreadsheets: counts only, never a patient. Every text cell that
a spreadsheet would read as a formula (``=``, ``+``, ``-``, ``@``, or a tab or carriage
return before one) is neutralised with a leading apostrophe (OWASP's CSV injection advice);
numbers stay numbers. CSV is what French spreadsheets open by double-click: UTF-8 with a
BOM, ``;`` between fields, a decimal comma.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from openpyxl import Workbook

from publishing.indicators import FIGURES, ROTA_HEADER, WEEKDAYS, Indicators, RotaLine

Cell = str | int | float | None
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
CSV_MIMETYPE = "text/csv; charset=utf-8"
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def neutralise(value: Cell) -> Cell:
    """A text a spreadsheet would run as a formula, made inert; anything else unchanged."""
    if isinstance(value, str) and value.startswith(DANGEROUS):
        return "'" + value
    return value


def french_number(value: Cell) -> str:
    """``1234.5`` → ``"1234,5"``; ``None`` → ``""``: what a French spreadsheet reads back."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, float):
        return repr(value).replace(".", ",") if value != int(value) else str(int(value))
    if isinstance(value, int):
        return str(value)
    return str(neutralise(value))


def period_label(result: Indicators) -> str:
    return f"du {result.date_from:%d/%m/%Y} au {result.date_to:%d/%m/%Y}"


# --- the groups of figures, shared by CSV, XLSX and the page --------------------------------


@dataclass(frozen=True)
class Sheet:
    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]


def _figure_rows(result: Indicators, prefix: str) -> tuple[tuple[Cell, ...], ...]:
    return tuple(
        (key, FIGURES[key].label, value, FIGURES[key].unit)
        for key, value in result.figures.items()
        if key.startswith(prefix)
    )


def sheets(result: Indicators) -> list[Sheet]:
    """The groups of the export, in order: one XLSX sheet each, one CSV section each."""
    about = Sheet(
        "Période",
        ("Rubrique", "Valeur"),
        (
            ("Territoire", result.territory_name),
            ("Identifiant", result.territory_slug),
            ("Période", period_label(result)),
            ("Du", result.date_from.isoformat()),
            ("Au", result.date_to.isoformat()),
            ("Lieu", result.site_name or "Tous les lieux"),
            ("Fuseau horaire", result.timezone),
            ("Produit le", result.generated_at.strftime("%Y-%m-%d %H:%M UTC")),
            ("Contenu", "Comptes uniquement : aucune donnée de patient."),
        ),
    )
    header = ("Clé", "Indicateur", "Valeur", "Unité")
    return [
        about,
        Sheet("Offre", header, _figure_rows(result, "offer.")),
        Sheet("Activité", header, _figure_rows(result, "activity.")),
        Sheet(
            "Par lieu",
            ("Lieu", "Plages tenues", "Heures tenues", "Rendez-vous", "Honorés"),
            tuple(
                (s.name, s.sessions_held, s.hours_held, s.bookings, s.honoured)
                for s in result.sites
            ),
        ),
        Sheet(
            "Jour et heure",
            ("Jour", *(f"{h:02d}h" for h in range(24))),
            tuple((WEEKDAYS[d], *row) for d, row in enumerate(result.heatmap)),
        ),
        Sheet(
            "Semaines",
            ("Semaine", "Lundi", "Rendez-vous", "Honorés"),
            tuple((w.week, w.start.isoformat(), w.bookings, w.honoured) for w in result.weekly),
        ),
        Sheet(
            "Définitions",
            ("Clé", "Indicateur", "Définition", "Unité"),
            tuple((f.key, f.label, f.definition, f.unit) for f in FIGURES.values()),
        ),
    ]


# --- writers ------------------------------------------------------------------------------


def csv_bytes(rows: Iterable[Sequence[Cell]]) -> bytes:
    """UTF-8 with BOM, ``;``, decimal comma, formulas neutralised."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    for row in rows:
        writer.writerow([french_number(v) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def indicators_csv(result: Indicators) -> bytes:
    """Each group as a section: its title line, its header, its rows, a blank line."""
    rows: list[Sequence[Cell]] = []
    for sheet in sheets(result):
        rows.append((f"# {sheet.title}",))
        rows.append(sheet.header)
        rows.extend(sheet.rows)
        rows.append(())
    return csv_bytes(rows)


def xlsx_bytes(groups: Sequence[Sheet]) -> bytes:
    """One sheet per group; write-only, so a large export streams instead of piling up."""
    book = Workbook(write_only=True)
    for group in groups:
        sheet = book.create_sheet(group.title[:31])
        sheet.append([neutralise(h) for h in group.header])
        for row in group.rows:
            sheet.append([neutralise(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def indicators_xlsx(result: Indicators) -> bytes:
    return xlsx_bytes(sheets(result))


# --- the published rota ---------------------------------------------------------------------


def rota_csv(lines: Sequence[RotaLine]) -> bytes:
    return csv_bytes([ROTA_HEADER, *(line.cells() for line in lines)])


def rota_xlsx(lines: Sequence[RotaLine], title: str) -> bytes:
    return xlsx_bytes(
        [
            Sheet("Tableau", ROTA_HEADER, tuple(line.cells() for line in lines)),
            Sheet("Période", ("Rubrique", "Valeur"), (("Tableau publié", title),)),
        ]
    )
