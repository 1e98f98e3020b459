"""Ready-made rota scenarios: a period opened for wishes, or published, in one call.

The demo, the tests and the benches all need "a period the GPs may volunteer for" or "a
published rota". Written out by hand, the same five service calls had been copied into
seven places that drifted apart in their details. These functions go through
``rota.services`` like a coordinator working through the pages, so a scenario obeys the
same rules and leaves the same audit trail and notifications. Like every service they
flush and never commit: the caller does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, time

from app.models import Practitioner, Site, Territory, User
from rota import services
from rota.models import ConsultationMode, HolidayRule, RotaPeriod, Session
from rota.services import TemplateData

#: Who volunteers for what once the wishes are open: given the period (its sessions now
#: exist), the ``(session, GP)`` pairs to volunteer, in order.
Volunteers = Callable[[RotaPeriod], Iterable[tuple[Session, Practitioner]]]


def template(
    site: Site,
    *,
    weekdays: Iterable[int],
    start: time,
    end: time,
    valid_from: date,
    gps_needed: int = 1,
    slot_minutes: int = 15,
    mode: ConsultationMode = ConsultationMode.SURGERY,
    sas_slots: int = 0,
    pharmacy_slots: int = 0,
    valid_to: date | None = None,
    on_holidays: HolidayRule = HolidayRule.NORMAL,
) -> TemplateData:
    """A session template's data with the defaults of a plain weekday surgery."""
    return TemplateData(
        site_id=site.id,
        weekdays=frozenset(weekdays),
        start_time=start,
        end_time=end,
        gps_needed=gps_needed,
        slot_minutes=slot_minutes,
        mode=mode,
        sas_slots=sas_slots,
        pharmacy_slots=pharmacy_slots,
        valid_from=valid_from,
        valid_to=valid_to,
        on_holidays=on_holidays,
    )


def session_on(period: RotaPeriod, day: date) -> Session:
    """The period's first session on ``day`` (local date)."""
    return next(s for s in period.sessions if s.local_date == day)


def open_period(
    territory: Territory,
    *,
    name: str,
    start: date,
    end: date,
    templates: Iterable[TemplateData] = (),
    volunteers: Volunteers | None = None,
    by: User | None = None,
) -> RotaPeriod:
    """Create ``templates``, a period from ``start`` to ``end`` and open its wishes.

    The sessions come from every active template of the territory, the new ones and any
    made before. ``volunteers`` then volunteers GPs through the rota's rules.
    """
    for data in templates:
        services.create_template(territory, data, by=by)
    period = services.create_period(territory, name=name, start_date=start, end_date=end, by=by)
    services.open_wishes(period, deadline=None, by=by)
    for session, gp in volunteers(period) if volunteers else ():
        services.volunteer(session, gp, by=by)
    return period


def publish_period(
    territory: Territory,
    *,
    name: str,
    start: date,
    end: date,
    templates: Iterable[TemplateData] = (),
    volunteers: Volunteers | None = None,
    by: User | None = None,
) -> RotaPeriod:
    """``open_period``, then generate the rota (volunteers kept) and publish it."""
    period = open_period(
        territory,
        name=name,
        start=start,
        end=end,
        templates=templates,
        volunteers=volunteers,
        by=by,
    )
    services.generate_rota(period, by=by)
    services.publish_rota(period, by=by)
    return period
