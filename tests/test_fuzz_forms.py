"""Hypothesis on the forms people fill in (ASVS 5.1.x): never a 5xx, whatever is typed.

Login, the booking form, the commune searches, the GP's wishes and unavailability, the
site and practitioner forms (plus the territory settings and the reasons of a cancellation)
get arbitrary text: control characters, NUL, markup, quotes, RTL marks, emoji, numbers
where text is expected and text where numbers are, and long strings. What a form accepted
is stored, so the pages and feeds that show it are read again at the end: stored junk must
not break them either. One world per engine; examples are bounded and derandomized.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.extensions import db
from booking import services as booking_services
from rota import scenarios
from tests.helpers import PASSWORD, logged_in, next_rpps, password_hash

EXAMPLES = 25

# Any character a browser could send (surrogates cannot be encoded in a form).
CHARS = st.characters(exclude_categories=("Cs",))
TRICKY = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "a\x00b",
        "\x1b[31m\x07\x08\x7f",
        "\r\n\t\x0b\x0c",
        "<script>alert(1)</script>",
        '" onmouseover="alert(1)',
        "' OR '1'='1",
        "%",
        "\\",
        "\u202e\u200b\ufeff",
        "🏥👩‍⚕️",
        "NaN",
        "nan",
        "-inf",
        "1e309",
        "-1",
        "0",
        "99999999999999999999",
        "2147483648",
        "²",
        "٣",
        "31/02/2027",
        "00/00/0000",
        "9999-12-31",
        "0001-01-01",
        "01/01/10000",
    ]
)
LONG = st.builds(
    lambda piece, times: piece * times,
    st.text(CHARS, min_size=1, max_size=3),
    st.integers(200, 3000),
)
TEXT = st.one_of(TRICKY, st.text(CHARS, max_size=40), LONG)


def fuzz(strategy, check) -> None:
    """Run ``check`` on ``EXAMPLES`` values of ``strategy``, deterministically."""

    @given(strategy)
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(value) -> None:
        check(value)

    run()


def spoiled(valid: dict, **own: st.SearchStrategy) -> st.SearchStrategy[dict]:
    """A valid form with one or two fields replaced by hostile text (or by ``own``'s
    strategy for that field): valid enough elsewhere to pass the other checks, and so to
    reach the service and the database."""

    def spoil(bad: list[str]) -> st.SearchStrategy[dict]:
        return st.fixed_dictionaries(
            {
                name: own.get(name, TEXT) if name in bad else st.just(value)
                for name, value in valid.items()
            }
        )

    return st.lists(st.sampled_from(sorted(valid)), min_size=1, max_size=2, unique=True).flatmap(
        spoil
    )


@pytest.fixture
def fuzz_world(app, booking_world, make_user, monkeypatch):
    """The booking world, a period open for wishes, and a logged-in client per role."""
    # Unknown e-mails verify a dummy argon2 hash (production cost, ~0.2 s): cheap here.
    monkeypatch.setattr("app.passwords._DUMMY_HASH", password_hash())
    world = booking_world
    with time_machine.travel(world.now, tick=False):
        start = date(2027, 4, 1)
        period = scenarios.open_period(
            world.territory, name="Avril", start=start, end=start + timedelta(6)
        )
        db.session.commit()
        clients = {}
        for role in ("coordinator", "regulator", "gp"):
            clients[role] = logged_in(app, world.users[role].email)
        clients["anonymous"] = app.test_client()
        yield world, period, clients


def _ok(response) -> None:
    response.close()
    assert response.status_code < 500, response.status_code


def test_forms_never_answer_5xx_whatever_is_typed(app, fuzz_world):
    world, period, clients = fuzz_world
    coordinator, regulator, gp = clients["coordinator"], clients["regulator"], clients["gp"]
    anonymous = clients["anonymous"]
    territory = world.territory
    commune = territory.communes[0]
    free = booking_services.free_slots(territory.id, "sas", now=world.now)
    slot_ids = [f.id for f in free]
    booking = booking_services.book(
        world.users["regulator"],
        slot_ids.pop(),
        booking_services.PatientData("Durand", "Léa", date(1990, 5, 4), "0612345678"),
        now=world.now,
    )
    db.session.commit()
    reference, session_id, site_id = booking.reference, world.period.sessions[-1].id, world.site.id
    coordinator_email = world.users["coordinator"].email
    unique = st.uuids().map(lambda u: f"Lieu {u.hex[:8]}")
    many = st.lists(TEXT, max_size=3)

    with time_machine.travel(world.now, tick=False):
        login = {"email": coordinator_email, "password": PASSWORD, "next": "/coordination"}
        fuzz(
            spoiled(login),
            lambda form: _ok(app.test_client().post("/connexion", data=form)),
        )
        patient = {
            "creneau": slot_ids[0],
            "insee": commune.insee_code,
            "remplace": "",
            "family_name": "Durand",
            "given_name": "Léa",
            "birth_date": "04/05/1990",
            "phone": "06 12 34 56 78",
            "reason_code": "fievre",
            "reason": "Fièvre",
            "without_gp": "y",
        }
        fuzz(
            spoiled(patient, creneau=st.one_of(st.sampled_from(slot_ids), TEXT)),
            lambda form: _ok(regulator.post("/reserver", data=form)),
        )
        fuzz(
            TEXT,
            lambda text: [
                _ok(regulator.get("/creneaux", query_string={"commune": text})),
                _ok(regulator.get("/creneaux", query_string={"insee": text})),
                _ok(anonymous.get("/disponibilites", query_string={"q": text})),
                _ok(coordinator.get("/coordination/communes", query_string={"q": text})),
            ],
        )
        wish = {
            "weight": "1.5",
            "preferred_weekdays": ["0", "5"],
            "preferred_site_ids": [str(site_id)],
            "avoid_dates": "02/04/2027, 03/04/2027",
            "max_per_day": "2",
            "max_per_period": "4",
            "target_sessions": "3",
        }
        fuzz(
            spoiled(wish, preferred_weekdays=many, preferred_site_ids=many),
            lambda form: _ok(
                gp.post(
                    f"/periodes/{period.id}/souhaits",
                    data={f"souhaits-{period.id}-{k}": v for k, v in form.items()},
                )
            ),
        )
        absence = {"start_date": "2027-04-02", "end_date": "2027-04-03", "reason": "Congés"}
        fuzz(spoiled(absence), lambda form: _ok(gp.post("/mes-indisponibilites", data=form)))
        site = {
            "name": "Lieu",
            "kind": "msp",
            "address_line": "1 rue de la Gare",
            "postal_code": commune.postal_codes[0],
            "commune_id": str(commune.id),
            "phone": "02 51 00 00 00",
            "latitude": "46.78",
            "longitude": "-1.88",
            "accessibility": "Rez-de-chaussée",
        }
        fuzz(
            unique.flatmap(lambda name: spoiled({**site, "name": name})),
            lambda form: _ok(coordinator.post("/coordination/lieux/nouveau", data=form)),
        )
        fuzz(
            spoiled(site),
            lambda form: _ok(coordinator.post(f"/coordination/lieux/{site_id}", data=form)),
        )
        practitioner = {
            "family_name": "Martin",
            "given_name": "Claire",
            "profession": "gp",
            "email": "",
            "phone": "06 00 00 00 00",
            "site_ids": [str(site_id)],
        }
        fuzz(
            st.builds(next_rpps).flatmap(
                lambda rpps: spoiled({**practitioner, "rpps": rpps}, site_ids=many)
            ),
            lambda form: _ok(coordinator.post("/coordination/professionnels/nouveau", data=form)),
        )
        settings_form = {
            "name": "CPTS des Marais",
            "finess": "",
            "timezone": "Europe/Paris",
            "holiday_subdivision": "",
            "phone": "",
            "email": "",
            "min_rest_hours": "10",
            "max_sessions_per_week": "",
            "booking_release_minutes": "120",
            "booking_horizon_hours": "24",
            "patient_data_days": "90",
        }
        fuzz(
            spoiled(settings_form),
            lambda form: _ok(coordinator.post("/coordination/territoire", data=form)),
        )
        fuzz(
            TEXT,
            lambda text: [
                _ok(regulator.post(f"/rendez-vous/{reference}/annuler", data={"reason": text})),
                _ok(
                    coordinator.post(
                        f"/coordination/plages/{session_id}/annuler", data={"reason": text}
                    )
                ),
            ],
        )

        # Whatever was stored must still render: lists, forms, the public page and feeds.
        for client, path in [
            (coordinator, "/coordination"),
            (coordinator, "/coordination/lieux"),
            (coordinator, f"/coordination/lieux/{site_id}"),
            (coordinator, "/coordination/professionnels"),
            (coordinator, "/coordination/rendez-vous"),
            (coordinator, f"/coordination/periodes/{world.period.id}"),
            (coordinator, f"/coordination/periodes/{period.id}"),
            (coordinator, "/coordination/agenda"),
            (regulator, "/creneaux"),
            (regulator, "/rendez-vous"),
            (gp, "/mes-plages"),
            (gp, "/ma-journee"),
            (anonymous, "/disponibilites"),
        ]:
            _ok(client.get(path))
        db.session.rollback()
        for site_row in territory.sites:
            _ok(anonymous.get(f"/ical/site/{site_row.id}.ics"))
