"""Issue 14: checked declarations, confirmation steps, and the coordinator's fixes.

Each test names the bug it pins down; every one failed before the fix (both engines).
"""

from datetime import UTC, datetime, time, timedelta

import pytest
import sqlalchemy as sa
import time_machine

from app.enums import Role
from app.extensions import db
from app.outbox import OutboxMessage
from app.todo import collect
from rota import declarations, scenarios
from rota import services as rota_services
from rota.models import (
    Assignment,
    PeriodStatus,
    RotaPeriod,
    Session,
    SwapRequest,
    SwapStatus,
    Unavailability,
)
from tests.helpers import logged_in


@pytest.fixture
def world(app, make_territory, make_site, make_practitioner, make_user, published_period):
    """A published rota from tomorrow, three evenings, one GP each; the GP holds the first."""
    territory = make_territory()
    site = make_site(territory, name="MSP des Marais")
    gps = [
        make_practitioner(
            territory,
            family_name=name,
            given_name="Anne",
            email=f"{name.lower()}@example.org",
            site_ids=[site.id],
        )
        for name in ("Martin", "Durand", "Petit")
    ]
    make_user(Role.COORDINATOR, territory, email="coord@example.org")
    make_user(Role.GP, territory, email="gp@example.org", practitioner=gps[0])
    start = datetime.now(UTC).date() + timedelta(days=1)
    period = published_period(
        territory,
        name="Semaine",
        start=start,
        end=start + timedelta(days=2),
        templates=[
            scenarios.template(
                site, weekdays=range(7), start=time(17), end=time(20), valid_from=start
            )
        ],
        volunteers=lambda p: [(p.sessions[0], gps[0])],
    )
    db.session.query(OutboxMessage).delete()
    db.session.commit()
    return territory, site, gps, period


def _first(period: RotaPeriod) -> Session:
    return min(period.sessions, key=lambda s: s.starts_at)


def _outbox() -> int:
    return db.session.scalar(sa.select(sa.func.count(OutboxMessage.id))) or 0


# --- declarations ----------------------------------------------------------------------------


def test_past_absence_is_refused_in_french(app, world):
    """Bug: a past range was accepted, then never listed."""
    client = logged_in(app, "gp@example.org")
    yesterday = datetime.now(UTC).date() - timedelta(days=2)
    page = client.post(
        "/mes-indisponibilites",
        data={"start_date": yesterday.isoformat(), "end_date": yesterday.isoformat()},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "ne peut pas commencer dans le passé" in page
    assert db.session.scalar(sa.select(sa.func.count(Unavailability.id))) == 0


def test_absence_on_a_rostered_day_is_refused_by_default(app, world):
    """Bug: "Indisponibilité enregistrée." on a day the GP is rostered, no warning."""
    territory, _, gps, period = world
    day = _first(period).local_date
    client = logged_in(app, "gp@example.org")
    page = client.post(
        "/mes-indisponibilites",
        data={"start_date": day.isoformat(), "end_date": day.isoformat()},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert f"Vous êtes de garde le {day:%d/%m/%Y} à MSP des Marais" in page
    assert "Indisponibilité enregistrée" not in page
    assert db.session.scalar(sa.select(sa.func.count(Unavailability.id))) == 0


def test_absence_to_replace_goes_to_the_bourse_and_the_todo(app, world):
    """The territory accepts it "à remplacer": bourse, to-do, then the coordinator refills."""
    territory, _, gps, period = world
    territory.absence_on_duty_to_replace = True
    db.session.commit()
    session = _first(period)
    day = session.local_date
    client = logged_in(app, "gp@example.org")
    page = client.post(
        "/mes-indisponibilites",
        data={"start_date": day.isoformat(), "end_date": day.isoformat(), "reason": "malade"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "1 plage(s) de garde passent « à remplacer »" in page
    told = db.session.scalars(sa.select(OutboxMessage)).all()  # the fixture emptied it
    assert [m.recipient for m in told] == ["coord@example.org"]
    assert told[0].body.startswith("Dr Anne Martin a déclaré une indisponibilité")
    assert f"{day:%d/%m/%Y}, 17:00–20:00, MSP des Marais" in told[0].body
    offer = db.session.scalar(sa.select(SwapRequest))
    assert (offer.status, offer.to_practitioner_id) == (SwapStatus.OPEN, None)
    assert offer.message == declarations.TO_REPLACE_MESSAGE
    todo = {i.key: i.count for i in _todo(app, territory)}
    assert todo["unavailable_rostered"] == 1

    coord = logged_in(app, "coord@example.org")
    gaps = coord.get("/coordination/a-pourvoir").get_data(as_text=True)
    assert 'id="a-remplacer"' in gaps
    holder = session.assignments[0]
    confirm = coord.post(
        f"/coordination/affectations/{holder.id}/remplacer",
        data={"practitioner_id": str(gps[1].id)},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "assure désormais cette place" in confirm
    db.session.expire_all()
    assert db.session.get(SwapRequest, offer.id).status == SwapStatus.CANCELLED
    assert {i.key: i.count for i in _todo(app, territory)}.get("unavailable_rostered", 0) == 0


def _todo(app, territory):
    with app.test_request_context():
        return collect(territory)


def test_entries_are_listed_and_deleted_until_generation(
    app, make_territory, make_site, make_practitioner, make_user
):
    """Bug: entries could not be deleted."""
    territory = make_territory()
    site = make_site(territory)
    gp = make_practitioner(territory, site_ids=[site.id])
    make_user(Role.GP, territory, email="gp@example.org", practitioner=gp)
    start = datetime.now(UTC).date() + timedelta(days=10)
    period = scenarios.open_period(
        territory,
        name="P",
        start=start,
        end=start + timedelta(days=6),
        templates=[
            scenarios.template(
                site, weekdays=range(7), start=time(17), end=time(20), valid_from=start
            )
        ],
    )
    db.session.commit()
    client = logged_in(app, "gp@example.org")
    client.post(
        "/mes-indisponibilites",
        data={"start_date": start.isoformat(), "end_date": start.isoformat(), "reason": "congé"},
    )
    item = db.session.scalar(sa.select(Unavailability))
    page = client.get("/mes-indisponibilites").get_data(as_text=True)
    assert f"du {start:%d/%m/%Y} au {start:%d/%m/%Y} (congé)" in page
    assert f"/mes-indisponibilites/{item.id}/supprimer" in page
    client.post(f"/mes-indisponibilites/{item.id}/supprimer")
    assert db.session.scalar(sa.select(sa.func.count(Unavailability.id))) == 0

    client.post(
        "/mes-indisponibilites",
        data={"start_date": start.isoformat(), "end_date": start.isoformat()},
    )
    item = db.session.scalar(sa.select(Unavailability))
    rota_services.generate_rota(db.session.get(RotaPeriod, period.id), by=None)
    db.session.commit()
    page = client.get("/mes-indisponibilites").get_data(as_text=True)
    assert "tableau déjà généré" in page
    refused = client.post(f"/mes-indisponibilites/{item.id}/supprimer", follow_redirects=True)
    assert "ne peut plus être supprimée" in refused.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Unavailability.id))) == 1


def test_empty_submit_shows_a_linked_error_summary_at_the_top(app, world):
    """Bug: an empty submit showed its errors only at the bottom of a 4,500 px page."""
    client = logged_in(app, "gp@example.org")
    page = client.post("/mes-indisponibilites", data={}).get_data(as_text=True)
    summary = page.index('class="error-summary"')
    assert summary < page.index("<h1>")
    assert "autofocus" in page[summary : summary + 200]
    assert '<a href="#start_date">Du : Ce champ est obligatoire.</a>' in page
    assert '<a href="#end_date">' in page
    assert "error-summary.js" in page
    # The form sits near the top of its own page, not under ~40 rows.
    assert page.index('name="start_date"') < 6000


# --- confirmation steps -----------------------------------------------------------------------


def test_publish_goes_through_a_confirmation_naming_the_emails(
    app, make_territory, make_site, make_practitioner, make_user
):
    """Bug: publishing (about 40 e-mails) had no confirmation."""
    territory = make_territory()
    site = make_site(territory)
    for i in range(3):
        make_practitioner(territory, email=f"m{i}@example.org", site_ids=[site.id])
    make_practitioner(territory, email=None, site_ids=[site.id])
    make_user(Role.COORDINATOR, territory, email="coord@example.org")
    start = datetime.now(UTC).date() + timedelta(days=1)
    period = scenarios.open_period(
        territory,
        name="P",
        start=start,
        end=start + timedelta(days=7),
        templates=[
            scenarios.template(
                site, weekdays=range(7), start=time(17), end=time(20), valid_from=start
            )
        ],
    )
    rota_services.generate_rota(period, by=None)
    db.session.query(OutboxMessage).delete()
    db.session.commit()
    expected = len(rota_services.publication_recipients(period))
    coord = logged_in(app, "coord@example.org")
    asked = coord.post(f"/coordination/periodes/{period.id}/publier").get_data(as_text=True)
    assert f"{expected} médecin(s) recevront un e-mail" in asked
    db.session.expire_all()
    assert db.session.get(RotaPeriod, period.id).status == PeriodStatus.GENERATED
    assert _outbox() == 0
    coord.post(f"/coordination/periodes/{period.id}/publier", data={"confirmed": "1"})
    db.session.expire_all()
    assert db.session.get(RotaPeriod, period.id).status == PeriodStatus.PUBLISHED
    assert _outbox() == expected == 3


def test_removing_a_gp_needs_confirmation(app, world):
    """Bug: "Retirer" acted at once."""
    _, _, _, period = world
    holder = _first(period).assignments[0]
    coord = logged_in(app, "coord@example.org")
    asked = coord.post(f"/coordination/affectations/{holder.id}/retirer").get_data(as_text=True)
    assert "1 médecin recevra un e-mail (Dr Anne Martin)" in asked
    assert db.session.get(Assignment, holder.id) is not None
    coord.post(f"/coordination/affectations/{holder.id}/retirer", data={"confirmed": "1"})
    db.session.expire_all()
    assert db.session.get(Assignment, holder.id) is None


def test_revoking_a_token_needs_confirmation(app, booking_world):
    """Bug: "Révoquer" acted at once."""
    from booking import tokens
    from booking.models import ApiToken

    _, token = tokens.create_token(booking_world.users["regulator"], "logiciel", by=None)
    db.session.commit()
    coord = logged_in(app, "coord@example.org")
    asked = coord.post(f"/coordination/jetons-api/{token.id}/revoquer").get_data(as_text=True)
    assert "Révoquer le jeton" in asked
    db.session.expire_all()
    assert db.session.get(ApiToken, token.id).revoked_at is None
    coord.post(f"/coordination/jetons-api/{token.id}/revoquer", data={"confirmed": "1"})
    db.session.expire_all()
    assert db.session.get(ApiToken, token.id).revoked_at is not None


def test_revoking_a_feed_needs_confirmation(app, world):
    """Bug: revoking the calendar address acted at once."""
    from publishing import feeds

    _, _, gps, _ = world
    feeds.issue_gp_token(gps[0], by=None)
    db.session.commit()
    client = logged_in(app, "gp@example.org")
    asked = client.post("/mes-plages/agenda", data={"action": "revoquer"}).get_data(as_text=True)
    assert "Révoquer l&#39;adresse d&#39;abonnement ?" in asked
    db.session.expire_all()
    assert feeds.gp_feed(gps[0]).revoked_at is None
    client.post("/mes-plages/agenda", data={"action": "revoquer", "confirmed": "1"})
    db.session.expire_all()
    assert feeds.gp_feed(gps[0]).revoked_at is not None


# --- coordinator fixes ----------------------------------------------------------------------


def test_past_session_is_read_only_unless_corrected(app, world):
    """Bug: yesterday's session could be reassigned, e-mailing "une plage vous est confiée"."""
    _, _, gps, period = world
    session = _first(period)
    holder = session.assignments[0]
    after = session.ends_at + timedelta(days=1)
    with time_machine.travel(after, tick=False):
        coord = logged_in(app, "coord@example.org")
        page = coord.get(f"/coordination/plages/{session.id}").get_data(as_text=True)
        assert "lecture seule" in page
        assert "Remplacer" not in page
        assert "Retirer" not in page
        refused = coord.post(
            f"/coordination/affectations/{holder.id}/remplacer",
            data={"practitioner_id": str(gps[1].id)},
            follow_redirects=True,
        ).get_data(as_text=True)
        assert "Cette plage est passée" in refused
        db.session.expire_all()
        assert db.session.get(Assignment, holder.id).practitioner_id == gps[0].id
        corrected = coord.get(f"/coordination/plages/{session.id}?correction=1")
        assert "aucun médecin n'est prévenu" in corrected.get_data(as_text=True)
        coord.post(
            f"/coordination/affectations/{holder.id}/remplacer",
            data={"practitioner_id": str(gps[1].id), "correction": "1"},
        )
    db.session.expire_all()
    assert db.session.get(Assignment, holder.id).practitioner_id == gps[1].id
    assert _outbox() == 0


def test_cancelled_session_page_is_coherent(app, world):
    """Bug: "Rendez-vous 0" beside "2 rendez-vous sont à replacer", Verrouiller/Retirer."""
    _, _, _, period = world
    session = _first(period)
    rota_services.cancel_session(session, reason="Travaux", by=None)
    db.session.commit()
    coord = logged_in(app, "coord@example.org")
    page = coord.get(f"/coordination/plages/{session.id}").get_data(as_text=True)
    assert "Plage annulée : Travaux" in page
    for absent in ("Rendez-vous</th>", "Verrouiller", "Retirer", "Remplacer", "Affecter"):
        assert absent not in page


def test_unfilled_warning_only_after_generation(
    app, make_territory, make_site, make_practitioner, make_user
):
    """Bug: a red "Plages non pourvues (60)" as soon as wishes open."""
    territory = make_territory()
    site = make_site(territory)
    make_user(Role.COORDINATOR, territory, email="coord@example.org")
    start = datetime.now(UTC).date() + timedelta(days=1)
    period = scenarios.open_period(
        territory,
        name="P",
        start=start,
        end=start + timedelta(days=3),
        templates=[
            scenarios.template(
                site, weekdays=range(7), start=time(17), end=time(20), valid_from=start
            )
        ],
    )
    db.session.commit()
    coord = logged_in(app, "coord@example.org")
    assert "Plages non pourvues" not in coord.get(f"/coordination/periodes/{period.id}").text
    rota_services.generate_rota(period, by=None)  # no GP: nothing can be filled
    db.session.commit()
    assert "Plages non pourvues (4)" in coord.get(f"/coordination/periodes/{period.id}").text


def test_assign_list_shows_load_share_and_availability(app, world):
    """Bug: the assign drop-down gave no hint of load, share or availability."""
    territory, _, gps, period = world
    session = _first(period)
    coord = logged_in(app, "coord@example.org")
    rota_services.declare_unavailability(
        gps[2], start_date=session.local_date, end_date=session.local_date, reason="", by=None
    )
    db.session.commit()
    page = coord.get(f"/coordination/plages/{session.id}").get_data(as_text=True)
    durand = page.index(">Durand Anne · ")
    petit = page.index("Petit Anne · ")
    assert durand < petit
    assert "plage(s) / part" in page[durand : durand + 60]
    assert "non disponible" in page[petit : petit + 60]
    assert "disabled>Petit Anne" in page


def test_periods_past_refused_draft_deleted_archive_hidden(
    app, make_territory, make_user, published_period, make_site
):
    """Bugs: a past period could be created, a draft not deleted, "Archiver" offered to fail."""
    territory = make_territory()
    make_user(Role.COORDINATOR, territory, email="coord@example.org")
    coord = logged_in(app, "coord@example.org")
    past = datetime.now(UTC).date() - timedelta(days=40)
    page = coord.post(
        "/coordination/periodes",
        data={
            "name": "Passée",
            "start_date": past.isoformat(),
            "end_date": (past + timedelta(days=7)).isoformat(),
        },
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "entièrement passée" in page
    assert db.session.scalar(sa.select(sa.func.count(RotaPeriod.id))) == 0

    start = datetime.now(UTC).date() + timedelta(days=3)
    coord.post(
        "/coordination/periodes",
        data={"name": "Brouillon", "start_date": start.isoformat(), "end_date": start.isoformat()},
    )
    draft = db.session.scalar(sa.select(RotaPeriod))
    asked = coord.post(f"/coordination/periodes/{draft.id}/supprimer").get_data(as_text=True)
    assert "Supprimer la période « Brouillon » ?" in asked
    assert db.session.scalar(sa.select(sa.func.count(RotaPeriod.id))) == 1
    coord.post(f"/coordination/periodes/{draft.id}/supprimer", data={"confirmed": "1"})
    assert db.session.scalar(sa.select(sa.func.count(RotaPeriod.id))) == 0

    site = make_site(territory)
    period = published_period(
        territory,
        name="Publiée",
        start=start,
        end=start + timedelta(days=1),
        templates=[
            scenarios.template(
                site, weekdays=range(7), start=time(17), end=time(20), valid_from=start
            )
        ],
    )
    page = coord.get(f"/coordination/periodes/{period.id}").get_data(as_text=True)
    assert "Archiver" not in page
