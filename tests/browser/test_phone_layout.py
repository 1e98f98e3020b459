"""Every page a GP or a coordinator can reach fits a phone: no sideways scroll at 320 and 375 px.

The pages are not listed by hand: from the home page, each person follows every link of the
app they are shown (one page per route, whatever its ids), so a page added later is checked
without touching this file. Each page is measured at 320×640 and at 375×812
(``scrollWidth ≤ innerWidth``, the test that caught "Mes plages" at 379 px) and checked by axe
at both sizes. A period is opened for wishes first, so that "Mes plages" shows its wish form
and volunteer list as well as the hand-over controls of the published rota.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from tests.browser.facts import GP_ACCOUNTS
from tests.browser.journey import Journey, open_period

if TYPE_CHECKING:
    from playwright.sync_api import Page

SIZES = ({"width": 320, "height": 640}, {"width": 375, "height": 812})
# Files, feeds, machine interfaces and leaving the app: not pages a person reads on a phone.
NOT_PAGES = re.compile(
    r"^/(static|ical|api|fhir|deconnexion|disponibilites)\b|\.(csv|xlsx|ics|json)$"
)
# Pages laid out for paper (A4 landscape), reached through "Version imprimable".
PRINT_ONLY = re.compile(r"/impression$")
MAX_PAGES = 80

_WIDTH = "() => [document.documentElement.scrollWidth, window.innerWidth]"
# Boxes that scroll sideways inside the page: content cut off at the screen's edge unless
# the reader thinks of swiping it ("Céder la plage" was, in a table wider than the phone).
_SIDEWAYS = """() => Array.from(document.querySelectorAll('body *')).filter((el) => {
  const x = getComputedStyle(el).overflowX;
  return (x === 'auto' || x === 'scroll') && el.scrollWidth > el.clientWidth + 1;
}).map((el) => [el.classList.contains('table-scroll'), el.tagName.toLowerCase()
  + (el.className ? '.' + String(el.className).trim().split(/\\s+/).join('.') : '')
  + (el.getAttribute('aria-label') ? ' « ' + el.getAttribute('aria-label') + ' »' : '')])"""
# What sticks out past the right edge: the innermost such elements, named for the failure.
_STICKING_OUT = """(width) => Array.from(document.querySelectorAll('body *')).filter((el) => {
  const box = el.getBoundingClientRect();
  return box.right > width + 1 && box.width > 0 && !Array.from(el.children).some(
    (c) => c.getBoundingClientRect().right > width + 1);
}).slice(0, 3).map((el) => el.tagName.toLowerCase()
  + (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : '')
  + ' « ' + (el.textContent || '').trim().slice(0, 40) + ' »')"""
_LINKS = "() => Array.from(document.querySelectorAll('a[href]'), (a) => a.href)"


def route_of(path: str) -> str:
    """The route a path belongs to: ids and references folded, so each route is seen once."""
    return re.sub(r"/(\d+|[A-Z0-9]{8})(?=/|$)", "/<id>", path)


def measure(page: Page, width: int, *, regions_allowed: bool) -> list[str]:
    """What is wider than a ``width`` px screen on the page as shown.

    The page itself never is. A box scrolling sideways inside it is allowed only on a
    coordinator's page, as a named, focusable ``.table-scroll`` region (a wide table of
    figures); a GP's pages are cards.
    """
    found = []
    scroll, inner = page.evaluate(_WIDTH)
    if scroll > min(inner, width):
        found.append(
            f"the page is {scroll} px wide: " + ", ".join(page.evaluate(_STICKING_OUT, width))
        )
    for named, what in page.evaluate(_SIDEWAYS):
        if not (named and regions_allowed):
            found.append(f"{what} scrolls sideways")
    return found


def walk(journey: Journey, page: Page, who: str, *, regions_allowed: bool) -> list[str]:
    """Visit every page reachable from the home page; return what is wider than the screen."""
    origin = urlsplit(journey.base_url).netloc
    queue, seen, too_wide = ["/"], set(), []
    while queue and len(seen) < MAX_PAGES:
        path = queue.pop(0)
        route = route_of(urlsplit(path).path)
        if route in seen:
            continue
        seen.add(route)
        for size in SIZES:
            page.set_viewport_size(size)
            answer = page.goto(path)
            assert answer is not None, f"{who} {path}: no answer"
            assert answer.ok, f"{who} {path}: {answer.status}"
            for problem in measure(page, size["width"], regions_allowed=regions_allowed):
                too_wide.append(f"{who} {path} at {size['width']} px: {problem}")
        # axe and the picture once per page, at the phone size the issue names (375 px):
        # both sizes doubled the walk's time for the same findings.
        journey.step(page, f"{who}-{SIZES[-1]['width']}-{route.strip('/') or 'accueil'}")
        for href in page.evaluate(_LINKS):
            parts = urlsplit(href)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            if (
                parts.netloc == origin
                and not NOT_PAGES.search(parts.path)
                and not PRINT_ONLY.search(parts.path)
                and route_of(parts.path) not in seen
            ):
                queue.append(target)
    assert len(seen) < MAX_PAGES, "the walk stopped before it saw every page"
    return too_wide


_OFF_SCREEN = """(width) => Array.from(document.querySelectorAll('table.grid td:not(.empty)'))
  .filter((td) => { const r = td.getBoundingClientRect(); return r.width === 0 || r.right > width; })
  .map((td) => td.dataset.label)"""


# Layout doesn't depend on the database engine, and this walk is the suite's longest test:
# it runs on SQLite only; every journey still runs on both engines.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_gp_and_coordinator_pages_fit_a_phone(journey: Journey) -> None:
    coordinator = journey.login("coordination@demo.tourderole.fr")
    open_period(journey, coordinator, "Semaine du 12 avril 2027", "2027-04-12", "2027-04-18")

    gp = journey.login(GP_ACCOUNTS[0], viewport=SIZES[0], is_mobile=True, has_touch=True)
    too_wide = walk(journey, gp, "medecin", regions_allowed=False)
    too_wide += walk(journey, coordinator, "coordination", regions_allowed=True)
    assert not too_wide, "pages wider than the phone:\n" + "\n".join(too_wide)


def test_gp_home_and_the_coordinators_grid_on_a_phone(journey: Journey) -> None:
    gp = journey.login(GP_ACCOUNTS[0], viewport=SIZES[1], is_mobile=True, has_touch=True)
    # What a GP acts on comes first: the next session, then the places, then the balance.
    headings = gp.get_by_role("heading", level=2).all_inner_texts()
    assert headings[0] == "Ma prochaine plage", headings
    assert headings.index("Ma prochaine plage") < headings.index(
        next(h for h in headings if h.startswith("Mon bilan"))
    )
    journey.step(gp, "accueil-medecin-375")
    gp.set_viewport_size({"width": 1280, "height": 900})
    journey.step(gp, "accueil-medecin-1280")
    gp.goto("/mes-plages")
    journey.step(gp, "mes-plages-1280")

    # The published demo rota: on a phone each day lists every site holding a session.
    coordinator = journey.login("coordination@demo.tourderole.fr", viewport=SIZES[1])
    coordinator.goto("/coordination/periodes")
    coordinator.get_by_role("link", name="Semaines du 01/03/2027").click()
    grid = coordinator.locator("table.grid")
    sites = grid.locator("thead th").all_inner_texts()[1:]
    assert len(sites) == 4, sites
    assert not coordinator.evaluate(_OFF_SCREEN, SIZES[1]["width"])
    saturday = grid.locator("tbody tr").filter(has_text="sam.").first
    for site in sites:  # every site of a Saturday is shown, none hidden off the screen
        if saturday.locator(f'td[data-label="{site}"]:not(.empty)').count():
            assert saturday.locator(f'td[data-label="{site}"]').is_visible()
    journey.step(coordinator, "grille-375")
    coordinator.set_viewport_size({"width": 1280, "height": 900})
    journey.step(coordinator, "grille-1280")
