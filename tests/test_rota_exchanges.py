"""Exchanges (two-way swaps) on both engines: the move, the rules, approval, races, bookings."""

from __future__ import annotations

import threading
from datetime import date, time, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from app.extensions import db
from app.models import Practitioner
from app.outbox import OutboxMessage
from app.timeutil import now_utc
from app.validators import ValidationError
from publishing.models import FeedTombstone
from rota import engine, exchange_reads, exchanges, scenarios
from rota import services as rota_services
from rota.models import (
    Assignment,
    AssignmentSource,
    ExchangeDecline,
    ExchangeProposal,
    FairnessLedger,
    RotaPeriod,
    Session,
    SwapStatus,
    Unavailability,
)
from tests.helpers import count, logged_in

START = date(2027, 3, 1)  # a Monday, in the future of the test run


def holder(session: Session) -> int:
    db.session.refresh(session)
    return session.assignments[0].practitioner_id


class World:
    """Four GPs at one site, one session a day for three weeks (17:00–20:00), published."""

    def __init__(self, territory, site, gps: list[Practitioner], period: RotaPeriod):
        self.territory, self.site, self.gps, self.period = territory, site, gps, period

    def sessions_of(self, gp: Practitioner) -> list[Session]:
        return sorted(
            (s for s in self.period.sessions if s.assignments[0].practitioner_id == gp.id),
            key=lambda s: s.starts_at,
        )

    def seat(self, session: Session) -> Assignment:
        return session.assignments[0]

    def pairs(self) -> set[tuple[int, int]]:
        return set(db.session.execute(sa.select(Assignment.session_id, Assignment.practitioner_id)))


@pytest.fixture
def world(make_territory, make_site, make_practitioner, published_period) -> World:
    territory = make_territory(name="CPTS des Marais")
    site = make_site(territory, name="MSP des Marais")
    gps = [
        make_practitioner(
            territory,
            family_name=name,
            given_name="Jean",
            email=f"gp{i}@example.org",
            site_ids=[site.id],
        )
        for i, name in enumerate(("Aubert", "Émery", "Dupuis", "Fabre"))
    ]
    by_day = {START + timedelta(days=i): gps[i % 4] for i in range(21)}
    period = published_period(
        territory,
        name="Mars",
        start=START,
        end=START + timedelta(days=20),
        templates=[
            scenarios.template(
                site, weekdays=range(7), start=time(17), end=time(20), valid_from=START
            )
        ],
        volunteers=lambda p: [(s, by_day[s.local_date]) for s in p.sessions],
    )
    return World(territory, site, gps, period)


def test_a_named_exchange_swaps_both_sessions_at_once(world):
    a, b, c, _ = world.gps
    mine, theirs, other = world.sessions_of(a)[1], world.sessions_of(b)[1], world.sessions_of(c)[1]
    before = world.pairs()
    proposal = exchanges.propose(
        world.seat(mine),
        counterparts=[world.seat(theirs), world.seat(other)],
        any_in_month=False,
        message="Mariage le 6",
        by=None,
    )
    db.session.commit()
    told = set(db.session.scalars(sa.select(OutboxMessage.recipient)))
    assert {"gp1@example.org", "gp2@example.org"} <= told
    versions = (mine.version, theirs.version)
    outbox_before = count(OutboxMessage)

    assert exchanges.accept(proposal, b, world.seat(theirs), by=None) is True
    db.session.commit()

    assert (holder(mine), holder(theirs), holder(other)) == (b.id, a.id, c.id)
    assert world.pairs() ^ before == {
        (mine.id, a.id),
        (mine.id, b.id),
        (theirs.id, b.id),
        (theirs.id, a.id),
    }
    assert proposal.status == SwapStatus.ACCEPTED
    assert (proposal.taken_by_id, proposal.counterpart_session_id) == (b.id, theirs.id)
    assert (mine.version, theirs.version) == (versions[0] + 1, versions[1] + 1)
    assert {a_.source for a_ in (world.seat(mine), world.seat(theirs))} == {
        AssignmentSource.SWAPPED
    }
    # Both GPs' feeds show their old session cancelled.
    tombstones = set(
        db.session.execute(sa.select(FeedTombstone.practitioner_id, FeedTombstone.session_id))
    )
    assert {(a.id, mine.id), (b.id, theirs.id)} <= tombstones
    # Both are told the exchange is done.
    news = db.session.scalars(
        sa.select(OutboxMessage.recipient).order_by(OutboxMessage.id).offset(outbox_before)
    ).all()
    assert set(news) == {"gp0@example.org", "gp1@example.org"}
    # The second counterpart can no longer accept.
    with pytest.raises(ValidationError, match="plus ouverte"):
        exchanges.accept(proposal, c, world.seat(other), by=None)


def test_the_fairness_ledger_follows_both_sessions(world):
    a, b, _, _ = world.gps
    weekday = next(s for s in world.sessions_of(a) if s.category == "weekday")
    weekend = next(s for s in world.sessions_of(b) if s.category == "weekend_holiday")

    def loads() -> dict[tuple[int, str], int]:
        rows = db.session.execute(
            sa.select(
                FairnessLedger.practitioner_id, FairnessLedger.category, FairnessLedger.load
            ).where(FairnessLedger.period_id == world.period.id)
        )
        return {(gp, cat): load for gp, cat, load in rows}

    before = loads()
    proposal = exchanges.propose(
        world.seat(weekday),
        counterparts=[world.seat(weekend)],
        any_in_month=False,
        message="",
        by=None,
    )
    exchanges.accept(proposal, b, world.seat(weekend), by=None)
    db.session.commit()
    after = loads()
    assert after[(a.id, "weekday")] == before[(a.id, "weekday")] - 1
    assert after[(a.id, "weekend_holiday")] == before[(a.id, "weekend_holiday")] + 1
    assert after[(b.id, "weekday")] == before[(b.id, "weekday")] + 1
    assert after[(b.id, "weekend_holiday")] == before[(b.id, "weekend_holiday")] - 1


def test_any_session_this_month_lets_any_colleague_pick_one_of_theirs(world):
    a, _, _, d = world.gps
    mine = world.sessions_of(a)[0]
    proposal = exchanges.propose(
        world.seat(mine), counterparts=[], any_in_month=True, message="", by=None
    )
    db.session.commit()
    theirs = world.sessions_of(d)[2]
    with pytest.raises(ValidationError, match="une de vos plages"):
        exchanges.accept(proposal, d, world.seat(world.sessions_of(a)[1]), by=None)
    assert exchanges.accept(proposal, d, world.seat(theirs), by=None) is True
    db.session.commit()
    assert (holder(mine), holder(theirs)) == (d.id, a.id)


def test_a_proposal_needs_counterparts_or_the_month_not_both(world):
    a, b, _, _ = world.gps
    seat = world.seat(world.sessions_of(a)[0])
    with pytest.raises(ValidationError, match="mais pas les deux"):
        exchanges.propose(seat, counterparts=[], any_in_month=False, message="", by=None)
    with pytest.raises(ValidationError, match="mais pas les deux"):
        exchanges.propose(
            seat,
            counterparts=[world.seat(world.sessions_of(b)[0])],
            any_in_month=True,
            message="",
            by=None,
        )
    exchanges.propose(seat, counterparts=[], any_in_month=True, message="", by=None)
    with pytest.raises(ValidationError, match="déjà proposée"):
        exchanges.propose(seat, counterparts=[], any_in_month=True, message="", by=None)


def test_an_exchange_breaking_a_hard_rule_is_refused_and_changes_nothing(world):
    a, b, _, _ = world.gps
    mine, theirs = world.sessions_of(a)[1], world.sessions_of(b)[1]
    proposal = exchanges.propose(
        world.seat(mine), counterparts=[world.seat(theirs)], any_in_month=False, message="", by=None
    )
    # Émery declares an absence on the day he would take over.
    db.session.add(
        Unavailability(
            practitioner_id=b.id, start_date=mine.local_date, end_date=mine.local_date, reason=""
        )
    )
    db.session.commit()
    before = world.pairs()
    with pytest.raises(ValidationError, match="Échange impossible.*indisponible"):
        exchanges.accept(proposal, b, world.seat(theirs), by=None)
    db.session.rollback()
    assert world.pairs() == before
    db.session.refresh(proposal)
    assert proposal.status == SwapStatus.OPEN


def test_the_proposer_is_checked_too(world):
    a, b, _, _ = world.gps
    mine, theirs = world.sessions_of(a)[1], world.sessions_of(b)[1]
    db.session.add(
        Unavailability(
            practitioner_id=a.id, start_date=theirs.local_date, end_date=theirs.local_date
        )
    )
    db.session.commit()
    with pytest.raises(ValidationError, match="Aubert.*indisponible"):
        exchanges.propose(
            world.seat(mine),
            counterparts=[world.seat(theirs)],
            any_in_month=False,
            message="",
            by=None,
        )


def test_exchanges_wait_for_approval_when_the_territory_asks(world, make_user):
    from app.enums import Role

    a, b, _, _ = world.gps
    world.territory.swaps_need_approval = True
    make_user(Role.COORDINATOR, world.territory, email="coord@example.org")
    mine, theirs = world.sessions_of(a)[1], world.sessions_of(b)[1]
    proposal = exchanges.propose(
        world.seat(mine), counterparts=[world.seat(theirs)], any_in_month=False, message="", by=None
    )
    db.session.commit()
    assert exchanges.accept(proposal, b, world.seat(theirs), by=None) is False
    db.session.commit()
    assert proposal.status == SwapStatus.PENDING
    assert (holder(mine), holder(theirs)) == (a.id, b.id)
    assert count(OutboxMessage, OutboxMessage.recipient == "coord@example.org") == 1
    exchanges.approve(proposal, by=None)
    db.session.commit()
    assert (holder(mine), holder(theirs)) == (b.id, a.id)
    with pytest.raises(ValidationError, match="n'attend pas"):
        exchanges.refuse(proposal, by=None)


def test_a_refused_exchange_leaves_each_session_to_its_holder(world):
    a, b, _, _ = world.gps
    world.territory.swaps_need_approval = True
    mine, theirs = world.sessions_of(a)[1], world.sessions_of(b)[1]
    proposal = exchanges.propose(
        world.seat(mine), counterparts=[world.seat(theirs)], any_in_month=False, message="", by=None
    )
    exchanges.accept(proposal, b, world.seat(theirs), by=None)
    exchanges.refuse(proposal, by=None)
    db.session.commit()
    assert (holder(mine), holder(theirs), proposal.status) == (a.id, b.id, SwapStatus.REFUSED)
    # The session may be offered anew.
    exchanges.propose(world.seat(mine), counterparts=[], any_in_month=True, message="", by=None)


def test_a_withdrawn_proposal_can_no_longer_be_accepted(world):
    a, b, _, _ = world.gps
    mine, theirs = world.sessions_of(a)[1], world.sessions_of(b)[1]
    proposal = exchanges.propose(
        world.seat(mine), counterparts=[world.seat(theirs)], any_in_month=False, message="", by=None
    )
    exchanges.withdraw(proposal, by=None)
    db.session.commit()
    with pytest.raises(ValidationError, match="plus ouverte"):
        exchanges.accept(proposal, b, world.seat(theirs), by=None)


def test_a_seat_already_offered_elsewhere_cannot_be_given_in_exchange(world):
    a, b, _, _ = world.gps
    mine, theirs = world.sessions_of(a)[1], world.sessions_of(b)[1]
    handed = rota_services.offer_swap(world.seat(theirs), to=None, message="", by=None)
    proposal = exchanges.propose(
        world.seat(mine), counterparts=[world.seat(theirs)], any_in_month=False, message="", by=None
    )
    db.session.commit()
    with pytest.raises(ValidationError, match="déjà proposée ailleurs"):
        exchanges.accept(proposal, b, world.seat(theirs), by=None)
    db.session.rollback()
    rota_services.cancel_swap(handed, by=None)
    db.session.commit()
    assert exchanges.accept(proposal, b, world.seat(theirs), by=None) is True


def test_a_seat_offered_in_exchange_cannot_be_handed_over_too(world):
    a, _, _, _ = world.gps
    seat = world.seat(world.sessions_of(a)[1])
    exchanges.propose(seat, counterparts=[], any_in_month=True, message="", by=None)
    with pytest.raises(ValidationError, match="déjà proposée"):
        rota_services.offer_swap(seat, to=None, message="", by=None)


def race(app, proposal_id: int, takers: list[tuple[int, int]]) -> list[str]:
    """Each (GP id, assignment id) accepts the proposal at once, on its own connection."""
    db.session.commit()
    results: list[str] = []
    barrier = threading.Barrier(len(takers), timeout=60)

    def attempt(gp_id: int, assignment_id: int) -> None:
        with app.app_context():
            proposal = db.session.get(ExchangeProposal, proposal_id)
            gp = db.session.get(Practitioner, gp_id)
            counterpart = db.session.get(Assignment, assignment_id)
            assert None not in (proposal, gp, counterpart)
            _ = (proposal.counterparts, proposal.session, counterpart.session)
            db.session.commit()  # end the read: SQLite's BEGIN IMMEDIATE would hold the lock
            barrier.wait()
            try:
                exchanges.accept(proposal, gp, counterpart, by=None)
                db.session.commit()
                results.append("accepted")
            except ValidationError as exc:
                db.session.rollback()
                results.append(
                    "refused" if "un confrère vient de l'accepter" in str(exc) else str(exc)
                )
            except Exception as exc:  # noqa: BLE001 - any other outcome fails the test
                db.session.rollback()
                results.append(repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=attempt, args=t) for t in takers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_two_acceptances_at_once_leave_exactly_one_exchange(app, world):
    a, b, c, _ = world.gps
    mine, theirs, other = world.sessions_of(a)[1], world.sessions_of(b)[1], world.sessions_of(c)[1]
    proposal = exchanges.propose(
        world.seat(mine),
        counterparts=[world.seat(theirs), world.seat(other)],
        any_in_month=False,
        message="",
        by=None,
    )
    before = world.pairs()
    ids = (proposal.id, world.seat(theirs).id, world.seat(other).id)
    results = race(app, ids[0], [(b.id, ids[1]), (c.id, ids[2])])
    assert sorted(results) == ["accepted", "refused"]
    db.session.expire_all()
    changed = world.pairs() ^ before
    assert len(changed) == 4  # one swap: two pairs left, two pairs arrived
    winner = b if (mine.id, b.id) in changed else c
    assert holder(mine) == winner.id
    assert db.session.get(ExchangeProposal, ids[0]).taken_by_id == winner.id
    assert count(ExchangeProposal, ExchangeProposal.status == SwapStatus.ACCEPTED) == 1


def test_bookings_follow_their_session_to_the_new_gp(booking_world):
    from booking import services as booking_services
    from tests.test_booking_services import PATIENT, free

    world = booking_world
    first = world.session_on(world.period.start_date)
    seat = next(a for a in first.assignments if a.seat == 1)
    target = next(f for f in free(world) if f.session.id == first.id and f.slot.seat == 1)
    booking = booking_services.book(world.users["regulator"], target.id, PATIENT, now=world.now)
    db.session.commit()
    giver = seat.practitioner
    # A colleague not on the first day, holding a session later in the week.
    later = next(
        (s, a)
        for s in sorted(world.period.sessions, key=lambda s: s.starts_at)[2:]
        for a in s.assignments
        if a.practitioner_id not in {x.practitioner_id for x in first.assignments}
        and giver.id not in {x.practitioner_id for x in s.assignments}
    )
    taker = later[1].practitioner
    proposal = exchanges.propose(
        seat, counterparts=[later[1]], any_in_month=False, message="", by=None
    )
    exchanges.accept(proposal, taker, later[1], by=None)
    db.session.commit()
    assert booking_services.holder_of(booking) == taker
    assert (booking.session_id, booking.seat) == (first.id, 1)


# --- pages ------------------------------------------------------------------------------------


@pytest.fixture
def gp_users(world, make_user):
    from app.enums import Role

    return [
        make_user(Role.GP, world.territory, email=gp.email, practitioner=gp) for gp in world.gps
    ]


def test_proposing_from_the_page_lists_colleagues_in_french_order(app, world, gp_users):
    a = world.gps[0]
    seat = world.seat(world.sessions_of(a)[1])
    client = logged_in(app, gp_users[0].email)
    page = client.get(f"/mes-plages/{seat.id}/echanger").get_data(as_text=True)
    names = [page.index(f"Jean {n}") for n in ("Dupuis", "Émery", "Fabre")]
    assert names == sorted(names)
    # An empty proposal is refused and creates nothing.
    answer = client.post(f"/mes-plages/{seat.id}/echanger", data={}, follow_redirects=True)
    assert "mais pas les deux" in answer.get_data(as_text=True)
    assert count(ExchangeProposal) == 0
    theirs = world.seat(world.sessions_of(world.gps[1])[1])
    answer = client.post(
        f"/mes-plages/{seat.id}/echanger",
        data={"counterparts": [str(theirs.id)], "message": "Merci !"},
        follow_redirects=True,
    )
    assert "échange envoyée" in answer.get_data(as_text=True)
    assert count(ExchangeProposal, ExchangeProposal.status == SwapStatus.OPEN) == 1


def test_the_colleague_sees_the_badge_and_the_proposal_first_on_home(app, world, gp_users):
    a, b = world.gps[0], world.gps[1]
    mine, theirs = world.sessions_of(a)[1], world.sessions_of(b)[1]
    proposal = exchanges.propose(
        world.seat(mine),
        counterparts=[world.seat(theirs)],
        any_in_month=False,
        message="",
        by=None,
    )
    db.session.commit()
    client = logged_in(app, gp_users[1].email)
    home = client.get("/").get_data(as_text=True)
    assert 'class="badge count" aria-hidden="true">1<' in home
    assert "Propositions pour vous (1)" in home
    # The block comes before anything else of the page's content.
    content = home[home.index('id="contenu"') :]
    assert content.index("Propositions pour vous") < content.index("Mes plages, mes")
    # Accepting from the home page's form.
    answer = client.post(
        f"/echanges/propositions/{proposal.id}/accepter",
        data={f"offre-{proposal.id}-counterpart": str(world.seat(theirs).id)},
        follow_redirects=True,
    )
    assert "Échange conclu" in answer.get_data(as_text=True)
    assert (holder(mine), holder(theirs)) == (b.id, a.id)
    home = client.get("/").get_data(as_text=True)
    assert "badge count" not in home
    # Nobody else sees it any more.
    other = logged_in(app, gp_users[2].email).get("/").get_data(as_text=True)
    assert "Propositions pour vous" not in other


def test_a_colleague_who_is_not_named_cannot_accept(app, world, gp_users):
    a, b, c = world.gps[:3]
    mine, theirs = world.sessions_of(a)[1], world.sessions_of(b)[1]
    proposal = exchanges.propose(
        world.seat(mine),
        counterparts=[world.seat(theirs)],
        any_in_month=False,
        message="",
        by=None,
    )
    db.session.commit()
    client = logged_in(app, gp_users[2].email)
    answer = client.post(
        f"/echanges/propositions/{proposal.id}/accepter",
        data={f"offre-{proposal.id}-counterpart": str(world.seat(world.sessions_of(c)[0]).id)},
        follow_redirects=True,
    )
    assert "plus ouverte" in answer.get_data(as_text=True)
    assert (holder(mine), holder(theirs)) == (a.id, b.id)


def test_named_colleagues_decline_and_the_last_no_closes_the_proposal(app, world, gp_users):
    a, b, c, _ = world.gps
    mine = world.sessions_of(a)[1]
    theirs, other = world.sessions_of(b)[1], world.sessions_of(c)[1]
    proposal = exchanges.propose(
        world.seat(mine),
        counterparts=[world.seat(theirs), world.seat(other)],
        any_in_month=False,
        message="",
        by=None,
    )
    db.session.commit()
    outbox_before = count(OutboxMessage)
    # A colleague who isn't named can't decline (nor see) it; nothing is written.
    stranger = logged_in(app, gp_users[3].email)
    answer = stranger.post(f"/echanges/propositions/{proposal.id}/decliner", follow_redirects=True)
    assert "pas adressée" in answer.get_data(as_text=True)
    assert count(ExchangeDecline) == 0
    # The first named colleague declines from the page: it leaves their list and badge.
    first = logged_in(app, gp_users[1].email)
    assert "Propositions pour vous (1)" in first.get("/echanges").get_data(as_text=True)
    answer = first.post(f"/echanges/propositions/{proposal.id}/decliner", follow_redirects=True)
    page = answer.get_data(as_text=True)
    assert "Proposition déclinée" in page
    assert "Propositions pour vous" not in page
    assert "badge count" not in first.get("/").get_data(as_text=True)
    db.session.refresh(proposal)
    assert proposal.status == SwapStatus.OPEN  # the other named colleague may still accept
    told = db.session.scalars(
        sa.select(OutboxMessage).order_by(OutboxMessage.id).offset(outbox_before)
    ).all()
    assert [m.recipient for m in told] == ["gp0@example.org"]
    assert "Émery décline votre proposition" in told[0].body
    # A double tap: said and recorded once, the author told once.
    assert exchanges.decline(proposal, b, by=None) is False
    db.session.commit()
    assert count(OutboxMessage) == outbox_before + 1
    assert count(ExchangeDecline) == 1
    # The author sees who declined on their own page.
    author = logged_in(app, gp_users[0].email)
    assert "A décliné : " in author.get("/echanges").get_data(as_text=True)
    # The declined colleague can no longer accept it.
    answer = first.post(
        f"/echanges/propositions/{proposal.id}/accepter",
        data={f"offre-{proposal.id}-counterpart": str(world.seat(theirs).id)},
        follow_redirects=True,
    )
    assert "plus ouverte" in answer.get_data(as_text=True)
    assert holder(theirs) == b.id
    # The last named colleague declines: the proposal closes, the author keeps the session.
    assert exchanges.decline(proposal, c, by=None) is True
    db.session.commit()
    assert proposal.status == SwapStatus.CANCELLED
    assert (holder(mine), holder(theirs), holder(other)) == (a.id, b.id, c.id)
    last = db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id.desc())).first()
    assert last.recipient == "gp0@example.org"
    assert "proposition est close" in last.body
    with pytest.raises(ValidationError, match="plus ouverte"):
        exchanges.decline(proposal, b, by=None)
    # And the closed proposal frees the seat for another offer.
    exchanges.propose(world.seat(mine), counterparts=[], any_in_month=True, message="", by=None)


def test_declining_a_month_wide_offer_hides_it_for_me_only(world):
    a, b, c, _ = world.gps
    proposal = exchanges.propose(
        world.seat(world.sessions_of(a)[0]), counterparts=[], any_in_month=True, message="", by=None
    )
    db.session.commit()
    outbox_before = count(OutboxMessage)
    assert exchanges.decline(proposal, b, by=None) is False
    exchanges.decline(proposal, b, by=None)  # twice is once
    db.session.commit()
    assert count(ExchangeDecline) == 1
    assert count(OutboxMessage) == outbox_before  # a market offer: its author isn't told
    assert exchange_reads.offers_for(b, now_utc()) == []
    assert [o.proposal.id for o in exchange_reads.offers_for(c, now_utc())] == [proposal.id]
    assert proposal.status == SwapStatus.OPEN
    assert exchanges.accept(proposal, c, world.seat(world.sessions_of(c)[0]), by=None) is True


def test_the_coordinator_approves_from_the_gaps_page(app, world, gp_users, make_user):
    from app.enums import Role

    a, b = world.gps[0], world.gps[1]
    world.territory.swaps_need_approval = True
    coordinator = make_user(Role.COORDINATOR, world.territory, email="coord@example.org")
    mine, theirs = world.sessions_of(a)[1], world.sessions_of(b)[1]
    proposal = exchanges.propose(
        world.seat(mine),
        counterparts=[world.seat(theirs)],
        any_in_month=False,
        message="",
        by=None,
    )
    exchanges.accept(proposal, b, world.seat(theirs), by=None)
    db.session.commit()
    client = logged_in(app, coordinator.email)
    gaps = client.get("/coordination/a-pourvoir").get_data(as_text=True)
    assert "Échanges croisés à valider (1)" in gaps
    answer = client.post(
        f"/coordination/echanges-croises/{proposal.id}/valider", follow_redirects=True
    )
    assert "Échange validé" in answer.get_data(as_text=True)
    assert (holder(mine), holder(theirs)) == (b.id, a.id)


# --- property: an accepted exchange leaves both GPs within every hard rule -------------------


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_an_accepted_exchange_never_leaves_either_gp_in_breach(world, data):
    """Random territory rules, absences and pairs of sessions, through the real service:
    whatever is accepted leaves the whole rota of both GPs valid, and moves exactly the two
    (session, GP) pairs; whatever is refused changes nothing."""
    first, second = data.draw(st.permutations(world.gps))[:2]
    mine = data.draw(st.sampled_from(world.sessions_of(first)))
    theirs = data.draw(st.sampled_from(world.sessions_of(second)))
    world.territory.min_rest_hours = data.draw(st.sampled_from([0, 10, 24, 48]))
    world.territory.max_sessions_per_week = data.draw(st.sampled_from([None, 1, 2, 3]))
    for gp in (first, second):
        away = data.draw(st.none() | st.integers(0, 20))
        if away is not None:
            day = START + timedelta(days=away)
            db.session.add(Unavailability(practitioner_id=gp.id, start_date=day, end_date=day))
    db.session.flush()

    def breaches_of_the_two() -> list:
        problem = rota_services.build_problem(world.period)
        held = db.session.execute(
            sa.select(Assignment.session_id, Assignment.practitioner_id)
            .join(Session, Session.id == Assignment.session_id)
            .where(Session.period_id == world.period.id)
        )
        found = engine.violations(problem, [engine.Assignment(s, d, False) for s, d in held])
        return [b for b in found if b.doctor_id in (first.id, second.id)]

    try:
        if breaches_of_the_two():
            event("already in breach")
            return  # the GPs already break a rule before any exchange: nothing to judge
        before = world.pairs()
        try:
            proposal = exchanges.propose(
                world.seat(mine),
                counterparts=[world.seat(theirs)],
                any_in_month=False,
                message="",
                by=None,
            )
            exchanges.accept(proposal, second, world.seat(theirs), by=None)
        except ValidationError:
            event("refused")
            db.session.rollback()
            assert world.pairs() == before
            return
        event("accepted")
        assert breaches_of_the_two() == []
        assert world.pairs() ^ before == {
            (mine.id, first.id),
            (mine.id, second.id),
            (theirs.id, second.id),
            (theirs.id, first.id),
        }
    finally:
        db.session.rollback()


def test_no_two_routes_answer_the_same_url(app):
    """Exchanges first shared ``/echanges/<id>/accepter`` with hand-overs: one of the two
    endpoints was unreachable. Variables are compared by position, each choice of an
    ``any(...)`` as the literal it matches."""
    import itertools
    import re
    from collections import Counter

    seen: Counter = Counter()
    for rule in app.url_map.iter_rules():
        shape = re.sub(r"<(?!any\()(?:[^:>]+:)?[^>]+>", "<var>", rule.rule)
        parts = re.split(r"<any\(([^)]*)\):[^>]+>", shape)
        literals, options = (
            parts[0::2],
            [[c.strip().strip("'\"") for c in group.split(",")] for group in parts[1::2]],
        )
        for chosen in itertools.product(*options):
            url = "".join(a + b for a, b in itertools.zip_longest(literals, chosen, fillvalue=""))
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                seen[(url, method)] += 1
    assert [key for key, n in seen.items() if n > 1] == []
