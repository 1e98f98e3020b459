"""Pro Santé Connect login against a real local OpenID Connect provider (tests/oidc).

The provider is the certified ``oidc-provider`` package, configured like PSC; the app's
side is Authlib. Every test drives the whole authorization code flow: the app's redirect,
the provider's login page (where the "professional" types their national identifier),
the callback, and the app's token exchange over real HTTP.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit, urlunsplit

import pytest
import requests
import sqlalchemy as sa
from flask import Flask

from app.enums import Profession, Role
from app.extensions import db
from app.models import AuditEvent, User
from tests.helpers import PASSWORD, next_rpps
from tests.oidc.server import OidcProvider, start_provider

APP_ORIGIN = "https://tdr.test"  # the test app's SERVER_NAME and PREFERRED_URL_SCHEME


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    provider = start_provider(
        tmp_path_factory.mktemp("oidc"), [f"{APP_ORIGIN}/connexion/psc/retour"]
    )
    yield provider
    provider.stop()


@pytest.fixture
def app(make_app, oidc_provider: OidcProvider) -> Iterator[Flask]:
    """The app, with PSC pointed at the local provider."""
    app = make_app(**oidc_provider.app_config())
    with app.app_context():
        yield app


def authorize(client, **tamper: str) -> str:
    """Start a PSC login; the provider's authorize URL (with some parameters replaced)."""
    response = client.get("/connexion/psc")
    assert response.status_code == 302
    location = response.headers["Location"]
    if not tamper:
        return location
    parts = urlsplit(location)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | tamper
    return urlunsplit(parts._replace(query=urlencode(query)))


def through_provider(authorize_url: str, national_id: str) -> str:
    """Play the professional at the provider; returns the callback URL it sends back to."""
    browser = requests.Session()
    url = authorize_url
    for _ in range(10):
        response = browser.get(url, allow_redirects=False, timeout=10)
        if response.status_code in (302, 303):
            url = urljoin(url, response.headers["Location"])
            if url.startswith(APP_ORIGIN):
                return url
            continue
        assert response.status_code == 200, response.text
        action = re.search(r'action="([^"]+)"', response.text)
        assert action is not None, response.text
        posted = browser.post(
            urljoin(url, action.group(1)),
            data={"login": national_id},
            allow_redirects=False,
            timeout=10,
        )
        assert posted.status_code == 303, posted.text
        url = urljoin(url, posted.headers["Location"])
    raise AssertionError("the provider never sent the browser back")


def callback(client, url: str, **tamper: str):
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | tamper
    return client.get(f"{parts.path}?{urlencode(query)}")


def psc_login(client, national_id: str):
    return callback(client, through_provider(authorize(client), national_id))


def flashes(client) -> str:
    return client.get("/connexion").get_data(as_text=True)


@pytest.fixture
def gp_account(make_territory, make_practitioner, make_user):
    territory = make_territory()
    gp = make_practitioner(territory, profession=Profession.GP)
    user = make_user(Role.GP, territory, email="gp@example.org", practitioner=gp)
    return user, gp


def test_authorize_request_is_psc_shaped(client):
    query = parse_qs(urlsplit(authorize(client)).query)
    assert query["scope"] == ["openid scope_all"]
    assert query["acr_values"] == ["eidas1"]
    assert query["response_type"] == ["code"]
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) >= 43
    assert query["state"][0]
    assert query["nonce"][0]
    assert query["redirect_uri"] == [f"{APP_ORIGIN}/connexion/psc/retour"]


def test_psc_login_matches_the_account_by_rpps(client, gp_account):
    user, gp = gp_account
    response = psc_login(client, "8" + gp.rpps)
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/"
    page = client.get("/compte/sessions").get_data(as_text=True)
    assert "Pro Santé Connect" in page
    event = db.session.scalar(
        sa.select(AuditEvent).where(AuditEvent.action == "auth.login").order_by(AuditEvent.id)
    )
    assert event.user_id == user.id
    assert event.detail == {"method": "psc"}


def test_unknown_rpps_creates_no_account(client, gp_account, make_practitioner):
    users_before = db.session.scalar(sa.select(sa.func.count()).select_from(User))
    stranger = next_rpps()  # a valid RPPS nobody registered here
    response = psc_login(client, "8" + stranger)
    assert urlsplit(response.headers["Location"]).path == "/connexion"
    assert "Aucun compte Tour de rôle n&#39;est rattaché à votre numéro RPPS" in flashes(client)
    # A practitioner of the territory without an account: still no account made.
    lone = make_practitioner(gp_account[0].territory)
    response = psc_login(client, "8" + lone.rpps)
    assert urlsplit(response.headers["Location"]).path == "/connexion"
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == users_before
    assert client.get("/compte").status_code == 302  # not logged in


@pytest.mark.parametrize(
    "national_id",
    ["012345678", "81234", "3" + "1" * 11],  # an ADELI number, too short, another register
)
def test_identifier_that_is_no_rpps_is_refused(client, gp_account, national_id):
    response = psc_login(client, national_id)
    assert urlsplit(response.headers["Location"]).path == "/connexion"
    assert "sans numéro RPPS" in flashes(client)
    assert client.get("/compte").status_code == 302


def test_another_rpps_logs_into_nobody_else(client, gp_account, make_practitioner):
    user, gp = gp_account
    other = make_practitioner(user.territory)
    response = psc_login(client, "8" + other.rpps)
    assert urlsplit(response.headers["Location"]).path == "/connexion"
    assert client.get("/compte").status_code == 302


def test_tampered_state_is_refused(client, gp_account):
    _, gp = gp_account
    url = through_provider(authorize(client), "8" + gp.rpps)
    response = callback(client, url, state="forged-state-value")
    assert urlsplit(response.headers["Location"]).path == "/connexion"
    assert "n&#39;a pas abouti" in flashes(client)
    assert client.get("/compte").status_code == 302


def test_callback_cannot_be_replayed(client, gp_account):
    _, gp = gp_account
    url = through_provider(authorize(client), "8" + gp.rpps)
    assert urlsplit(callback(client, url).headers["Location"]).path == "/"
    client.post("/deconnexion")
    assert urlsplit(callback(client, url).headers["Location"]).path == "/connexion"
    assert client.get("/compte").status_code == 302


def test_tampered_nonce_is_refused(client, gp_account):
    """The provider signs the nonce it was given; the app expects the one it sent."""
    _, gp = gp_account
    url = through_provider(authorize(client, nonce="nonce-of-an-attacker"), "8" + gp.rpps)
    assert urlsplit(callback(client, url).headers["Location"]).path == "/connexion"
    assert client.get("/compte").status_code == 302


def test_code_challenge_must_match_the_verifier(client, gp_account):
    """PKCE: a code obtained for another challenge is refused at the token endpoint."""
    _, gp = gp_account
    forged = authorize(client, code_challenge="A" * 43)
    url = through_provider(forged, "8" + gp.rpps)
    assert urlsplit(callback(client, url).headers["Location"]).path == "/connexion"
    assert client.get("/compte").status_code == 302


def test_error_from_the_provider_is_a_french_message(client):
    authorize(client)
    response = client.get("/connexion/psc/retour?error=access_denied&state=x")
    assert urlsplit(response.headers["Location"]).path == "/connexion"
    assert "n&#39;a pas abouti" in flashes(client)


def test_territory_can_require_psc_for_its_gps(client, auth, gp_account, make_user):
    user, gp = gp_account
    coordinator = make_user(Role.COORDINATOR, user.territory, email="coord@example.org")
    auth.login(coordinator.email)
    response = client.post("/coordination/connexion", data={"require_psc_for_gps": "y"})
    assert response.status_code == 302
    auth.logout()
    db.session.expire_all()
    assert user.territory.require_psc_for_gps
    # The GP's right password no longer opens a session...
    response = auth.login(user.email, PASSWORD)
    assert urlsplit(response.headers["Location"]).path == "/connexion"
    assert "se connecter avec Pro Santé" in flashes(client)
    assert client.get("/compte").status_code == 302
    # ...PSC does; and the coordinator still logs in with a password.
    assert urlsplit(psc_login(client, "8" + gp.rpps).headers["Location"]).path == "/"
    client.post("/deconnexion")
    assert auth.login(coordinator.email).status_code == 302
    assert client.get("/compte").status_code == 200


def test_requiring_psc_without_psc_configured_is_refused(make_app, make_territory, make_user):
    app = make_app()  # no PSC client
    with app.app_context():
        territory = make_territory()
        coordinator = make_user(Role.COORDINATOR, territory, email="c2@example.org")
        client = app.test_client()
        client.post("/connexion", data={"email": coordinator.email, "password": PASSWORD})
        client.post("/coordination/connexion", data={"require_psc_for_gps": "y"})
        db.session.expire_all()
        assert not territory.require_psc_for_gps
        assert client.get("/connexion/psc").status_code == 302
