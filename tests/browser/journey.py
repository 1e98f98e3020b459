"""A journey: people (one browser context each) walking through the app, page by page.

Each ``step`` is one page as a person sees it: axe checks it (a serious or critical
finding fails the journey with the rule, its help and the elements), a full-page
screenshot goes to ``tests/artifacts/<test>/<nn-step>.png`` for whoever reviews the run,
and a CSP refusal reported by the browser fails it too (the app runs no script, so any
refusal is a regression, e.g. an inline style or script slipped into a template).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser import axe
from tests.browser.server import DEMO_PASSWORD

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
# Generous: CI shares two cores between the whole suite and these journeys.
TIMEOUT_MS = 30_000

try:
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
except ImportError:  # the ``browser`` fixture then skips (or, in CI, fails) every journey
    expect = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


class Journey:
    """The contexts, screenshots and accessibility findings of one test."""

    def __init__(self, browser: Browser, base_url: str, name: str) -> None:
        self.browser = browser
        self.base_url = base_url
        self.artifacts = ARTIFACTS / _slug(name)
        shutil.rmtree(self.artifacts, ignore_errors=True)
        self.artifacts.mkdir(parents=True)
        self._contexts: list[BrowserContext] = []
        self._steps = 0
        self._csp_errors: list[str] = []
        self.minor_findings: list[str] = []

    # --- people ---------------------------------------------------------------------------

    def person(self, **options: Any) -> Page:
        """A new browser context (its own cookies, as another person's browser) and its page."""
        context = self.browser.new_context(
            base_url=self.base_url,
            locale="fr-FR",
            timezone_id="Europe/Paris",
            **options,
        )
        context.set_default_timeout(TIMEOUT_MS)
        context.add_init_script(path=str(axe.AXE_JS))
        self._contexts.append(context)
        page = context.new_page()
        page.on("console", self._watch_console)
        return page

    def _watch_console(self, message: Any) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            self._csp_errors.append(message.text)

    def login(self, email: str, **options: Any) -> Page:
        """A person who signs in on the login page, as the demo accounts do."""
        page = self.person(**options)
        page.goto("/connexion")
        self.step(page, f"connexion-{email.split('@')[0]}")
        page.get_by_label("Adresse e-mail").fill(email)
        page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        expect(page.get_by_role("button", name="Se déconnecter")).to_be_visible()
        self.step(page, f"accueil-{email.split('@')[0]}")
        return page

    # --- pages ----------------------------------------------------------------------------

    def step(self, page: Page, name: str) -> None:
        """Check the page as it is now and keep a picture of it."""
        page.wait_for_load_state("load")
        self._steps += 1
        path = self.artifacts / f"{self._steps:02d}-{_slug(name)}.png"
        page.screenshot(path=str(path), full_page=True)
        findings = axe.audit(page)
        where = f"{path.name} ({page.url})"
        self.minor_findings += [f"{where}\n{f.describe()}" for f in findings if not f.blocking]
        blocking = [f for f in findings if f.blocking]
        if blocking:
            pytest.fail(
                f"axe: {len(blocking)} serious or critical violation(s) on {where}:\n"
                + "\n".join(f.describe() for f in blocking),
                pytrace=False,
            )
        if self._csp_errors:
            pytest.fail(f"CSP refusals on {where}:\n" + "\n".join(self._csp_errors))

    def capture_failure(self) -> None:
        """Every open page as it was when the journey failed, for whoever reads the CI log."""
        pages = [page for context in self._contexts for page in context.pages]
        for n, page in enumerate(pages, start=1):
            try:
                page.screenshot(path=str(self.artifacts / f"echec-{n}.png"), full_page=True)
            except Exception:  # a closed or crashed page: nothing more to show
                continue

    def close(self) -> None:
        if self.minor_findings:
            (self.artifacts / "axe-minor.txt").write_text("\n\n".join(self.minor_findings) + "\n")
        for context in self._contexts:
            context.close()
        self._contexts.clear()


# --- what several journeys do ----------------------------------------------------------------

PATIENT = {
    "Nom de famille": "Lambert",
    "Prénom": "Chloé",
    "Date de naissance": "14/02/1987",
    "Téléphone du patient": "06 12 34 56 78",
}
REFERENCE = re.compile(r"^[A-Z0-9]{8}$")


def search_slots(journey: Journey, page: Page, commune: str = "") -> None:
    """The booker's "Créneaux" page, for a patient of ``commune`` (or anywhere)."""
    page.get_by_role("navigation", name="Navigation principale").get_by_role(
        "link", name="Créneaux"
    ).click()
    expect(page.get_by_role("heading", name="Trouver un créneau", level=1)).to_be_visible()
    if commune:
        page.get_by_label("Commune du patient").fill(commune)
        page.get_by_role("button", name="Rechercher").click()
        expect(page.get_by_text("Patient de")).to_contain_text(commune.split(" (")[0])
    journey.step(page, "creneaux-libres")


def fill_patient(page: Page, *, family_name: str = PATIENT["Nom de famille"]) -> None:
    """The minimal patient data of the booking form (typed as a regulator would)."""
    for label, value in {**PATIENT, "Nom de famille": family_name}.items():
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_label("Motif", exact=True).select_option(label="Fièvre")
    page.get_by_label("Précision sur le motif (facultatif)").fill("Fièvre à 39 °C depuis hier")


def confirmed_reference(journey: Journey, page: Page) -> str:
    """The booking page reached after "Réserver": its 8-character reference."""
    expect(page.get_by_role("heading", level=1)).to_contain_text("Rendez-vous")
    reference = page.locator("h1 .reference").inner_text().strip()
    assert REFERENCE.match(reference), reference
    expect(page.get_by_role("status")).to_contain_text(f"référence {reference}")
    expect(page.get_by_text("Référence du rendez-vous")).to_contain_text(reference)
    journey.step(page, f"rendez-vous-{reference}")
    return reference


def book_soonest(journey: Journey, page: Page, commune: str = "") -> str:
    """Search, take the first (soonest) slot, fill the patient, book: the reference."""
    search_slots(journey, page, commune)
    page.get_by_role("link", name=re.compile(r"^Réserver")).first.click()
    expect(page.get_by_role("heading", name="Créneau choisi")).to_be_visible()
    fill_patient(page)
    page.get_by_role("button", name="Réserver", exact=True).click()
    return confirmed_reference(journey, page)


def open_period(journey: Journey, page: Page, name: str, first: str, last: str) -> None:
    """The coordinator creates a period (ISO dates) and opens the wishes window."""
    nav = page.get_by_role("navigation", name="Navigation principale")
    nav.get_by_role("link", name="Tableaux").click()
    expect(page.get_by_role("heading", name="Tableaux (périodes)")).to_be_visible()
    page.get_by_label("Nom").fill(name)
    page.get_by_label("Premier jour").fill(first)
    page.get_by_label("Dernier jour").fill(last)
    journey.step(page, "nouvelle-periode")
    page.get_by_role("button", name="Créer").click()
    expect(page.get_by_role("status")).to_contain_text(f"Période « {name} » créée.")
    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
    expect(page.get_by_text("Brouillon")).to_be_visible()
    journey.step(page, "periode-brouillon")
    page.get_by_role("button", name="Ouvrir le recueil des souhaits").click()
    expect(page.get_by_role("status")).to_contain_text(
        re.compile(r"Recueil des souhaits ouvert : [1-9]\d* plage\(s\) créée\(s\)")
    )
    journey.step(page, "recueil-des-souhaits-ouvert")
