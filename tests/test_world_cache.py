"""tests/world_cache.py gives a later test the very rows and objects the first build made."""

from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import Territory
from tests import world_cache
from tests.helpers import reset_database


def _rows() -> list[tuple]:
    return [
        tuple(db.session.execute(sa.select(t).order_by(*t.primary_key.columns)).all())
        for t in db.metadata.sorted_tables
    ]


def test_a_reused_world_has_the_rows_ids_and_objects_of_the_first_build(
    app, make_territory, make_site, make_practitioner
):
    builds = []

    def build():
        builds.append(1)
        territory = make_territory(name="CPTS du cache")
        site = make_site(territory, name="MSP du cache")
        gp = make_practitioner(territory, site_ids=[site.id])
        return {"territory": territory, "pair": (site, [gp]), "label": "x"}

    first = world_cache.reuse(f"cache-test-{id(build)}", build)
    first_id = first["territory"].id
    rows = _rows()
    db.session.close()  # SQLite: our reads must not hold the lock the reset needs
    reset_database(app)
    assert db.session.scalar(sa.select(sa.func.count(Territory.id))) == 0

    again = world_cache.reuse(f"cache-test-{id(build)}", build)
    assert builds == [1]  # restored, not rebuilt
    assert _rows() == rows
    assert again["territory"].name == "CPTS du cache"
    assert again["territory"].id == first_id
    site, gps = again["pair"]
    assert (site.name, gps[0].sites[0].id) == ("MSP du cache", site.id)
    assert again["label"] == "x"
    # The ids go on where the first build left them (PostgreSQL's sequences too).
    more = make_territory(communes=("17369",))
    assert more.id == first_id + 1


def test_a_database_with_rows_gets_the_world_built(app, make_territory):
    make_territory(name="Déjà là")
    built = world_cache.reuse(
        "cache-test-not-empty", lambda: make_territory(name="Construit", communes=("17369",))
    )
    assert built.name == "Construit"
    assert ("cache-test-not-empty",) not in {k[:1] for k in world_cache._saved}
