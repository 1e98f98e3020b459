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
