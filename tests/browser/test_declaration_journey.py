"""On a phone (375×812): an absence on a rostered day goes "à remplacer" and is refilled;
publishing asks first, naming how many GPs will get an e-mail."""

from __future__ import annotations

import re

from tests.browser.facts import SwapPlan
from tests.browser.journey import Journey, expect, open_period

PHONE = {"viewport": {"width": 375, "height": 812}, "is_mobile": True, "has_touch": True}
# After the demo's five published weeks and the other journeys' periods.
PERIOD = "Semaine du 19 avril 2027"


def _no_sideways_scroll(page) -> None:
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], width


def test_absence_on_a_rostered_day_is_refilled_from_the_todo(
    journey: Journey, swap_plan_of_demo: SwapPlan
) -> None:
    plan = swap_plan_of_demo
    found = re.search(r"(\d\d)/(\d\d)/(\d{4})", plan.session_label)
    assert found is not None, plan.session_label
    day = f"{found[3]}-{found[2]}-{found[1]}"  # ISO, as a date input takes it

    # The coordinator lets absences on a rostered day through, "à remplacer".
    coordinator = journey.login("coordination@demo.tourderole.fr", **PHONE)
    coordinator.goto("/coordination/territoire")
    coordinator.get_by_label("Accepter une indisponibilité déclarée un jour de garde").check()
    coordinator.get_by_role("button", name="Enregistrer").click()
    expect(coordinator.get_by_role("status")).to_be_visible()

    # The GP, on their phone: an empty submit first, then the day they hold a session.
    gp = journey.login(plan.giver, **PHONE)
    gp.get_by_role("link", name="Mes plages", exact=True).click()
    gp.get_by_role("link", name="Déclarer une indisponibilité").click()
    expect(gp.get_by_role("heading", name="Mes indisponibilités", level=1)).to_be_visible()
    gp.get_by_role("button", name="Déclarer").click()
    summary = gp.get_by_role("alert")
    expect(summary).to_contain_text("Le formulaire contient des erreurs")
    expect(summary).to_be_focused()
    journey.step(gp, "indisponibilite-erreurs-resumees")
    summary.get_by_role("link", name=re.compile("^Du :")).click()
    expect(gp.get_by_label("Du", exact=True)).to_be_focused()

    gp.get_by_label("Du", exact=True).fill(day)
    gp.get_by_label("Au (inclus)").fill(day)
    gp.get_by_label("Motif (facultatif)").fill("Enfant malade")
    gp.get_by_role("button", name="Déclarer").click()
    expect(gp.get_by_role("status")).to_contain_text("passent « à remplacer »")
    expect(gp.get_by_text(re.compile(r"\(Enfant malade\)"))).to_be_visible()
    _no_sideways_scroll(gp)
    journey.step(gp, "indisponibilite-a-remplacer")

    # The coordinator's to-do names it; the session is refilled from its page.
    coordinator.goto("/coordination")
    todo = coordinator.get_by_role("link", name=re.compile("plage\\(s\\) à remplacer"))
    expect(todo).to_be_visible()
    journey.step(coordinator, "a-faire-plage-a-remplacer")
    todo.click()
    expect(coordinator.get_by_role("heading", name=re.compile("^À remplacer"))).to_be_visible()
    journey.step(coordinator, "plages-a-remplacer")
    coordinator.get_by_role("link", name=re.compile("^Remplacer")).first.click()
    replacement = coordinator.get_by_label(re.compile("^Remplaçant de")).first
    option = replacement.locator("option", has_text=f"{plan.taker_option} · ").first
    expect(option).to_contain_text("plage(s) / part")
    replacement.select_option(value=option.get_attribute("value"))
    journey.step(coordinator, "choix-du-remplacant")
    coordinator.get_by_role("button", name="Remplacer").first.click()
    expect(coordinator.get_by_role("status")).to_contain_text(
        f"{plan.taker_name} assure désormais cette place"
    )
    _no_sideways_scroll(coordinator)
    coordinator.goto("/coordination")
    expect(
        coordinator.get_by_role("link", name=re.compile("plage\\(s\\) à remplacer"))
    ).to_have_count(0)
    journey.step(coordinator, "a-faire-sans-plage-a-remplacer")


def test_publish_confirmation_names_the_emails(journey: Journey) -> None:
    page = journey.login("coordination@demo.tourderole.fr", **PHONE)
    open_period(journey, page, PERIOD, "2027-04-19", "2027-04-25")
    page.get_by_role("button", name="Générer le tableau").click()
    expect(page.get_by_role("status")).to_contain_text("Tableau généré")
    page.get_by_role("button", name="Publier…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Publier le tableau « {PERIOD} » ?")
    expect(page.get_by_text(re.compile(r"^\d+ médecin\(s\) recevront un e-mail"))).to_be_visible()
    _no_sideways_scroll(page)
    journey.step(page, "confirmation-publication")
    page.get_by_role("button", name="Publier et prévenir les médecins").click()
    expect(page.get_by_role("status")).to_contain_text("Tableau publié (version 1)")
    journey.step(page, "tableau-publie")
