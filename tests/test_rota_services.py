"""Rota use cases on both engines: templates, the period lifecycle, volunteers, manual edits."""

from datetime import date, time, timedelta

import pytest
import sqlalchemy as sa

from app.enums import Profession
from app.extensions import db
from app.outbox import OutboxMessage
from app.validators import ValidationError
from rota import services
from rota.models import (
    Assignment,
    AssignmentSource,
    ConsultationMode,
    HolidayRule,
    PeriodStatus,
    Session,
    SessionTemplate,
)

MONDAY = date(2027, 3, 1)


def template_data(site, **kw):
    values = {
        "site_id": site.id,
        "weekdays": frozenset(range(5)),
        "start_time": time(17),
        "end_time": time(20),
        "gps_needed": 1,
        "slot_minutes": 15,
        "mode": ConsultationMode.SURGERY,
        "sas_slots": 4,
        "pharmacy_slots": 2,
        "valid_from": MONDAY,
        "valid_to": None,
        "on_holidays": HolidayRule.SKIP,
    }
    values.update(kw)
    return services.TemplateData(**values)


@pytest.fixture
def draft_period(make_territory, make_site, make_practitioner):
    territory = make_territory()
    site = make_site(territory, name="MSP des Marais")
    gps = [
        make_practitioner(
            territory, family_name=f"Med{i}", email=f"gp{i}@example.org", site_ids=[site.id]
        )
        for i in range(4)
    ]
    services.create_template(territory, template_data(site), by=None)
    period = services.create_period(
        territory, name="Mars", start_date=MONDAY, end_date=MONDAY + timedelta(days=13), by=None
    )
    db.session.commit()
    return territory, site, gps, period


def test_overlapping_templates_at_one_site_are_refused(draft_period):
    territory, site, _, _ = draft_period
    with pytest.raises(ValidationError, match="chevauche"):
        services.create_template(
            territory, template_data(site, start_time=time(19), end_time=time(21)), by=None
        )


def test_reserved_slots_cannot_exceed_the_session(draft_period):
    territory, site, _, _ = draft_period
    with pytest.raises(ValidationError, match="dépassent"):
        services.create_template(
            territory,
            template_data(site, start_time=time(8), end_time=time(9), sas_slots=5),
            by=None,
        )


def test_lifecycle_open_generate_publish(draft_period):
    territory, _, gps, period = draft_period
    with pytest.raises(ValidationError, match="après l'ouverture"):
        services.generate_rota(period, by=None)
    assert services.open_wishes(period, deadline=None, by=None) == 10
    assert services.expand_sessions(period) == 0  # idempotent
    solution = services.generate_rota(period, by=None)
    db.session.commit()
    assert solution.figures["filled"] == 10
    assert period.status == PeriodStatus.GENERATED
    loads = [
        db.session.scalar(sa.select(sa.func.count()).where(Assignment.practitioner_id == g.id))
        for g in gps
    ]
    assert sorted(loads) == [2, 2, 3, 3]
    assert services.publish_rota(period, by=None) == 1
    db.session.commit()
    subjects = db.session.scalars(sa.select(OutboxMessage.subject)).all()
    assert sum("publié" in s for s in subjects) == 4
    with pytest.raises(ValidationError):
        services.publish_rota(period, by=None)


def test_volunteered_sessions_survive_regeneration(draft_period):
    _, _, gps, period = draft_period
    services.open_wishes(period, deadline=None, by=None)
    first = period.sessions[0]
    services.volunteer(first, gps[3], by=None)
    services.generate_rota(period, by=None)
    services.generate_rota(period, by=None)
    db.session.commit()
    kept = db.session.scalar(sa.select(Assignment).where(Assignment.session_id == first.id))
    assert (kept.practitioner_id, kept.source, kept.locked) == (
        gps[3].id,
        AssignmentSource.VOLUNTEERED,
        True,
    )


def test_unavailability_is_respected_by_generation(draft_period):
    _, _, gps, period = draft_period
    services.declare_unavailability(
        gps[0], start_date=MONDAY, end_date=MONDAY + timedelta(days=13), reason="congés", by=None
    )
    services.open_wishes(period, deadline=None, by=None)
    services.generate_rota(period, by=None)
    db.session.commit()
    assert (
        db.session.scalar(sa.select(sa.func.count()).where(Assignment.practitioner_id == gps[0].id))
        == 0
    )


def test_manual_assignment_breaking_a_hard_rule_is_refused(
    draft_period, make_site, make_practitioner
):
    territory, site, gps, period = draft_period
    services.open_wishes(period, deadline=None, by=None)
    monday = period.sessions[0]
    services.assign(monday, gps[0], source=AssignmentSource.MANUAL, locked=False, by=None)
    with pytest.raises(ValidationError, match="déjà complète"):
        services.assign(monday, gps[1], source=AssignmentSource.MANUAL, locked=False, by=None)
    elsewhere = make_practitioner(
        territory, family_name="Ailleurs", site_ids=[make_site(territory, name="Autre").id]
    )
    with pytest.raises(ValidationError, match="n'exerce pas à MSP des Marais"):
        services.assign(
            period.sessions[1], elsewhere, source=AssignmentSource.MANUAL, locked=False, by=None
        )
    services.declare_unavailability(
        gps[2],
        start_date=MONDAY + timedelta(days=1),
        end_date=MONDAY + timedelta(days=1),
        reason="",
        by=None,
    )
    with pytest.raises(ValidationError, match="indisponible le 02/03/2027"):
        services.assign(
            period.sessions[1], gps[2], source=AssignmentSource.MANUAL, locked=False, by=None
        )
    pharmacist = make_practitioner(territory, profession=Profession.PHARMACIST, site_ids=[site.id])
    with pytest.raises(ValidationError, match="pas un médecin actif"):
        services.assign(
            period.sessions[2], pharmacist, source=AssignmentSource.MANUAL, locked=False, by=None
        )


def test_seat_constraint_makes_overstaffing_impossible_in_the_schema(draft_period):
    _, _, gps, period = draft_period
    services.open_wishes(period, deadline=None, by=None)
    session = period.sessions[0]
    db.session.add(
        Assignment(
            session_id=session.id, practitioner_id=gps[0].id, seat=1, source=AssignmentSource.MANUAL
        )
    )
    db.session.add(
        Assignment(
            session_id=session.id, practitioner_id=gps[1].id, seat=1, source=AssignmentSource.MANUAL
        )
    )
    with pytest.raises(sa.exc.IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_overlapping_periods_are_refused(draft_period):
    territory = draft_period[0]
    with pytest.raises(ValidationError, match="chevauchent"):
        services.create_period(
            territory,
            name="Bis",
            start_date=MONDAY + timedelta(days=7),
            end_date=MONDAY + timedelta(days=30),
            by=None,
        )


def test_cli_generate_and_publish(draft_period, runner):
    _, _, _, period = draft_period
    services.open_wishes(period, deadline=None, by=None)
    db.session.commit()
    result = runner.invoke(args=["rota", "publish", str(period.id)])
    assert result.exit_code != 0
    assert "Seul un tableau généré" in result.output
    result = runner.invoke(args=["rota", "generate", str(period.id)])
    assert result.exit_code == 0, result.output
    assert "10/10 places pourvues" in result.output
    result = runner.invoke(args=["rota", "publish", str(period.id)])
    assert "publié (version 1)" in result.output
    assert runner.invoke(args=["rota", "generate", "999"]).exit_code != 0


def test_sessions_follow_the_territory_calendar(draft_period):
    territory, _, _, period = draft_period
    services.open_wishes(period, deadline=None, by=None)
    first = db.session.scalar(sa.select(Session).order_by(Session.starts_at))
    assert first.starts_at.hour == 16  # 17:00 in Paris in March (CET) is 16:00 UTC
    assert first.category == "weekday"


def _published(draft_period, start):
    territory, site, gps, _ = draft_period
    period = services.create_period(
        territory, name="Bientôt", start_date=start, end_date=start + timedelta(days=3), by=None
    )
    services.open_wishes(period, deadline=None, by=None)
    services.generate_rota(period, by=None)
    services.publish_rota(period, by=None)
    db.session.commit()
    return period


def test_swap_to_a_named_colleague_then_accept(draft_period):
    from rota.models import SwapStatus

    _, _, gps, _ = draft_period
    period = _published(draft_period, MONDAY + timedelta(days=35))
    assignment = period.sessions[0].assignments[0]
    giver = assignment.practitioner_id
    taker = next(g for g in gps if g.id != giver)
    other = next(g for g in gps if g.id not in (giver, taker.id))
    swap = services.offer_swap(assignment, to=taker, message="Empêchement", by=None)
    with pytest.raises(ValidationError, match="déjà proposée"):
        services.offer_swap(assignment, to=None, message="", by=None)
    with pytest.raises(ValidationError, match="adressée à un autre"):
        services.accept_swap(swap, other, by=None)
    version = period.sessions[0].version
    services.accept_swap(swap, taker, by=None)
    db.session.commit()
    assert assignment.practitioner_id == taker.id
    assert assignment.source == AssignmentSource.SWAPPED
    assert period.sessions[0].version == version + 1
    assert swap.status == SwapStatus.ACCEPTED
    with pytest.raises(ValidationError, match="n'est plus ouverte"):
        services.accept_swap(swap, taker, by=None)


def test_swap_acceptance_breaking_a_hard_rule_is_refused(draft_period):

    _, _, gps, _ = draft_period
    period = _published(draft_period, MONDAY + timedelta(days=35))
    first = period.sessions[0]
    assignment = first.assignments[0]
    taker = next(g for g in gps if g.id != assignment.practitioner_id)
    services.declare_unavailability(
        taker, start_date=first.local_date, end_date=first.local_date, reason="", by=None
    )
    swap = services.offer_swap(assignment, to=None, message="", by=None)
    with pytest.raises(ValidationError, match="indisponible"):
        services.accept_swap(swap, taker, by=None)
    db.session.rollback()
    db.session.expire_all()
    assert db.session.get(Assignment, assignment.id).practitioner_id != taker.id


def test_deactivated_template_creates_no_sessions_and_reactivation_rechecks_overlaps(draft_period):
    territory, site, _, period = draft_period
    template = db.session.scalar(sa.select(SessionTemplate))
    services.set_template_active(template, False, by=None)
    services.create_template(
        territory, template_data(site, start_time=time(18), end_time=time(21)), by=None
    )
    with pytest.raises(ValidationError, match="chevauche"):
        services.set_template_active(template, True, by=None)
    assert template.active is False
    services.open_wishes(period, deadline=None, by=None)
    assert {s.starts_at.hour for s in period.sessions} == {17}  # 18:00 Paris in March = 17:00 UTC


def test_only_a_finished_published_period_can_be_archived(draft_period):
    _, _, _, period = draft_period
    services.open_wishes(period, deadline=None, by=None)
    services.generate_rota(period, by=None)
    with pytest.raises(ValidationError, match="publiée et terminée"):
        services.archive_period(period, by=None)
    services.publish_rota(period, by=None)
    with pytest.raises(ValidationError, match="publiée et terminée"):
        services.archive_period(period, by=None)  # ends in 2027
    period.end_date = period.start_date = date(2026, 1, 5)
    services.archive_period(period, by=None)
    assert period.status == PeriodStatus.ARCHIVED


def test_territory_weekly_maximum_binds_generation_and_manual_edits(draft_period):
    territory, _, gps, period = draft_period
    territory.max_sessions_per_week = 1
    services.open_wishes(period, deadline=None, by=None)
    solution = services.generate_rota(period, by=None)
    db.session.commit()
    # 4 GPs, one session a week each: 8 of the 10 weekday places can be filled.
    assert solution.figures["filled"] == 8
    assert {u.session_id for u in solution.unfilled} <= {s.id for s in period.sessions}
    empty = next(s for s in period.sessions if not s.assignments)
    with pytest.raises(ValidationError, match="maximum de 1 plage"):
        services.assign(empty, gps[0], source=AssignmentSource.MANUAL, locked=False, by=None)


def test_territory_minimum_rest_is_used_for_manual_edits(draft_period, make_site):
    territory, site, gps, period = draft_period
    night_site = make_site(territory, name="Nuit")
    gps[0].sites.append(night_site)
    services.create_template(
        territory, template_data(night_site, start_time=time(20), end_time=time(8)), by=None
    )
    services.open_wishes(period, deadline=None, by=None)
    night = next(
        s for s in period.sessions if s.site_id == night_site.id and s.local_date == MONDAY
    )
    evening = next(
        s
        for s in period.sessions
        if s.site_id == site.id and s.local_date == MONDAY + timedelta(days=1)
    )
    services.assign(night, gps[0], source=AssignmentSource.MANUAL, locked=False, by=None)
    with pytest.raises(ValidationError, match="moins de 10 h de repos"):
        services.assign(evening, gps[0], source=AssignmentSource.MANUAL, locked=False, by=None)
    territory.min_rest_hours = 8
    services.assign(evening, gps[0], source=AssignmentSource.MANUAL, locked=False, by=None)


def test_editing_a_template_changes_future_periods_only(draft_period):
    territory, site, _, period = draft_period
    template = db.session.scalar(sa.select(SessionTemplate))
    services.open_wishes(period, deadline=None, by=None)
    db.session.commit()
    services.update_template(
        template, template_data(site, start_time=time(18), end_time=time(21)), by=None
    )
    db.session.commit()
    assert (template.start_time, template.end_time) == (time(18), time(21))
    assert {s.starts_at.hour for s in period.sessions} == {16}  # already expanded: unchanged
    later = services.create_period(
        territory,
        name="Avril",
        start_date=MONDAY + timedelta(days=28),
        end_date=MONDAY + timedelta(days=32),
        by=None,
    )
    services.open_wishes(later, deadline=None, by=None)
    assert {s.starts_at.hour for s in later.sessions} == {16}  # 18:00 Paris in April (CEST)


def test_editing_a_template_into_an_overlap_is_refused_and_changes_nothing(draft_period):
    territory, site, _, _ = draft_period
    template = db.session.scalar(sa.select(SessionTemplate))
    services.create_template(
        territory, template_data(site, start_time=time(8), end_time=time(12)), by=None
    )
    db.session.commit()
    with pytest.raises(ValidationError, match="chevauchent"):
        services.update_template(
            template, template_data(site, start_time=time(11), end_time=time(14)), by=None
        )
    db.session.rollback()
    db.session.expire_all()
    assert db.session.get(SessionTemplate, template.id).start_time == time(17)


def test_personal_limits_bind_generation_and_manual_edits(draft_period, make_site):
    territory, site, gps, period = draft_period
    services.create_template(
        territory, template_data(site, start_time=time(9), end_time=time(12)), by=None
    )
    territory.min_rest_hours = 0
    services.open_wishes(period, deadline=None, by=None)
    # Med0 allows two sessions a day but at most 3 in the period.
    services.save_wish(
        period,
        gps[0],
        weight=1.0,
        preferred_weekdays=frozenset(),
        preferred_site_ids=[],
        avoid_dates=[],
        max_per_day=2,
        max_per_period=3,
        by=None,
    )
    services.generate_rota(period, by=None)
    db.session.commit()
    mine = [s for s in period.sessions for a in s.assignments if a.practitioner_id == gps[0].id]
    assert len(mine) == 3  # a fair share would be 5 of the 20 places: capped at 3
    others = [s for s in period.sessions for a in s.assignments if a.practitioner_id == gps[1].id]
    assert len({s.local_date for s in others}) == len(others)  # the others: one a day
    my_days = {s.local_date for s in mine}
    free = next(s for s in period.sessions if s.local_date not in my_days)
    for a in list(free.assignments):
        services.unassign(a, by=None)
    with pytest.raises(ValidationError, match="maximum de 3 plage"):
        services.assign(free, gps[0], source=AssignmentSource.MANUAL, locked=False, by=None)


def test_wish_limits_are_checked(draft_period):
    _, _, gps, period = draft_period
    kwargs = dict(weight=1.0, preferred_weekdays=frozenset(), preferred_site_ids=[], avoid_dates=[])
    with pytest.raises(ValidationError, match="par jour"):
        services.save_wish(period, gps[0], **kwargs, max_per_day=4, by=None)
    with pytest.raises(ValidationError, match="dépasse le maximum"):
        services.save_wish(period, gps[0], **kwargs, target_sessions=5, max_per_period=3, by=None)


def test_one_session_a_day_is_a_hard_rule_even_without_rest(draft_period):
    territory, site, gps, period = draft_period
    services.create_template(
        territory, template_data(site, start_time=time(9), end_time=time(12)), by=None
    )
    territory.min_rest_hours = 0
    services.open_wishes(period, deadline=None, by=None)
    morning, evening = sorted(
        (s for s in period.sessions if s.local_date == MONDAY), key=lambda s: s.starts_at
    )
    services.assign(morning, gps[0], source=AssignmentSource.MANUAL, locked=False, by=None)
    with pytest.raises(ValidationError, match="maximum : 1 par jour"):
        services.assign(evening, gps[0], source=AssignmentSource.MANUAL, locked=False, by=None)


def test_swaps_wait_for_approval_when_the_territory_asks(draft_period, make_user):
    from app.enums import Role
    from rota.models import SwapStatus

    territory, _, gps, _ = draft_period
    make_user(Role.COORDINATOR, territory, email="coord@example.org")
    territory.swaps_need_approval = True
    period = _published(draft_period, MONDAY + timedelta(days=35))
    session = period.sessions[0]
    assignment = session.assignments[0]
    giver = assignment.practitioner_id
    taker = next(g for g in gps if g.id != giver)
    swap = services.offer_swap(assignment, to=None, message="", by=None)
    version = session.version
    assert services.accept_swap(swap, taker, by=None) is None
    db.session.commit()
    assert swap.status == SwapStatus.PENDING
    assert assignment.practitioner_id == giver
    assert session.version == version
    assert db.session.scalar(
        sa.select(sa.func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.recipient == "coord@example.org")
    )
    with pytest.raises(ValidationError, match="déjà proposée"):
        services.offer_swap(assignment, to=None, message="", by=None)
    services.approve_swap(swap, by=None)
    db.session.commit()
    assert (assignment.practitioner_id, swap.status) == (taker.id, SwapStatus.ACCEPTED)
    assert session.version == version + 1
    with pytest.raises(ValidationError, match="n'attend pas"):
        services.refuse_swap(swap, by=None)


def test_refused_swap_leaves_the_session_to_its_holder(draft_period):
    from rota.models import SwapStatus

    territory, _, gps, _ = draft_period
    territory.swaps_need_approval = True
    period = _published(draft_period, MONDAY + timedelta(days=35))
    assignment = period.sessions[0].assignments[0]
    giver = assignment.practitioner_id
    taker = next(g for g in gps if g.id != giver)
    swap = services.offer_swap(assignment, to=taker, message="", by=None)
    services.accept_swap(swap, taker, by=None)
    services.refuse_swap(swap, by=None)
    db.session.commit()
    assert (assignment.practitioner_id, swap.status) == (giver, SwapStatus.REFUSED)
    again = services.offer_swap(assignment, to=None, message="", by=None)  # may offer anew
    assert again.status == SwapStatus.OPEN


def test_approval_rechecks_the_hard_rules(draft_period):
    territory, _, gps, _ = draft_period
    territory.swaps_need_approval = True
    period = _published(draft_period, MONDAY + timedelta(days=35))
    first = period.sessions[0]
    assignment = first.assignments[0]
    taker = next(g for g in gps if g.id != assignment.practitioner_id)
    swap = services.offer_swap(assignment, to=None, message="", by=None)
    services.accept_swap(swap, taker, by=None)
    services.declare_unavailability(
        taker, start_date=first.local_date, end_date=first.local_date, reason="", by=None
    )
    db.session.commit()
    with pytest.raises(ValidationError, match="indisponible"):
        services.approve_swap(swap, by=None)


def test_unfilled_places_of_a_published_rota_go_to_the_bourse(draft_period, make_user):
    from app.enums import Role

    territory, site, gps, _ = draft_period
    make_user(Role.COORDINATOR, territory, email="coord@example.org")
    territory.max_sessions_per_week = 1
    period = _published(draft_period, MONDAY + timedelta(days=35))  # 4 sessions, 4 GPs: all filled
    session = period.sessions[0]
    holder = session.assignments[0]
    services.unassign(holder, by=None)  # say the coordinator removed a GP after publication
    db.session.commit()
    assert [s.id for s in services.open_places(territory.id)] == [session.id]
    assert services.open_places(territory.id, site_ids=[]) == []
    territory.max_sessions_per_week = None
    taker = next(g for g in gps if g.id != holder.practitioner_id)
    version = session.version
    taken = services.take_open_place(session, taker, by=None)
    db.session.commit()
    assert (taken.source, taken.locked) == (AssignmentSource.BOURSE, True)
    assert session.version == version + 1
    assert services.open_places(territory.id) == []
    with pytest.raises(ValidationError, match="complète"):
        services.take_open_place(session, gps[0], by=None)


def test_a_committed_number_of_sessions_replaces_the_weight(draft_period):
    _, _, gps, period = draft_period
    services.open_wishes(period, deadline=None, by=None)
    services.save_wish(
        period,
        gps[0],
        weight=2.0,  # ignored: the commitment wins
        preferred_weekdays=frozenset(),
        preferred_site_ids=[],
        avoid_dates=[],
        target_sessions=1,
        by=None,
    )
    services.generate_rota(period, by=None)
    db.session.commit()
    held = [a for s in period.sessions for a in s.assignments if a.practitioner_id == gps[0].id]
    assert len(held) == 1
    rows = {r.doctor_id: r for r in services.period_fairness(period)}
    assert rows[gps[0].id].total_target == pytest.approx(1.0)
    assert sum(r.total_target for r in rows.values()) == pytest.approx(10.0)


def test_fairness_carries_over_from_the_previous_period(draft_period):
    territory, _, gps, period = draft_period
    services.open_wishes(period, deadline=None, by=None)
    for session in period.sessions[:5]:  # Med0 does 5 of the 10 places (a fair share is 2.5)
        services.assign(session, gps[0], source=AssignmentSource.MANUAL, locked=True, by=None)
    services.generate_rota(period, by=None)
    services.publish_rota(period, by=None)
    db.session.commit()
    owed = services.carried_balance(period)
    assert owed == {}  # nothing before the first period
    later = services.create_period(
        territory,
        name="Avril",
        start_date=MONDAY + timedelta(days=14),
        end_date=MONDAY + timedelta(days=27),
        by=None,
    )
    balance = services.carried_balance(later)
    assert balance[gps[0].id]["weekday"] == pytest.approx(-2.5)
    assert sum(b["weekday"] for b in balance.values()) == pytest.approx(0.0)
    services.open_wishes(later, deadline=None, by=None)
    services.generate_rota(later, by=None)
    db.session.commit()
    loads = {
        g.id: sum(1 for s in later.sessions for a in s.assignments if a.practitioner_id == g.id)
        for g in gps
    }
    assert loads[gps[0].id] == 0  # owed −2.5 against a share of 2.5: nothing this time
    assert sorted(loads.values()) == [0, 3, 3, 4]
    # Over the two periods everyone is within one session of 5.
    totals = {
        g.id: loads[g.id]
        + sum(1 for s in period.sessions for a in s.assignments if a.practitioner_id == g.id)
        for g in gps
    }
    assert max(totals.values()) - min(totals.values()) <= 1


def test_a_gp_taken_off_a_published_session_is_told_by_email(draft_period):
    _, _, gps, _ = draft_period
    period = _published(draft_period, MONDAY + timedelta(days=35))
    first, second = period.sessions[0].assignments[0], period.sessions[1].assignments[0]
    removed, replaced = first.practitioner, second.practitioner
    services.unassign(first, by=None)
    other = next(g for g in gps if g.id not in (replaced.id, removed.id))
    services.replace_gp(second, other, by=None)
    db.session.commit()
    told = db.session.scalars(
        sa.select(OutboxMessage.recipient).where(
            OutboxMessage.subject == "Tour de rôle : une plage ne vous est plus confiée"
        )
    ).all()
    assert sorted(told) == sorted([removed.email, replaced.email])
