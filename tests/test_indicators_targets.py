"""Contract targets: configurable, read a computed figure or a manual value, progress by year."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from publishing import indicator_targets
from publishing.models import IndicatorTarget, IndicatorTargetYear
from tests import indicator_world
from tests.helpers import PASSWORD


@pytest.fixture
def world(make_territory, make_site, make_practitioner, make_user):
    return indicator_world.build(make_territory, make_site, make_practitioner, make_user)


@pytest.fixture
def coordinator(client, world):
    client.post("/connexion", data={"email": "coord@example.org", "password": PASSWORD})
    return client


def _target(name: str) -> IndicatorTarget:
    return db.session.scalar(sa.select(IndicatorTarget).where(IndicatorTarget.name == name))


def test_a_computed_target_shows_its_progress_by_year(coordinator, world):
    added = coordinator.post(
        "/coordination/indicateurs/objectifs",
        data={
            "name": "Consultations SNP honorées",
            "figure_key": "activity.bookings.total.honoured",
        },
    )
    assert added.status_code == 302
    target = _target("Consultations SNP honorées")
    for year, goal in ((2026, "3"), (2027, "10,5")):
        saved = coordinator.post(
            "/coordination/indicateurs/objectifs/annee",
            data={"target_id": target.id, "year": year, "goal": goal},
        )
        assert saved.status_code == 302

    rows = indicator_targets.progress(world.territory)
    # 2026: b1 b3 b6 b8 in March, b9 and b10 on 1 April; nothing yet in 2027.
    assert [(p.year, p.goal, p.value, p.reached) for p in rows] == [
        (2026, 3.0, 6.0, True),
        (2027, 10.5, 0.0, False),
    ]
    page = coordinator.get("/coordination/indicateurs/objectifs").get_data(as_text=True)
    assert "Consultations SNP honorées" in page
    assert "atteinte" in page


def test_the_year_reads_the_whole_calendar_year(coordinator, world):
    target = indicator_targets.create_target(
        world.territory, name="Honorés", figure_key="activity.bookings.total.honoured", by=None
    )
    indicator_targets.set_target_year(target, year=2026, goal=12, manual_value=None, by=None)
    db.session.commit()
    (row,) = indicator_targets.progress(world.territory)
    # March: b1 b3 b6 b8 honoured; 1 April: b9 and b10 honoured.
    assert row.value == 6
    assert row.ratio == pytest.approx(0.5)
    assert not row.reached


def test_a_manual_target_keeps_the_value_typed_in(coordinator, world):
    coordinator.post(
        "/coordination/indicateurs/objectifs",
        data={"name": "Délai moyen de rappel (min)", "figure_key": ""},
    )
    target = _target("Délai moyen de rappel (min)")
    assert target.figure_key is None
    coordinator.post(
        "/coordination/indicateurs/objectifs/annee",
        data={"target_id": target.id, "year": "2026", "goal": "20", "manual_value": "15,5"},
    )
    (row,) = indicator_targets.progress(world.territory)
    assert (row.goal, row.value) == (20.0, 15.5)
    assert row.ratio == pytest.approx(0.775)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"year": "1999", "goal": "3"}, "entre 2000 et 2100"),
        ({"year": "2026", "goal": "-1"}, "nombre positif"),
        ({"year": "2026", "goal": "beaucoup"}, ""),
        ({"year": "2026", "goal": "3", "manual_value": "4"}, "calculé"),
    ],
)
def test_bad_yearly_targets_are_refused_in_french(coordinator, world, data, message):
    target = indicator_targets.create_target(
        world.territory, name="Taux SAS", figure_key="activity.fill_rate.sas", by=None
    )
    db.session.commit()
    answer = coordinator.post(
        "/coordination/indicateurs/objectifs/annee",
        data={"target_id": target.id, **data},
        follow_redirects=True,
    )
    assert message in answer.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(IndicatorTargetYear.id))) == 0


def test_names_are_required_unique_and_figures_known(coordinator, world):
    coordinator.post("/coordination/indicateurs/objectifs", data={"name": "A", "figure_key": ""})
    again = coordinator.post(
        "/coordination/indicateurs/objectifs", data={"name": "A", "figure_key": ""}
    )
    assert "déjà" in again.get_data(as_text=True)
    unknown = coordinator.post(
        "/coordination/indicateurs/objectifs", data={"name": "B", "figure_key": "offer.nope"}
    )
    assert unknown.status_code == 200
    empty = coordinator.post(
        "/coordination/indicateurs/objectifs", data={"name": " ", "figure_key": ""}
    )
    assert "obligatoire" in empty.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(IndicatorTarget.id))) == 1


def test_another_territory_target_is_unknown(coordinator, world, make_territory):
    other = make_territory(communes=("17369",))
    theirs = indicator_targets.create_target(other, name="Leur cible", figure_key=None, by=None)
    db.session.commit()
    for url in ("annee", "suppression"):
        answer = coordinator.post(
            f"/coordination/indicateurs/objectifs/{url}",
            data={"target_id": theirs.id, "year": "2026", "goal": "1"},
            follow_redirects=True,
        )
        assert "Indicateur inconnu." in answer.get_data(as_text=True)
    assert db.session.get(IndicatorTarget, theirs.id) is not None
    assert not db.session.get(IndicatorTarget, theirs.id).years


def test_deleting_a_target_removes_its_years(coordinator, world):
    target = indicator_targets.create_target(world.territory, name="X", figure_key=None, by=None)
    indicator_targets.set_target_year(target, year=2026, goal=1, manual_value=1, by=None)
    db.session.commit()
    coordinator.post(
        "/coordination/indicateurs/objectifs/suppression", data={"target_id": target.id}
    )
    assert db.session.scalar(sa.select(sa.func.count(IndicatorTargetYear.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(IndicatorTarget.id))) == 0
