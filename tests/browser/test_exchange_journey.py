"""Two GPs on their phones (375×812): one proposes an exchange, the other accepts it from
the badge of their home page, and both calendar feeds follow."""

from __future__ import annotations

import re
from datetime import datetime

import icalendar

from tests.browser.facts import ExchangePlan
from tests.browser.journey import Journey, expect

PHONE = {"viewport": {"width": 375, "height": 812}, "is_mobile": True, "has_touch": True}


def no_horizontal_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), page.url


def subscribe(journey: Journey, page, who: str) -> str:
    """Create the GP's feed address on "Mon agenda"; answers it."""
    page.goto("/mes-plages/agenda")
    page.get_by_role("button", name="Créer mon adresse d'abonnement").click()
    address = page.get_by_label("Adresse https:// (Google, Outlook, Thunderbird)").input_value()
    journey.step(page, f"adresse-{who}")
    return address


def events(journey: Journey, address: str) -> dict[datetime, str]:
    """The feed's events by start instant: their STATUS (CONFIRMED or CANCELLED)."""
    answer = journey.person().context.request.get(address)  # a calendar client: no cookie
    assert answer.status == 200
    calendar = icalendar.Calendar.from_ical(answer.body())
    return {
        event.decoded("DTSTART"): str(event.get("STATUS", "CONFIRMED"))
        for event in calendar.walk("VEVENT")
    }


def propose(journey: Journey, giver, plan: ExchangePlan, message: str) -> None:
    """From "Mes plages": my evening against the colleague's, with a message."""
    nav = giver.get_by_role("navigation", name="Navigation principale")
    nav.get_by_role("link", name="Mes plages", exact=True).click()
    giver.get_by_role("link", name=f"Échanger la plage du {plan.giver_label}").click()
    expect(giver.get_by_role("heading", name="Proposer un échange")).to_be_visible()
    no_horizontal_scroll(giver)
    journey.step(giver, "proposer-un-echange")
    giver.get_by_text(re.compile(rf"^{re.escape(plan.taker_name)} \(\d+ plages?\)$")).click()
    journey.step(giver, "plages-du-confrere")
    giver.get_by_role("group", name=f"Plages de {plan.taker_name}").get_by_label(
        re.compile(re.escape(plan.taker_day))
    ).check()
    giver.get_by_label("Message (facultatif)").fill(message)
    giver.get_by_role("button", name="Envoyer la proposition").click()
    expect(giver.get_by_role("status")).to_contain_text("Proposition d'échange envoyée")
    expect(giver.get_by_role("button", name=re.compile("^Retirer la proposition"))).to_be_visible()
    no_horizontal_scroll(giver)
    journey.step(giver, "proposition-envoyee")


def status_at(feed: dict[datetime, str], start: datetime) -> str | None:
    return feed.get(start)


def test_gps_exchange_sessions_from_their_phones(
    journey: Journey, exchange_plan_of_demo: ExchangePlan
) -> None:
    plan = exchange_plan_of_demo
    giver = journey.login(plan.giver, **PHONE)
    taker = journey.login(plan.taker, **PHONE)
    giver_feed, taker_feed = (
        subscribe(journey, giver, "proposant"),
        subscribe(journey, taker, "confrere"),
    )
    assert status_at(events(journey, giver_feed), plan.giver_start) == "CONFIRMED"
    assert status_at(events(journey, taker_feed), plan.taker_start) == "CONFIRMED"

    # Saving the reminder right after creating the address keeps the address on screen.
    giver.get_by_label("Rappel avant chaque plage").select_option(label="1 h avant")
    giver.get_by_role("button", name="Enregistrer le rappel").click()
    expect(giver.get_by_role("status")).to_contain_text("Rappel enregistré")
    address = giver.get_by_label("Adresse https:// (Google, Outlook, Thunderbird)")
    expect(address).to_have_value(giver_feed)
    no_horizontal_scroll(giver)
    journey.step(giver, "rappel-adresse-toujours-affichee")
    # A new address is a secondary, confirmed action.
    giver.get_by_role("link", name="Générer une nouvelle adresse").click()
    heading = giver.get_by_role("heading", name="Générer une nouvelle adresse d'agenda ?")
    expect(heading).to_be_visible()
    journey.step(giver, "confirmer-nouvelle-adresse")
    giver.get_by_role("link", name="Non, garder mon adresse actuelle").click()
    expect(giver.get_by_role("heading", name="Mes plages dans mon agenda")).to_be_visible()

    # The giver offers one of their evenings against the colleague's; the colleague first
    # declines it from their phone, then the giver asks again.
    propose(journey, giver, plan, "Un mariage ce jour-là ?")
    taker.goto("/")
    block = taker.get_by_role("region", name="Propositions pour vous (1)")
    block.get_by_role("button", name=re.compile("^Décliner")).click()
    expect(taker.get_by_role("status")).to_contain_text("Proposition déclinée")
    expect(taker.get_by_role("region", name=re.compile("^Propositions pour vous"))).to_have_count(0)
    no_horizontal_scroll(taker)
    journey.step(taker, "proposition-declinee")
    giver.goto("/echanges")
    expect(giver.get_by_text("Vous n'avez aucune proposition en cours.")).to_be_visible()
    propose(journey, giver, plan, "Un mariage ce jour-là, merci !")

    # The colleague's phone: a badge on the nav, the proposal at the top of home.
    taker.goto("/")
    nav = taker.get_by_role("navigation", name="Navigation principale")
    expect(
        nav.get_by_role("link", name=re.compile(r"^Échanges \(1 proposition en attente"))
    ).to_be_visible()
    block = taker.get_by_role("region", name="Propositions pour vous (1)")
    expect(block).to_contain_text("Un mariage ce jour-là")
    no_horizontal_scroll(taker)
    journey.step(taker, "accueil-avec-proposition")
    block.get_by_role("button", name=re.compile(r"^Accepter l'échange")).click()
    expect(taker.get_by_role("status")).to_contain_text("Échange conclu")
    expect(nav.get_by_role("link", name="Échanges", exact=True)).to_be_visible()
    journey.step(taker, "echange-conclu")

    # Both feeds follow: each GP's old evening is cancelled, the new one is theirs.
    after_giver, after_taker = events(journey, giver_feed), events(journey, taker_feed)
    assert status_at(after_giver, plan.giver_start) == "CANCELLED"
    assert status_at(after_giver, plan.taker_start) == "CONFIRMED"
    assert status_at(after_taker, plan.taker_start) == "CANCELLED"
    assert status_at(after_taker, plan.giver_start) == "CONFIRMED"
