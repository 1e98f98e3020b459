"""The indicators against a world computed by hand, on SQLite and PostgreSQL; the page, the
CLI, the API, the CSV and the XLSX all carry the same figures."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, date, datetime

import openpyxl
import pytest

from app.extensions import db
from booking import tokens
from publishing import indicator_clock, indicator_exports, indicators
from tests import indicator_world as world_module
from tests.helpers import PASSWORD
from tests.indicator_world import (
    EXPECTED_FIGURES,
    EXPECTED_HEATMAP,
    EXPECTED_SITES,
    EXPECTED_WEEKLY,
    FROM,
    TO,
)


@pytest.fixture
def world(make_territory, make_site, make_practitioner, make_user):
    return world_module.build(make_territory, make_site, make_practitioner, make_user)


def test_every_figure_matches_the_hand_computed_world(world):
    result = indicators.compute(world.territory, FROM, TO)

    assert result.figures == EXPECTED_FIGURES
    assert [list(r) for r in result.heatmap] == EXPECTED_HEATMAP
    assert [(w.week, w.start, w.bookings, w.honoured) for w in result.weekly] == EXPECTED_WEEKLY
    assert [
        (s.name, s.sessions_held, s.hours_held, s.bookings, s.honoured) for s in result.sites
    ] == EXPECTED_SITES


def test_one_site_only_counts_its_own_sessions_and_bookings(world):
    result = indicators.compute(world.territory, FROM, TO, site_id=world.site_b.id)

    f = result.figures
    assert (f["offer.sessions_planned"], f["offer.sessions_held"]) == (4, 2)  # S0 S3 S4 S5
    assert (f["offer.hours_planned"], f["offer.hours_held"]) == (8, 3)
    assert f["offer.slots_offered.total"] == 2
    assert f["activity.bookings.total.live"] == 1  # b8
    assert f["activity.fill_rate.total"] == 0.5
    assert f["activity.fill_rate.sas"] is None  # nothing offered: no rate
    assert result.site_name == "Cabinet B"


def test_days_are_cut_at_local_midnight_across_dst(world):
    """1 March local starts at 28 Feb 23:00 UTC; 31 March local ends at 22:00 UTC (CEST)."""
    first = indicators.compute(world.territory, date(2026, 3, 1), date(2026, 3, 1))
    last = indicators.compute(world.territory, date(2026, 3, 31), date(2026, 3, 31))
    april = indicators.compute(world.territory, date(2026, 4, 1), date(2026, 4, 1))
    dst = indicators.compute(world.territory, date(2026, 3, 29), date(2026, 3, 29))

    assert first.get("activity.bookings.total.live") == 1  # b8, at 23:30 UTC on 28 Feb
    assert first.get("offer.sessions_planned") == 1
    assert last.get("activity.bookings.total.live") == 1  # b11 at 20:00 UTC; not b9 at 22:30
    assert april.get("activity.bookings.total.live") == 2  # b9 (00:30 Paris) and b10
    assert dst.get("activity.bookings.total.live") == 3
    assert dst.get("offer.hours_held") == 6
    assert dst.heatmap[6][9:12] == (1, 1, 1)  # 09:00, 10:00, 11:00 CEST, not CET


def test_utc_bounds_follow_the_zone():
    assert indicator_clock.utc_bounds(date(2026, 3, 29), date(2026, 3, 29), "Europe/Paris") == (
        datetime(2026, 3, 28, 23, tzinfo=UTC),
        datetime(2026, 3, 29, 22, tzinfo=UTC),  # a 23-hour day
    )
    start, end = indicator_clock.utc_bounds(date(2026, 10, 25), date(2026, 10, 25), "Europe/Paris")
    assert (end - start).total_seconds() == 25 * 3600
    start, _ = indicator_clock.utc_bounds(date(2026, 3, 1), date(2026, 3, 1), "Indian/Reunion")
    assert start == datetime(2026, 2, 28, 20, tzinfo=UTC)


def test_offsets_find_both_changes_of_a_year():
    changes = indicator_clock.offsets(
        "Europe/Paris", datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    )
    assert changes == [
        (datetime(2026, 1, 1, tzinfo=UTC), 3600),
        (datetime(2026, 3, 29, 1, tzinfo=UTC), 7200),
        (datetime(2026, 10, 25, 1, tzinfo=UTC), 3600),
    ]


def test_an_empty_territory_has_zero_figures_and_no_rate(make_territory):
    territory = make_territory()
    result = indicators.compute(territory, FROM, TO)
    assert result.get("activity.bookings.total.live") == 0
    assert result.get("activity.fill_rate.total") is None
    assert result.get("offer.hours_planned") == 0
    assert len(result.weekly) == 6


def _login(client, email):
    client.post("/connexion", data={"email": email, "password": PASSWORD})


def _page_figures(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-figure="([a-z_.0-9]+)">([^<]*)<', html))


def test_page_cli_api_show_the_same_figures(world, client, runner):
    _login(client, "coord@example.org")
    page = client.get(f"/coordination/indicateurs?du={FROM}&au={TO}")
    assert page.status_code == 200
    shown = _page_figures(page.get_data(as_text=True))

    cli = runner.invoke(
        args=[
            "indicators",
            "--territory",
            world.territory.slug,
            "--from",
            FROM.isoformat(),
            "--to",
            TO.isoformat(),
        ]
    )
    assert cli.exit_code == 0, cli.output
    from_cli = json.loads(cli.output)

    plain = tokens.create_token(world.users["coordinator"], "t", by=None)[0]
    db.session.commit()
    api = client.get(
        f"/api/v1/indicators?from={FROM}&to={TO}", headers={"Authorization": f"Bearer {plain}"}
    )
    assert api.status_code == 200
    assert api.get_json() == from_cli

    def leaf(tree, key):
        for part in key.split("."):
            tree = tree[part]
        return tree

    assert len(shown) >= 20
    for key, text in shown.items():
        unit = indicators.FIGURES[key].unit
        assert text.strip() == _figure_text(leaf(from_cli, key), unit), key
        assert leaf(from_cli, key) == EXPECTED_FIGURES[key]
    assert from_cli["activity"]["heatmap"] == EXPECTED_HEATMAP
    assert from_cli["from"] == "2026-03-01"
    assert from_cli["territory"] == world.territory.slug


def _figure_text(value, unit):
    from publishing.indicator_views import figure_filter

    return figure_filter(value, unit)


def test_xlsx_opens_and_equals_the_figures(world, client):
    _login(client, "coord@example.org")
    response = client.get(f"/coordination/indicateurs/export.xlsx?du={FROM}&au={TO}")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    book = openpyxl.load_workbook(io.BytesIO(response.data), read_only=True)
    assert book.sheetnames == [
        "Période",
        "Offre",
        "Activité",
        "Par lieu",
        "Jour et heure",
        "Semaines",
        "Définitions",
    ]
    read = {}
    for name in ("Offre", "Activité"):
        rows = list(book[name].iter_rows(values_only=True))
        assert rows[0] == ("Clé", "Indicateur", "Valeur", "Unité")
        read.update({row[0]: row[2] for row in rows[1:]})
    assert read == EXPECTED_FIGURES
    about = dict(list(book["Période"].iter_rows(values_only=True))[1:])
    assert about["Du"] == "2026-03-01"
    assert about["Territoire"] == world.territory.name
    definitions = list(book["Définitions"].iter_rows(values_only=True))[1:]
    assert {row[0] for row in definitions} == set(indicators.FIGURES)


def test_csv_parses_with_semicolons_and_decimal_commas(world, client):
    _login(client, "coord@example.org")
    response = client.get(f"/coordination/indicateurs/export.csv?du={FROM}&au={TO}")
    assert response.data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig")), delimiter=";"))
    sections: dict[str, list[list[str]]] = {}
    for row in rows:
        if row and row[0].startswith("# "):
            current = sections.setdefault(row[0][2:], [])
        elif row:
            current.append(row)
    assert list(sections)[:3] == ["Période", "Offre", "Activité"]
    figures = sections["Offre"][1:] + sections["Activité"][1:]
    values = {row[0]: row[2] for row in figures}
    assert values.keys() == EXPECTED_FIGURES.keys()
    for key, text in values.items():
        expected = EXPECTED_FIGURES[key]
        assert (float(text.replace(",", ".")) if text else None) == expected, key
    assert values["activity.fill_rate.sas"] == "0,3"


def test_the_cli_writes_xlsx_and_csv_files(world, runner, tmp_path):
    out = tmp_path / "i.xlsx"
    base = ["indicators", "--territory", world.territory.slug, "--from", "2026-03-01"]
    done = runner.invoke(args=[*base, "--to", "2026-03-31", "--format", "xlsx", "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert openpyxl.load_workbook(out).sheetnames[0] == "Période"
    refused = runner.invoke(args=[*base, "--to", "2026-02-01"])
    assert refused.exit_code != 0
    assert "précède" in refused.output
    unknown = runner.invoke(args=["indicators", "--territory", "nope", "--from", "x", "--to", "y"])
    assert unknown.exit_code != 0
    assert "Territoire inconnu" in unknown.output


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+33 6", "'+33 6"),
        ("-1+1", "'-1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("MSP des Marais", "MSP des Marais"),
        (-3, -3),
        (0.5, 0.5),
    ],
)
def test_formula_cells_are_neutralised(cell, safe):
    assert indicator_exports.neutralise(cell) == safe


def test_a_site_named_like_a_formula_is_inert_in_both_exports(world, client):
    world.site_a.name = "=CMD|' /C calc'!A0"
    db.session.commit()
    _login(client, "coord@example.org")
    text = client.get(f"/coordination/indicateurs/export.csv?du={FROM}&au={TO}").data.decode()
    assert "'=CMD" in text
    assert "\n=CMD" not in text
    assert ";=CMD" not in text
    book = openpyxl.load_workbook(
        io.BytesIO(client.get(f"/coordination/indicateurs/export.xlsx?du={FROM}&au={TO}").data)
    )
    names = [row[0] for row in book["Par lieu"].iter_rows(min_row=2, values_only=True)]
    assert "'=CMD|' /C calc'!A0" in names
    rota = client.get(f"/coordination/tableau/export.csv?du={FROM}&au={TO}").data.decode()
    assert "'=CMD" in rota


def test_exports_carry_no_patient_identity(world, client):
    _login(client, "coord@example.org")
    for url in (
        f"/coordination/indicateurs/export.csv?du={FROM}&au={TO}",
        f"/coordination/indicateurs/impression?du={FROM}&au={TO}",
        f"/coordination/tableau/export.csv?du={FROM}&au={TO}",
    ):
        body = client.get(url).get_data(as_text=True)
        assert "Lefebvre" not in body
        assert "Durand" not in body
        assert "0601020304" not in body


def test_the_rota_export_lists_every_seat(world, client):
    _login(client, "coord@example.org")
    text = client.get(f"/coordination/tableau/export.csv?du={FROM}&au={TO}").data.decode(
        "utf-8-sig"
    )
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0] == ["Lieu", "Date", "Début", "Fin", "Médecin", "RPPS", "Statut"]
    body = rows[1:]
    # S0 S1 S2×2 S3 S4 S5 S8 by local date; S9 (1 April 00:30 Paris) is outside.
    assert len(body) == 8
    assert body[0][:4] == ["Cabinet B", "01/03/2026", "00:30", "01:30"]
    dst = [r for r in body if r[1] == "29/03/2026"]
    assert [r[2] for r in dst] == ["09:00", "09:00"]
    assert ["Cabinet B", "11/03/2026", "17:00", "20:00", "", "", "à pourvoir"] in body
    assert any(r[6] == "annulée" for r in body)
    assert body[1][5] == world.gps[0].rpps


def test_bad_periods_are_refused_in_french(world, client):
    _login(client, "coord@example.org")
    page = client.get("/coordination/indicateurs?du=2026-03-31&au=2026-03-01")
    assert page.status_code == 200
    assert "Le dernier jour précède le premier." in page.get_data(as_text=True)
    assert client.get("/coordination/indicateurs/export.csv?du=n&au=2026-03-01").status_code == 400
    assert client.get("/coordination/indicateurs/export.pdf").status_code == 404
    assert (
        client.get("/coordination/indicateurs?lieu=999999&du=2026-03-01&au=2026-03-02").status_code
        == 200
    )


def test_api_needs_a_coordinator_token(world, client):
    assert client.get("/api/v1/indicators").status_code == 401
    plain = tokens.create_token(world.users["regulator"], "t", by=None)[0]
    db.session.commit()
    refused = client.get("/api/v1/indicators", headers={"Authorization": f"Bearer {plain}"})
    assert refused.status_code == 403
    assert refused.get_json()["code"] == "forbidden"
    mine = tokens.create_token(world.users["coordinator"], "t", by=None)[0]
    db.session.commit()
    bad = client.get(
        "/api/v1/indicators?from=2026-13-01&to=2026-03-01",
        headers={"Authorization": f"Bearer {mine}"},
    )
    assert bad.status_code == 400
    assert bad.get_json()["code"] == "invalid_query"
    assert "invalide" in bad.get_json()["message"]


def test_the_openapi_document_lists_the_indicators(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert "/indicators" in document["paths"]


@pytest.mark.parametrize(("insee", "where"), [("85047", "inside"), ("75056", "outside")])
def test_the_patient_commune_given_at_booking_counts_inside_or_outside(
    app, booking_world, insee, where
):
    import time_machine
    from sqlalchemy import select

    from booking import services
    from booking.models import Booking

    with time_machine.travel(booking_world.now, tick=False):
        client = app.test_client()
        _login(client, booking_world.users["regulator"].email)
        slot = services.free_slots(booking_world.territory.id, "sas", now=booking_world.now)[0]
        answer = client.post(
            "/reserver",
            data={
                "creneau": slot.id,
                "insee": insee,
                "family_name": "Durand",
                "given_name": "Léa",
                "birth_date": "14/07/1985",
                "phone": "06 12 34 56 78",
                "reason_code": "fievre",
            },
        )
        assert answer.status_code == 302
        assert db.session.scalar(select(Booking.patient_insee)) == insee
        day = booking_world.now.date()
        result = indicators.compute(booking_world.territory, day, day)
    assert result.get(f"activity.communes.{where}") == 1
    assert result.get("activity.communes.unknown") == 0


def test_live_means_every_status_but_cancelled():
    """The one-pass counts filter live bookings as ``status != 'cancelled'``."""
    from booking.models import BookingStatus

    assert set(indicators.LIVE) == {s.value for s in BookingStatus} - {"cancelled"}
