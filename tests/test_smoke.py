def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_login_page_is_french(client):
    response = client.get("/connexion")
    assert response.status_code == 200
    assert "Connexion" in response.get_data(as_text=True)
