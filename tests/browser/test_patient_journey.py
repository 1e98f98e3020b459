"""A patient on a phone, without an account: where to see a GP today, and how many slots."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from tests.browser.journey import Journey, book_soonest, expect

if TYPE_CHECKING:
    from playwright.sync_api import Page

PHONE = {"width": 375, "height": 812}
COUNT = re.compile(r"^(\d+) créneaux? encore libres?")


def free_slots_shown(page: Page) -> int:
    """The sum of the "N créneaux encore libres" titles of every site card on the page."""
    lines = page.locator("p.free-title").all_inner_texts()
    counts = [COUNT.match(line) for line in lines]
    assert lines
    assert all(counts), lines
    return sum(int(m[1]) for m in counts if m)


def test_patient_sees_the_free_slot_count_drop_after_a_booking(journey: Journey) -> None:
    patient = journey.person(viewport=PHONE, is_mobile=True, has_touch=True)
    patient.goto("/disponibilites")
    expect(
        patient.get_by_role("heading", name="Voir un médecin aujourd'hui ou demain")
    ).to_be_visible()
    expect(patient.get_by_role("note")).to_contain_text("appelez le 15")
    journey.step(patient, "choix-de-la-cpts")

    # Both demo CPTS publish a rota: the patient picks theirs.
    expect(patient.get_by_role("link", name="CPTS Île de Ré")).to_have_count(1)
    patient.get_by_role("link", name="CPTS Côte de Lumière").click()
    expect(patient.locator("p.lead")).to_contain_text("CPTS Côte de Lumière")
    patient.get_by_label("Votre commune").select_option(label="Challans (85300)")
    expect(patient.get_by_label("Aujourd'hui")).to_be_checked()
    patient.get_by_role("button", name="Afficher").click()
    expect(patient.get_by_role("heading", level=2).first).to_contain_text(
        "Aujourd'hui, mardi 2 mars 2027 · Challans"
    )
    expect(patient.get_by_role("heading", name="MSP des Marais", level=3)).to_be_visible()
    before = free_slots_shown(patient)
    # The phone layout does not scroll sideways.
    assert patient.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    journey.step(patient, "disponibilites-challans")

    regulator = journey.login("regulation1@demo.tourderole.fr")
    book_soonest(journey, regulator, "Challans (85300)")

    patient.reload()  # a pull-to-refresh: the page may be cached for a minute otherwise
    expect(patient.get_by_role("heading", name="MSP des Marais", level=3)).to_be_visible()
    assert free_slots_shown(patient) == before - 1
    journey.step(patient, "disponibilites-apres-reservation")
