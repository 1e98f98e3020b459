"""French order on the pages, drop-downs and exports people read (both engines).

Plain ``ORDER BY name`` puts "Élodie" after "Yann" (SQLite compares bytes) and "CPTS Île de
Ré" after "CPTS Nord-Vendée"; every list of names goes through ``app.collation`` instead.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, time, timedelta

from app.enums import Role
from rota import scenarios
from tests.helpers import log_in

GIVEN = ["Fabien", "Élodie", "Dominique", "Yann"]
IN_ORDER = ["Dominique", "Élodie", "Fabien", "Yann"]


def positions(text: str, names: list[str]) -> list[int]:
    """Where each name first appears in ``text`` (all must appear)."""
    found = [text.find(name) for name in names]
    assert all(p >= 0 for p in found), dict(zip(names, found, strict=True))
    return found


def in_french_order(text: str, names: list[str]) -> bool:
    return positions(text, names) == sorted(positions(text, names))


def test_practitioners_page_lists_family_names_in_french_order(
    app, client, make_territory, make_practitioner, make_user
):
    territory = make_territory()
    for family in GIVEN:
        make_practitioner(territory, family_name=family.upper(), given_name="Anne")
    coordinator = make_user(Role.COORDINATOR, territory)
    log_in(client, coordinator.email)

    page = client.get("/coordination/professionnels").get_data(as_text=True)

    assert in_french_order(page, [n.upper() for n in IN_ORDER])


def test_site_drop_down_is_in_french_order(app, client, make_territory, make_site, make_user):
    territory = make_territory()
    for name in ["MSP Nord", "Île aux Moines", "Centre Est"]:
        make_site(territory, name=name)
    coordinator = make_user(Role.COORDINATOR, territory)
    log_in(client, coordinator.email)

    form = client.get("/coordination/plages-types").get_data(as_text=True)
    options = re.findall(r'<option value="\d+">([^<]+)</option>', form)

    assert options[:3] == ["Centre Est", "Île aux Moines", "MSP Nord"]


def test_territory_list_puts_ile_de_re_before_nord_vendee(app, client, make_territory, make_user):
    make_territory(name="CPTS Nord-Vendée", communes=("85047",))
    make_territory(name="CPTS Île de Ré", communes=("17369",))
    admin = make_user(Role.ADMIN, None)
    log_in(client, admin.email)

    page = client.get("/admin/territoires").get_data(as_text=True)

    assert in_french_order(page, ["CPTS Île de Ré", "CPTS Nord-Vendée"])


def test_rota_export_lists_sites_of_one_hour_in_french_order(
    app, client, make_territory, make_site, make_practitioner, make_user, published_period
):
    territory = make_territory()
    sites = [make_site(territory, name=n) for n in ["MSP Nord", "Île aux Moines", "Centre Est"]]
    for site in sites:
        make_practitioner(territory, site_ids=[site.id])
    start = date(2027, 3, 1)
    published_period(
        territory,
        name="Semaine",
        start=start,
        end=start,
        templates=[
            scenarios.template(site, weekdays=(0,), start=time(17), end=time(20), valid_from=start)
            for site in sites
        ],
    )
    coordinator = make_user(Role.COORDINATOR, territory)
    log_in(client, coordinator.email)

    answer = client.get(
        "/coordination/tableau/export.csv",
        query_string={"du": start.isoformat(), "au": (start + timedelta(days=1)).isoformat()},
    )
    rows = list(csv.reader(io.StringIO(answer.data.decode("utf-8-sig")), delimiter=";"))
    names = [r[0] for r in rows[1:] if r and r[0] in {s.name for s in sites}]

    assert answer.status_code == 200
    assert names == ["Centre Est", "Île aux Moines", "MSP Nord"]
