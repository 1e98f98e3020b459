"""Importing practitioners: all or nothing, re-import updates; the service, the CLI, the page.

Every test here runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient, FlaskCliRunner

from app.enums import Profession, Role
from app.extensions import db
from app.models import AuditEvent, Practitioner, Site, Territory, User
from app.territory import practitioner_import
from app.territory.practitioner_import import (
    ImportReport,
    import_and_commit,
    import_practitioners,
)
from app.validators import luhn_complete
from tests.helpers import PASSWORD, AuthActions, count, next_rpps

HEADER = "rpps;nom;prenom;profession;email;telephone;sites"
EXCEL_FILE = Path(__file__).parent / "data" / "practitioners_excel_utf8.csv"


def bad_rpps() -> str:
    """A well-formed RPPS whose Luhn check digit is wrong."""
    good = next_rpps()
    return good[:-1] + str((int(good[-1]) + 1) % 10)


def csv_bytes(*lines: str, header: str = HEADER) -> bytes:
    return "\n".join([header, *lines]).encode()


def by_rpps(rpps: str, territory: Territory | None = None) -> Practitioner:
    query = sa.select(Practitioner).where(Practitioner.rpps == rpps)
    if territory is not None:
        query = query.where(Practitioner.territory_id == territory.id)
    return db.session.scalars(query).one()


def import_events() -> list[AuditEvent]:
    return list(
        db.session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.action == "practitioner.import")
            .order_by(AuditEvent.id)
        )
    )


def run_import(territory: Territory, data: bytes, by: User | None = None) -> ImportReport:
    """What every caller does: commit on success, roll back on errors."""
    report = import_practitioners(territory, data, by=by)
    if report.errors:
        db.session.rollback()
    else:
        db.session.commit()
    db.session.expire_all()
    return report


@pytest.fixture
def territory(
    make_territory: Callable[..., Territory], make_site: Callable[..., Site]
) -> Territory:
    territory = make_territory()
    make_site(territory, name="MSP des Marais")
    make_site(territory, name="Cabinet du Port")
    return territory


def gp_line(rpps: str, i: int = 0, phone: str = "06 12 34 56 78", sites: str = "") -> str:
    return f"{rpps};Nom{i};Prénom{i};médecin généraliste;p{i}@example.org;{phone};{sites}"


# --- success ------------------------------------------------------------------------------------


def test_import_good_file_creates_practitioners_with_their_sites(app, territory):
    rpps = [next_rpps(), next_rpps()]
    data = csv_bytes(
        f"{rpps[0]};Martin;Claire;MG;Claire.Martin@Example.org;02 51 12 34 56;"
        "msp des marais|CABINET DU PORT",
        f"{rpps[1]};Roux;Anne;pharmacienne;;;",
    )

    report = run_import(territory, data)

    assert report == ImportReport(created=2, updated=0, errors=[])
    assert count(Practitioner) == 2
    claire = by_rpps(rpps[0])
    assert claire.territory_id == territory.id
    assert (claire.family_name, claire.given_name, claire.profession) == (
        "Martin",
        "Claire",
        Profession.GP,
    )
    assert (claire.email, claire.phone, claire.active) == (
        "claire.martin@example.org",
        "+33251123456",
        True,
    )
    assert [s.name for s in claire.sites] == ["Cabinet du Port", "MSP des Marais"]
    anne = by_rpps(rpps[1])
    assert (anne.profession, anne.email, anne.phone, anne.sites) == (
        Profession.PHARMACIST,
        None,
        None,
        [],
    )
    (event,) = import_events()
    assert (event.territory_id, event.user_id, event.detail) == (
        territory.id,
        None,
        {"created": 2, "updated": 0},
    )


def test_import_same_file_twice_updates_instead_of_duplicating(app, territory):
    rpps = [next_rpps() for _ in range(3)]
    run_import(territory, csv_bytes(*(gp_line(r, i) for i, r in enumerate(rpps))))

    lines = [gp_line(r, i) for i, r in enumerate(rpps)]
    lines[1] = gp_line(rpps[1], 1, phone="07 81 22 33 44")
    report = run_import(territory, csv_bytes(*lines))

    assert (report.created, report.updated, report.errors) == (0, 3, [])
    assert count(Practitioner) == 3
    assert by_rpps(rpps[1]).phone == "+33781223344"
    assert by_rpps(rpps[0]).phone == "+33612345678"
    assert [e.detail for e in import_events()] == [
        {"created": 3, "updated": 0},
        {"created": 0, "updated": 3},
    ]


def test_import_updates_names_profession_and_replaces_sites(app, territory, make_practitioner):
    marais, port = sorted(territory.sites, key=lambda s: s.name != "MSP des Marais")
    existing = make_practitioner(
        territory,
        family_name="Dupont",
        given_name="Jean",
        profession=Profession.OTHER,
        email="old@example.org",
        phone="0251000000",
        site_ids=[marais.id],
    )
    new_rpps = next_rpps()
    data = csv_bytes(
        f"{existing.rpps};Dupont-Morel;Jeanne;sage-femme;jeanne@example.org;;Cabinet du Port",
        f"{new_rpps};Lenoir;Paul;kiné;;;",
    )

    report = run_import(territory, data)

    assert (report.created, report.updated) == (1, 1)
    updated = by_rpps(existing.rpps)
    assert updated.id == existing.id
    assert (updated.family_name, updated.given_name, updated.profession) == (
        "Dupont-Morel",
        "Jeanne",
        Profession.MIDWIFE,
    )
    # Present but empty cells clear the value; the site set is replaced, not extended.
    assert (updated.email, updated.phone) == ("jeanne@example.org", None)
    assert [s.id for s in updated.sites] == [port.id]


def test_import_without_optional_columns_keeps_existing_values(app, territory, make_practitioner):
    existing = make_practitioner(
        territory,
        email="claire@example.org",
        phone="0612345678",
        site_ids=[territory.sites[0].id],
    )

    report = run_import(
        territory,
        csv_bytes(f"{existing.rpps};Martin;Claire;IDE", header="rpps;nom;prenom;profession"),
    )

    assert (report.created, report.updated) == (0, 1)
    practitioner = by_rpps(existing.rpps)
    assert practitioner.profession is Profession.NURSE
    assert (practitioner.email, practitioner.phone) == ("claire@example.org", "+33612345678")
    assert [s.id for s in practitioner.sites] == [territory.sites[0].id]


def test_import_keeps_a_deactivated_practitioner_deactivated(app, territory, make_practitioner):
    existing = make_practitioner(territory)
    existing.active = False
    db.session.commit()

    report = run_import(territory, csv_bytes(gp_line(existing.rpps)))

    assert report.updated == 1
    assert by_rpps(existing.rpps).active is False


def test_import_same_rpps_in_another_territory_is_another_practitioner(
    app, territory, make_territory, make_practitioner
):
    other = make_territory(communes=("85194",))
    theirs = make_practitioner(other, family_name="Autre", phone="0251000000")

    report = run_import(territory, csv_bytes(gp_line(theirs.rpps)))

    assert (report.created, report.updated) == (1, 0)
    assert by_rpps(theirs.rpps, territory).family_name == "Nom0"
    untouched = by_rpps(theirs.rpps, other)
    assert (untouched.family_name, untouched.phone) == ("Autre", "+33251000000")


def test_import_records_the_user_in_the_audit_log(app, territory, make_user):
    coordinator = make_user(Role.COORDINATOR, territory)

    run_import(territory, csv_bytes(gp_line(next_rpps())), by=coordinator)

    (event,) = import_events()
    assert (event.user_id, event.role, event.territory_id) == (
        coordinator.id,
        "coordinator",
        territory.id,
    )


def test_import_excel_file_from_data_folder_creates_everyone(app, territory):
    report = run_import(territory, EXCEL_FILE.read_bytes())

    assert (report.created, report.updated, report.errors) == (4, 0, [])
    helene = by_rpps(luhn_complete("1888000001"))
    assert (helene.family_name, helene.given_name, helene.email) == (
        "Lefèvre",
        "Hélène",
        "helene.lefevre@example.org",
    )
    assert len(helene.sites) == 2


def test_import_windows_1252_comma_file_keeps_accents(app, territory):
    rpps = next_rpps()
    data = (
        "RPPS,Nom,Prénom,Profession,Email,Téléphone,Sites\r\n"
        f"{rpps},Lefèvre,Hélène,infirmière,,06 12 34 56 78,Cabinet du Port\r\n"
    ).encode("cp1252")

    report = run_import(territory, data)

    assert report.created == 1
    helene = by_rpps(rpps)
    assert (helene.family_name, helene.given_name) == ("Lefèvre", "Hélène")
    assert [s.name for s in helene.sites] == ["Cabinet du Port"]


# --- all or nothing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad_line", "expected"),
    [
        (lambda: f"{bad_rpps()};Faux;Luhn;mg;;;", [(4, "rpps")]),
        (lambda: f"{next_rpps()};Petit;Luc;mg;;01 02;", [(4, "telephone")]),
        (lambda: f"{next_rpps()};Roux;Eva;astronaute;;;", [(4, "profession")]),
        (lambda: f"{next_rpps()};Faure;Léa;mg;;;Hôpital de la Lune", [(4, "sites")]),
        (lambda: f"{next_rpps()};;;mg;;;", [(4, "nom"), (4, "prenom")]),
    ],
    ids=["luhn", "phone", "profession", "site", "names"],
)
def test_import_with_one_bad_line_writes_nothing(
    app, territory, make_practitioner, bad_line, expected
):
    existing = make_practitioner(territory, phone="0251000000")
    data = csv_bytes(
        gp_line(existing.rpps, phone="07 81 22 33 44"), gp_line(next_rpps()), bad_line()
    )

    report = import_practitioners(territory, data, by=None)

    assert [(e.line, e.column) for e in report.errors] == expected
    assert (report.created, report.updated) == (0, 0)
    # Nothing was even added to the session: the caller's rollback has nothing to undo.
    assert not db.session.new
    assert not db.session.dirty
    db.session.rollback()
    assert count(Practitioner) == 1
    assert by_rpps(existing.rpps).phone == "+33251000000"
    assert import_events() == []


def test_import_duplicate_rpps_writes_nothing(app, territory):
    dup = next_rpps()
    data = csv_bytes(gp_line(dup, 0), gp_line(next_rpps(), 1), gp_line(dup, 2))

    report = run_import(territory, data)

    assert [str(e) for e in report.errors] == [
        f"Ligne 4, colonne « rpps » : Le RPPS {dup} figure déjà ligne 2."
    ]
    assert count(Practitioner) == 0


def test_import_missing_column_writes_nothing(app, territory):
    data = csv_bytes(f"{next_rpps()};Martin;mg", header="rpps;nom;profession")

    report = run_import(territory, data)

    assert [(e.line, e.column) for e in report.errors] == [(1, "prenom")]
    assert count(Practitioner) == 0


def test_import_reports_every_bad_line_at_once(app, territory):
    data = csv_bytes(
        gp_line(next_rpps()),
        f"{bad_rpps()};A;B;mg;;;",
        gp_line(next_rpps()),
        f"{next_rpps()};C;D;plombier;;0000;Nulle Part",
    )

    report = run_import(territory, data)

    assert [(e.line, e.column) for e in report.errors] == [
        (3, "rpps"),
        (5, "profession"),
        (5, "telephone"),
        (5, "sites"),
    ]
    assert count(Practitioner) == 0


def test_import_site_of_another_territory_is_unknown(app, territory, make_territory, make_site):
    other = make_territory(communes=("85194",))
    make_site(other, name="MSP d'ailleurs")

    report = run_import(territory, csv_bytes(gp_line(next_rpps(), sites="MSP d'ailleurs")))

    assert [str(e) for e in report.errors] == [
        "Ligne 2, colonne « sites » : Lieu inconnu sur le territoire : « MSP d'ailleurs »."
    ]
    assert count(Practitioner) == 0


def test_import_deactivated_site_is_refused(app, territory):
    site = territory.sites[0]
    site.active = False
    db.session.commit()

    report = run_import(territory, csv_bytes(gp_line(next_rpps(), sites=site.name)))

    assert [(e.line, e.column) for e in report.errors] == [(2, "sites")]
    assert count(Practitioner) == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "Le fichier ne contient aucune ligne de données."),
        (HEADER.encode() + b"\r\n", "Le fichier ne contient aucune ligne de données."),
        (b"PK\x03\x04\x00\x00binary", "n'est pas un fichier texte CSV"),
    ],
    ids=["empty", "header-only", "binary"],
)
def test_import_unusable_file_is_one_clear_error(app, territory, data, message):
    report = run_import(territory, data)

    assert len(report.errors) == 1
    assert message in str(report.errors[0])
    assert count(Practitioner) == 0


# --- command line --------------------------------------------------------------------------


def invoke(runner: FlaskCliRunner, path: Path, territory: Territory):
    return runner.invoke(args=["import", "practitioners", str(path), "--territory", territory.slug])


def test_import_cli_success_prints_counts(app, runner, territory):
    result = invoke(runner, EXCEL_FILE, territory)

    assert result.exit_code == 0, result.output
    assert result.stdout == "4 professionnel(s) créé(s), 0 mis à jour.\n"
    assert count(Practitioner) == 4

    result = invoke(runner, EXCEL_FILE, territory)

    assert result.exit_code == 0, result.output
    assert result.stdout == "0 professionnel(s) créé(s), 4 mis à jour.\n"
    assert count(Practitioner) == 4


def test_import_cli_failure_exits_non_zero_and_writes_nothing(
    app, runner, territory, make_practitioner, tmp_path
):
    existing = make_practitioner(territory, phone="0251000000")
    path = tmp_path / "medecins.csv"
    path.write_bytes(
        csv_bytes(
            gp_line(existing.rpps, phone="07 81 22 33 44"),
            gp_line(next_rpps()),
            f"{bad_rpps()};C;D;mg;;;",
            f"{next_rpps()};E;F;mg;;;Nulle Part",
        )
    )

    result = invoke(runner, path, territory)

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "Ligne 4, colonne « rpps » : Le numéro RPPS est invalide (clé de contrôle incorrecte).",
        "Ligne 5, colonne « sites » : Lieu inconnu sur le territoire : « Nulle Part ».",
        "Error: 2 erreur(s) : rien n'a été importé.",
    ]
    db.session.expire_all()
    assert count(Practitioner) == 1
    assert by_rpps(existing.rpps).phone == "+33251000000"
    assert import_events() == []


# --- coordinator page ------------------------------------------------------------------------


def test_import_page_shows_errors_and_writes_nothing(
    client: FlaskClient, auth: AuthActions, territory, make_user
):
    user = make_user(Role.COORDINATOR, territory)
    auth.login(user.email, PASSWORD)
    content = csv_bytes(f"{next_rpps()};A;B;mg;;;", f"{next_rpps()};C;D;astronaute;;;")

    response = client.post(
        "/coordination/professionnels/import",
        data={"file": (io.BytesIO(content), "medecins.csv")},
        content_type="multipart/form-data",
    )

    page = response.get_data(as_text=True)
    assert "Ligne 3, colonne « profession »" in page
    assert "aucun professionnel n&#39;a été importé" in page
    assert count(Practitioner) == 0

    response = client.post(
        "/coordination/professionnels/import",
        data={"file": (io.BytesIO(csv_bytes(gp_line(next_rpps()))), "medecins.csv")},
        content_type="multipart/form-data",
    )

    assert response.status_code == 302
    assert count(Practitioner) == 1


# --- concurrent imports -----------------------------------------------------------------------


def test_two_concurrent_imports_of_the_same_new_practitioners_both_succeed(app, territory):
    """Two threads, two connections, the same new RPPS: one practitioner each, no 500."""
    rpps = [next_rpps() for _ in range(5)]
    data = csv_bytes(*(gp_line(r, i, sites="MSP des Marais") for i, r in enumerate(rpps)))
    territory_id = territory.id
    db.session.commit()
    barrier = threading.Barrier(2, timeout=60)
    results: list[object] = []

    def run() -> None:
        with app.app_context():
            barrier.wait()
            try:
                report = import_and_commit(db.session.get(Territory, territory_id), data, by=None)
                results.append((report.created, report.updated, report.errors))
            except Exception as exc:  # noqa: BLE001 - any exception fails the test below
                db.session.rollback()
                results.append(repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(results, key=repr) == sorted([(5, 0, []), (0, 5, [])], key=repr)
    assert count(Practitioner) == 5
    assert all(len(by_rpps(r).sites) == 1 for r in rpps)
    assert len(import_events()) == 2


def test_an_import_that_collides_with_a_concurrent_one_starts_again_and_updates(
    app, territory, monkeypatch
):
    """The interleaving the threads above may or may not hit, forced: we read the
    territory's practitioners before the other import committed the same RPPS."""
    rpps = next_rpps()
    run_import(territory, csv_bytes(gp_line(rpps, 1)))
    real = practitioner_import.existing_practitioners
    looks: list[int] = []

    def stale_first(territory_id: int):
        looks.append(territory_id)
        return {} if len(looks) == 1 else real(territory_id)

    monkeypatch.setattr(practitioner_import, "existing_practitioners", stale_first)

    report = import_and_commit(territory, csv_bytes(gp_line(rpps, 2)), by=None)

    assert (report.created, report.updated, report.errors) == (0, 1, [])
    assert len(looks) == 2
    db.session.expire_all()
    assert count(Practitioner) == 1
    assert by_rpps(rpps).family_name == "Nom2"
    assert len(import_events()) == 2  # the first import's and this one's, not the lost try's


def test_an_import_that_keeps_colliding_gives_a_french_message_and_writes_nothing(
    client: FlaskClient, auth: AuthActions, territory, make_user, monkeypatch
):
    user = make_user(Role.COORDINATOR, territory)
    taken = next_rpps()
    run_import(territory, csv_bytes(gp_line(taken, 1)))
    monkeypatch.setattr(practitioner_import, "existing_practitioners", lambda territory_id: {})
    auth.login(user.email, PASSWORD)
    before = (count(Practitioner), len(import_events()))

    response = client.post(
        "/coordination/professionnels/import",
        data={"file": (io.BytesIO(csv_bytes(gp_line(next_rpps(), 2), gp_line(taken, 3))), "m.csv")},
        content_type="multipart/form-data",
    )

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Un autre import modifie les mêmes professionnels en ce moment" in page
    assert "aucun professionnel n&#39;a été importé" in page
    db.session.expire_all()
    assert (count(Practitioner), len(import_events())) == before
    assert by_rpps(taken).family_name == "Nom1"
