"""Finding 10: territory slugs follow their help text, names are unique, and a territory
shows in the public list once it has something to show."""

from __future__ import annotations

import pytest

from app.territory import services
from app.territory.services import TerritorySettings
from app.validators import ValidationError


def _settings(name: str) -> TerritorySettings:
    return TerritorySettings(
        name=name,
        finess=None,
        timezone="Europe/Paris",
        holiday_subdivision=None,
        phone=None,
        email=None,
    )


@pytest.mark.parametrize("slug", ["nord-vendée", "cpts_sud", "-sud", "sud-", "a--b", "ça", "x"])
def test_a_slug_is_ascii_letters_digits_and_single_hyphens(app, slug):
    with pytest.raises(ValidationError, match="identifiant court"):
        services.create_territory(slug, _settings("CPTS du Nord"), by=None)


def test_a_good_slug_is_accepted(app):
    assert services.create_territory("Nord-Vendee-2", _settings("CPTS Nord"), by=None).slug == (
        "nord-vendee-2"
    )


def test_two_territories_cannot_share_a_name(app, make_territory):
    make_territory(name="CPTS du Marais")
    with pytest.raises(ValidationError, match="porte déjà ce nom"):
        services.create_territory("autre", _settings("  cpts du marais "), by=None)
    other = make_territory(name="CPTS des Dunes", communes=("17369",))
    with pytest.raises(ValidationError, match="porte déjà ce nom"):
        services.update_territory(other, _settings("CPTS DU MARAIS"), by=None)


def test_an_empty_territory_is_not_in_the_public_list(booking_world, client, make_territory):
    make_territory(slug="toute-neuve", name="CPTS Toute Neuve", communes=("44109",))
    page = client.get("/disponibilites").get_data(as_text=True)
    assert booking_world.territory.name in page
    assert "CPTS Toute Neuve" not in page
    assert client.get("/disponibilites?cpts=toute-neuve").status_code == 404
