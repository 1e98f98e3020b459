"""Error answers by audience, security headers, and the health check."""

import pytest

from app.enums import Role
from tests.helpers import PASSWORD, build_app


def test_unknown_page_gives_a_french_error_page(client):
    response = client.get("/nulle-part")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "Page introuvable" in response.get_data(as_text=True)


def test_wrong_method_gives_a_french_405(client):
    response = client.put("/connexion")
    assert response.status_code == 405
    assert "méthode" in response.get_data(as_text=True)


def test_api_errors_are_json_with_a_stable_code(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.get_json() == {"code": "not_found", "message": "Page introuvable."}


def test_fhir_errors_are_operation_outcomes(client):
    response = client.get("/fhir/Nothing")
    assert response.status_code == 404
    assert response.mimetype == "application/fhir+json"
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "not-found"


def test_oversized_body_gives_413(client):
    response = client.post("/connexion", data={"email": "x" * (3 * 1024 * 1024)})
    assert response.status_code == 413
    assert "trop volumineuse" in response.get_data(as_text=True)


def test_unexpected_error_gives_a_french_500_without_trace(make_app):
    app = make_app(PROPAGATE_EXCEPTIONS=False)

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "erreur interne" in body
    assert "secret internals" not in body
    assert "Traceback" not in body


def test_security_headers_on_every_page(client):
    response = client.get("/connexion")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_pages_have_no_inline_script(client):
    assert "<script" not in client.get("/connexion").get_data(as_text=True)


def test_logged_in_pages_are_not_cached(client, auth, make_territory, make_user):
    user = make_user(Role.COORDINATOR, make_territory())
    auth.login(user.email, PASSWORD)
    assert client.get("/coordination").headers["Cache-Control"] == "no-store"


def test_session_cookie_flags(client, make_territory, make_user, auth):
    user = make_user(Role.COORDINATOR, make_territory())
    response = auth.login(user.email, PASSWORD)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_cookies_are_secure_outside_development(monkeypatch, tmp_path):
    monkeypatch.delenv("TOURDEROLE_ENV", raising=False)
    from app.config import build_config

    assert build_config(tmp_path)["SESSION_COOKIE_SECURE"] is True
    monkeypatch.setenv("TOURDEROLE_ENV", "development")
    assert build_config(tmp_path)["SESSION_COOKIE_SECURE"] is False


def test_secret_key_is_generated_once_with_private_permissions(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    from app.config import build_config

    first = build_config(tmp_path)["SECRET_KEY"]
    assert len(first) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert build_config(tmp_path)["SECRET_KEY"] == first


def test_healthz_answers_ok_when_the_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_healthz_answers_503_when_the_database_is_down(tmp_path):
    app = build_app(f"sqlite:///{tmp_path}/missing-dir/none.sqlite3")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["status"] == "unavailable"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_database_url_gets_the_psycopg3_driver(url, expected):
    from app.config import normalise_database_url

    assert normalise_database_url(url) == expected
