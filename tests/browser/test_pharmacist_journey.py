"""A pharmacist books on the pharmacy channel and sees only their own bookings."""

from __future__ import annotations

import re

from tests.browser.journey import (
    Journey,
    book_soonest,
    confirmed_reference,
    expect,
    fill_patient,
    search_slots,
)


def test_pharmacist_books_a_pharmacy_slot_and_cannot_see_the_regulation(
    journey: Journey,
) -> None:
    regulator = journey.login("regulation1@demo.tourderole.fr")
    theirs = book_soonest(journey, regulator, "Challans (85300)")

    pharmacist = journey.login("pharmacie2@demo.tourderole.fr")
    search_slots(journey, pharmacist, "Saint-Jean-de-Monts (85160)")
    rows = pharmacist.get_by_role("row").filter(has=pharmacist.locator(".channel-pharmacy"))
    expect(rows.first).to_contain_text("pharmacie")
    rows.first.get_by_role("link", name=re.compile(r"^Réserver")).click()
    expect(pharmacist.locator("dl.facts")).to_contain_text("pharmacie")
    fill_patient(pharmacist, family_name="Girard")
    journey.step(pharmacist, "formulaire-patient-pharmacie")
    pharmacist.get_by_role("button", name="Réserver", exact=True).click()
    mine = confirmed_reference(journey, pharmacist)
    expect(pharmacist.get_by_role("definition").filter(has_text="pharmacie").first).to_be_visible()

    # Their list holds their booking, not the regulation's.
    pharmacist.get_by_role("link", name="Mes rendez-vous").click()
    expect(pharmacist.get_by_role("link", name=mine)).to_be_visible()
    expect(pharmacist.get_by_role("link", name=theirs)).to_have_count(0)
    journey.step(pharmacist, "mes-rendez-vous-pharmacie")

    # Typing the regulation's reference finds nothing; its page is "not found".
    pharmacist.get_by_label("Référence du rendez-vous").fill(theirs)
    pharmacist.get_by_role("button", name="Chercher").click()
    expect(pharmacist.get_by_role("status")).to_contain_text(
        f"Aucun rendez-vous visible avec la référence « {theirs} »."
    )
    journey.step(pharmacist, "reference-introuvable")
    answer = pharmacist.goto(f"/rendez-vous/{theirs}")
    assert answer is not None
    assert answer.status == 404
    expect(pharmacist.get_by_role("heading", name="Erreur 404")).to_be_visible()
    expect(pharmacist.get_by_text("Lambert")).to_have_count(0)
    journey.step(pharmacist, "rendez-vous-de-la-regulation-404")
