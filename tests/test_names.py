"""Initial and family name, told apart from a namesake (``app.names``), and where it shows."""

from __future__ import annotations

from datetime import date, time

from app.enums import Role
from app.names import Person, initial, short_name, short_names
from rota import scenarios
from tests.helpers import log_in


def test_initial_keeps_accents_and_compound_given_names():
    assert initial("Élodie") == "É."
    assert initial("jean-pierre") == "J.-P."
    assert initial("Marie Claire") == "M."
    assert initial("") == ""
    assert short_name("Élodie", "Laurent") == "É. Laurent"


def test_namesakes_of_one_list_get_their_given_name_spelled_out():
    names = short_names(
        [
            Person(1, "Anne", "Richard"),
            Person(2, "Alain", "Richard"),
            Person(3, "Marc", "Richard"),
            Person(4, "Élodie", "Laurent"),
        ]
    )
    assert names == {1: "Anne Richard", 2: "Alain Richard", 3: "M. Richard", 4: "É. Laurent"}


def test_true_namesakes_are_told_apart_by_their_qualifier():
    names = short_names(
        [Person(1, "Anne", "Richard", "Challans"), Person(2, "Anne", "RICHARD", "Beauvoir")]
    )
    assert names == {1: "Anne Richard (Challans)", 2: "Anne RICHARD (Beauvoir)"}


def test_one_person_listed_twice_is_not_their_own_namesake():
    names = short_names([Person(7, "Anne", "Richard"), Person(7, "Anne", "Richard")])
    assert names == {7: "A. Richard"}


def test_two_richards_on_one_day_at_two_sites_are_told_apart_on_the_grid_and_in_print(
    app, client, make_territory, make_site, make_practitioner, make_user, published_period
):
    territory = make_territory()
    challans, beauvoir = (
        make_site(territory, name="MSP Challans"),
        make_site(territory, name="MSP Beauvoir"),
    )
    make_practitioner(territory, given_name="Anne", family_name="Richard", site_ids=[challans.id])
    make_practitioner(territory, given_name="Alain", family_name="Richard", site_ids=[beauvoir.id])
    day = date(2027, 3, 6)  # a Saturday
    period = published_period(
        territory,
        name="Samedi",
        start=day,
        end=day,
        templates=[
            scenarios.template(site, weekdays=(5,), start=time(9), end=time(12), valid_from=day)
            for site in (challans, beauvoir)
        ],
    )
    log_in(client, make_user(Role.COORDINATOR, territory).email)

    grid = client.get(f"/coordination/periodes/{period.id}").get_data(as_text=True)
    printed = client.get(f"/tableaux/{period.id}/impression").get_data(as_text=True)

    for page in (grid, printed):
        assert "Anne Richard" in page
        assert "Alain Richard" in page
        assert ">Richard<" not in page
        assert "A. Richard" not in page
