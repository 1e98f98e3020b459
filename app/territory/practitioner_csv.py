"""Parsing the practitioners CSV (pure: bytes in, rows or French errors out).

Coordinators export these files from Excel (Windows-1252 or UTF-8 with BOM, ``;``) or
from other tools (UTF-8, ``,``), so all of these are accepted and told apart here. Every
line is checked and every problem reported at once, so that one round trip through the
spreadsheet is enough; the database is only touched by the caller, and only if this
module found nothing to complain about.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from app.communes_ref import fold
from app.enums import Profession
from app.validators import ValidationError, normalise_email, normalise_phone, normalise_rpps

T = TypeVar("T")

MAX_DATA_LINES = 5000
MAX_NAME_LENGTH = 120  # Practitioner.family_name / given_name
SITE_SEPARATOR = "|"
COLUMNS = ("rpps", "nom", "prenom", "profession", "email", "telephone", "sites")
REQUIRED_COLUMNS = ("rpps", "nom", "prenom", "profession")
EXPECTED_HEADER = ";".join(COLUMNS)

NO_DATA = "Le fichier ne contient aucune ligne de données."

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
    "masseur kinesitherapeute": Profession.PHYSIOTHERAPIST,
    "kine": Profession.PHYSIOTHERAPIST,
    "sage femme": Profession.MIDWIFE,
    "autre": Profession.OTHER,
}


@dataclass(frozen=True)
class LineError:
    """One problem, located so that the coordinator can find it in the spreadsheet.

    ``line`` is the 1-based line of the file (the header is line 1), or ``None`` for a
    problem with the file as a whole; ``column`` is the header name of the expected format.
    """

    line: int | None
    column: str | None
    reason: str

    def __str__(self) -> str:
        if self.line is None:
            return self.reason
        if self.column:
            return f"Ligne {self.line}, colonne « {self.column} » : {self.reason}"
        return f"Ligne {self.line} : {self.reason}"


@dataclass(frozen=True)
class KnownSite:
    """A site of the territory, as the parser needs it: without any database object."""

    name: str
    active: bool = True


@dataclass(frozen=True)
class PractitionerRow:
    """One valid line; ``site_names`` are the territory's own spellings, without duplicates."""

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
    """Rows are only meaningful when ``errors`` is empty.

    ``columns`` lists the format's columns present in the header: an optional column the
    file does not have must leave existing values alone rather than erase them.
    """

    rows: list[PractitionerRow] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)
    columns: frozenset[str] = frozenset()


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), else Windows-1252; refuse binary files.

    Windows-1252 decodes almost any byte string, so binary files (an ``.xlsx`` saved
    under the wrong name, a UTF-16 "texte Unicode" export) are caught by their NUL bytes.
    """
    if b"\x00" in data:
        raise ValidationError(
            "Le fichier n'est pas un fichier texte CSV lisible. Depuis Excel, choisissez "
            "« Enregistrer sous » puis le type « CSV (séparateur : point-virgule) »."
        )
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
    """Accept the enum value, the French label and the words coordinators actually type."""
    if not value.strip():
        raise ValidationError("La profession est obligatoire.")
    profession = PROFESSION_WORDS.get(fold(value))
    if profession is None:
        raise ValidationError(
            f"Profession inconnue : « {value} » (attendu : médecin généraliste, pharmacien, "
            "infirmier, kinésithérapeute, sage-femme ou autre)."
        )
    return profession


def _header_key(name: str) -> str:
    """``" Prénom "``, ``"PRENOM"`` and ``"E-mail"`` all name a column of the format."""
    return fold(name).replace(" ", "")


def _delimiter(header: str) -> str:
    return ";" if header.count(";") >= header.count(",") else ","


class _SiteResolver:
    """Match site names as people type them against the territory's own spellings."""

    def __init__(self, sites: Iterable[KnownSite]) -> None:
        self._by_key: dict[str, list[KnownSite]] = {}
        for site in sites:
            self._by_key.setdefault(fold(site.name), []).append(site)

    def resolve(self, cell: str) -> tuple[tuple[str, ...], list[str]]:
        """The matched names and the reasons the others could not be matched."""
        names: dict[str, None] = {}
        problems: list[str] = []
        for raw in cell.split(SITE_SEPARATOR):
            wanted = raw.strip()
            if not wanted:
                continue
            matches = self._by_key.get(fold(wanted), [])
            if not matches:
                problems.append(f"Lieu inconnu sur le territoire : « {wanted} ».")
            elif len(matches) > 1:
                listed = ", ".join(f"« {m.name} »" for m in matches)
                problems.append(f"« {wanted} » peut désigner plusieurs lieux : {listed}.")
            elif not matches[0].active:
                problems.append(
                    f"Le lieu « {matches[0].name} » est désactivé : réactivez-le "
                    "ou retirez-le de la ligne."
                )
            else:
                names[matches[0].name] = None
        return tuple(names), problems


def parse(data: bytes, sites: Iterable[KnownSite] = ()) -> ParseResult:
    """Check every line and collect every error rather than stopping at the first.

    ``sites`` are the territory's sites, so that an unknown site is reported on its line
    together with the line's other problems.
    """
    result = ParseResult()
    try:
        text = decode(data)
    except ValidationError as exc:
        result.errors.append(LineError(None, None, str(exc)))
        return result
    if not text.strip():
        result.errors.append(LineError(None, None, NO_DATA))
        return result

    # newline="" lets the csv module see \r\n, \n and old Mac \r, and quoted line breaks.
    first_line = io.StringIO(text, newline="").readline()
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first_line))
    data_lines = 0
    try:
        header = next(reader)
        index = _read_header(header, result.errors)
        if index is None:
            return result
        result.columns = frozenset(index)
        resolver = _SiteResolver(sites)
        seen: dict[str, int] = {}
        previous_end = reader.line_num
        for record in reader:
            line, previous_end = previous_end + 1, reader.line_num
            if not any(cell.strip() for cell in record):
                continue  # blank lines, including the ``;;;;;;`` Excel leaves behind
            data_lines += 1
            if data_lines > MAX_DATA_LINES:
                result.rows.clear()
                result.errors[:] = [
                    LineError(
                        None,
                        None,
                        f"Le fichier dépasse {MAX_DATA_LINES} lignes de données : "
                        "découpez-le en plusieurs fichiers.",
                    )
                ]
                return result
            row = _parse_record(record, index, len(header), line, resolver, seen, result.errors)
            if row is not None:
                result.rows.append(row)
    except csv.Error:
        # The csv module's messages are English and technical; the usual causes are not.
        result.rows.clear()
        result.errors.append(
            LineError(
                reader.line_num or None,
                None,
                "Ligne illisible : guillemet mal fermé ou valeur démesurément longue.",
            )
        )
        return result
    if data_lines == 0:
        result.errors.append(LineError(None, None, NO_DATA))
    return result


def _read_header(cells: list[str], errors: list[LineError]) -> dict[str, int] | None:
    """Column name → position, or ``None`` (with errors) when the header is unusable."""
    index: dict[str, int] = {}
    ok = True
    for position, cell in enumerate(cells):
        key = _header_key(cell)
        if key not in COLUMNS:
            continue  # extra columns (notes, RPPS directory exports) are ignored
        if key in index:
            errors.append(
                LineError(1, key, "Cette colonne apparaît plusieurs fois dans l'en-tête.")
            )
            ok = False
        index[key] = position
    for column in REQUIRED_COLUMNS:
        if column not in index:
            errors.append(
                LineError(
                    1,
                    column,
                    f"Colonne obligatoire absente de l'en-tête (attendu : {EXPECTED_HEADER}).",
                )
            )
            ok = False
    return index if ok else None


def _parse_record(
    record: list[str],
    index: dict[str, int],
    width: int,
    line: int,
    resolver: _SiteResolver,
    seen: dict[str, int],
    errors: list[LineError],
) -> PractitionerRow | None:
    """The row if the line is valid; otherwise ``None``, its problems added to ``errors``."""
    before = len(errors)

    def cell(column: str) -> str:
        position = index.get(column)
        if position is None or position >= len(record):
            return ""
        return record[position].strip()

    def check(column: str, rule: Callable[[str], T]) -> T | None:
        try:
            return rule(cell(column))
        except ValidationError as exc:
            errors.append(LineError(line, column, str(exc)))
            return None

    if any(c.strip() for c in record[width:]):
        # Values beyond the header usually come from an unquoted separator inside a value,
        # which shifts every following column: better refuse than import shifted data.
        errors.append(
            LineError(
                line,
                None,
                "La ligne a plus de valeurs que l'en-tête n'a de colonnes "
                "(un séparateur dans un nom ? mettez la valeur entre guillemets).",
            )
        )

    rpps = check("rpps", normalise_rpps)
    if rpps is not None:
        if rpps in seen:
            errors.append(
                LineError(line, "rpps", f"Le RPPS {rpps} figure déjà ligne {seen[rpps]}.")
            )
        else:
            seen[rpps] = line
    family_name = check("nom", _name("Le nom"))
    given_name = check("prenom", _name("Le prénom"))
    profession = check("profession", parse_profession)
    email = check("email", normalise_email) if cell("email") else None
    phone = check("telephone", normalise_phone) if cell("telephone") else None
    site_names, site_problems = resolver.resolve(cell("sites"))
    errors.extend(LineError(line, "sites", problem) for problem in site_problems)

    if (
        len(errors) > before
        or rpps is None
        or family_name is None
        or given_name is None
        or profession is None
    ):
        return None
    return PractitionerRow(
        line=line,
        rpps=rpps,
        family_name=family_name,
        given_name=given_name,
        profession=profession,
        email=email,
        phone=phone,
        site_names=site_names,
    )


def _name(label: str) -> Callable[[str], str]:
    def rule(value: str) -> str:
        if not value:
            raise ValidationError(f"{label} est obligatoire.")
        if len(value) > MAX_NAME_LENGTH:
            raise ValidationError(f"{label} dépasse {MAX_NAME_LENGTH} caractères.")
        return value

    return rule
