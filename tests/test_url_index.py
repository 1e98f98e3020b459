"""docs/urls.md, the URL → module index, is generated from the URL map and kept current."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "url_index.py"


def _url_index():
    spec = importlib.util.spec_from_file_location("url_index", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_url_index_is_up_to_date():
    url_index = _url_index()
    app = url_index.build_app()

    expected = url_index.render(app)

    assert url_index.INDEX.read_text(encoding="utf-8") == expected, (
        f"docs/urls.md is stale: regenerate it with `{url_index.REGENERATE}` "
        "(python scripts/url_index.py) and commit it."
    )


def test_url_index_names_every_rule_and_its_module():
    url_index = _url_index()
    app = url_index.build_app()

    text = url_index.render(app)

    assert text.count("\n| `/") == len(list(app.url_map.iter_rules()))
    assert "| `/api/v1/slots` | GET | `api.list_slots` | `booking.api:list_slots` |" in text
    assert (
        "| `/fhir/Slot` | GET | `fhir.search_slots` | `publishing.fhir_views:search_slots` |"
        in text
    )


def test_memoised_url_builders_build_the_same_urls_for_every_app(database_urls):
    """tests/fast_routing.py shares each rule's compiled builder between test apps."""
    from tests.fast_routing import _cache
    from tests.helpers import build_app

    values = {"period_id": 7, "session_id": 3, "assignment_id": 5, "token": "abc"}
    built = []
    for app in (build_app(database_urls["sqlite"]), build_app(database_urls["sqlite"])):
        with app.test_request_context():
            assert app.url_for("rota.period", period_id=7) == "/coordination/periodes/7"
            assert app.url_for("rota.period", period_id=7, mois="2027-03") == (
                "/coordination/periodes/7?mois=2027-03"
            )
            built.append(
                {
                    r.endpoint: app.url_for(r.endpoint, **{k: values[k] for k in r.arguments})
                    for r in app.url_map.iter_rules()
                    if set(r.arguments) <= set(values)
                }
            )
    assert _cache  # the builders are shared, not compiled per app
    assert len(built[0]) > 50
    assert built[0] == built[1]
