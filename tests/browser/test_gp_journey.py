"""A GP: wishes for a coming period, a published session handed to a colleague, the feed."""

from __future__ import annotations

import re

from tests.browser.facts import SwapPlan
from tests.browser.journey import Journey, expect, open_period

# Two weeks after the demo's five published weeks (1 March – 4 April 2027).
PERIOD = "Semaine du 12 avril 2027"


def test_gp_wishes_swaps_and_subscribes(journey: Journey, swap_plan_of_demo: SwapPlan) -> None:
    plan = swap_plan_of_demo
    coordinator = journey.login("coordination@demo.tourderole.fr")
    open_period(journey, coordinator, PERIOD, "2027-04-12", "2027-04-18")

    # During the wishes window: my commitment, a day off, and a session I choose.
    gp = journey.login(plan.giver)
    gp.get_by_role("link", name="Mes plages", exact=True).click()
    expect(gp.get_by_role("heading", name=f"Mes souhaits pour « {PERIOD} »")).to_be_visible()
    journey.step(gp, "mes-plages-recueil-ouvert")

    # A date that doesn't exist: the errors sit at the top, linked to the field, in focus.
    gp.get_by_label(re.compile("^Dates à éviter")).fill("31/02/2027")
    gp.get_by_role("button", name="Enregistrer mes souhaits").click()
    summary = gp.get_by_role("alert")
    expect(summary).to_contain_text("Date illisible")
    expect(summary).to_be_focused()
    summary.get_by_role("link", name=re.compile("^Dates à éviter")).click()
    expect(gp.get_by_label(re.compile("^Dates à éviter"))).to_have_value("31/02/2027")
    journey.step(gp, "souhaits-refuses-resume-en-haut")
    gp.get_by_label(re.compile("^Dates à éviter")).fill("")

    gp.get_by_label("Mon engagement sur la période").select_option(label="Renforcé (×1,5)")
    gp.get_by_role("group", name="Jours préférés").get_by_label("mardi").check()
    gp.get_by_role("button", name="Enregistrer mes souhaits").click()
    expect(gp.get_by_role("status")).to_contain_text(f"Souhaits enregistrés pour « {PERIOD} ».")
    journey.step(gp, "souhaits-enregistres")

    gp.get_by_role("link", name="Déclarer une indisponibilité").click()
    gp.get_by_label("Du", exact=True).fill("2027-04-17")
    gp.get_by_label("Au (inclus)").fill("2027-04-18")
    gp.get_by_label("Motif (facultatif)").fill("Congrès de médecine générale")
    journey.step(gp, "indisponibilite-saisie")
    gp.get_by_role("button", name="Déclarer").click()
    expect(gp.get_by_role("status")).to_contain_text("Indisponibilité enregistrée.")
    expect(
        gp.get_by_text("du 17/04/2027 au 18/04/2027 (Congrès de médecine générale)", exact=True)
    ).to_be_visible()
    gp.get_by_role("link", name="← Mes plages").click()

    # A weekday before the days off (12–15 April).
    volunteer = gp.get_by_role(
        "button", name=re.compile(r"^Je prends cette plage du \w+ 1[2-5].04")
    )
    name = volunteer.first.text_content() or ""
    chosen = re.search(r"(\d\d/\d\d/\d{4}) à \d\d:\d\d, (.+)$", " ".join(name.split()))
    assert chosen is not None, name
    volunteer.first.click()
    expect(gp.get_by_role("status")).to_contain_text(
        f"Vous assurerez la plage du {chosen[1]} à {chosen[2]}."
    )
    journey.step(gp, "volontaire-enregistre")

    # Later, on the published rota: hand a session to a named colleague.
    gp.get_by_label(f"Destinataire de la plage du {plan.session_label}").select_option(
        label=plan.taker_option
    )
    gp.get_by_role("button", name=f"Proposer la plage du {plan.session_label}").click()
    expect(gp.get_by_role("status")).to_contain_text(f"Plage proposée à {plan.taker_name}.")
    journey.step(gp, "plage-proposee")

    colleague = journey.login(plan.taker)
    colleague.get_by_role("link", name="Mes plages", exact=True).click()
    offers = colleague.get_by_role("table").filter(has_text="Proposée par")
    expect(offers).to_contain_text("(à vous)")
    journey.step(colleague, "plage-proposee-au-confrere")
    offers.get_by_role("button", name=f"Je la prends (plage du {plan.session_label})").click()
    expect(colleague.get_by_role("status")).to_contain_text(
        "Plage reprise : elle apparaît dans vos plages à venir."
    )
    expect(
        colleague.get_by_label(f"Destinataire de la plage du {plan.session_label}")
    ).to_be_attached()
    journey.step(colleague, "plage-reprise")

    # The GP's calendar feed: a secret address that any calendar client can read.
    gp.get_by_role("link", name="Mon agenda").click()
    expect(gp.get_by_role("heading", name="Mes plages dans mon agenda")).to_be_visible()
    journey.step(gp, "mon-agenda")
    gp.get_by_role("button", name="Créer mon adresse d'abonnement").click()
    address = gp.get_by_label("Adresse https:// (Google, Outlook, Thunderbird)").input_value()
    assert re.fullmatch(rf"{re.escape(journey.base_url)}/ical/[^/]+\.ics", address), address
    journey.step(gp, "adresse-abonnement")

    calendar_client = journey.person().context.request  # no cookie: the token is the key
    feed = calendar_client.get(address)
    assert feed.status == 200
    assert feed.headers["content-type"].startswith("text/calendar")
    body = feed.text()
    assert body.startswith("BEGIN:VCALENDAR")
    assert "BEGIN:VEVENT" in body
