"""Account journeys in Chromium: a GP logs in with Pro Santé Connect (the local provider's
pages standing in for e-CPS), and a coordinator enrols a TOTP app, then logs in with a
code and with a recovery code."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path

import pyotp
import pytest
import sqlalchemy as sa

from tests.browser.databases import DemoDatabases
from tests.browser.journey import Journey, expect
from tests.browser.server import DEMO_PASSWORD, NOW, LiveServer
from tests.oidc.server import OidcProvider, free_port, start_provider

GP_EMAIL = "medecin1@demo.tourderole.fr"
COORDINATOR = "coordination@demo.tourderole.fr"


@pytest.fixture
def oidc_port() -> int:
    return free_port()


@pytest.fixture
def live_server(
    browser,
    backend: str,
    demo_databases: DemoDatabases,
    tmp_path: Path,
    oidc_port: int,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[LiveServer]:
    """The demo served by gunicorn, with Pro Santé Connect pointed at the local provider."""
    from tests.oidc.server import CLIENT_ID, CLIENT_SECRET

    monkeypatch.setenv(
        "PSC_DISCOVERY_URL", f"http://127.0.0.1:{oidc_port}/.well-known/openid-configuration"
    )
    monkeypatch.setenv("PSC_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("PSC_CLIENT_SECRET", CLIENT_SECRET)
    url = demo_databases.fresh_copy(backend)
    server = LiveServer(url, log=tmp_path / "gunicorn.log")
    try:
        yield server.start()
    finally:
        server.stop()
        demo_databases.drop(url)


@pytest.fixture
def oidc_provider(
    live_server: LiveServer, oidc_port: int, tmp_path: Path
) -> Iterator[OidcProvider]:
    provider = start_provider(
        tmp_path, [f"{live_server.url}/connexion/psc/retour"], port=oidc_port, now=NOW
    )
    yield provider
    provider.stop()


def rpps_of(database_url: str, email: str) -> str:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(
                sa.text(
                    "SELECT p.rpps FROM practitioner p JOIN user_account u"
                    " ON u.practitioner_id = p.id WHERE u.email = :email"
                ),
                {"email": email},
            ).scalar_one()
    finally:
        engine.dispose()


def test_gp_logs_in_with_pro_sante_connect(
    journey: Journey, live_server: LiveServer, oidc_provider: OidcProvider
) -> None:
    rpps = rpps_of(live_server.database_url, GP_EMAIL)
    gp = journey.person()
    gp.goto("/connexion")
    journey.step(gp, "connexion-avec-psc")
    gp.get_by_role("link", name="Se connecter avec Pro Santé Connect").click()

    # The provider's page (PSC's e-CPS step): the national identifier, "8" + RPPS.
    expect(
        gp.get_by_role("heading", name="Pro Santé Connect (fournisseur de test)")
    ).to_be_visible()
    assert gp.url.startswith(oidc_provider.issuer)
    gp.get_by_label("Identifiant national").fill("8" + rpps)
    gp.get_by_role("button", name="Valider avec e-CPS").click()

    expect(gp.get_by_role("button", name="Se déconnecter")).to_be_visible()
    assert gp.url.startswith(live_server.url)
    journey.step(gp, "accueil-apres-psc")
    gp.get_by_role("link", name="Mon compte").click()
    gp.get_by_role("link", name="Mes sessions ouvertes").click()
    expect(gp.get_by_role("cell", name="Pro Santé Connect")).to_be_visible()
    journey.step(gp, "mes-sessions-psc")

    # A professional without an account here is told so, and gets none.
    stranger = journey.person()
    stranger.goto("/connexion")
    stranger.get_by_role("link", name="Se connecter avec Pro Santé Connect").click()
    stranger.get_by_label("Identifiant national").fill("810000000009")
    stranger.get_by_role("button", name="Valider avec e-CPS").click()
    expect(stranger.get_by_role("status")).to_contain_text(
        "Aucun compte Tour de rôle n'est rattaché à votre numéro RPPS"
    )
    journey.step(stranger, "rpps-inconnu")


def server_now(page) -> float:
    """The app's clock (it runs at the journeys' instant, ticking), read from its Date header."""
    response = page.request.get("/healthz")
    return parsedate_to_datetime(response.headers["date"]).timestamp()


def test_coordinator_enrols_totp_and_logs_in_with_code_and_recovery_code(
    journey: Journey, live_server: LiveServer
) -> None:
    page = journey.login(COORDINATOR)
    page.get_by_role("link", name="Mon compte").click()
    page.get_by_role("link", name="Double authentification").click()
    expect(page.get_by_role("heading", name="Activer la double authentification")).to_be_visible()
    journey.step(page, "activer-2fa")
    secret = (page.locator("#totp-secret").text_content() or "").strip()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret), secret
    totp = pyotp.TOTP(secret)
    page.get_by_label("Code à 6 chiffres affiché par l'application").fill(totp.at(server_now(page)))
    page.get_by_role("button", name="Activer").click()
    expect(page.get_by_role("heading", name="Codes de secours")).to_be_visible()
    codes = [c.strip() for c in page.locator("#recovery-codes code").all_text_contents()]
    assert len(codes) == 10
    journey.step(page, "codes-de-secours")
    page.get_by_role("button", name="Se déconnecter").click()

    # Password, then the app's next code (a code is accepted only once).
    page.get_by_label("Adresse e-mail").fill(COORDINATOR)
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("heading", name="Code de vérification")).to_be_visible()
    journey.step(page, "code-demande")
    page.get_by_label("Code à 6 chiffres ou code de secours").fill(totp.at(server_now(page) + 30))
    page.get_by_role("button", name="Valider").click()
    expect(page.get_by_role("button", name="Se déconnecter")).to_be_visible()
    journey.step(page, "connecte-avec-code")
    page.get_by_role("button", name="Se déconnecter").click()

    # The phone is lost: a recovery code, once.
    page.get_by_label("Adresse e-mail").fill(COORDINATOR)
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.get_by_label("Code à 6 chiffres ou code de secours").fill(codes[0])
    page.get_by_role("button", name="Valider").click()
    expect(page.get_by_role("status")).to_contain_text("il vous en reste 9")
    journey.step(page, "connecte-avec-code-de-secours")
    page.get_by_role("button", name="Se déconnecter").click()

    page.get_by_label("Adresse e-mail").fill(COORDINATOR)
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.get_by_label("Code à 6 chiffres ou code de secours").fill(codes[0])
    page.get_by_role("button", name="Valider").click()
    expect(page.get_by_role("status")).to_contain_text("Code incorrect ou déjà utilisé.")
    journey.step(page, "code-de-secours-deja-utilise")
