"""Commune centres: shipped with the official list, corrected or imported by the coordinator."""

import io

import pytest
import sqlalchemy as sa

from app import communes_ref
from app.enums import Role
from app.extensions import db
from app.models import AuditEvent, Commune
from app.territory import services
from app.validators import ValidationError


def test_official_list_ships_the_town_hall_as_centre():
    challans = communes_ref.get("85047")
    # Challans's town hall, rounded to about 100 m.
    assert challans.latitude == pytest.approx(46.845, abs=0.002)
    assert challans.longitude == pytest.approx(-1.880, abs=0.002)
    missing = [c for c in communes_ref.reference().communes.values() if c.latitude is None]
    # Only the overseas collectivities (Saint-Martin, Polynesia, …) and a handful of
    # communes restored after the source's year lack one.
    assert len(missing) < 120
    assert all(
        -90 <= c.latitude <= 90
        for c in communes_ref.reference().communes.values()
        if c.latitude is not None
    )


def test_commune_added_takes_the_shipped_centre(app, make_territory):
    territory = make_territory(communes=())
    commune = services.add_commune(territory, "85222", by=None)  # Saint-Gilles-Croix-de-Vie
    db.session.commit()
    official = communes_ref.get("85222")
    assert (commune.latitude, commune.longitude) == (official.latitude, official.longitude)


def test_coordinator_corrects_a_centre_with_a_decimal_comma(app, make_territory):
    territory = make_territory(communes=("85047",))
    commune = territory.communes[0]
    services.set_commune_centre(commune, "46,8461", "-1,8778", by=None)
    db.session.commit()
    assert (commune.latitude, commune.longitude) == (46.8461, -1.8778)
    event = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "commune.centre")
    ).one()
    assert event.detail["after"] == [46.8461, -1.8778]


@pytest.mark.parametrize(
    ("latitude", "longitude", "message"),
    [
        ("91", "1", "Latitude entre"),
        ("46", "-181", "Longitude entre"),
        ("nan", "1", "Latitude entre"),
        ("46", "inf", "Longitude entre"),
        ("abc", "1", "Latitude illisible"),
        ("46", None, "ou aucune des deux"),
    ],
)
def test_bad_centre_is_refused_and_nothing_changes(
    app, make_territory, latitude, longitude, message
):
    territory = make_territory(communes=("85047",))
    commune = territory.communes[0]
    before = (commune.latitude, commune.longitude)
    with pytest.raises(ValidationError, match=message):
        services.set_commune_centre(commune, latitude, longitude, by=None)
    db.session.rollback()
    assert (db.session.get(Commune, commune.id).latitude, commune.longitude) == before


@pytest.mark.parametrize("values", [{"latitude": 120.0}, {"longitude": -200.0}, {"latitude": None}])
def test_schema_refuses_an_out_of_range_or_half_centre(app, make_territory, values):
    territory = make_territory(communes=("85047",))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(
            sa.update(Commune).where(Commune.territory_id == territory.id).values(**values)
        )
    db.session.rollback()


def test_import_sets_every_listed_centre(app, make_territory):
    territory = make_territory(communes=("85047", "85222"))
    csv = "code_insee;latitude;longitude\n85047;46,85;-1,88\n85222;46.70;-1.94\n"
    report = services.import_commune_centres(territory, csv.encode("cp1252"), by=None)
    db.session.commit()
    centres = {c.insee_code: (c.latitude, c.longitude) for c in territory.communes}
    assert centres == {"85047": (46.85, -1.88), "85222": (46.70, -1.94)}
    assert sorted(report.updated) == ["Challans", "Saint-Gilles-Croix-de-Vie"]


def test_import_with_commas_and_english_headers(app, make_territory):
    territory = make_territory(communes=("85047",))
    report = services.import_commune_centres(territory, "INSEE,lat,lon\n85047,46.9,-1.9\n", by=None)
    assert report.updated == ["Challans"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "code_insee;latitude;longitude\n85047;46.8;-1.8\n17369;45.9;-1.0\n",
            "17369 n'est pas une commune du territoire",
        ),
        ("code_insee;latitude;longitude\n85047;146.8;-1.8\n", "ligne 2 : Latitude entre"),
        ("code_insee;latitude;longitude\n85047;46.8;-1.8\n85047;46.9;-1.8\n", "figure deux fois"),
        ("commune;x;y\n85047;46.8;-1.8\n", "En-tête attendu"),
        ("", "vide"),
    ],
)
def test_import_is_all_or_nothing(app, make_territory, text, message):
    territory = make_territory(communes=("85047",))
    before = (territory.communes[0].latitude, territory.communes[0].longitude)
    with pytest.raises(ValidationError, match=message):
        services.import_commune_centres(territory, text, by=None)
    db.session.rollback()
    commune = db.session.scalars(
        sa.select(Commune).where(Commune.territory_id == territory.id)
    ).one()
    assert (commune.latitude, commune.longitude) == before


def test_import_refuses_a_binary_file(app, make_territory):
    territory = make_territory(communes=("85047",))
    with pytest.raises(ValidationError, match="pas un fichier texte CSV"):
        services.import_commune_centres(territory, b"PK\x03\x04\x00\x00", by=None)


def test_centres_page_lists_imports_and_corrects(app, client, auth, make_territory, make_user):
    territory = make_territory(communes=("85047", "85222"))
    coordinator = make_user(Role.COORDINATOR, territory)
    auth.login(coordinator.email)
    page = client.get("/coordination/communes/centres").get_data(as_text=True)
    assert "Saint-Gilles-Croix-de-Vie" in page
    assert "openstreetmap.org/?mlat=" in page

    answer = client.post(
        "/coordination/communes/centres",
        data={"file": (io.BytesIO(b"code_insee;latitude;longitude\n85047;46.9;-1.9\n"), "c.csv")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "1 mis à jour" in answer.get_data(as_text=True)

    commune = next(c for c in territory.communes if c.insee_code == "85222")
    answer = client.post(
        f"/coordination/communes/{commune.id}/centre",
        data={"latitude": "46,7", "longitude": "-1,95"},
        follow_redirects=True,
    )
    assert "Centre de Saint-Gilles-Croix-de-Vie enregistré" in answer.get_data(as_text=True)
    db.session.expire_all()
    assert (
        db.session.get(Commune, commune.id).latitude,
        db.session.get(Commune, commune.id).longitude,
    ) == (46.7, -1.95)

    answer = client.post(
        f"/coordination/communes/{commune.id}/centre",
        data={"latitude": "200", "longitude": "1"},
        follow_redirects=True,
    )
    assert "Latitude entre" in answer.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Commune, commune.id).latitude == 46.7
