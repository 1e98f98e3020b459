"""Build each URL rule's builder once per process, not once per test app.

Every test builds its own app (``tests.helpers.build_app``), and Werkzeug compiles two
Python functions per URL rule when it binds the rule to the app's map: with ~130 rules
that is ~0.18 s of ``compile()`` per test, about seven minutes of the suite's CPU. The
compiled builder depends only on the rule's text, host, subdomain, parsed trace and
defaults, and it is bound to its rule through ``self``: the same function object serves
every app. Nothing else of routing is shared between apps. Tests only; the production
app is built once per process anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from werkzeug.routing import rules

_cache: dict[tuple[Any, ...], Callable[..., Any]] = {}


def install() -> None:
    """Memoise ``Rule._compile_builder``; a Werkzeug without it is left as it is."""
    original = getattr(rules.Rule, "_compile_builder", None)
    if original is None or getattr(original, "memoised", False):
        return

    def compile_builder(self: rules.Rule, append_unknown: bool = True) -> Callable[..., Any]:
        key = (
            self.rule,
            self.host,
            self.subdomain,
            tuple(self._trace),
            repr(sorted((self.defaults or {}).items())),
            append_unknown,
        )
        builder = _cache.get(key)
        if builder is None:
            builder = _cache[key] = original(self, append_unknown)
        return builder

    compile_builder.memoised = True  # type: ignore[attr-defined]
    rules.Rule._compile_builder = compile_builder  # type: ignore[method-assign]
