"""Evidence for the majoration SNP / MRT: the GP says SNP or MRT when marking a patient seen;
"Mes actes régulés" lists the regulated acts with the CPAM's conditions; the coordinator sees
counts only."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from app.extensions import db
from booking import evidence, services
from booking.models import Booking, BookingStatus
from tests import indicator_world
from tests.helpers import PASSWORD

PARIS = ZoneInfo("Europe/Paris")
PDSA = evidence.PdsaHours()
MAY_DAY = date(2026, 5, 1)  # a Friday, public holiday


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        (datetime(2026, 3, 10, 19, 59, tzinfo=PARIS), False),  # Tuesday evening, before 20:00
        (datetime(2026, 3, 10, 20, 0, tzinfo=PARIS), True),
        (datetime(2026, 3, 11, 7, 59, tzinfo=PARIS), True),  # still Tuesday's night
        (datetime(2026, 3, 11, 8, 0, tzinfo=PARIS), False),
        (datetime(2026, 3, 14, 11, 59, tzinfo=PARIS), False),  # Saturday morning
        (datetime(2026, 3, 14, 12, 0, tzinfo=PARIS), True),
        (datetime(2026, 3, 15, 12, 0, tzinfo=PARIS), True),  # Sunday
        (datetime(2026, 3, 16, 7, 0, tzinfo=PARIS), True),  # Monday before 08:00: Sunday's night
        (datetime(2026, 5, 1, 12, 0, tzinfo=PARIS), True),  # 1 May, a Friday
        (datetime(2026, 5, 2, 9, 0, tzinfo=PARIS), False),  # Saturday morning after it
    ],
)
def test_pdsa_hours(moment, inside):
    assert evidence.in_pdsa(moment, PDSA, {MAY_DAY}) is inside


def test_pdsa_hours_follow_the_territory_setting():
    late = evidence.PdsaHours(weekday_from=time(21), weekday_until=time(7), saturday_from=time(14))
    assert not evidence.in_pdsa(datetime(2026, 3, 10, 20, 30, tzinfo=PARIS), late, ())
    assert not evidence.in_pdsa(datetime(2026, 3, 14, 13, 0, tzinfo=PARIS), late, ())
    assert evidence.in_pdsa(datetime(2026, 3, 11, 6, 59, tzinfo=PARIS), late, ())


@pytest.fixture
def world(make_territory, make_site, make_practitioner, make_user):
    return indicator_world.build(make_territory, make_site, make_practitioner, make_user)


def _login(client, email):
    assert client.post("/connexion", data={"email": email, "password": PASSWORD}).status_code == 302


def test_marking_honoured_records_snp_or_mrt(client, world):
    _login(client, "gp1@example.org")
    b5 = world.bookings["b5"]
    answer = client.post(f"/rendez-vous/{b5.reference}/presence", data={"presence": "mrt"})
    assert answer.status_code == 302
    db.session.expire_all()
    assert (b5.status, b5.billing) == (BookingStatus.HONOURED, "mrt")
    client.post(f"/rendez-vous/{b5.reference}/presence", data={"presence": "absent"})
    db.session.expire_all()
    assert (b5.status, b5.billing) == (BookingStatus.NO_SHOW, None)


def test_the_service_refuses_billing_without_a_visit(world):
    with pytest.raises(services.BookingError, match="SNP ou MRT"):
        services.mark(world.bookings["b5"], world.users["gp1"], honoured=False, billing="snp")
    with pytest.raises(services.BookingError):
        services.mark(world.bookings["b5"], world.users["gp1"], honoured=True, billing="xyz")
    db.session.rollback()
    assert db.session.get(Booking, world.bookings["b5"].id).billing is None


def test_my_regulated_acts_list_the_conditions(client, world):
    _login(client, "gp1@example.org")
    # b5: SAS, seen Sunday 29 March 09:00 (PDSA) → regulated but not eligible.
    client.post(f"/rendez-vous/{world.bookings['b5'].reference}/presence", data={"presence": "snp"})
    found = evidence.gp_evidence(world.territory, world.gps[0].id, date(2026, 3, 1))
    # b1 (SAS, honoured, SNP): seen Tuesday 17:00, 7 h after the regulation: eligible.
    # b3 came through a pharmacy: not regulated. b2 is a no-show.
    assert [a.reference for a in found.acts] == [
        world.bookings["b1"].reference,
        world.bookings["b5"].reference,
    ]
    b1, b5 = found.acts
    assert (b1.within_48h, b1.outside_pdsa, b1.eligible, b1.billing) == (True, True, True, "snp")
    assert (b5.within_48h, b5.outside_pdsa, b5.eligible) == (True, False, False)
    assert (b1.initials, b1.birth_year) == ("A.L.", 1990)
    assert b1.regulated_at.hour == 10  # 09:00 UTC in Paris (CET)
    assert found.snp_eligible == 1

    page = client.get("/mes-actes-regules?mois=2026-03").get_data(as_text=True)
    assert world.bookings["b1"].reference in page
    assert "A.L." in page
    assert "Lefebvre" not in page
    assert "Anne" not in page


def test_the_weekly_cap_is_shown(client, world):
    world.territory.snp_weekly_cap = 1
    db.session.commit()
    _login(client, "gp1@example.org")
    # b2 (SAS no-show) turns out to have come: a second eligible SNP act in week 11.
    client.post(f"/rendez-vous/{world.bookings['b2'].reference}/presence", data={"presence": "snp"})
    found = evidence.gp_evidence(world.territory, world.gps[0].id, date(2026, 3, 1))
    assert [(w.week, w.snp, w.mrt, w.over_cap) for w in found.weeks] == [("2026-W11", 2, 0, True)]
    assert "au-delà du plafond" in client.get("/mes-actes-regules?mois=2026-03").get_data(
        as_text=True
    )


def test_the_csv_carries_initials_and_birth_year_only(client, world):
    _login(client, "gp1@example.org")
    response = client.get("/mes-actes-regules/export.csv?mois=2026-03")
    assert response.data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:3] == ["Référence", "Identifiant SAS", "Régulé le"]
    assert rows[1] == [
        world.bookings["b1"].reference,
        "",
        "10/03/2026 10:00",
        "10/03/2026 17:00",
        "SNP",
        "oui",
        "oui",
        "A.L.",
        "1990",
    ]
    text = response.data.decode("utf-8-sig")
    assert "Lefebvre" not in text
    assert "0601020304" not in text
    printable = client.get("/mes-actes-regules/impression?mois=2026-03").get_data(as_text=True)
    assert world.gps[0].rpps in printable
    assert "Lefebvre" not in printable


def test_another_gp_sees_none_of_these_acts(client, world, make_user):
    make_user(
        indicator_world.Role.GP, world.territory, email="gp2@example.org", practitioner=world.gps[2]
    )
    _login(client, "gp2@example.org")
    page = client.get("/mes-actes-regules?mois=2026-03").get_data(as_text=True)
    assert world.bookings["b1"].reference not in page


def test_the_coordinator_sees_counts_never_patients(client, world):
    _login(client, "coord@example.org")
    page = client.get("/coordination/actes-regules?mois=2026-03").get_data(as_text=True)
    assert "Dr Jo Medecin0" in page
    assert "Lefebvre" not in page
    assert world.bookings["b1"].reference not in page
    (row,) = evidence.territory_counts(world.territory, date(2026, 3, 1))
    assert (row.regulated, row.snp, row.mrt, row.unstated, row.snp_eligible) == (1, 1, 0, 0, 1)


def test_a_month_is_cut_at_local_midnight(world):
    start, end = evidence.month_bounds(date(2026, 3, 1), "Europe/Paris")
    assert start.isoformat() == "2026-02-28T23:00:00+00:00"
    assert end.isoformat() == "2026-03-31T22:00:00+00:00"
    assert evidence.parse_month("2026-13", date(2026, 3, 5)) == date(2026, 3, 1)
    assert db.session.scalar(sa.select(sa.func.count(Booking.id))) == 11


def _settings(**extra):
    return {
        "name": "CPTS test",
        "timezone": "Europe/Paris",
        "holiday_subdivision": "",
        **extra,
    }


def test_the_coordinator_sets_pdsa_hours_and_the_weekly_cap(client, world):
    _login(client, "coord@example.org")
    saved = client.post(
        "/coordination/territoire",
        data=_settings(
            pdsa_weekday_from="19:30",
            pdsa_weekday_until="07:30",
            pdsa_saturday_from="13:00",
            snp_weekly_cap="15",
        ),
    )
    assert saved.status_code == 302
    db.session.expire_all()
    t = world.territory
    assert (t.pdsa_weekday_from, t.pdsa_weekday_until, t.pdsa_saturday_from) == (
        time(19, 30),
        time(7, 30),
        time(13),
    )
    assert t.snp_weekly_cap == 15
    assert evidence.PdsaHours.of(t).weekday_from == time(19, 30)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"pdsa_weekday_from": "07:00", "pdsa_weekday_until": "09:00"}, "finit le lendemain"),
        ({"pdsa_weekday_from": "25:99"}, "Heure invalide"),
        ({"snp_weekly_cap": "0"}, "Entre 1 et 500"),
    ],
)
def test_bad_pdsa_settings_are_refused_in_french(client, world, extra, message):
    _login(client, "coord@example.org")
    answer = client.post("/coordination/territoire", data=_settings(**extra))
    assert answer.status_code == 200
    assert message in answer.get_data(as_text=True)
    db.session.expire_all()
    assert world.territory.pdsa_weekday_from == time(20)
    assert world.territory.snp_weekly_cap == 20
