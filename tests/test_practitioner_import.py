"""CSV import of practitioners: every bad line reported, nothing written unless all are good."""

import io

import pytest
import sqlalchemy as sa

from app.enums import Profession, Role
from app.extensions import db
from app.models import AuditEvent, Practitioner
from app.territory.practitioner_csv import parse
from app.territory.practitioner_import import import_practitioners
from tests.conftest import PASSWORD, luhn_complete, next_rpps

HEADER = "rpps;nom;prenom;profession;email;telephone;sites"


def _bad_rpps() -> str:
    good = next_rpps()
    return good[:-1] + str((int(good[-1]) + 1) % 10)


def _count() -> int:
    return db.session.scalar(sa.select(sa.func.count(Practitioner.id)))


# --- pure parsing -------------------------------------------------------------------------


def test_parse_accepts_french_profession_words():
    rpps = [next_rpps() for _ in range(4)]
    text = "\n".join(
        [
            HEADER,
            f"{rpps[0]};A;B;Médecin généraliste;;;",
            f"{rpps[1]};C;D;pharmacienne;;;",
            f"{rpps[2]};E;F;IDE;;;",
            f"{rpps[3]};G;H;Kiné;;;",
        ]
    )
    result = parse(text.encode())
    assert result.errors == []
    assert [r.profession for r in result.rows] == [
        Profession.GP,
        Profession.PHARMACIST,
        Profession.NURSE,
        Profession.PHYSIOTHERAPIST,
    ]


def test_parse_windows_1252_with_commas():
    rpps = next_rpps()
    text = f"RPPS,Nom,Prénom,Profession,Email,Téléphone,Sites\r\n{rpps},Lefèvre,Hélène,médecin,,0612345678,\r\n"
    result = parse(text.encode("cp1252"))
    assert result.errors == []
    assert (result.rows[0].family_name, result.rows[0].given_name, result.rows[0].phone) == (
        "Lefèvre",
        "Hélène",
        "+33612345678",
    )


def test_parse_utf8_with_bom():
    result = parse(("\ufeff" + HEADER + f"\n{next_rpps()};Ngô;Thảo;mg;;;\n").encode("utf-8"))
    assert result.errors == []
    assert result.rows[0].given_name == "Thảo"


def test_parse_collects_every_error_with_its_line_and_column():
    dup = next_rpps()
    text = "\n".join(
        [
            HEADER,
            f"{dup};Martin;Paul;mg;;;",  # 2: good
            f"{_bad_rpps()};Bernard;Anne;mg;;;",  # 3: bad Luhn
            f"{next_rpps()};Petit;Luc;mg;;01 02;",  # 4: bad phone
            f"{next_rpps()};Roux;Eva;plombier;;;",  # 5: unknown profession
            f"{dup};Moreau;Jean;mg;;;",  # 6: duplicate RPPS
            f"{next_rpps()};;Sans nom;mg;pas-un-email;;",  # 7: no name, bad e-mail
        ]
    )
    errors = [(e.line, e.column) for e in parse(text.encode()).errors]
    assert errors == [
        (3, "rpps"),
        (4, "telephone"),
        (5, "profession"),
        (6, "rpps"),
        (7, "nom"),
        (7, "email"),
    ]
    message = str(parse(text.encode()).errors[0])
    assert message.startswith("Ligne 3, colonne « rpps » : ")
    assert "clé de contrôle" in message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "vide"),
        (HEADER.encode(), "aucune ligne de données"),
        (b"nom;prenom\nA;B\n", "Colonne(s) manquante(s) : rpps, profession"),
        (b"\x00\x01\x02binary", "pas un fichier texte"),
    ],
)
def test_parse_refuses_unusable_files(data, message):
    errors = parse(data).errors
    assert len(errors) == 1
    assert message in str(errors[0])


def test_parse_refuses_too_many_lines():
    body = "\n".join(f"{luhn_complete(f'19{i:08d}')};N;P;mg;;;" for i in range(5001))
    assert "5000 lignes" in str(parse((HEADER + "\n" + body).encode()).errors[0])


# --- the service, on both engines ---------------------------------------------------------------


@pytest.fixture
def territory(make_territory, make_site):
    territory = make_territory()
    make_site(territory, name="MSP des Marais")
    make_site(territory, name="Cabinet du Port")
    return territory


def _good_file(rpps_list, phone="06 12 34 56 78") -> bytes:
    lines = [HEADER]
    for i, rpps in enumerate(rpps_list):
        lines.append(
            f"{rpps};Nom{i};Prénom{i};médecin généraliste;p{i}@example.org;{phone};MSP des Marais|cabinet du port"
        )
    return "\n".join(lines).encode()


def test_import_creates_then_reimport_updates(app, territory):
    rpps = [next_rpps() for _ in range(3)]
    report = import_practitioners(territory, _good_file(rpps), by=None)
    db.session.commit()
    assert (report.created, report.updated, report.errors) == (3, 0, [])
    gp = db.session.scalar(sa.select(Practitioner).where(Practitioner.rpps == rpps[0]))
    assert sorted(s.name for s in gp.sites) == ["Cabinet du Port", "MSP des Marais"]
    assert db.session.scalar(
        sa.select(AuditEvent).where(AuditEvent.action == "practitioner.import")
    )

    report = import_practitioners(territory, _good_file(rpps, phone="07 81 22 33 44"), by=None)
    db.session.commit()
    assert (report.created, report.updated) == (0, 3)
    assert _count() == 3
    db.session.expire_all()
    assert (
        db.session.scalar(sa.select(Practitioner.phone).where(Practitioner.rpps == rpps[0]))
        == "+33781223344"
    )


def test_import_with_one_bad_line_writes_nothing(app, territory):
    content = _good_file([next_rpps(), next_rpps()]) + f"\n{_bad_rpps()};X;Y;mg;;;".encode()
    report = import_practitioners(territory, content, by=None)
    db.session.rollback()
    assert [e.line for e in report.errors] == [4]
    assert _count() == 0


def test_import_unknown_site_is_a_line_error(app, territory):
    content = f"{HEADER}\n{next_rpps()};A;B;mg;;;Hôpital inconnu\n".encode()
    report = import_practitioners(territory, content, by=None)
    assert [str(e) for e in report.errors] == [
        "Ligne 2, colonne « sites » : Lieu inconnu sur le territoire : « Hôpital inconnu »."
    ]


def test_import_cli_success_and_failure(app, runner, territory, tmp_path):
    good = tmp_path / "good.csv"
    good.write_bytes(_good_file([next_rpps(), next_rpps()]))
    result = runner.invoke(
        args=["import", "practitioners", str(good), "--territory", territory.slug]
    )
    assert result.exit_code == 0, result.output
    assert "2 professionnel(s) créé(s), 0 mis à jour" in result.output

    bad = tmp_path / "bad.csv"
    bad.write_bytes(f"{HEADER}\n{next_rpps()};A;B;mg;;;\n{_bad_rpps()};C;D;mg;;;\n".encode())
    result = runner.invoke(
        args=["import", "practitioners", str(bad), "--territory", territory.slug]
    )
    assert result.exit_code != 0
    assert "Ligne 3, colonne « rpps »" in result.output
    assert "rien n'a été importé" in result.output
    assert _count() == 2


def test_import_page_shows_errors_and_writes_nothing(client, auth, territory, make_user):
    user = make_user(Role.COORDINATOR, territory)
    auth.login(user.email, PASSWORD)
    content = f"{HEADER}\n{next_rpps()};A;B;mg;;;\n{next_rpps()};C;D;astronaute;;;\n".encode()
    response = client.post(
        "/coordination/professionnels/import",
        data={"file": (io.BytesIO(content), "medecins.csv")},
        content_type="multipart/form-data",
    )
    page = response.get_data(as_text=True)
    assert "Ligne 3, colonne « profession »" in page
    assert "aucun professionnel n&#39;a été importé" in page
    assert _count() == 0

    good = _good_file([next_rpps()])
    response = client.post(
        "/coordination/professionnels/import",
        data={"file": (io.BytesIO(good), "medecins.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    assert _count() == 1
