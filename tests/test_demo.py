"""The demo: idempotent, realistic, and every printed account works."""

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from app.enums import Profession, SiteKind
from app.extensions import db
from app.models import Commune, CommunePostalCode, Practitioner, Site, Territory, User
from app.validators import luhn_valid
from demo.loader import DEMO_ACCOUNTS, MAIN_SLUG

TABLES = (Territory, Commune, CommunePostalCode, Site, Practitioner, User)


@pytest.fixture
def app(make_app):
    """A development app: ``flask demo`` refuses to run elsewhere."""
    app = make_app(ENV_NAME="development")
    with app.app_context():
        yield app


def _counts() -> dict[str, int]:
    return {
        m.__tablename__: db.session.scalar(sa.select(sa.func.count()).select_from(m))
        for m in TABLES
    }


def test_demo_twice_gives_the_same_counts(runner):
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    assert "Démo chargée." in first.output
    counts = _counts()
    second = runner.invoke(args=["demo"])
    assert second.exit_code == 0
    assert "rien à faire" in second.output
    assert _counts() == counts
    for email, password, _ in DEMO_ACCOUNTS:
        assert email in second.output
        assert password in second.output


def test_demo_territory_is_realistic(runner):
    runner.invoke(args=["demo"])
    main = db.session.scalar(sa.select(Territory).where(Territory.slug == MAIN_SLUG))
    assert 30 <= len(main.communes) <= 40
    assert 120_000 <= main.population <= 150_000
    assert main.size_category == 3
    assert {s.kind for s in main.sites} == {SiteKind.MSP, SiteKind.CABINET, SiteKind.MMG}
    assert len(main.sites) == 4
    gps = db.session.scalars(
        sa.select(Practitioner).where(
            Practitioner.territory_id == main.id, Practitioner.profession == Profession.GP
        )
    ).all()
    assert len(gps) >= 40
    assert all(luhn_valid(gp.rpps) and len(gp.rpps) == 11 for gp in gps)
    assert all(gp.sites for gp in gps)


def test_demo_has_a_published_rota_from_this_week_for_five_weeks(runner):
    from rota.models import Assignment, PeriodStatus, RotaPeriod, Session

    runner.invoke(args=["demo"])
    period = db.session.scalar(sa.select(RotaPeriod))
    assert period.status == PeriodStatus.PUBLISHED
    assert period.start_date.weekday() == 0
    assert (period.end_date - period.start_date).days == 34
    places = db.session.scalar(sa.select(sa.func.sum(Session.gps_needed)))
    assert db.session.scalar(sa.select(sa.func.count(Assignment.id))) == places


def test_demo_territories_share_no_commune(runner):
    runner.invoke(args=["demo"])
    territories = db.session.scalars(sa.select(Territory)).all()
    assert len(territories) == 2
    a, b = ({c.insee_code for c in t.communes} for t in territories)
    assert a
    assert b
    assert not a & b


def test_every_demo_account_can_log_in(app, runner):
    runner.invoke(args=["demo"])
    for email, password, _ in DEMO_ACCOUNTS:
        client = app.test_client()
        response = client.post("/connexion", data={"email": email, "password": password})
        assert response.status_code == 302, email
        home = client.get("/", follow_redirects=True)
        assert home.status_code == 200
        assert "Se déconnecter" in home.get_data(as_text=True), email


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2027, 3, 2, 9, 0, tzinfo=UTC),  # a Tuesday morning
        datetime(2027, 3, 6, 22, 30, tzinfo=UTC),  # Saturday night: Monday evening is > 24 h
    ],
)
def test_demo_has_bookable_slots_and_a_few_bookings_when_loaded(runner, moment):
    import time_machine

    from booking import services as booking_services
    from booking.models import Booking

    with time_machine.travel(moment, tick=False):
        runner.invoke(args=["demo"])
        main = db.session.scalar(sa.select(Territory).where(Territory.slug == MAIN_SLUG))
        regulator = db.session.scalar(
            sa.select(User).where(User.email == "regulation1@demo.tourderole.fr")
        )
        free = booking_services.free_slots(main.id, booking_services.booker_channel(regulator))
    bookings = db.session.scalars(sa.select(Booking)).all()
    if moment.weekday() == 1:
        assert len(free) == 2 * 10 - 2  # two sites: 10 SAS or open slots each, 2 booked
        assert len(bookings) == 3
        assert {b.booked_by_role for b in bookings} == {"regulator", "pharmacist"}
    else:  # Sunday's walk-in morning only, no bookable slot: no booking, no error
        assert free == []
        assert bookings == []
