"""axe-core (vendored, tests/vendor/axe.min.js) on every page a journey shows.

The app's CSP allows no inline script, so axe is not added as a ``<script>`` tag: it is
registered as an init script of each browser context (evaluated by the browser itself for
every new document, outside the page's CSP), and ``axe.run`` is called the same way.
WCAG 2.0 and 2.1, levels A and AA; a "serious" or "critical" finding fails the journey.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Page

AXE_JS = Path(__file__).resolve().parents[1] / "vendor" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = frozenset({"serious", "critical"})

_RUN = """async (tags) => {
  const result = await axe.run(document, {
    runOnly: {type: 'tag', values: tags},
    resultTypes: ['violations'],
  });
  return result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.map((n) => ({target: n.target.join(' '), summary: n.failureSummary || ''})),
  }));
}"""


@dataclass(frozen=True)
class Finding:
    """One axe rule broken on one page, with the elements that break it."""

    rule: str
    impact: str
    help: str
    nodes: tuple[tuple[str, str], ...]  # (CSS target, why)

    @property
    def blocking(self) -> bool:
        return self.impact in BLOCKING

    def describe(self) -> str:
        lines = [f"{self.rule} ({self.impact}): {self.help}"]
        for target, why in self.nodes[:10]:
            lines.append(f"  - {target}: {' '.join(why.split())}")
        if len(self.nodes) > 10:
            lines.append(f"  … and {len(self.nodes) - 10} more element(s)")
        return "\n".join(lines)


def audit(page: Page) -> list[Finding]:
    """Every WCAG 2.1 A/AA violation axe finds on the page as it is now."""
    raw: list[dict[str, Any]] = page.evaluate(_RUN, TAGS)
    return [
        Finding(
            rule=v["id"],
            impact=v["impact"] or "unknown",
            help=v["help"],
            nodes=tuple((n["target"], n["summary"]) for n in v["nodes"]),
        )
        for v in raw
    ]
