"""Parsing the practitioners CSV: encodings, separators, headers and every line's errors.

Pure tests: no application, no database.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.enums import Profession
from app.territory.practitioner_csv import (
    MAX_DATA_LINES,
    NO_DATA,
    KnownSite,
    LineError,
    parse,
    parse_profession,
)
from app.validators import ValidationError, luhn_complete
from tests.helpers import next_rpps

HEADER = "rpps;nom;prenom;profession;email;telephone;sites"
SITES = (KnownSite("MSP des Marais"), KnownSite("Cabinet du Port"), KnownSite("Élan Santé"))
DATA = Path(__file__).parent / "data"


def bad_rpps() -> str:
    """A well-formed RPPS whose Luhn check digit is wrong."""
    good = next_rpps()
    return good[:-1] + str((int(good[-1]) + 1) % 10)


def csv_bytes(*lines: str, header: str = HEADER) -> bytes:
    return "\n".join([header, *lines]).encode()


def located(errors: list[LineError]) -> list[tuple[int | None, str | None]]:
    return [(e.line, e.column) for e in errors]


# --- good files ------------------------------------------------------------------------------


def test_parse_utf8_semicolon_file_returns_normalised_rows():
    rpps = [next_rpps(), next_rpps()]
    result = parse(
        csv_bytes(
            f" {rpps[0]} ; Martin ; Claire ;Médecin généraliste; Claire.Martin@Example.org ;"
            "02 51 12 34 56;msp des marais | CABINET DU PORT",
            f"{rpps[1]};Ngô;Thảo;pharmacien;;;",
        ),
        SITES,
    )

    assert result.errors == []
    first, second = result.rows
    assert first.line == 2
    assert (first.rpps, first.family_name, first.given_name) == (rpps[0], "Martin", "Claire")
    assert first.profession is Profession.GP
    assert first.email == "claire.martin@example.org"
    assert first.phone == "+33251123456"
    assert first.site_names == ("MSP des Marais", "Cabinet du Port")
    assert (second.line, second.given_name, second.profession) == (3, "Thảo", Profession.PHARMACIST)
    assert (second.email, second.phone, second.site_names) == (None, None, ())
    assert result.columns == frozenset(HEADER.split(";"))


def test_parse_windows_1252_comma_file_keeps_accents():
    rpps = next_rpps()
    text = (
        "RPPS,Nom,Prénom,Profession,Email,Téléphone,Sites\r\n"
        f"{rpps},Lefèvre,Hélène,infirmière,,06 12 34 56 78,Élan Santé\r\n"
    )
    data = text.encode("cp1252")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # the test really exercises the fallback

    result = parse(data, SITES)

    assert result.errors == []
    (row,) = result.rows
    assert (row.family_name, row.given_name) == ("Lefèvre", "Hélène")
    assert (row.profession, row.phone) == (Profession.NURSE, "+33612345678")
    assert row.site_names == ("Élan Santé",)


def test_parse_utf8_bom_does_not_hide_the_first_column():
    result = parse(("\ufeff" + HEADER + f"\n{next_rpps()};Ngô;Thảo;mg;;;\n").encode("utf-8"))

    assert result.errors == []
    assert result.rows[0].given_name == "Thảo"


def test_parse_excel_export_in_data_folder_is_accepted():
    data = (DATA / "practitioners_excel_utf8.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # Excel's "CSV UTF-8"
    assert b"\r\n" in data

    result = parse(data, SITES)

    assert result.errors == []
    assert [r.line for r in result.rows] == [2, 3, 4, 6]  # line 5 is Excel's ";;;;;;"
    assert [r.profession for r in result.rows] == [
        Profession.GP,
        Profession.PHARMACIST,
        Profession.NURSE,
        Profession.MIDWIFE,
    ]
    assert result.rows[1].family_name == "N'Diaye"
    assert result.rows[3].site_names == ("Cabinet du Port",)


def test_parse_header_ignores_case_accents_spaces_and_order():
    rpps = next_rpps()
    header = " Téléphone ;PRÉNOM; Nom ;RPPS;E-Mail;Profession;Notes"
    result = parse(csv_bytes(f"0612345678;Anne;Roux;{rpps};;Kiné;à rappeler", header=header))

    assert result.errors == []
    row = result.rows[0]
    assert (row.rpps, row.family_name, row.given_name) == (rpps, "Roux", "Anne")
    assert (row.phone, row.profession) == ("+33612345678", Profession.PHYSIOTHERAPIST)
    assert result.columns == {"rpps", "nom", "prenom", "profession", "email", "telephone"}


def test_parse_optional_columns_may_be_absent():
    result = parse(csv_bytes(f"{next_rpps()};Roux;Anne;autre", header="rpps;nom;prenom;profession"))

    assert result.errors == []
    assert result.rows[0].profession is Profession.OTHER
    assert result.columns == {"rpps", "nom", "prenom", "profession"}


def test_parse_quoted_value_may_contain_the_separator():
    result = parse(csv_bytes(f'{next_rpps()};"Martin; dit Paul";Paul;mg;;;'))

    assert result.errors == []
    assert result.rows[0].family_name == "Martin; dit Paul"


def test_parse_old_mac_line_endings_are_lines():
    data = "\r".join([HEADER, f"{next_rpps()};A;B;mg;;;", f"{bad_rpps()};C;D;mg;;;"]).encode()

    assert located(parse(data).errors) == [(3, "rpps")]


def test_parse_blank_lines_are_skipped_but_still_counted():
    data = csv_bytes("", f"{next_rpps()};A;B;mg;;;", ";;;;;;", f"{next_rpps()};C;D;zz;;;", "")

    result = parse(data)

    assert located(result.errors) == [(5, "profession")]


def test_parse_site_listed_twice_is_kept_once():
    result = parse(csv_bytes(f"{next_rpps()};A;B;mg;;;MSP des Marais|msp DES marais|"), SITES)

    assert result.errors == []
    assert result.rows[0].site_names == ("MSP des Marais",)


@pytest.mark.parametrize(
    ("word", "profession"),
    [
        ("gp", Profession.GP),
        ("médecin généraliste", Profession.GP),
        ("MEDECIN", Profession.GP),
        ("MG", Profession.GP),
        ("Généraliste", Profession.GP),
        ("pharmacien", Profession.PHARMACIST),
        ("Pharmacienne", Profession.PHARMACIST),
        ("Pharmacien·ne", Profession.PHARMACIST),
        ("infirmier", Profession.NURSE),
        ("Infirmière", Profession.NURSE),
        ("IDE", Profession.NURSE),
        ("nurse", Profession.NURSE),
        ("kinésithérapeute", Profession.PHYSIOTHERAPIST),
        ("Masseur-kinésithérapeute", Profession.PHYSIOTHERAPIST),
        ("kiné", Profession.PHYSIOTHERAPIST),
        ("sage-femme", Profession.MIDWIFE),
        ("Sage femme", Profession.MIDWIFE),
        ("autre", Profession.OTHER),
        ("other", Profession.OTHER),
    ],
)
def test_parse_profession_accepts_french_words(word: str, profession: Profession):
    assert parse_profession(f"  {word} ") is profession


@pytest.mark.parametrize("word", ["plombier", "médecin spécialiste", "infirmier-ère", ""])
def test_parse_profession_unknown_word_raises(word: str):
    with pytest.raises(ValidationError, match="rofession"):
        parse_profession(word)


# --- errors ----------------------------------------------------------------------------------


def test_parse_collects_every_error_with_its_line_and_column():
    dup = next_rpps()
    data = csv_bytes(
        f"{dup};Martin;Paul;mg;;;",  # 2: good
        f"{bad_rpps()};Bernard;Anne;mg;;;",  # 3: bad Luhn
        f"{next_rpps()};Petit;Luc;mg;;01 02;",  # 4: bad phone
        f"{next_rpps()};Roux;Eva;plombier;;;",  # 5: unknown profession
        f"{next_rpps()};Faure;Léa;mg;;;Hôpital de la Lune",  # 6: unknown site
        f"{dup};Moreau;Jean;mg;;;",  # 7: duplicate RPPS
        f"{next_rpps()};;Sans nom;mg;pas-un-email;;",  # 8: no name, bad e-mail
        "12345;Blanc;;IDE;;;Cabinet du Port|Nulle Part",  # 9: short RPPS, no first name, site
        f"{next_rpps()};Garnier;Rose;IDE;;;",  # 10: good
    )

    result = parse(data, SITES)

    assert located(result.errors) == [
        (3, "rpps"),
        (4, "telephone"),
        (5, "profession"),
        (6, "sites"),
        (7, "rpps"),
        (8, "nom"),
        (8, "email"),
        (9, "rpps"),
        (9, "prenom"),
        (9, "sites"),
    ]
    messages = [str(e) for e in result.errors]
    assert messages[0] == (
        "Ligne 3, colonne « rpps » : Le numéro RPPS est invalide (clé de contrôle incorrecte)."
    )
    assert messages[3] == (
        "Ligne 6, colonne « sites » : Lieu inconnu sur le territoire : « Hôpital de la Lune »."
    )
    assert messages[4] == f"Ligne 7, colonne « rpps » : Le RPPS {dup} figure déjà ligne 2."
    assert "Nulle Part" in messages[9]


def test_parse_duplicate_rpps_is_reported_on_each_later_occurrence():
    dup = next_rpps()
    spaced = f"{dup[:3]} {dup[3:]}"  # same number once spaces are removed
    data = csv_bytes(f"{dup};A;B;mg;;;", f"{next_rpps()};C;D;mg;;;", f"{spaced};E;F;mg;;;")

    errors = parse(data).errors

    assert [str(e) for e in errors] == [
        f"Ligne 4, colonne « rpps » : Le RPPS {dup} figure déjà ligne 2."
    ]


def test_parse_inactive_site_is_a_line_error():
    sites = (KnownSite("MSP des Marais"), KnownSite("Ancien cabinet", active=False))

    errors = parse(csv_bytes(f"{next_rpps()};A;B;mg;;;ancien cabinet"), sites).errors

    assert located(errors) == [(2, "sites")]
    assert "« Ancien cabinet » est désactivé" in errors[0].reason


def test_parse_site_name_matching_two_sites_is_ambiguous():
    sites = (KnownSite("MSP Été"), KnownSite("MSP ete"))

    errors = parse(csv_bytes(f"{next_rpps()};A;B;mg;;;msp ÉTÉ"), sites).errors

    assert located(errors) == [(2, "sites")]
    assert "plusieurs lieux" in errors[0].reason


def test_parse_name_longer_than_the_column_is_an_error():
    errors = parse(csv_bytes(f"{next_rpps()};{'X' * 121};B;mg;;;")).errors

    assert located(errors) == [(2, "nom")]
    assert "120 caractères" in errors[0].reason


def test_parse_values_beyond_the_header_are_an_error():
    # An unquoted comma inside a name shifts the columns of a comma-separated file.
    header = HEADER.replace(";", ",")
    data = csv_bytes(
        f"{next_rpps()},Martin,Paul,Jean,mg,pj@example.org,0612345678,MSP des Marais",
        header=header,
    )

    errors = parse(data, SITES).errors

    assert located(errors)[0] == (2, None)
    assert str(errors[0]).startswith("Ligne 2 : La ligne a plus de valeurs que l'en-tête")


def test_parse_trailing_empty_cells_are_tolerated():
    result = parse(csv_bytes(f"{next_rpps()};A;B;mg;;;;;;"))

    assert result.errors == []


@pytest.mark.parametrize("missing", ["rpps", "nom", "prenom", "profession"])
def test_parse_missing_required_column_is_named(missing: str):
    header = ";".join(c for c in HEADER.split(";") if c != missing)

    result = parse(csv_bytes("1;2;3;4;5;6", header=header))

    assert result.rows == []
    assert len(result.errors) == 1
    assert str(result.errors[0]).startswith(
        f"Ligne 1, colonne « {missing} » : Colonne obligatoire absente de l'en-tête"
    )


def test_parse_missing_columns_are_each_reported():
    result = parse(b"nom;prenom\nA;B\n")

    assert located(result.errors) == [(1, "rpps"), (1, "profession")]


def test_parse_duplicate_header_column_is_an_error():
    result = parse(csv_bytes(f"{next_rpps()};A;B;mg;C", header="rpps;nom;prenom;profession;Nom"))

    assert located(result.errors) == [(1, "nom")]


def test_line_error_without_line_prints_only_its_reason():
    assert str(LineError(None, None, "Le fichier est illisible.")) == "Le fichier est illisible."
    assert str(LineError(7, None, "Ligne trop longue.")) == "Ligne 7 : Ligne trop longue."


@pytest.mark.parametrize(
    "data",
    [b"", b"   \r\n\r\n", HEADER.encode(), (HEADER + "\r\n;;;;;;\r\n\r\n").encode("utf-8-sig")],
    ids=["empty", "blank", "header-only", "header-and-blank-lines"],
)
def test_parse_file_without_data_lines_is_refused(data: bytes):
    result = parse(data)

    assert [str(e) for e in result.errors] == [NO_DATA]
    assert NO_DATA == "Le fichier ne contient aucune ligne de données."


@pytest.mark.parametrize(
    "data",
    [
        b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00",  # an .xlsx (zip) file
        HEADER.encode("utf-16"),  # Excel's "texte Unicode"
        bytes(range(256)),
    ],
    ids=["xlsx", "utf-16", "binary"],
)
def test_parse_binary_file_is_refused(data: bytes):
    result = parse(data)

    assert len(result.errors) == 1
    assert result.errors[0].line is None
    assert "pas un fichier texte CSV" in str(result.errors[0])
    assert result.rows == []


def test_parse_undecodable_bytes_are_refused():
    # 0x81 is neither UTF-8 nor defined in Windows-1252.
    result = parse(HEADER.encode() + b"\n\x81\x81;A;B;mg;;;\n")

    assert [e.line for e in result.errors] == [None]
    assert "Encodage du fichier non reconnu" in str(result.errors[0])


def test_parse_unclosed_giant_field_is_refused():
    data = csv_bytes(f"{next_rpps()};A;B;mg;;;", '1;"' + "x" * 200_000)

    result = parse(data)

    assert result.rows == []
    assert [e.line for e in result.errors] == [3]
    assert "guillemet mal fermé" in str(result.errors[0])


def _many_lines(count: int) -> bytes:
    return csv_bytes(*(f"{luhn_complete(f'18{i:08d}')};N;P;mg;;;" for i in range(count)))


def test_parse_accepts_exactly_the_maximum_number_of_lines():
    result = parse(_many_lines(MAX_DATA_LINES))

    assert result.errors == []
    assert len(result.rows) == MAX_DATA_LINES == 5000


def test_parse_refuses_more_than_the_maximum_number_of_lines():
    result = parse(_many_lines(MAX_DATA_LINES + 1))

    assert result.rows == []
    assert [str(e) for e in result.errors] == [
        "Le fichier dépasse 5000 lignes de données : découpez-le en plusieurs fichiers."
    ]
