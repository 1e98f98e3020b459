"""A small published rota for the iCalendar tests, built at fixed instants.

Site A holds a session every Saturday and Sunday, 09:00–12:00 Paris time, from Saturday
20 March to Sunday 4 April 2027: six sessions, across the change to summer time (night of
27 to 28 March). Claire Martin volunteers for the 20th, 27th and 28th, Paul Durand for
the 21st, 3rd and 4th; the rota is published on 10 March. On 12 March Claire hands the
27th to Paul (a swap) and a patient is booked on her 20th; on 13 March the 4 April
session is cancelled. Feeds are read on 15 March (``READ_AT``).

Every instant is fixed and every id comes from a fresh database, so the feeds are
byte-stable: the golden files under ``tests/golden`` hold them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import time_machine

from app import audit
from app.extensions import db
from app.models import Practitioner, Site, Territory
from booking.models import Booking, BookingStatus
from publishing import feeds
from rota import scenarios
from rota import services as rota_services
from rota.models import RotaPeriod, Session

PUBLISHED_AT = datetime(2027, 3, 10, 9, 0, tzinfo=UTC)
SWAPPED_AT = datetime(2027, 3, 12, 10, 0, tzinfo=UTC)
BOOKED_AT = datetime(2027, 3, 12, 11, 30, tzinfo=UTC)
CANCELLED_AT = datetime(2027, 3, 13, 8, 0, tzinfo=UTC)
READ_AT = datetime(2027, 3, 15, 12, 0, tzinfo=UTC)
FIRST_DAY = date(2027, 3, 20)
DST_DAY = date(2027, 3, 28)
SWAPPED_DAY = date(2027, 3, 27)
CANCELLED_DAY = date(2027, 4, 4)
TRICKY_NAME = 'MSP "Les Pins"; Bât. B, 2e'


@dataclass
class FeedWorld:
    territory: Territory
    site: Site
    other_site: Site
    claire: Practitioner
    paul: Practitioner
    period: RotaPeriod

    def session_on(self, day: date) -> Session:
        return scenarios.session_on(self.period, day)

    def gp_feed_path(self, gp: Practitioner) -> str:
        """Issue (or rotate) the GP's token and return the feed's path."""
        token = feeds.issue_gp_token(gp, by=None)
        db.session.commit()
        return f"/ical/{token}.ics"

    def territory_feed_path(self) -> str:
        token = feeds.issue_territory_token(self.territory, by=None)
        db.session.commit()
        return f"/ical/{token}.ics"


def build_feed_world(make_territory, make_site, make_practitioner, published_period) -> FeedWorld:
    """The rota of the module docstring, through the factory fixtures (time-travelling)."""
    with time_machine.travel(PUBLISHED_AT, tick=False):
        territory = make_territory("cpts-marais", name="CPTS du Marais")
        site = make_site(
            territory,
            name=TRICKY_NAME,
            address_line="3 rue des Pins",
            latitude=46.78,
            longitude=-1.88,
        )
        other_site = make_site(territory, name="Cabinet du Port", address_line="1 quai Nord")
        claire = make_practitioner(
            territory,
            family_name="Martin",
            given_name="Claire",
            email="claire@example.org",
            site_ids=[site.id, other_site.id],
        )
        paul = make_practitioner(
            territory,
            family_name="Durand",
            given_name="Paul",
            email="paul@example.org",
            site_ids=[site.id],
        )
        period = published_period(
            territory,
            name="Mars 2027",
            start=FIRST_DAY,
            end=CANCELLED_DAY,
            templates=[
                scenarios.template(
                    site,
                    weekdays={5, 6},
                    start=time(9),
                    end=time(12),
                    sas_slots=4,
                    pharmacy_slots=2,
                    valid_from=FIRST_DAY,
                )
            ],
            volunteers=lambda period: [
                (scenarios.session_on(period, day), gp)
                for day, gp in [
                    (FIRST_DAY, claire),
                    (FIRST_DAY + timedelta(days=1), paul),
                    (SWAPPED_DAY, claire),
                    (DST_DAY, claire),
                    (CANCELLED_DAY - timedelta(days=1), paul),
                    (CANCELLED_DAY, paul),
                ]
            ],
        )
        world = FeedWorld(territory, site, other_site, claire, paul, period)
    with time_machine.travel(SWAPPED_AT, tick=False):
        assignment = world.session_on(SWAPPED_DAY).assignments[0]
        request = rota_services.offer_swap(assignment, to=paul, message="", by=None)
        rota_services.accept_swap(request, paul, by=None)
        db.session.commit()
    with time_machine.travel(BOOKED_AT, tick=False):
        add_booking(world.session_on(FIRST_DAY), seat=1, slot_index=0)
        db.session.commit()
    with time_machine.travel(CANCELLED_AT, tick=False):
        rota_services.cancel_session(
            world.session_on(CANCELLED_DAY), reason="Travaux dans les locaux", by=None
        )
        db.session.commit()
    return world


def add_booking(session: Session, *, seat: int, slot_index: int, reference: str = "FEED2345"):
    """A booking row as the booking service would leave it (its rules are tested there)."""
    starts = session.starts_at + timedelta(minutes=15 * slot_index)
    booking = Booking(
        territory_id=session.territory_id,
        reference=reference,
        session_id=session.id,
        seat=seat,
        slot_index=slot_index,
        starts_at=starts,
        ends_at=starts + timedelta(minutes=15),
        slot_channel="open",
        channel="sas",
        status=BookingStatus.BOOKED,
        family_name="Secretpatient",
        given_name="Zoé",
        birth_date=date(1980, 5, 17),
        phone="0600000000",
        reason="Fièvre",
        booked_by_role="regulator",
    )
    db.session.add(booking)
    db.session.flush()
    audit.record("booking.create", by=None, territory_id=session.territory_id, target=booking)
    return booking
