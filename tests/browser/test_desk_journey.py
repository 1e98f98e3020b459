"""The SAS 85 desk: one search over both demo CPTS, forgiving a typo, nearest by distance.

On a phone (375 px) and a desktop: the regulator types "Chalans", is offered "Challans
(85300)", sees slots of the Côte de Lumière and of the Île de Ré with their distances,
and books one in two clicks from the suggestion.
"""

from __future__ import annotations

import re

import pytest

from tests.browser.journey import Journey, confirmed_reference, expect, fill_patient

VIEWPORTS = {
    "telephone": {"width": 375, "height": 812},
    "bureau": {"width": 1280, "height": 800},
}


@pytest.mark.parametrize("screen", sorted(VIEWPORTS))
def test_desk_regulator_books_from_a_typo_across_both_cpts(journey: Journey, screen: str) -> None:
    page = journey.login("regulation1@demo.tourderole.fr", viewport=VIEWPORTS[screen])
    page.get_by_role("navigation", name="Navigation principale").get_by_role(
        "link", name="Créneaux"
    ).click()
    expect(page.get_by_role("heading", name="Trouver un créneau", level=1)).to_be_visible()
    expect(page.get_by_text("des territoires de votre service")).to_contain_text("Île de Ré")
    page.get_by_label("Commune du patient").fill("Chalans")
    page.get_by_role("button", name="Rechercher").click()

    # No "0 créneau libre": a suggestion, as a link.
    suggestion = page.get_by_role("alert")
    expect(suggestion).to_contain_text("Vouliez-vous dire")
    journey.step(page, "vouliez-vous-dire")
    suggestion.get_by_role("link", name="Challans (85300)").click()  # click 1

    expect(page.get_by_text("Patient de")).to_contain_text("Challans")
    table = page.locator("table.slots")
    expect(table).to_contain_text("CPTS Île de Ré")  # both CPTS in one list
    expect(table.locator(".distance").first).to_have_text(re.compile(r"^à .*km$"))
    expect(table).to_contain_text(re.compile(r"à \d{2} km"))  # the island, tens of km away
    map_link = table.get_by_role("link", name=re.compile("carte")).first
    expect(map_link).to_have_attribute("href", re.compile(r"^https://www\.openstreetmap\.org/\?"))
    journey.step(page, "creneaux-des-deux-cpts")

    page.get_by_role("link", name=re.compile(r"^Réserver")).first.click()  # click 2
    expect(page.get_by_role("heading", name="Créneau choisi")).to_be_visible()
    fill_patient(page)
    page.get_by_role("button", name="Réserver", exact=True).click()
    confirmed_reference(journey, page)
