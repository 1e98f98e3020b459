"""Write ``docs/urls.md``: every URL rule of the app, its methods, endpoint and Python function.

Usage::

    python scripts/url_index.py           # (re)write docs/urls.md  (same as `make urls`)
    python scripts/url_index.py --check   # exit 1 if docs/urls.md is not up to date

The index is read from ``app.url_map``, so ``/api/v1/...`` or ``/fhir/...`` is one grep
away from the module that answers it. ``tests/test_url_index.py`` fails when the file is
stale, so a new route cannot land without its line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INDEX = ROOT / "docs" / "urls.md"
REGENERATE = "make urls"
# Methods every rule answers without a view of its own saying so.
IMPLICIT_METHODS = {"HEAD", "OPTIONS"}

HEADER = f"""# URL index

Generated from `app.url_map` by `scripts/url_index.py` (`{REGENERATE}`); do not edit by hand.
`tests/test_url_index.py` fails when a route is added, removed or moved without this file.
Who may call each route: `tests/test_authorization.py` (the route × role matrix).

| rule | methods | endpoint | module:function |
|---|---|---|---|
"""


def _target(view: object) -> str:
    """``module:qualname`` of a view, looking through decorators that keep ``__wrapped__``."""
    while hasattr(view, "__wrapped__"):
        view = view.__wrapped__
    module = getattr(view, "__module__", "?")
    name = getattr(view, "__qualname__", getattr(view, "__name__", repr(view)))
    return f"{module}:{name}"


def render(app) -> str:
    """The Markdown index of ``app``'s URL map, sorted by rule then methods."""
    rows = []
    for rule in app.url_map.iter_rules():
        methods = ", ".join(sorted((rule.methods or set()) - IMPLICIT_METHODS))
        if rule.endpoint == "static":  # Flask's own lambda, around this method
            target = "flask:Flask.send_static_file"
        else:
            target = _target(app.view_functions[rule.endpoint])
        rows.append((rule.rule, methods, rule.endpoint, target))
    lines = [
        f"| `{rule}` | {methods} | `{endpoint}` | `{target}` |"
        for rule, methods, endpoint, target in sorted(rows)
    ]
    return HEADER + "\n".join(lines) + "\n"


def build_app():
    """The app as served, on a throw-away in-memory database (the URL map needs none)."""
    sys.path.insert(0, str(ROOT))
    from app import create_app

    return create_app(
        {"TESTING": True, "SECRET_KEY": "url-index", "SQLALCHEMY_DATABASE_URI": "sqlite://"}
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if docs/urls.md is stale")
    args = parser.parse_args()
    text = render(build_app())
    if args.check:
        if not INDEX.exists() or INDEX.read_text(encoding="utf-8") != text:
            print(f"{INDEX.relative_to(ROOT)} is stale: run `{REGENERATE}`.", file=sys.stderr)
            return 1
        return 0
    INDEX.write_text(text, encoding="utf-8")
    print(f"{INDEX.relative_to(ROOT)}: {text.count(chr(10)) - HEADER.count(chr(10))} routes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
