"""The house's structural rules, checked on the source: thin views, small functions, no
query in a view, no private name borrowed from another package.

import-linter (``make test``) holds the direction of imports; these checks hold what it
can't see. Each failure names its offenders (file, line, name), so a breach is fixed
where it is, not hunted for. The detectors are tested on small sources below, so a
check that silently stopped biting would fail too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from radon.complexity import cc_visit
from radon.visitors import Class, Function

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "rota", "booking", "publishing", "demo")
MAX_VIEW_LINES = 40
MAX_COMPLEXITY = 20
# The rota solver is a search with many branches by nature; its own helper is rewriting it,
# and its behaviour is held by property tests against brute force (tests/test_rota_engine.py).
COMPLEXITY_EXEMPT = {"rota/engine.py"}
ROUTE_METHODS = {"route", "get", "post", "put", "patch", "delete"}
QUERY_CALLS = {"select", "execute", "scalars", "scalar"}


def source_files() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def view_modules() -> list[Path]:
    """Modules that answer HTTP requests: every ``*views.py``, and the JSON API."""
    return [p for p in source_files() if p.name.endswith("views.py")] + [ROOT / "booking/api.py"]


# --- detectors -----------------------------------------------------------------------------------


def blueprints(tree: ast.Module) -> set[str]:
    """Names bound at module level to ``Blueprint(...)``."""
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            func = node.value.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if called == "Blueprint":
                names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def is_route(decorator: ast.expr, bps: set[str]) -> bool:
    """``@bp.route(...)``, ``@bp.get(...)`` and the like, on one of the module's blueprints."""
    return (
        isinstance(decorator, ast.Call)
        and isinstance(decorator.func, ast.Attribute)
        and decorator.func.attr in ROUTE_METHODS
        and isinstance(decorator.func.value, ast.Name)
        and decorator.func.value.id in bps
    )


def long_views(source: str, limit: int = MAX_VIEW_LINES) -> list[tuple[int, str, int]]:
    """``(line, name, length)`` of each view longer than ``limit`` (``def`` to last line)."""
    tree = ast.parse(source)
    bps = blueprints(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if any(is_route(d, bps) for d in node.decorator_list):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > limit:
                    found.append((node.lineno, node.name, length))
    return found


def functions(blocks: list) -> Iterator[Function]:
    """Every function radon measured: top-level ones, methods, closures, nested classes'."""
    for block in blocks:
        if isinstance(block, Class):
            yield from functions(block.methods)
            yield from functions(block.inner_classes)
        elif isinstance(block, Function):
            yield block
            yield from functions(block.closures)


def complex_functions(source: str, limit: int = MAX_COMPLEXITY) -> list[tuple[int, str, int]]:
    measured = {(f.lineno, f.fullname, f.complexity) for f in functions(cc_visit(source))}
    return sorted(m for m in measured if m[2] > limit)  # radon lists methods twice


def dotted(node: ast.expr) -> str:
    """``db.session.scalars`` for the expression ``db.session.scalars``; "" if not a name chain."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return ""
    return ".".join([node.id, *reversed(parts)])


def query_calls(source: str) -> list[tuple[int, str]]:
    """``select(...)``, ``sa.select(...)`` and ``db.session.execute/scalars/scalar(...)`` calls."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = dotted(node.func)
        last = name.rpartition(".")[2]
        if last == "select" or (name.startswith("db.session.") and last in QUERY_CALLS):
            found.append((node.lineno, name + "()"))
    return found


@dataclass(frozen=True)
class Module:
    """Where a source file sits among our packages."""

    name: str  # dotted, e.g. "booking.views"; a package's __init__ is the package itself
    is_package: bool

    @property
    def package(self) -> str:
        """The package directory the module lives in (a package's own ``__init__``: itself)."""
        return self.name if self.is_package else self.name.rpartition(".")[0]


def module_of(path: Path) -> Module:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        return Module(".".join(parts[:-1]), is_package=True)
    return Module(".".join(parts), is_package=False)


def ours(name: str) -> bool:
    return name.split(".")[0] in PACKAGES


def is_module(name: str) -> bool:
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def package_of(name: str) -> str:
    """The package directory of an importable module of ours."""
    base = ROOT.joinpath(*name.split("."))
    return name if (base / "__init__.py").exists() else name.rpartition(".")[0]


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def resolve(node: ast.ImportFrom, importer: Module) -> str:
    """The absolute module an ``from ... import`` names (relative imports included)."""
    if not node.level:
        return node.module or ""
    base = importer.package.split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def private_crossings(source: str, importer: Module) -> list[tuple[int, str]]:
    """Private names taken from a module of another package of ours.

    ``from x import _name`` (or ``from x import _module``) where ``x`` lives in another
    package directory, and ``m._name`` where ``m`` is such a module imported by name.
    """
    tree = ast.parse(source)
    found = []
    modules: dict[str, str] = {}  # local alias -> module of ours from another package
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source_module = resolve(node, importer)
            if not ours(source_module):
                continue
            for alias in node.names:
                target = f"{source_module}.{alias.name}"
                imported_module = is_module(target)
                origin = package_of(target) if imported_module else package_of(source_module)
                if origin == importer.package:
                    continue
                if private(alias.name):
                    found.append((node.lineno, f"from {source_module} import {alias.name}"))
                elif imported_module:
                    modules[alias.asname or alias.name] = target
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if ours(alias.name) and package_of(alias.name) != importer.package:
                    # ``import a.b as m`` is used as ``m``; ``import a.b`` as ``a.b``.
                    modules[alias.asname or alias.name] = alias.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and private(node.attr):
            name = dotted(node.value)
            if name in modules:
                found.append((node.lineno, f"{modules[name]}.{node.attr}"))
    return found


def report(offenders: list[str], rule: str) -> str:
    return f"{rule}:\n  " + "\n  ".join(offenders)


# --- the rules, on the code ----------------------------------------------------------------------


def test_every_view_is_at_most_40_lines():
    offenders = [
        f"{rel(path)}:{line} {name} ({length} lines)"
        for path in source_files()
        for line, name, length in long_views(path.read_text())
    ]
    assert not offenders, report(
        offenders, f"Views longer than {MAX_VIEW_LINES} lines (move the work to a service)"
    )


def test_no_function_is_too_complex():
    offenders = [
        f"{rel(path)}:{line} {name} (complexity {cc})"
        for path in source_files()
        if rel(path) not in COMPLEXITY_EXEMPT
        for line, name, cc in complex_functions(path.read_text())
    ]
    assert not offenders, report(
        offenders, f"Functions above cyclomatic complexity {MAX_COMPLEXITY} (split them)"
    )


def test_views_hold_no_query():
    offenders = [
        f"{rel(path)}:{line} {call}"
        for path in view_modules()
        for line, call in query_calls(path.read_text())
    ]
    assert not offenders, report(
        offenders, "Queries in view modules (put them in a service or read module)"
    )


def test_no_private_name_crosses_a_package():
    offenders = [
        f"{rel(path)}:{line} {what}"
        for path in source_files()
        for line, what in private_crossings(path.read_text(), module_of(path))
    ]
    assert not offenders, report(
        offenders, "Private names used outside their package (make them public or move them)"
    )


def test_the_view_modules_are_found():
    names = {rel(p) for p in view_modules()}
    assert {"rota/views.py", "booking/views.py", "booking/api.py"} <= names
    assert {"publishing/fhir_views.py", "app/territory/views.py"} <= names


# --- the detectors bite --------------------------------------------------------------------------


LONG_VIEW = (
    "from flask import Blueprint\n"
    "bp = Blueprint('x', __name__)\n"
    "@bp.get('/a')\n"
    "def fat():\n" + "    x = 1\n" * 41 + "def helper():\n" + "    y = 1\n" * 60
)


def test_a_long_view_is_named_and_a_long_helper_is_not():
    assert long_views(LONG_VIEW) == [(4, "fat", 42)]


def test_a_complex_method_is_named():
    branches = "".join(f"        if x == {i}:\n            return {i}\n" for i in range(21))
    source = "class C:\n    def m(self, x):\n" + branches + "        return -1\n"
    assert complex_functions(source) == [(2, "C.m", 22)]


def test_a_complex_function_is_named():
    branches = "".join(f"    if x == {i}:\n        return {i}\n" for i in range(21))
    source = "def f(x):\n" + branches + "    return -1\n"
    assert complex_functions(source) == [(1, "f", 22)]


@pytest.mark.parametrize(
    "call",
    [
        "select(User)",
        "sa.select(User)",
        "db.session.execute(q)",
        "db.session.scalars(q)",
        "db.session.scalar(q)",
    ],
)
def test_a_query_in_a_view_is_named(call):
    assert query_calls(f"def view():\n    return {call}\n") == [(2, call.split("(")[0] + "()")]


def test_reads_through_a_service_are_not_queries():
    assert query_calls("def view():\n    return reads.period_review(p, t)\n") == []


@pytest.mark.parametrize(
    ("source", "importer", "offence"),
    [
        ("from rota.services import _doctor\n", "booking.services", "import _doctor"),
        ("from rota import services\nservices._doctor(1)\n", "booking.views", "_doctor"),
        ("import rota.services as rs\nrs._zone(1)\n", "publishing.feeds", "_zone"),
        ("import rota.services\nrota.services._zone(1)\n", "publishing.feeds", "_zone"),
        ("from app.territory.views import _settings\n", "app.web", "_settings"),
    ],
)
def test_a_private_name_from_another_package_is_named(source, importer, offence):
    found = private_crossings(source, Module(importer, is_package=False))
    assert len(found) == 1
    assert offence in found[0][1]


@pytest.mark.parametrize(
    ("source", "importer"),
    [
        ("from rota.services import _doctor\n", "rota.views"),  # same package
        ("from rota import services\nservices.__name__\n", "booking.views"),  # dunder
        ("from flask import _request_ctx_stack\n", "booking.views"),  # not ours
        ("from . import _helpers\n", "rota.views"),  # relative, same package
    ],
)
def test_private_names_within_a_package_are_fine(source, importer):
    assert private_crossings(source, Module(importer, is_package=False)) == []
