"""The platform administrator equips the SAS 85 desk's software with an API token.

On a phone (375 px) and a desktop: from the service's page to its regulators' tokens,
a token issued and shown once, which the API accepts; revoked after the confirmation
page, after which the API answers 401. axe checks every page on the way.
"""

from __future__ import annotations

import re

import pytest

from tests.browser.journey import Journey, expect

VIEWPORTS = {
    "telephone": {"width": 375, "height": 812},
    "bureau": {"width": 1280, "height": 800},
}
PLAIN = re.compile(r"^tdr_[A-Za-z0-9_-]{43}$")


@pytest.mark.parametrize("screen", sorted(VIEWPORTS))
def test_admin_issues_and_revokes_a_desk_token(journey: Journey, screen: str) -> None:
    page = journey.login("admin@demo.tourderole.fr", viewport=VIEWPORTS[screen])
    page.goto("/admin/regulation")
    page.get_by_role("link", name="SAS 85").click()
    page.get_by_role("link", name="Jetons d'API des régulateurs").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Jetons d'API des régulateurs de SAS 85"
    )
    journey.step(page, "jetons-du-service")

    page.get_by_label("Compte de régulateur·rice").select_option(
        label="regulation1@demo.tourderole.fr (CPTS Côte de Lumière)"
    )
    page.get_by_label("Libellé (logiciel, poste…)").fill("Logiciel du SAS 85")
    page.get_by_role("button", name="Créer le jeton").click()
    plain = page.get_by_label("Jeton", exact=True).input_value()
    assert PLAIN.match(plain), plain
    journey.step(page, "jeton-cree")
    bearer = {"Authorization": f"Bearer {plain}"}
    assert page.request.get("/api/v1/slots", headers=bearer).status == 200

    page.get_by_role("link", name="Retour aux jetons").click()
    row = page.get_by_role("row").filter(has_text="Logiciel du SAS 85")
    expect(row).to_contain_text(plain[:8])
    expect(page.locator("body")).not_to_contain_text(plain)  # shown once
    row.get_by_role("button", name=re.compile("^Révoquer")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(plain[:8])
    journey.step(page, "confirmer-la-revocation")
    page.get_by_role("button", name="Révoquer le jeton").click()
    expect(page.get_by_text(f"Jeton {plain[:8]}… révoqué")).to_be_visible()
    journey.step(page, "jeton-revoque")
    assert page.request.get("/api/v1/slots", headers=bearer).status == 401
