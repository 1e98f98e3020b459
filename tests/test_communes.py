"""Communes: the official list, and one commune (or postal code) in one territory only."""

import pytest
import sqlalchemy as sa

from app import communes_ref
from app.extensions import db
from app.models import Commune, CommunePostalCode, Site
from app.territory import services
from app.validators import ValidationError


def test_official_list_has_every_commune():
    ref = communes_ref.reference()
    assert len(ref.communes) > 34_000
    challans = communes_ref.get("85047")
    assert challans.name == "Challans"
    assert challans.postal_codes == ("85300",)
    assert challans.department == "85"
    assert communes_ref.epci_name(challans.epci_code) == "CC Challans-Gois Communauté"
    assert communes_ref.get("2A004").name == "Ajaccio"


@pytest.mark.parametrize(
    ("query", "expected"),
    [("85047", "Challans"), ("challans", "Challans"), ("ÎLE D'YEU", "L'Île-d'Yeu")],
)
def test_search_by_code_or_name_puts_the_exact_match_first(query, expected):
    assert communes_ref.search(query)[0].name == expected


def test_search_by_five_digits_gives_insee_then_postal_code_matches():
    # 85300 is both Venansault's INSEE code and Challans's postal code.
    names = [c.name for c in communes_ref.search("85300")]
    assert names[0] == "Venansault"
    assert "Challans" in names


def test_search_by_epci_name_lists_its_members():
    names = {c.name for c in communes_ref.search("CC de l'Ile de Noirmoutier")}
    assert names == {"Barbâtre", "L'Épine", "La Guérinière", "Noirmoutier-en-l'Île"}


def test_commune_added_whole_takes_all_postal_codes(app, make_territory):
    territory = make_territory(communes=())
    commune = services.add_commune(territory, "85194", by=None)  # Les Sables-d'Olonne
    db.session.commit()
    assert commune.postal_codes == list(communes_ref.get("85194").postal_codes)
    assert territory.population == commune.population > 40_000


def test_commune_belongs_to_one_territory_only(app, make_territory):
    make_territory(communes=("85047",), name="CPTS Nord")
    other = make_territory(communes=(), name="CPTS Sud")
    with pytest.raises(ValidationError, match="appartient déjà à : CPTS Nord"):
        services.add_commune(other, "85047", by=None)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(Commune.id))) == 1


def test_commune_uniqueness_is_enforced_by_the_database(app, make_territory):
    make_territory(communes=("85047",))
    other = make_territory(communes=())
    # Bypass the service: the schema alone must refuse the second claim.
    commune = Commune(
        territory_id=other.id, insee_code="85047", name="Challans", department="85", population=1
    )
    commune.postal_code_rows = [CommunePostalCode(insee_code="85047", postal_code="85300")]
    db.session.add(commune)
    with pytest.raises(sa.exc.IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_urban_commune_may_be_split_by_postal_code(app, make_territory):
    north = make_territory(communes=(), name="CPTS Marseille Nord")
    south = make_territory(communes=(), name="CPTS Marseille Sud")
    services.add_commune(north, "13055", postal_codes=["13013", "13014", "13015"], by=None)
    services.add_commune(south, "13055", postal_codes=["13008", "13009"], by=None)
    db.session.commit()
    assert north.communes[0].postal_codes == ["13013", "13014", "13015"]
    assert 0 < north.population < communes_ref.get("13055").population
    with pytest.raises(ValidationError, match="13014"):
        services.add_commune(south, "13055", postal_codes=["13014"], by=None)
    db.session.rollback()


def test_postal_code_of_another_commune_is_refused(app, make_territory):
    territory = make_territory(communes=())
    with pytest.raises(ValidationError, match="n'a pas le code postal 13001"):
        services.add_commune(territory, "85047", postal_codes=["13001"], by=None)


def test_unknown_commune_is_refused(app, make_territory):
    territory = make_territory(communes=())
    with pytest.raises(ValidationError, match="inconnue"):
        services.add_commune(territory, "99999", by=None)


def test_commune_with_a_site_cannot_be_removed(app, make_territory, make_site):
    territory = make_territory()
    make_site(territory)
    with pytest.raises(ValidationError, match="1 lieu"):
        services.remove_commune(territory.communes[0], by=None)


def test_site_commune_must_be_in_the_same_territory_in_the_schema(app, make_territory, make_site):
    mine = make_territory(communes=("85047",))
    other = make_territory(communes=("85222",))
    site = make_site(mine)
    site.commune_id = other.communes[0].id
    with pytest.raises(sa.exc.IntegrityError):
        db.session.flush()
    db.session.rollback()
    assert db.session.get(Site, site.id).commune_id == mine.communes[0].id
