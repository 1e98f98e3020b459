"""Finding 11: requests without a valid API token are rate-limited per client address
(JSON API and FHIR alike); a live token's calls are never counted there."""

from __future__ import annotations

import pytest

from app.extensions import db
from booking import tokens


@pytest.fixture
def limited(make_app):
    app = make_app(RATELIMIT_ENABLED=True, API_ANONYMOUS_RATE_LIMIT="3 per minute")
    with app.app_context():
        yield app


@pytest.mark.parametrize("path", ["/api/v1/slots", "/fhir/Slot", "/api/v1/bookings/ABCD2345"])
def test_tokenless_requests_are_limited_per_address(limited, path):
    client = limited.test_client()
    here = {"REMOTE_ADDR": "198.51.100.1"}
    codes = [
        client.get(
            path, headers={"Authorization": f"Bearer tdr_guess{i}"}, environ_base=here
        ).status_code
        for i in range(4)
    ]
    assert codes == [401, 401, 401, 429]
    elsewhere = client.get(path, environ_base={"REMOTE_ADDR": "198.51.100.2"})
    assert elsewhere.status_code == 401


def test_calls_with_a_live_token_are_not_counted(limited, make_territory, make_user):
    from app.enums import Role

    user = make_user(Role.REGULATOR, make_territory())
    plain, _ = tokens.create_token(user, "poste", by=None)
    db.session.commit()
    client = limited.test_client()
    headers = {"Authorization": f"Bearer {plain}"}
    assert {client.get("/api/v1/slots", headers=headers).status_code for _ in range(5)} == {200}
    assert client.get("/api/v1/slots").status_code == 401  # the address's budget is intact
