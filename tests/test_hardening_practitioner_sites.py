"""Finding 11: editing a practitioner keeps their links to deactivated sites (the form
only offers active ones, so it could not send them back)."""

from __future__ import annotations

from app.enums import Role
from app.extensions import db
from app.territory import services
from tests.helpers import PASSWORD


def test_editing_keeps_links_to_deactivated_sites(
    client, make_territory, make_site, make_practitioner, make_user
):
    territory = make_territory()
    open_site, closed_site = make_site(territory), make_site(territory)
    gp = make_practitioner(territory, site_ids=[open_site.id, closed_site.id])
    services.set_site_active(closed_site, False, by=None)
    db.session.commit()
    make_user(Role.COORDINATOR, territory, email="coord@example.org")
    client.post("/connexion", data={"email": "coord@example.org", "password": PASSWORD})
    answer = client.post(
        f"/coordination/professionnels/{gp.id}",
        data={
            "rpps": gp.rpps,
            "family_name": "Martin-Durand",
            "given_name": gp.given_name,
            "profession": gp.profession.value,
            "email": "",
            "phone": "",
            "site_ids": [str(open_site.id)],
        },
    )
    assert answer.status_code == 302, answer.get_data(as_text=True)
    db.session.expire_all()
    assert gp.family_name == "Martin-Durand"
    assert {s.id for s in gp.sites} == {open_site.id, closed_site.id}
