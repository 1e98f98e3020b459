"""Rota pages as a coordinator and a GP would use them."""

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from app.enums import Role
from app.extensions import db
from app.timeutil import now_utc
from rota.models import Assignment, PeriodStatus, RotaPeriod, SessionTemplate, Unavailability
from tests.helpers import logged_in


@pytest.fixture
def setup(app, make_territory, make_site, make_practitioner, make_user):
    territory = make_territory()
    site = make_site(territory, name="MSP des Marais")
    gps = [
        make_practitioner(territory, family_name=f"Med{i}", site_ids=[site.id]) for i in range(3)
    ]
    coordinator = make_user(Role.COORDINATOR, territory, email="coord@example.org")
    gp_user = make_user(Role.GP, territory, email="gp@example.org", practitioner=gps[0])
    return territory, site, gps, coordinator, gp_user


def wish_form(period_id: int, fields: dict) -> dict:
    """The wish form's fields under its per-period prefix (several forms share a page)."""
    return {f"souhaits-{period_id}-{name}": value for name, value in fields.items()}


def _template_form(site, **kw):
    start = now_utc().date()
    data = {
        "site_id": site.id,
        "weekdays": ["0", "1", "2", "3", "4", "5", "6"],
        "start_time": "17:00",
        "end_time": "20:00",
        "gps_needed": "1",
        "slot_minutes": "15",
        "mode": "surgery",
        "sas_slots": "4",
        "pharmacy_slots": "2",
        "valid_from": start.isoformat(),
        "valid_to": "",
        "on_holidays": "normal",
    }
    data.update(kw)
    return data


def _open_period(coord, site, *, offset: int, days: int):
    """Through the pages: a template, a period starting in ``offset`` days, wishes opened."""
    assert coord.post("/coordination/plages-types", data=_template_form(site)).status_code == 302
    start = now_utc().date() + timedelta(days=offset)
    coord.post(
        "/coordination/periodes",
        data={
            "name": "P",
            "start_date": start.isoformat(),
            "end_date": (start + timedelta(days=days)).isoformat(),
        },
    )
    period = db.session.scalar(sa.select(RotaPeriod))
    coord.post(f"/coordination/periodes/{period.id}/ouvrir")
    return start, period


def test_coordinator_goes_from_template_to_published_rota(app, setup):
    _, site, _, _, _ = setup
    coord = logged_in(app, "coord@example.org")
    assert coord.post("/coordination/plages-types", data=_template_form(site)).status_code == 302
    start = now_utc().date() + timedelta(days=1)
    response = coord.post(
        "/coordination/periodes",
        data={
            "name": "Décembre",
            "start_date": start.isoformat(),
            "end_date": (start + timedelta(days=5)).isoformat(),
        },
    )
    period = db.session.scalar(sa.select(RotaPeriod))
    assert response.headers["Location"].endswith(f"/coordination/periodes/{period.id}")
    page = coord.post(f"/coordination/periodes/{period.id}/ouvrir", follow_redirects=True).get_data(
        as_text=True
    )
    assert "6 plage(s) créée(s)" in page
    page = coord.post(
        f"/coordination/periodes/{period.id}/generer", follow_redirects=True
    ).get_data(as_text=True)
    assert "6/6 places pourvues" in page
    assert "<svg" in page
    assert "Équité" in page
    asked = coord.post(f"/coordination/periodes/{period.id}/publier").get_data(as_text=True)
    assert "Publier le tableau « Décembre » ?" in asked
    assert 'name="confirmed" value="1"' in asked
    db.session.expire_all()
    assert db.session.get(RotaPeriod, period.id).status == PeriodStatus.GENERATED
    page = coord.post(
        f"/coordination/periodes/{period.id}/publier",
        data={"confirmed": "1"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "publié (version 1)" in page
    db.session.expire_all()
    assert db.session.get(RotaPeriod, period.id).status == PeriodStatus.PUBLISHED


def test_bad_template_is_explained_and_not_saved(app, setup):
    _, site, _, _, _ = setup
    coord = logged_in(app, "coord@example.org")
    page = coord.post(
        "/coordination/plages-types", data=_template_form(site, end_time="17:00")
    ).get_data(as_text=True)
    assert "différente de l&#39;heure de début" in page
    page = coord.post(
        "/coordination/plages-types", data=_template_form(site, gps_needed="0")
    ).get_data(as_text=True)
    assert "Entre 1 et 10 médecins" in page
    assert db.session.scalar(sa.select(sa.func.count(SessionTemplate.id))) == 0


def test_period_actions_out_of_order_are_refused(app, setup):
    coord = logged_in(app, "coord@example.org")
    start = date(2027, 1, 4)
    coord.post(
        "/coordination/periodes",
        data={"name": "Janvier", "start_date": start.isoformat(), "end_date": "2027-01-31"},
    )
    period = db.session.scalar(sa.select(RotaPeriod))
    page = coord.post(
        f"/coordination/periodes/{period.id}/publier", follow_redirects=True
    ).get_data(as_text=True)
    assert "Seul un tableau généré" in page
    page = coord.post(f"/coordination/periodes/{period.id}/ouvrir", follow_redirects=True).get_data(
        as_text=True
    )
    assert "définissez d&#39;abord des plages types" in page
    db.session.expire_all()
    assert db.session.get(RotaPeriod, period.id).status == PeriodStatus.DRAFT


def test_gp_declares_unavailability_and_volunteers(app, setup):
    _, site, gps, _, _ = setup
    coord = logged_in(app, "coord@example.org")
    start, period = _open_period(coord, site, offset=1, days=3)

    gp = logged_in(app, "gp@example.org")
    page = gp.get("/mes-plages").get_data(as_text=True)
    assert "Je prends cette plage" in page
    bad = gp.post(
        "/mes-indisponibilites",
        data={"start_date": "2027-02-10", "end_date": "2027-02-01"},
        follow_redirects=True,
    )
    assert "doit suivre son début" in bad.get_data(as_text=True)
    gp.post(
        "/mes-indisponibilites",
        data={"start_date": "2027-02-01", "end_date": "2027-02-10", "reason": "congés"},
    )
    assert db.session.scalar(sa.select(Unavailability.reason)) == "congés"

    session = period.sessions[0]
    page = gp.post(f"/plages/{session.id}/volontaire", follow_redirects=True).get_data(as_text=True)
    assert "Vous assurerez la plage" in page
    taken = db.session.scalar(sa.select(Assignment).where(Assignment.session_id == session.id))
    assert (taken.practitioner_id, taken.locked) == (gps[0].id, True)
    page = gp.post(f"/plages/{session.id}/volontaire", follow_redirects=True).get_data(as_text=True)
    assert "déjà complète" in page


def test_gp_without_practitioner_link_is_refused(app, setup, make_user):
    territory = setup[0]
    make_user(Role.GP, territory, email="orphan@example.org")
    assert logged_in(app, "orphan@example.org").get("/mes-plages").status_code == 403


def test_manual_edit_refuses_a_breach_and_warns_on_a_wish(app, setup, make_practitioner, make_site):
    from rota import services

    territory, site, gps, _, _ = setup
    coord = logged_in(app, "coord@example.org")
    start, period = _open_period(coord, site, offset=1, days=3)
    first, second = period.sessions[0], period.sessions[1]
    services.save_wish(
        period,
        gps[1],
        weight=1.0,
        preferred_weekdays=frozenset(),
        preferred_site_ids=[],
        avoid_dates=[first.local_date],
        by=None,
    )
    db.session.commit()

    page = coord.post(
        f"/coordination/plages/{first.id}/affecter",
        data={"practitioner_id": gps[1].id},
        follow_redirects=True,
    )
    text = page.get_data(as_text=True)
    assert "affecté·e" in text
    assert "avait demandé à éviter" in text

    other = make_practitioner(
        territory, family_name="Loin", site_ids=[make_site(territory, name="Ailleurs").id]
    )
    text = coord.post(
        f"/coordination/plages/{second.id}/affecter",
        data={"practitioner_id": other.id},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "n&#39;exerce pas à MSP des Marais" in text
    assert (
        db.session.scalar(
            sa.select(sa.func.count(Assignment.id)).where(Assignment.session_id == second.id)
        )
        == 0
    )

    assignment = db.session.scalar(sa.select(Assignment).where(Assignment.session_id == first.id))
    coord.post(f"/coordination/affectations/{assignment.id}/verrouiller")
    db.session.expire_all()
    assert db.session.get(Assignment, assignment.id).locked is True
    coord.post(f"/coordination/affectations/{assignment.id}/retirer", data={"confirmed": "1"})
    assert db.session.get(Assignment, assignment.id) is None


def test_gp_posts_a_session_on_the_bourse_and_a_colleague_takes_it(app, setup, make_user):
    from rota import services

    territory, site, gps, _, _ = setup
    coord = logged_in(app, "coord@example.org")
    start, period = _open_period(coord, site, offset=2, days=2)
    session = period.sessions[0]
    services.assign(session, gps[0], source=services.AssignmentSource.MANUAL, locked=True, by=None)
    db.session.commit()
    coord.post(f"/coordination/periodes/{period.id}/generer")
    coord.post(f"/coordination/periodes/{period.id}/publier", data={"confirmed": "1"})

    giver = logged_in(app, "gp@example.org")
    assignment = db.session.scalar(sa.select(Assignment).where(Assignment.session_id == session.id))
    page = giver.post(
        f"/mes-plages/{assignment.id}/ceder", data={"to": ""}, follow_redirects=True
    ).get_data(as_text=True)
    assert "proposée sur la bourse" in page

    make_user(Role.GP, territory, email="taker@example.org", practitioner=gps[1])
    taker = logged_in(app, "taker@example.org")
    page = taker.get("/mes-plages").get_data(as_text=True)
    assert "Plages proposées par vos confrères" in page
    from rota.models import SwapRequest

    swap = db.session.scalar(sa.select(SwapRequest))
    page = taker.post(f"/echanges/{swap.id}/accepter", follow_redirects=True).get_data(as_text=True)
    assert "Plage reprise" in page
    db.session.expire_all()
    assert db.session.get(Assignment, assignment.id).practitioner_id == gps[1].id


def test_gp_saves_wishes_and_coordinator_reminds_the_others(app, setup):
    from app.outbox import OutboxMessage
    from rota.models import Wish

    _, site, gps, _, _ = setup
    coord = logged_in(app, "coord@example.org")
    start, period = _open_period(coord, site, offset=3, days=6)

    gp = logged_in(app, "gp@example.org")
    assert "pas encore répondu" in gp.get("/mes-plages").get_data(as_text=True)
    bad = gp.post(
        f"/periodes/{period.id}/souhaits",
        data=wish_form(period.id, {"weight": "1.0", "avoid_dates": "31/02/2027"}),
        follow_redirects=True,
    )
    # The errors are summarised at the top, each a link to its field, the typed values kept.
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    summary = text[text.index('id="erreurs"') : text.index("</div>", text.index('id="erreurs"'))]
    assert f'href="#souhaits-{period.id}-avoid_dates"' in summary
    assert "Date illisible" in summary
    assert text.index('id="erreurs"') < text.index("Mes souhaits pour")
    assert 'value="31/02/2027"' in text
    assert "Souhaits invalides" not in text  # no more flash line for field errors
    over = gp.post(
        f"/periodes/{period.id}/souhaits",
        data=wish_form(period.id, {"weight": "1.0", "target_sessions": "5", "max_per_period": "2"}),
    ).get_data(as_text=True)
    assert f'href="#souhaits-{period.id}-target_sessions"' in over
    assert "dépasse le maximum" in over
    assert db.session.scalar(sa.select(sa.func.count(Wish.id))) == 0
    avoid = (start + timedelta(days=1)).strftime("%d/%m/%Y")
    page = gp.post(
        f"/periodes/{period.id}/souhaits",
        data=wish_form(
            period.id,
            {
                "weight": "0.5",
                "preferred_weekdays": ["0", "2"],
                "preferred_site_ids": [str(site.id)],
                "avoid_dates": avoid,
            },
        ),
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "Souhaits enregistrés" in page
    wish = db.session.scalar(sa.select(Wish))
    assert (wish.weight, wish.preferred_weekday_mask, wish.preferred_site_ids) == (
        0.5,
        0b101,
        [site.id],
    )
    assert wish.avoid_dates == [(start + timedelta(days=1)).isoformat()]

    before = db.session.scalar(sa.select(sa.func.count(OutboxMessage.id)))
    page = coord.post(
        f"/coordination/periodes/{period.id}/relancer", follow_redirects=True
    ).get_data(as_text=True)
    assert "0 médecin(s) relancé(s)" in page  # the others have no e-mail address
    assert db.session.scalar(sa.select(sa.func.count(OutboxMessage.id))) == before

    coord.post(f"/coordination/periodes/{period.id}/generer")
    db.session.expire_all()
    held = db.session.scalars(
        sa.select(Assignment).where(Assignment.practitioner_id == gps[0].id)
    ).all()
    assert all(a.session.local_date != start + timedelta(days=1) for a in held)


def _published_period(app, site, *, offset: int = 2, days: int = 3):
    coord = logged_in(app, "coord@example.org")
    start, period = _open_period(coord, site, offset=offset, days=days)
    coord.post(f"/coordination/periodes/{period.id}/generer")
    coord.post(f"/coordination/periodes/{period.id}/publier", data={"confirmed": "1"})
    db.session.expire_all()
    return coord, start, db.session.get(RotaPeriod, period.id)


def test_coordinator_edits_a_template(app, setup):
    _, site, _, _, _ = setup
    coord = logged_in(app, "coord@example.org")
    coord.post("/coordination/plages-types", data=_template_form(site))
    template = db.session.scalar(sa.select(SessionTemplate))
    page = coord.get(f"/coordination/plages-types/{template.id}").get_data(as_text=True)
    assert 'value="17:00"' in page
    assert "gardent leurs horaires" in page
    bad = coord.post(
        f"/coordination/plages-types/{template.id}",
        data=_template_form(site, end_time="17:00"),
    ).get_data(as_text=True)
    assert "différente de l&#39;heure de début" in bad
    page = coord.post(
        f"/coordination/plages-types/{template.id}",
        data=_template_form(site, start_time="18:00", end_time="21:00", gps_needed="2"),
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "Plage type modifiée" in page
    db.session.expire_all()
    template = db.session.get(SessionTemplate, template.id)
    assert (template.start_time.hour, template.gps_needed) == (18, 2)


def test_gp_wish_form_records_personal_limits(app, setup):
    from rota.models import Wish

    _, site, _, _, _ = setup
    coord = logged_in(app, "coord@example.org")
    _, period = _open_period(coord, site, offset=3, days=6)
    gp = logged_in(app, "gp@example.org")
    page = gp.post(
        f"/periodes/{period.id}/souhaits",
        data=wish_form(
            period.id,
            {"weight": "1.0", "target_sessions": "4", "max_per_day": "2", "max_per_period": "3"},
        ),
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "dépasse le maximum" in page
    assert db.session.scalar(sa.select(sa.func.count(Wish.id))) == 0
    gp.post(
        f"/periodes/{period.id}/souhaits",
        data=wish_form(
            period.id,
            {"weight": "1.0", "target_sessions": "2", "max_per_day": "2", "max_per_period": "3"},
        ),
    )
    wish = db.session.scalar(sa.select(Wish))
    assert (wish.target_sessions, wish.max_per_day, wish.max_per_period) == (2, 2, 3)
    page = gp.get("/mes-plages").get_data(as_text=True)
    assert f'name="souhaits-{period.id}-target_sessions" type="number" value="2"' in page


def test_gap_on_the_bourse_taken_by_a_gp_and_seen_by_the_coordinator(app, setup):
    territory, site, gps, _, _ = setup
    coord, _, period = _published_period(app, site)
    session = period.sessions[0]
    holder = session.assignments[0]
    coord.post(f"/coordination/affectations/{holder.id}/retirer", data={"confirmed": "1"})
    db.session.expire_all()
    page = coord.get("/coordination/a-pourvoir").get_data(as_text=True)
    assert "Places manquantes (1)" in page
    assert f"/coordination/plages/{session.id}" in page

    gp = logged_in(app, "gp@example.org")
    page = gp.get("/mes-plages").get_data(as_text=True)
    assert "Bourse : plages à pourvoir" in page
    page = gp.post(f"/plages/{session.id}/prendre", follow_redirects=True).get_data(as_text=True)
    assert "Merci : vous assurerez la plage" in page
    db.session.expire_all()
    assert [a.practitioner_id for a in db.session.get(type(session), session.id).assignments] == [
        gps[0].id
    ]
    assert "Places manquantes (0)" in coord.get("/coordination/a-pourvoir").get_data(as_text=True)


def test_coordinator_approves_a_swap_when_the_territory_asks(app, setup, make_user):
    from rota.models import SwapRequest, SwapStatus

    territory, site, gps, _, _ = setup
    territory.swaps_need_approval = True
    db.session.commit()
    coord, _, period = _published_period(app, site)
    mine = db.session.scalar(sa.select(Assignment).where(Assignment.practitioner_id == gps[0].id))
    gp = logged_in(app, "gp@example.org")
    gp.post(f"/mes-plages/{mine.id}/ceder", data={"to": str(gps[1].id)})
    make_user(Role.GP, territory, email="taker@example.org", practitioner=gps[1])
    taker = logged_in(app, "taker@example.org")
    swap = db.session.scalar(sa.select(SwapRequest))
    page = taker.post(f"/echanges/{swap.id}/accepter", follow_redirects=True).get_data(as_text=True)
    assert "attend la validation de la coordination" in page
    assert "en attente de validation" in gp.get("/mes-plages").get_data(as_text=True)
    page = coord.get("/coordination/a-pourvoir").get_data(as_text=True)
    assert "Échanges à valider (1)" in page
    page = coord.post(f"/coordination/echanges/{swap.id}/valider", follow_redirects=True).get_data(
        as_text=True
    )
    assert "Échange validé" in page
    db.session.expire_all()
    assert db.session.get(SwapRequest, swap.id).status == SwapStatus.ACCEPTED
    assert db.session.get(Assignment, mine.id).practitioner_id == gps[1].id


def test_settings_page_turns_swap_approval_on(app, setup):
    territory, _, _, _, _ = setup
    coord = logged_in(app, "coord@example.org")
    form = coord.get("/coordination/territoire").get_data(as_text=True)
    assert "validés par la coordination" in form
    coord.post(
        "/coordination/territoire",
        data={
            "name": territory.name,
            "timezone": "Europe/Paris",
            "holiday_subdivision": "",
            "min_rest_hours": "10",
            "swaps_need_approval": "y",
        },
    )
    db.session.expire_all()
    assert db.session.get(type(territory), territory.id).swaps_need_approval is True


def test_printable_month_for_regulators_and_gps(app, setup, make_user):
    territory, site, gps, _, _ = setup
    coord = logged_in(app, "coord@example.org")
    start, period = _open_period(coord, site, offset=2, days=3)
    coord.post(f"/coordination/periodes/{period.id}/generer")
    make_user(Role.REGULATOR, territory, email="samu@example.org")
    regulator = logged_in(app, "samu@example.org")
    assert regulator.get(f"/tableaux/{period.id}/impression").status_code == 404  # not published
    draft = coord.get(f"/tableaux/{period.id}/impression").get_data(as_text=True)
    assert "PROJET non publié" in draft
    coord.post(f"/coordination/periodes/{period.id}/publier", data={"confirmed": "1"})
    listing = regulator.get("/tableaux").get_data(as_text=True)
    assert f"/tableaux/{period.id}/impression?mois={start:%Y-%m}" in listing
    page = regulator.get(f"/tableaux/{period.id}/impression?mois={start:%Y-%m}").get_data(
        as_text=True
    )
    assert "print.css" in page
    css = regulator.get("/static/print.css")
    assert "size: A4 landscape" in css.get_data(as_text=True)
    css.close()
    assert "version 1 publiée" in page
    assert site.name in page
    names = {a.practitioner.family_name for s in period.sessions for a in s.assignments}
    assert names
    assert all(f". {n}</span>" in page for n in names)
    assert regulator.get(f"/tableaux/{period.id}/impression?mois=1999-01").status_code == 404
    assert regulator.get(f"/tableaux/{period.id}/impression?mois=bad").status_code == 404


def test_coordinator_replaces_a_gp_and_cancels_a_session(app, setup, make_user):
    from app.outbox import OutboxMessage
    from rota.models import Session

    territory, site, gps, _, _ = setup
    coord, _, period = _published_period(app, site)
    session = period.sessions[0]
    held = session.assignments[0]
    other = next(g for g in gps if g.id != held.practitioner_id)
    other.email = "remplacant@example.org"
    db.session.commit()
    page = coord.get(f"/coordination/plages/{session.id}").get_data(as_text=True)
    assert "Remplacer" in page
    assert "Annuler la plage" in page
    page = coord.post(
        f"/coordination/affectations/{held.id}/remplacer",
        data={"practitioner_id": str(other.id)},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "assure désormais cette place" in page
    db.session.expire_all()
    assert db.session.get(Assignment, held.id).practitioner_id == other.id
    refused = coord.post(
        f"/coordination/plages/{session.id}/annuler", data={"reason": " "}, follow_redirects=True
    ).get_data(as_text=True)
    assert "Indiquez le motif" in refused
    asked = coord.post(
        f"/coordination/plages/{session.id}/annuler", data={"reason": "Dégât des eaux"}
    ).get_data(as_text=True)
    assert "1 médecin(s) recevront un e-mail" in asked
    assert 'name="reason" value="Dégât des eaux"' in asked
    db.session.expire_all()
    assert db.session.get(Session, session.id).cancelled is False
    page = coord.post(
        f"/coordination/plages/{session.id}/annuler",
        data={"reason": "Dégât des eaux", "confirmed": "1"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "Plage annulée" in page
    db.session.expire_all()
    cancelled = db.session.get(Session, session.id)
    assert (cancelled.cancelled, cancelled.cancel_reason) == (True, "Dégât des eaux")
    told = db.session.scalars(
        sa.select(OutboxMessage.recipient).where(
            OutboxMessage.subject == "Tour de rôle : plage annulée"
        )
    ).all()
    assert told == ["remplacant@example.org"]
