"""Parsing the practitioners CSV (pure: bytes in, rows or French errors out).

Coordinators export these files from Excel (Windows-1252, ``;``) or from other tools
(UTF-8, ``,``), so both are accepted and told apart here, before any database work.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from app.communes_ref import fold
from app.enums import Profession
from app.validators import (
    ValidationError,
    normalise_email,
    normalise_phone,
    normalise_rpps,
)

MAX_LINES = 5000
COLUMNS = ("rpps", "nom", "prenom", "profession", "email", "telephone", "sites")
REQUIRED_COLUMNS = ("rpps", "nom", "prenom", "profession")

PROFESSION_WORDS: dict[str, Profession] = {
    **{p.value: p for p in Profession},
    **{fold(p.label): p for p in Profession},
    "medecin": Profession.GP,
    "medecin generaliste": Profession.GP,
    "generaliste": Profession.GP,
    "mg": Profession.GP,
    "pharmacien": Profession.PHARMACIST,
    "pharmacienne": Profession.PHARMACIST,
    "infirmier": Profession.NURSE,
    "infirmiere": Profession.NURSE,
    "ide": Profession.NURSE,
    "kinesitherapeute": Profession.PHYSIOTHERAPIST,
    "kine": Profession.PHYSIOTHERAPIST,
    "masseur kinesitherapeute": Profession.PHYSIOTHERAPIST,
    "sage femme": Profession.MIDWIFE,
    "autre": Profession.OTHER,
}


@dataclass(frozen=True)
class LineError:
    """One problem, located so the coordinator can fix it in the spreadsheet."""

    line: int
    column: str | None
    reason: str

    def __str__(self) -> str:
        if self.line == 0:
            return self.reason
        if self.column:
            return f"Ligne {self.line}, colonne « {self.column} » : {self.reason}"
        return f"Ligne {self.line} : {self.reason}"


@dataclass(frozen=True)
class PractitionerRow:
    line: int
    rpps: str
    family_name: str
    given_name: str
    profession: Profession
    email: str | None
    phone: str | None
    site_names: tuple[str, ...]


@dataclass
class ParseResult:
    rows: list[PractitionerRow] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), else Windows-1252; refuse binary files."""
    if b"\x00" in data:
        raise ValidationError("Le fichier n'est pas un fichier texte CSV.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise ValidationError(
            "Encodage du fichier non reconnu : enregistrez-le en UTF-8 ou en CSV Windows."
        ) from exc


def parse_profession(value: str) -> Profession:
    profession = PROFESSION_WORDS.get(fold(value))
    if profession is None:
        raise ValidationError(
            f"Profession inconnue : « {value} » (par ex. médecin généraliste, pharmacien)."
        )
    return profession


def parse(data: bytes) -> ParseResult:
    """Parse and validate every line; collect all errors rather than stopping at the first."""
    result = ParseResult()
    try:
        text = decode(data)
    except ValidationError as exc:
        result.errors.append(LineError(0, None, str(exc)))
        return result
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        result.errors.append(LineError(0, None, "Le fichier est vide."))
        return result
    if len(lines) - 1 > MAX_LINES:
        result.errors.append(
            LineError(0, None, f"Le fichier dépasse {MAX_LINES} lignes : découpez-le.")
        )
        return result
    header = lines[0]
    delimiter = ";" if header.count(";") >= header.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    names = [fold(h) for h in next(reader)]
    index = {name: i for i, name in enumerate(names) if name in COLUMNS}
    missing = [c for c in REQUIRED_COLUMNS if c not in index]
    if missing:
        result.errors.append(
            LineError(
                1,
                None,
                "Colonne(s) manquante(s) : "
                + ", ".join(missing)
                + f". En-tête attendu : {';'.join(COLUMNS)}.",
            )
        )
        return result
    seen: dict[str, int] = {}
    for record in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        row = _parse_record(record, index, line, result.errors, seen)
        if row is not None:
            result.rows.append(row)
    if not result.rows and not result.errors:
        result.errors.append(LineError(0, None, "Le fichier ne contient aucune ligne de données."))
    return result


def _parse_record(
    record: list[str],
    index: dict[str, int],
    line: int,
    errors: list[LineError],
    seen: dict[str, int],
) -> PractitionerRow | None:
    def cell(column: str) -> str:
        i = index.get(column)
        return record[i].strip() if i is not None and i < len(record) else ""

    before = len(errors)

    def check(column: str, rule, value: str):
        try:
            return rule(value)
        except ValidationError as exc:
            errors.append(LineError(line, column, str(exc)))
            return None

    rpps = check("rpps", normalise_rpps, cell("rpps"))
    if rpps is not None and rpps in seen:
        errors.append(LineError(line, "rpps", f"RPPS {rpps} déjà présent ligne {seen[rpps]}."))
    elif rpps is not None:
        seen[rpps] = line
    family_name, given_name = cell("nom"), cell("prenom")
    if not family_name:
        errors.append(LineError(line, "nom", "Le nom est obligatoire."))
    if not given_name:
        errors.append(LineError(line, "prenom", "Le prénom est obligatoire."))
    profession = check("profession", parse_profession, cell("profession"))
    email = check("email", normalise_email, cell("email")) if cell("email") else None
    phone = check("telephone", normalise_phone, cell("telephone")) if cell("telephone") else None
    sites = tuple(s.strip() for s in cell("sites").split("|") if s.strip())
    if len(errors) > before:
        return None
    assert rpps is not None
    assert profession is not None
    return PractitionerRow(
        line=line,
        rpps=rpps,
        family_name=family_name[:120],
        given_name=given_name[:120],
        profession=profession,
        email=email,
        phone=phone,
        site_names=sites,
    )
