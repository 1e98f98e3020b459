"""Regulators of the SAS: book the soonest slot, and lose a race for it politely."""

from __future__ import annotations

import re

from tests.browser.journey import (
    Journey,
    confirmed_reference,
    expect,
    fill_patient,
    search_slots,
)

COMMUNE = "Challans (85300)"


def test_regulators_race_for_the_soonest_slot(journey: Journey) -> None:
    # The second regulator opens the soonest slot first, and is slow to fill the form.
    late = journey.login("regulation2@demo.tourderole.fr")
    search_slots(journey, late, COMMUNE)
    late.get_by_role("link", name=re.compile(r"^Réserver")).first.click()
    expect(late.get_by_role("heading", name="Créneau choisi")).to_be_visible()
    journey.step(late, "creneau-choisi-poste-2")

    # The first regulator books the same slot for a caller from Challans.
    first = journey.login("regulation1@demo.tourderole.fr")
    search_slots(journey, first, COMMUNE)
    first.get_by_role("link", name=re.compile(r"^Réserver")).first.click()
    slot = first.locator("input[name=creneau]").input_value()
    assert late.locator("input[name=creneau]").input_value() == slot
    fill_patient(first)
    journey.step(first, "formulaire-patient")
    first.get_by_role("button", name="Réserver", exact=True).click()
    reference = confirmed_reference(journey, first)

    # The second one submits: the slot is gone, the next free ones are offered instead.
    fill_patient(late, family_name="Morin")
    late.get_by_role("button", name="Réserver", exact=True).click()
    alert = late.get_by_role("alert")
    expect(alert).to_contain_text("Le rendez-vous n'a pas été pris")
    expect(alert).to_contain_text("Ce créneau vient d'être pris")
    alternatives = late.get_by_role("group", name="Prochains créneaux libres").get_by_role("radio")
    expect(alternatives.first).to_be_checked()
    assert alternatives.count() >= 1
    journey.step(late, "creneau-pris-alternatives")

    # The patient's data is kept: one click books the first alternative.
    expect(late.get_by_label("Nom de famille")).to_have_value("Morin")
    late.get_by_role("button", name="Réserver le créneau choisi").click()
    other = confirmed_reference(journey, late)
    assert other != reference

    # Both bookings belong to the regulation: each regulator sees both.
    first.get_by_role("link", name="Mes rendez-vous").click()
    for ref in (reference, other):
        expect(first.get_by_role("link", name=ref)).to_be_visible()
    journey.step(first, "mes-rendez-vous")
