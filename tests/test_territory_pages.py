"""The coordinator's pages, used as a coordinator would: good input saves, bad input explains."""

import re

import pytest
import sqlalchemy as sa

from app.enums import Profession, Role
from app.extensions import db
from app.models import AuditEvent, Commune, Practitioner, Site, Territory, User
from tests.helpers import PASSWORD, count, next_rpps


@pytest.fixture
def territory(make_territory):
    return make_territory(communes=("85047", "85222"))


@pytest.fixture
def coordinator(client, auth, territory, make_user):
    user = make_user(Role.COORDINATOR, territory, email="coord@example.org")
    assert auth.login(user.email, PASSWORD).status_code == 302
    return user


def test_overview_shows_population_and_size(client, coordinator, territory):
    page = client.get("/coordination").get_data(as_text=True)
    assert territory.name in page
    assert "catégorie 1" in page


def test_settings_update_is_saved_and_audited(client, coordinator, territory):
    response = client.post(
        "/coordination/territoire",
        data={
            "name": "CPTS du Marais",
            "finess": "850012345",
            "timezone": "Europe/Paris",
            "holiday_subdivision": "57",
            "phone": "02 51 49 00 00",
            "email": "c@cpts.fr",
        },
    )
    assert response.status_code == 302
    db.session.expire_all()
    saved = db.session.get(Territory, territory.id)
    assert (saved.name, saved.finess, saved.holiday_subdivision, saved.phone) == (
        "CPTS du Marais",
        "850012345",
        "57",
        "+33251490000",
    )
    assert saved.fhir_finess == "1850012345"
    assert db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "territory.update"))


def test_settings_with_bad_finess_changes_nothing(client, coordinator, territory):
    response = client.post(
        "/coordination/territoire",
        data={
            "name": "Autre nom",
            "finess": "12",
            "timezone": "Europe/Paris",
            "holiday_subdivision": "",
        },
    )
    assert response.status_code == 200
    assert "9 caractères" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Territory, territory.id).name != "Autre nom"


def test_commune_search_and_add(client, coordinator, territory):
    page = client.get("/coordination/communes?q=Saint-Jean-de-Monts").get_data(as_text=True)
    assert "85234" in page
    response = client.post("/coordination/communes/ajouter/85234", data={"insee_code": "85234"})
    assert response.status_code == 302
    assert "85234" in {c.insee_code for c in db.session.scalars(sa.select(Commune))}


def test_commune_of_another_territory_is_refused_with_its_owner(
    client, coordinator, make_territory
):
    make_territory(communes=("85234",), name="CPTS Voisine")
    response = client.post(
        "/coordination/communes/ajouter/85234", data={"insee_code": "85234"}, follow_redirects=True
    )
    assert "appartient déjà à : CPTS Voisine" in response.get_data(as_text=True)


def test_add_a_whole_epci(client, coordinator, territory):
    response = client.post(
        "/coordination/communes/epci", data={"epci_code": "248500191"}, follow_redirects=True
    )
    assert "4 commune(s) ajoutée(s)" in response.get_data(as_text=True)
    assert len(db.session.get(Territory, territory.id).communes) == 6


def test_remove_commune(client, coordinator, territory):
    commune = territory.communes[-1]
    assert client.post(f"/coordination/communes/{commune.id}/retirer").status_code == 302
    db.session.expire_all()
    assert db.session.get(Commune, commune.id) is None


def _site_form(territory, **overrides):
    challans = next(c for c in territory.communes if c.insee_code == "85047")
    data = {
        "name": "MSP des Marais",
        "kind": "msp",
        "address_line": "12 rue Carnot",
        "postal_code": "85300",
        "commune_id": challans.id,
        "phone": "02 51 93 00 00",
        "latitude": "46.846",
        "longitude": "-1.878",
        "accessibility": "Plain-pied",
    }
    data.update(overrides)
    return data


def test_site_create_and_edit(client, coordinator, territory):
    assert client.post("/coordination/lieux/nouveau", data=_site_form(territory)).status_code == 302
    site = db.session.scalar(sa.select(Site))
    assert (site.name, site.phone, site.latitude) == ("MSP des Marais", "+33251930000", 46.846)
    response = client.post(
        f"/coordination/lieux/{site.id}", data=_site_form(territory, name="MSP Centre")
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Site, site.id).name == "MSP Centre"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"postal_code": "85100"}, "ne correspond pas à Challans"),
        ({"phone": "12"}, "Numéro de téléphone invalide"),
        ({"latitude": "120"}, "Latitude entre -90 et 90"),
        ({"longitude": ""}, "latitude et la longitude, ou aucune"),
        ({"name": ""}, "obligatoire"),
    ],
)
def test_site_bad_input_is_explained_and_nothing_saved(
    client, coordinator, territory, overrides, message
):
    response = client.post("/coordination/lieux/nouveau", data=_site_form(territory, **overrides))
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert count(Site) == 0


def test_site_deactivate_and_reactivate(client, coordinator, territory, make_site):
    site = make_site(territory)
    client.post(f"/coordination/lieux/{site.id}/desactiver")
    db.session.expire_all()
    assert db.session.get(Site, site.id).active is False
    client.post(f"/coordination/lieux/{site.id}/activer")
    db.session.expire_all()
    assert db.session.get(Site, site.id).active is True


def test_practitioner_create_with_sites(client, coordinator, territory, make_site):
    site = make_site(territory)
    rpps = next_rpps()
    response = client.post(
        "/coordination/professionnels/nouveau",
        data={
            "rpps": rpps,
            "family_name": "Durand",
            "given_name": "Léa",
            "profession": "gp",
            "email": "Lea.Durand@Example.org",
            "phone": "06 12 34 56 78",
            "site_ids": [site.id],
        },
    )
    assert response.status_code == 302
    gp = db.session.scalar(sa.select(Practitioner))
    assert (gp.rpps, gp.email, gp.phone, [s.id for s in gp.sites]) == (
        rpps,
        "lea.durand@example.org",
        "+33612345678",
        [site.id],
    )
    listing = client.get("/coordination/professionnels?q=dur").get_data(as_text=True)
    assert "Durand" in listing


def test_practitioner_with_bad_rpps_is_refused(client, coordinator, territory):
    response = client.post(
        "/coordination/professionnels/nouveau",
        data={
            "rpps": "10003456787",
            "family_name": "Durand",
            "given_name": "Léa",
            "profession": "gp",
        },
    )
    assert "clé de contrôle incorrecte" in response.get_data(as_text=True)
    assert count(Practitioner) == 0


def test_practitioner_duplicate_rpps_is_refused(client, coordinator, territory, make_practitioner):
    existing = make_practitioner(territory)
    response = client.post(
        "/coordination/professionnels/nouveau",
        data={
            "rpps": existing.rpps,
            "family_name": "Autre",
            "given_name": "Nom",
            "profession": "gp",
        },
    )
    assert "existe déjà" in response.get_data(as_text=True)
    assert count(Practitioner) == 1


def test_deactivating_a_practitioner_deactivates_their_account(
    client, coordinator, territory, make_practitioner, make_user
):
    gp = make_practitioner(territory, profession=Profession.GP)
    account = make_user(Role.GP, territory, practitioner=gp)
    client.post(f"/coordination/professionnels/{gp.id}/desactiver")
    db.session.expire_all()
    assert db.session.get(Practitioner, gp.id).active is False
    assert db.session.get(User, account.id).active is False


def test_invite_then_accept(app, client, coordinator, territory, make_practitioner):
    gp = make_practitioner(territory, family_name="Lemoine", profession=Profession.GP)
    response = client.post(
        "/coordination/comptes/inviter",
        data={
            "email": "lemoine@example.org",
            "role": "gp",
            "display_name": "",
            "practitioner_id": gp.id,
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    link = re.search(r'value="(https?://[^"]+/invitation/[^"]+)"', page).group(1)
    invited = db.session.scalar(sa.select(User).where(User.email == "lemoine@example.org"))
    assert invited.practitioner_id == gp.id
    assert invited.password_hash is None

    visitor = app.test_client()
    path = link.split("tdr.test", 1)[1]
    assert visitor.post(path, data={"password": PASSWORD, "confirm": PASSWORD}).status_code == 302
    assert (
        visitor.post(
            "/connexion", data={"email": "lemoine@example.org", "password": PASSWORD}
        ).status_code
        == 302
    )


def test_deactivated_user_is_logged_out_at_once(app, client, coordinator, territory, make_user):
    gp = make_user(Role.GP, territory, email="gp@example.org")
    gp_client = app.test_client()
    gp_client.post("/connexion", data={"email": "gp@example.org", "password": PASSWORD})
    assert "Médecin généraliste" in gp_client.get("/").get_data(as_text=True)
    client.post(f"/coordination/comptes/{gp.id}/desactiver")
    assert gp_client.get("/").get_data(as_text=True).count("Se déconnecter") == 0


def test_coordinator_cannot_deactivate_themself(client, coordinator):
    response = client.post(
        f"/coordination/comptes/{coordinator.id}/desactiver", follow_redirects=True
    )
    assert "votre propre compte" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, coordinator.id).active is True


def test_admin_creates_a_territory_with_its_coordinator(client, auth, make_user):
    admin = make_user(Role.ADMIN, None, email="admin@example.org")
    auth.login(admin.email, PASSWORD)
    response = client.post(
        "/admin/territoires/nouveau",
        data={
            "name": "CPTS Nouvelle",
            "slug": "cpts-nouvelle",
            "timezone": "Indian/Reunion",
            "holiday_subdivision": "974",
            "coordinator_email": "coord@nouvelle.fr",
        },
    )
    assert response.status_code == 200
    assert "/invitation/" in response.get_data(as_text=True)
    territory = db.session.scalar(sa.select(Territory).where(Territory.slug == "cpts-nouvelle"))
    assert territory.timezone == "Indian/Reunion"
    coordinator = db.session.scalar(sa.select(User).where(User.email == "coord@nouvelle.fr"))
    assert (coordinator.role, coordinator.territory_id) == (Role.COORDINATOR, territory.id)


def test_admin_duplicate_slug_is_refused_and_nothing_created(
    client, auth, make_user, make_territory
):
    make_territory("cpts-existante")
    admin = make_user(Role.ADMIN, None, email="admin@example.org")
    auth.login(admin.email, PASSWORD)
    response = client.post(
        "/admin/territoires/nouveau",
        data={
            "name": "Doublon",
            "slug": "cpts-existante",
            "timezone": "Europe/Paris",
            "holiday_subdivision": "",
            "coordinator_email": "x@y.fr",
        },
    )
    assert "déjà pris" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(User).where(User.email == "x@y.fr")) is None


def test_rota_rules_are_set_in_the_territory_settings(client, coordinator, territory):
    base = {"name": "CPTS", "timezone": "Europe/Paris", "holiday_subdivision": ""}
    bad = client.post("/coordination/territoire", data={**base, "min_rest_hours": "72"})
    assert "Entre 0 et 48 heures" in bad.get_data(as_text=True)
    ok = client.post(
        "/coordination/territoire",
        data={**base, "min_rest_hours": "11", "max_sessions_per_week": "2"},
    )
    assert ok.status_code == 302
    db.session.expire_all()
    saved = db.session.get(Territory, territory.id)
    assert (saved.min_rest_hours, saved.max_sessions_per_week) == (11, 2)
