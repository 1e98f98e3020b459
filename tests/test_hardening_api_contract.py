"""Finding 10: a 405 says which methods the path allows (RFC 9110 §15.5.6), on every path
of the JSON API and FHIR; the OpenAPI document says what the API accepts."""

from __future__ import annotations

import re

import pytest

UNUSUAL = ["PUT", "PATCH", "DELETE", "POST", "GET"]


def _api_rules(app):
    return [r for r in app.url_map.iter_rules() if r.rule.startswith(("/api/", "/fhir/"))]


def test_every_api_path_answers_405_with_allow(app, client):
    checked = 0
    for rule in _api_rules(app):
        path = re.sub(r"<[^>]+>", "1", rule.rule)
        allowed = set(rule.methods)
        for method in UNUSUAL:
            if method in allowed:
                continue
            answer = client.open(path, method=method)
            if answer.status_code != 405:
                continue  # another rule of the same path takes this method
            assert "Allow" in answer.headers, (method, path)
            listed = {m.strip() for m in answer.headers["Allow"].split(",")}
            assert allowed - {"OPTIONS", "HEAD"} <= listed, (method, path, listed)
            checked += 1
    assert checked > 10


@pytest.mark.parametrize(
    ("pointer", "keyword", "value"),
    [
        (("BookingRequest", "slot_id"), "minLength", 1),
        (("Patient", "family_name"), "minLength", 1),
        (("Patient", "given_name"), "minLength", 1),
        (("Patient", "birth_date"), "format", "date"),
        (("Patient", "phone"), "minLength", 1),
    ],
)
def test_the_openapi_document_says_what_the_api_accepts(client, pointer, keyword, value):
    document = client.get("/api/v1/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    schema, field = pointer
    assert schemas[schema]["properties"][field].get(keyword) == value
