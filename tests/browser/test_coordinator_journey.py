"""The coordinator: a new period from the session templates, generated fairly, published."""

from __future__ import annotations

import re

from tests.browser.journey import Journey, expect, open_period

# The week after the demo's five published weeks (1 March – 4 April 2027).
PERIOD = "Semaine du 5 avril 2027"


def test_coordinator_generates_reviews_and_publishes_a_period(journey: Journey) -> None:
    page = journey.login("coordination@demo.tourderole.fr")

    # The templates the period's sessions will come from.
    page.get_by_role("navigation", name="Navigation principale").get_by_role(
        "link", name="Plages types"
    ).click()
    templates = page.get_by_role("table").first.get_by_role("row")
    expect(templates).to_have_count(7)  # header + the demo's six templates
    journey.step(page, "plages-types")

    open_period(journey, page, PERIOD, "2027-04-05", "2027-04-11")

    page.get_by_role("button", name="Générer le tableau").click()
    expect(page.get_by_role("status")).to_contain_text(
        re.compile(r"Tableau généré : \d+/\d+ places pourvues\.")
    )
    expect(page.get_by_text("Généré, à relire")).to_be_visible()

    # The review: the grid of sessions, and the fairness chart and table.
    grid = page.locator("table.grid")
    expect(grid.get_by_role("rowheader").first).to_contain_text("lun. 05/04")
    chart = page.get_by_role("img", name=re.compile("^Nombre de plages attribuées"))
    expect(chart).to_be_visible()
    assert chart.locator("rect.bar").count() >= 10
    expect(page.get_by_role("heading", name="Équité : charge et cible par médecin")).to_be_visible()
    fairness = page.get_by_role("table").filter(has_text="Week-end et fériés")
    assert fairness.get_by_role("row").count() >= 11
    journey.step(page, "tableau-genere-et-equite")
    chart.screenshot(path=str(journey.artifacts / "graphique-equite.png"))

    page.get_by_role("button", name="Publier…").click()
    expect(page.get_by_text(re.compile(r"^\d+ médecin\(s\) recevront un e-mail"))).to_be_visible()
    journey.step(page, "confirmation-publication")
    page.get_by_role("button", name="Publier et prévenir les médecins").click()
    expect(page.get_by_role("status")).to_contain_text(
        "Tableau publié (version 1) ; les médecins sont prévenus."
    )
    expect(page.get_by_text("Publié", exact=True)).to_be_visible()
    journey.step(page, "tableau-publie")
    # On a phone the grid and the fairness table scroll sideways, by keyboard too.
    page.set_viewport_size({"width": 375, "height": 812})
    journey.step(page, "tableau-publie-telephone")
    expect(page.get_by_role("region", name="Équité : charge et cible par médecin")).to_be_visible()
    page.set_viewport_size({"width": 1280, "height": 720})

    # The printable month, as the Centre 15 and the sites get it.
    page.get_by_role("link", name="Version imprimable (A4 paysage)").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(
        "Soins non programmés · CPTS Côte de Lumière · avril 2027"
    )
    journey.step(page, "version-imprimable")
