"""The patient informed: a pharmacist books with the patient's mobile and e-mail, the
patient opens the cancellation link of the confirmation on a phone and cancels, the slot
is free again, and the coordinator sees "Annulé par le patient" (issue 13, item 5).

Also the public page on a phone (item 6): the first result is visible without scrolling
at 375×812, with tap-to-call links.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

from tests.browser.journey import (
    Journey,
    confirmed_reference,
    expect,
    fill_patient,
    search_slots,
)
from tests.browser.server import LiveServer

PHONE = {"width": 375, "height": 812}
SLOT = re.compile(r"creneau=(\d+-\d+-\d+)")
LINK = re.compile(r"https?://\S+/annulation/[A-Za-z0-9_-]+")


def _patient_messages(database_url: str, reference: str) -> dict[str, str]:
    """The patient's queued messages of a booking, by channel, read from the outbox."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT m.channel, m.body FROM outbox_message m "
                    "JOIN booking b ON b.id = m.booking_id WHERE b.reference = :ref"
                ),
                {"ref": reference},
            ).all()
    finally:
        engine.dispose()
    return {channel: body for channel, body in rows}


def test_patient_cancels_from_the_confirmation_and_the_coordinator_sees_it(
    journey: Journey, live_server: LiveServer
) -> None:
    pharmacist = journey.login("pharmacie2@demo.tourderole.fr")
    search_slots(journey, pharmacist, "Challans (85300)")
    first = pharmacist.get_by_role("link", name=re.compile(r"^Réserver")).first
    href = first.get_attribute("href") or ""
    slot = SLOT.search(href)
    assert slot is not None, href
    first.click()
    expect(pharmacist.get_by_role("heading", name="Créneau choisi")).to_be_visible()
    fill_patient(pharmacist, family_name="Moreau")
    pharmacist.get_by_label("Portable du patient (SMS)").fill("06 98 76 54 32")
    pharmacist.get_by_label("E-mail du patient").fill("patient.moreau@example.org")
    pharmacist.get_by_label("Le patient accepte", exact=False).check()
    journey.step(pharmacist, "formulaire-avec-contact")
    pharmacist.get_by_role("button", name="Réserver", exact=True).click()
    reference = confirmed_reference(journey, pharmacist)
    expect(pharmacist.get_by_text("Confirmation envoyée")).to_be_visible()

    messages = _patient_messages(live_server.database_url, reference)
    assert set(messages) == {"sms", "email"}
    assert "Urgence vitale : appelez le 15." in messages["sms"]
    assert "carte Vitale" in messages["email"]
    # The reason never leaves (its "39 °C"; the bare "39" may be in the live server's port).
    assert "39 °C" not in messages["sms"]
    assert "Fièvre" not in messages["sms"]
    assert "39 °C" not in messages["email"]
    link = LINK.search(messages["sms"])
    assert link is not None, messages["sms"]
    assert link.group(0) in messages["email"]

    # The patient, on a phone, without an account.
    patient = journey.person(viewport=PHONE, is_mobile=True, has_touch=True)
    patient.goto(link.group(0))
    expect(patient.get_by_role("heading", name="Annuler votre rendez-vous")).to_be_visible()
    expect(patient.locator("dl.facts")).to_contain_text("MSP")
    journey.step(patient, "lien-d-annulation")
    patient.get_by_role("button", name="Annuler mon rendez-vous").click()
    expect(patient.get_by_role("heading", name="Rendez-vous annulé")).to_be_visible()
    expect(patient.get_by_role("status")).to_contain_text("le créneau est libéré")
    journey.step(patient, "rendez-vous-annule")
    patient.goto(link.group(0))  # the link again: said, not done twice
    expect(patient.get_by_role("heading", name="Rendez-vous annulé")).to_be_visible()
    expect(patient.get_by_role("button", name="Annuler mon rendez-vous")).to_have_count(0)

    # The slot is free again for the pharmacist.
    search_slots(journey, pharmacist, "Challans (85300)")
    expect(pharmacist.locator(f'a[href*="creneau={slot.group(1)}"]')).to_have_count(1)

    coordinator = journey.login("coordination@demo.tourderole.fr")
    coordinator.get_by_role("navigation", name="Navigation principale").get_by_role(
        "link", name="Rendez-vous"
    ).click()
    row = coordinator.get_by_role("row").filter(has_text=reference)
    expect(row).to_contain_text("Annulé par le patient")
    journey.step(coordinator, "rendez-vous-annule-par-le-patient")
    row.get_by_role("link", name=reference).click()
    expect(coordinator.get_by_text("avec le lien de sa confirmation")).to_be_visible()


def test_public_page_on_a_phone_shows_the_first_result_without_scrolling(
    journey: Journey,
) -> None:
    patient = journey.person(viewport=PHONE, is_mobile=True, has_touch=True)
    patient.goto("/disponibilites")
    patient.get_by_role("link", name="CPTS Côte de Lumière").click()
    patient.get_by_label("Votre commune").select_option(label="Challans (85300)")
    patient.get_by_role("button", name="Afficher").click()
    card = patient.locator("article.site-card").first
    expect(card).to_be_visible()
    assert patient.evaluate("window.scrollY") == 0
    heading = card.get_by_role("heading", level=3).bounding_box()
    hours = card.locator("ul.openings li").first.bounding_box()
    assert heading is not None
    assert hours is not None
    # The site's name and its first hours lie inside the first screen.
    assert hours["y"] + hours["height"] <= PHONE["height"], (heading, hours)
    expect(patient.locator('a[href="tel:15"]').first).to_be_visible()
    if card.locator('a[href^="tel:"]').count():
        expect(card.locator('a[href^="tel:"]').first).to_be_visible()
    expect(card.locator("p.free-title")).to_contain_text("encore libre")
    journey.step(patient, "disponibilites-telephone")
    tomorrow = patient.get_by_label("Demain")
    tomorrow.check()
    patient.get_by_role("button", name="Afficher").click()
    expect(patient.locator(".opens").first).to_contain_text("réservable à partir de")
    journey.step(patient, "disponibilites-demain-telephone")
