"""The fairness ledger: written at publication, moved only by what changes hands."""

from datetime import date, time, timedelta

import pytest
import sqlalchemy as sa
from flask import render_template

from app.extensions import db
from app.validators import ValidationError
from rota import scenarios, services
from rota.models import (
    AssignmentSource,
    FairnessLedger,
    HolidayRule,
    PeriodStatus,
)

MONDAY = date(2027, 3, 1)


@pytest.fixture
def territory_with_gps(make_territory, make_site, make_practitioner):
    territory = make_territory()
    site = make_site(territory, name="MSP des Marais")
    gps = [
        make_practitioner(
            territory, family_name=f"Med{i}", email=f"gp{i}@example.org", site_ids=[site.id]
        )
        for i in range(4)
    ]
    services.create_template(
        territory,
        scenarios.template(
            site,
            weekdays=range(5),
            start=time(17),
            end=time(20),
            valid_from=MONDAY,
            on_holidays=HolidayRule.SKIP,
        ),
        by=None,
    )
    db.session.commit()
    return territory, site, gps


def _period(territory, name, start, *, publish=True):
    period = services.create_period(
        territory, name=name, start_date=start, end_date=start + timedelta(days=13), by=None
    )
    services.open_wishes(period, deadline=None, by=None)
    services.generate_rota(period, by=None)
    if publish:
        services.publish_rota(period, by=None)
    db.session.commit()
    return period


def _figures(period):
    return sorted(
        (r.doctor_id, r.name, tuple(sorted(r.loads.items())), tuple(sorted(r.targets.items())))
        for r in services.period_fairness(period)
    )


def _ledger(period):
    return sorted(
        (e.practitioner_id, e.category, e.share, e.carried, e.load, e.balance)
        for e in db.session.scalars(
            sa.select(FairnessLedger).where(FairnessLedger.period_id == period.id)
        )
    )


def test_publication_writes_shares_loads_and_balances(territory_with_gps):
    territory, _, gps = territory_with_gps
    period = _period(territory, "Mars", MONDAY)
    rows = _ledger(period)
    assert len(rows) == 2 * len(gps)
    assignments = sum(len(s.assignments) for s in period.sessions)
    assert sum(r[4] for r in rows) == assignments == 10
    weekday = [r for r in rows if r[1] == "weekday"]
    assert [r[2] for r in weekday] == pytest.approx([2.5] * 4)  # equal weights, equal shares
    assert all(r[5] == pytest.approx(r[2] - r[4]) for r in rows)


def test_a_published_period_never_changes_when_the_world_moves_on(
    territory_with_gps, make_practitioner
):
    territory, site, gps = territory_with_gps
    march = _period(territory, "Mars", MONDAY)
    before, ledger_before = _figures(march), _ledger(march)
    # A GP joins after publication.
    newcomer = make_practitioner(
        territory, family_name="Nouveau", email="new@example.org", site_ids=[site.id]
    )
    # A later period is published, then a hand-over happens in it.
    april = _period(territory, "Avril", MONDAY + timedelta(days=14))
    assignment = april.sessions[0].assignments[0]
    taker = next(g for g in gps if g.id != assignment.practitioner_id)
    swap = services.offer_swap(assignment, to=taker, message="", by=None)
    services.accept_swap(swap, taker, by=None)
    # A third period is generated twice.
    may = _period(territory, "Mai", MONDAY + timedelta(days=28), publish=False)
    services.generate_rota(may, by=None)
    db.session.commit()
    db.session.expire_all()
    assert _figures(march) == before
    assert _ledger(march) == ledger_before
    assert newcomer.id not in {r.doctor_id for r in services.period_fairness(march)}
    # The newcomer owes nothing for the past.
    owed = services.carried_balance(may)
    assert newcomer.id not in owed or owed[newcomer.id] == {"weekday": 0.0, "weekend_holiday": 0.0}


def test_a_hand_over_moves_exactly_one_session_in_its_period(territory_with_gps):
    territory, _, gps = territory_with_gps
    march = _period(territory, "Mars", MONDAY)
    april = _period(territory, "Avril", MONDAY + timedelta(days=14))
    march_before, april_before = _ledger(march), _ledger(april)
    assignment = april.sessions[0].assignments[0]
    giver = assignment.practitioner_id
    taker = next(g for g in gps if g.id != giver)
    swap = services.offer_swap(assignment, to=taker, message="", by=None)
    services.accept_swap(swap, taker, by=None)
    db.session.commit()
    assert _ledger(march) == march_before
    after = {(r[0], r[1]): r for r in _ledger(april)}
    changed = {
        key: (after[key][4] - r[4], after[key][5] - r[5])
        for r in april_before
        if (key := (r[0], r[1])) and after[key] != r
    }
    assert changed == {(giver, "weekday"): (-1, 1.0), (taker.id, "weekday"): (1, -1.0)}
    assert sum(r[4] for r in _ledger(april)) == sum(len(s.assignments) for s in april.sessions)


def test_manual_edits_after_publication_follow_the_ledger(territory_with_gps, make_practitioner):
    territory, site, gps = territory_with_gps
    april = _period(territory, "Avril", MONDAY + timedelta(days=14))
    late = make_practitioner(
        territory, family_name="Tardif", email="late@example.org", site_ids=[site.id]
    )
    first = april.sessions[0].assignments[0]
    services.replace_gp(first, late, by=None)
    second = april.sessions[1].assignments[0]
    services.unassign(second, by=None)
    services.assign(
        april.sessions[1],
        next(g for g in gps if g.id != late.id),
        source=AssignmentSource.MANUAL,
        locked=True,
        by=None,
    )
    db.session.commit()
    rows = _ledger(april)
    assert sum(r[4] for r in rows) == sum(len(s.assignments) for s in april.sessions)
    mine = [r for r in rows if r[0] == late.id and r[1] == "weekday"]
    assert mine == [(late.id, "weekday", 0.0, 0.0, 1, -1.0)]  # no share: joined afterwards


def test_an_exempt_absence_lowers_the_share_and_the_gp_sees_it(territory_with_gps):
    territory, _, gps = territory_with_gps
    away = services.declare_unavailability(
        gps[0],
        start_date=MONDAY,
        end_date=MONDAY + timedelta(days=6),
        reason="congé",
        by=None,
    )
    with pytest.raises(ValidationError, match="motif"):
        services.set_absence_exemption(away, exempt=True, reason="  ", by=None)
    services.set_absence_exemption(away, exempt=True, reason="Maladie", by=None)
    march = _period(territory, "Mars", MONDAY)
    share = {r[0]: r[2] for r in _ledger(march) if r[1] == "weekday"}
    # 7 of the period's 14 days exempt: half a weight among four.
    assert share[gps[0].id] == pytest.approx(10 * 0.5 / 3.5, abs=1e-3)
    assert sum(share.values()) == pytest.approx(10, abs=1e-3)  # stored to 4 decimals
    mine = services.my_fairness(gps[0], today=MONDAY + timedelta(days=20))
    assert [(a.exempt, a.exempt_reason) for a in mine.absences] == [(True, "Maladie")]
    assert "Exemptée (Maladie)" in mine.absences[0].effect
    assert mine.year == 2027
    assert mine.year_share == pytest.approx(share[gps[0].id], abs=1e-3)


def test_a_plain_absence_carries_duty_into_the_next_period(territory_with_gps):
    territory, _, gps = territory_with_gps
    services.declare_unavailability(
        gps[0], start_date=MONDAY, end_date=MONDAY + timedelta(days=13), reason="", by=None
    )
    march = _period(territory, "Mars", MONDAY)
    row = {r[1]: r for r in _ledger(march) if r[0] == gps[0].id}["weekday"]
    assert (row[2], row[4]) == (pytest.approx(2.5), 0)  # the share stays, nothing was held
    april = _period(territory, "Avril", MONDAY + timedelta(days=14))
    assert services.carried_balance(april)[gps[0].id]["weekday"] == pytest.approx(2.5)
    held = sum(1 for s in april.sessions for a in s.assignments if a.practitioner_id == gps[0].id)
    assert held >= 4  # 2.5 owed on top of a 2.5 share, within the weekly maximum


def test_the_gp_partial_shows_the_running_balance(app, territory_with_gps):
    territory, _, gps = territory_with_gps
    _period(territory, "Mars", MONDAY)
    _period(territory, "Avril", MONDAY + timedelta(days=14))
    figures = services.my_fairness(gps[1], today=MONDAY + timedelta(days=30))
    assert figures.year_share == pytest.approx(5.0)
    with app.test_request_context():
        html = render_template("rota/_my_fairness.html", my_fairness=figures)
    assert f"Vous avez fait <strong>{figures.year_load}</strong> plage(s)" in html
    assert "part équitable de\n  <strong>5,0</strong> depuis janvier 2027" in html


def test_coordinator_pages_show_pressed_sites_and_absences(
    client, make_user, territory_with_gps, make_site, make_practitioner
):
    from app.enums import Role
    from tests.helpers import PASSWORD

    territory, _, gps = territory_with_gps
    lonely = make_site(territory, name="Cabinet du Bocage")
    make_practitioner(territory, family_name="Seul", email="seul@example.org", site_ids=[lonely.id])
    services.create_template(
        territory,
        scenarios.template(
            lonely,
            weekdays=range(5),
            start=time(12),
            end=time(14),
            valid_from=MONDAY,
            on_holidays=HolidayRule.SKIP,
        ),
        by=None,
    )
    away = services.declare_unavailability(
        gps[2], start_date=MONDAY, end_date=MONDAY + timedelta(days=2), reason="", by=None
    )
    march = _period(territory, "Mars", MONDAY)
    assert march.status == PeriodStatus.PUBLISHED
    user = make_user(Role.COORDINATOR, territory, email="coord@example.org")
    client.post("/connexion", data={"email": user.email, "password": PASSWORD})
    page = client.get(f"/coordination/periodes/{march.id}/equite").get_data(as_text=True)
    assert "Cabinet du Bocage</strong> : 1 médecin(s) pour 10 places" in page
    assert "MSP des Marais</strong>" not in page
    listing = client.get("/coordination/absences").get_data(as_text=True)
    assert "Med2" in listing
    response = client.post(
        f"/coordination/absences/{away.id}/exemption",
        data={"exempt": "1", "reason": "Formation"},
        follow_redirects=True,
    )
    assert "Absence exemptée." in response.get_data(as_text=True)
    db.session.expire_all()
    assert (away.exempt, away.exempt_reason) == (True, "Formation")
    refused = client.post(
        f"/coordination/absences/{away.id}/exemption",
        data={"exempt": "1", "reason": ""},
        follow_redirects=True,
    )
    assert "Indiquez le motif" in refused.get_data(as_text=True)


def _forget_ledger(*periods):
    """What a period published before the ledger migration looks like: no rows."""
    db.session.execute(
        sa.delete(FairnessLedger).where(FairnessLedger.period_id.in_([p.id for p in periods]))
    )
    db.session.commit()


def test_ledger_backfill_writes_old_periods_oldest_first_and_only_once(runner, territory_with_gps):
    territory, _, gps = territory_with_gps
    services.declare_unavailability(
        gps[0], start_date=MONDAY, end_date=MONDAY + timedelta(days=13), reason="", by=None
    )
    march = _period(territory, "Mars", MONDAY)
    april = _period(territory, "Avril", MONDAY + timedelta(days=14))
    may = _period(territory, "Mai", MONDAY + timedelta(days=28), publish=False)
    expected = {march.id: _ledger(march), april.id: _ledger(april)}
    _forget_ledger(march, april)
    assert services.carried_balance(may) == {}  # before: the old periods carry nothing

    dry = runner.invoke(args=["rota", "ledger-backfill", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "2 période(s) publiée(s) sans registre d'équité seraient inscrites" in dry.output
    assert _ledger(march) == _ledger(april) == []

    result = runner.invoke(args=["rota", "ledger-backfill"])
    assert result.exit_code == 0, result.output
    assert result.output.index("« Mars »") < result.output.index("« Avril »")
    assert "2 période(s) publiée(s) sans registre d'équité inscrite(s)" in result.output
    db.session.expire_all()
    # The same rows as at publication: April's carried balance reads March's, just written.
    assert _ledger(march) == expected[march.id]
    assert _ledger(april) == expected[april.id]
    assert services.carried_balance(may)[gps[0].id]["weekday"] == pytest.approx(
        sum(
            r[5] for r in expected[march.id] + expected[april.id] if r[:2] == (gps[0].id, "weekday")
        )
    )
    assert sum(r[4] for r in _ledger(march)) == sum(len(s.assignments) for s in march.sessions)

    again = runner.invoke(args=["rota", "ledger-backfill"])
    assert "0 période(s)" in again.output
    db.session.expire_all()
    assert _ledger(march) == expected[march.id]
    assert _ledger(may) == []  # not published: nothing to freeze


def test_ledger_backfill_is_one_transaction(runner, territory_with_gps, monkeypatch):
    territory, _, _ = territory_with_gps
    march = _period(territory, "Mars", MONDAY)
    april = _period(territory, "Avril", MONDAY + timedelta(days=14))
    _forget_ledger(march, april)
    real = services.write_ledger

    def fail_on_april(period):
        if period.id == april.id:
            raise RuntimeError("disk full")
        return real(period)

    monkeypatch.setattr(services, "write_ledger", fail_on_april)
    result = runner.invoke(args=["rota", "ledger-backfill"])
    assert result.exit_code != 0
    db.session.rollback()
    assert _ledger(march) == _ledger(april) == []  # March's rows went with the rollback
    monkeypatch.setattr(services, "write_ledger", real)
    other = runner.invoke(args=["rota", "ledger-backfill", "--territory", str(territory.id + 1)])
    assert "0 période(s)" in other.output
    assert "2 période(s)" in runner.invoke(args=["rota", "ledger-backfill"]).output
