"""The authorisation matrix: every route × every role, and cross-territory ids.

Adding a route without classifying it here fails ``test_every_route_is_in_the_matrix``.
"""

import re
from dataclasses import dataclass
from datetime import date, time, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from app.enums import Profession, Role
from app.extensions import db
from app.models import Commune, Practitioner, Site, User
from app.regulation import services as regulation_services
from app.timeutil import now_utc
from booking import tokens
from rota import scenarios
from rota import services as rota_services
from rota.models import ExchangeProposal, SwapRequest, SwapStatus
from tests import world_cache
from tests.helpers import PASSWORD

ANON = "anonymous"
ROLES = [ANON, *[r.value for r in Role]]
COORD = {Role.COORDINATOR.value}
ADMIN = {Role.ADMIN.value}
GP = {Role.GP.value}
ANYONE = set(ROLES)
LOGGED_IN = {r.value for r in Role}
ROTA_READERS = {Role.COORDINATOR.value, Role.REGULATOR.value, Role.GP.value}

# (endpoint, method) -> roles allowed. Everyone else: anonymous → login page, others → 403.
MATRIX: dict[tuple[str, str], set[str]] = {
    ("health.healthz", "GET"): ANYONE,
    ("static", "GET"): ANYONE,
    ("auth.home", "GET"): ANYONE,
    ("auth.login", "GET"): ANYONE,
    ("auth.login", "POST"): ANYONE,
    ("auth.accept_invitation", "GET"): ANYONE,
    ("auth.accept_invitation", "POST"): ANYONE,
    ("auth.logout", "POST"): LOGGED_IN,
    # Accounts: second factor, Pro Santé Connect, password reset and change, sessions
    ("auth.second_factor", "GET"): ANYONE,
    ("auth.second_factor", "POST"): ANYONE,
    ("auth.psc_login", "GET"): ANYONE,
    ("auth.psc_callback", "GET"): ANYONE,
    ("auth.forgot_password", "GET"): ANYONE,
    ("auth.forgot_password", "POST"): ANYONE,
    ("auth.reset_password", "GET"): ANYONE,
    ("auth.reset_password", "POST"): ANYONE,
    ("auth.account", "GET"): LOGGED_IN,
    ("auth.totp_setup", "GET"): LOGGED_IN,
    ("auth.totp_setup", "POST"): LOGGED_IN,
    ("auth.totp_recovery_codes", "POST"): LOGGED_IN,
    ("auth.totp_disable", "POST"): LOGGED_IN,
    ("auth.change_password", "GET"): LOGGED_IN,
    ("auth.change_password", "POST"): LOGGED_IN,
    ("auth.my_sessions", "GET"): LOGGED_IN,
    ("auth.end_session", "POST"): LOGGED_IN,
    ("auth.end_all_sessions", "POST"): LOGGED_IN,
    ("auth.login_rules", "GET"): COORD,
    ("auth.login_rules", "POST"): COORD,
    ("territory.overview", "GET"): COORD,
    ("territory.settings", "GET"): COORD,
    ("territory.settings", "POST"): COORD,
    ("territory.communes", "GET"): COORD,
    ("territory.add_commune", "GET"): COORD,
    ("territory.add_commune", "POST"): COORD,
    ("territory.add_epci", "POST"): COORD,
    ("territory.remove_commune", "POST"): COORD,
    ("territory.commune_centres", "GET"): COORD,
    ("territory.commune_centres", "POST"): COORD,
    ("territory.set_commune_centre", "POST"): COORD,
    ("territory.sites", "GET"): COORD,
    ("territory.new_site", "GET"): COORD,
    ("territory.new_site", "POST"): COORD,
    ("territory.edit_site", "GET"): COORD,
    ("territory.edit_site", "POST"): COORD,
    ("territory.toggle_site", "POST"): COORD,
    ("territory.practitioners", "GET"): COORD,
    ("territory.new_practitioner", "GET"): COORD,
    ("territory.new_practitioner", "POST"): COORD,
    ("territory.edit_practitioner", "GET"): COORD,
    ("territory.edit_practitioner", "POST"): COORD,
    ("territory.toggle_practitioner", "POST"): COORD,
    ("territory.import_practitioners_page", "GET"): COORD,
    ("territory.import_practitioners_page", "POST"): COORD,
    ("territory.users", "GET"): COORD,
    ("territory.invite_user", "GET"): COORD,
    ("territory.invite_user", "POST"): COORD,
    ("territory.toggle_user", "POST"): COORD,
    ("territory.reinvite_user", "POST"): COORD,
    ("territory.invitation_action", "POST"): COORD,
    ("rota.templates", "GET"): COORD,
    ("rota.templates", "POST"): COORD,
    ("rota.toggle_template", "POST"): COORD,
    ("rota.periods", "GET"): COORD,
    ("rota.periods", "POST"): COORD,
    ("rota.period", "GET"): COORD,
    ("rota.period_action", "POST"): COORD,
    ("rota.save_wish", "POST"): GP,
    ("rota.session_detail", "GET"): COORD,
    ("rota.assign", "POST"): COORD,
    ("rota.edit_assignment", "POST"): COORD,
    ("rota.my_sessions", "GET"): GP,
    ("declarations.page", "GET"): GP,
    ("declarations.page", "POST"): GP,
    ("declarations.delete", "POST"): GP,
    ("rota.volunteer", "POST"): GP,
    ("rota.offer_swap", "POST"): GP,
    ("rota.decide_swap", "POST"): GP,
    ("rota.replace_gp", "POST"): COORD,
    ("rota.cancel_session", "POST"): COORD,
    ("rota.edit_template", "GET"): COORD,
    ("rota.edit_template", "POST"): COORD,
    ("rota.take_place", "POST"): GP,
    ("rota.gaps", "GET"): COORD,
    ("rota.approve_swap", "POST"): COORD,
    ("exchanges.page", "GET"): GP,
    ("exchanges.propose", "GET"): GP,
    ("exchanges.propose", "POST"): GP,
    ("exchanges.accept", "POST"): GP,
    ("exchanges.withdraw", "POST"): GP,
    ("exchanges.decline", "POST"): GP,
    ("exchanges.decide", "POST"): COORD,
    ("rota.rota_list", "GET"): ROTA_READERS,
    ("rota.print_rota", "GET"): ROTA_READERS,
    ("fairness.absences", "GET"): COORD,
    ("fairness.absence_exemption", "POST"): COORD,
    ("fairness.period_fairness", "GET"): COORD,
    ("territory.admin_territories", "GET"): ADMIN,
    ("territory.admin_new_territory", "GET"): ADMIN,
    ("territory.admin_new_territory", "POST"): ADMIN,
    ("regulation.services_page", "GET"): ADMIN,
    ("regulation.services_page", "POST"): ADMIN,
    ("regulation.service_page", "GET"): ADMIN,
    ("regulation.service_page", "POST"): ADMIN,
    ("regulation.detach_territory", "POST"): ADMIN,
    # A regulation service's API tokens (booking/service_token_views.py)
    ("service_tokens.page", "GET"): ADMIN,
    ("service_tokens.page", "POST"): ADMIN,
    ("service_tokens.revoke", "POST"): ADMIN,
    # Booking pages
    ("booking.search", "GET"): COORD | {Role.REGULATOR.value, Role.PHARMACIST.value},
    ("booking.book", "GET"): COORD | {Role.REGULATOR.value, Role.PHARMACIST.value},
    ("booking.book", "POST"): COORD | {Role.REGULATOR.value, Role.PHARMACIST.value},
    ("booking.my_bookings", "GET"): ROTA_READERS | {Role.PHARMACIST.value},
    ("booking.detail", "GET"): ROTA_READERS | {Role.PHARMACIST.value},
    ("booking.cancel", "POST"): ROTA_READERS | {Role.PHARMACIST.value},
    ("booking.mark", "POST"): COORD | GP,
    ("booking.territory_bookings", "GET"): COORD,
    ("booking.gp_day", "GET"): GP,
    ("public.availability_page", "GET"): ANYONE,
    # The patient's cancellation link: no account, the token is the right (made-up: 404).
    ("booking.patient_cancel", "GET"): ANYONE,
    ("booking.patient_cancel", "POST"): ANYONE,
    # JSON API (bearer tokens)
    ("api.openapi", "GET"): ANYONE,
    ("api.list_slots", "GET"): set(),  # cookies never open the API: see API_ROUTES
    ("api.create_booking", "POST"): set(),
    ("api.get_booking", "GET"): set(),
    ("api.cancel_booking", "DELETE"): set(),
    # FHIR for the SAS platform (bearer tokens too)
    ("fhir.metadata", "GET"): ANYONE,
    ("fhir.search_slots", "GET"): set(),
    ("fhir.read_slot", "GET"): set(),
    ("fhir.search_schedules", "GET"): set(),
    ("fhir.read_schedule", "GET"): set(),
    ("fhir.read_practitioner_role", "GET"): set(),
    ("fhir.search_practitioners", "GET"): set(),
    ("fhir.read_practitioner", "GET"): set(),
    ("fhir.read_healthcare_service", "GET"): set(),
    ("fhir.read_organization", "GET"): set(),
    ("fhir.create_appointment", "POST"): set(),
    ("fhir.update_appointment", "PUT"): set(),
    ("fhir.read_appointment", "GET"): set(),
    ("api_tokens.tokens_page", "GET"): COORD,
    ("api_tokens.tokens_page", "POST"): COORD,
    ("api_tokens.revoke", "POST"): COORD,
    # iCalendar feeds
    ("feeds.token_feed", "GET"): ANYONE,  # a secret token, no login: see NOT_FOUND_FOR_EVERYONE
    ("feeds.site_feed", "GET"): ANYONE,
    ("feeds.gp_subscribe", "GET"): GP,
    ("feeds.gp_subscribe", "POST"): GP,
    ("feeds.gp_renew", "GET"): GP,
    ("feeds.territory_subscribe", "GET"): COORD,
    ("feeds.territory_subscribe", "POST"): COORD,
    # Indicators, contract targets and exports (publishing/indicator_views.py)
    ("indicators.page", "GET"): COORD,
    ("indicators.print_page", "GET"): COORD,
    ("indicators.export_csv", "GET"): COORD,
    ("indicators.export_xlsx", "GET"): COORD,
    ("indicators.rota_csv", "GET"): COORD,
    ("indicators.rota_xlsx", "GET"): COORD,
    ("indicators.targets_page", "GET"): COORD,
    ("indicators.targets_page", "POST"): COORD,
    ("indicators.set_year", "POST"): COORD,
    ("indicators.delete_target", "POST"): COORD,
    ("api.indicators", "GET"): set(),  # a coordinator's bearer token only
    # Evidence for the majoration SNP / MRT (booking/evidence_views.py)
    ("evidence.mine", "GET"): GP,
    ("evidence.print_mine", "GET"): GP,
    ("evidence.export_mine", "GET"): GP,
    ("evidence.coordination", "GET"): COORD,
}
# API routes answer 401 (JSON) to every cookie-logged role: only a bearer token opens them.
API_ROUTES = {key for key in MATRIX if key[0].startswith("api.") and key[0] != "api.openapi"}
# So do the FHIR routes, with an OperationOutcome.
FHIR_ROUTES = {key for key in MATRIX if key[0].startswith("fhir.") and key[0] != "fhir.metadata"}

# Routes whose public answer is legitimately a 404 for a made-up token.
NOT_FOUND_FOR_EVERYONE = {
    "auth.accept_invitation",
    "auth.reset_password",  # made-up reset token
    "booking.detail",  # made-up booking reference
    "booking.cancel",
    "booking.mark",
    "feeds.token_feed",  # made-up feed token
    "booking.patient_cancel",  # made-up cancellation link
}
# Steps of a login that send the browser on: to the login page without a login under
# way, to the home page once logged in, to Pro Santé Connect (or back) otherwise.
REDIRECTING_PAGES = ("auth.second_factor", "auth.psc_login", "auth.psc_callback")
# The period of ``two_territories`` is a draft: only its coordinator may print it.
NOT_FOUND_FOR = {("rota.print_rota", Role.GP.value), ("rota.print_rota", Role.REGULATOR.value)}


@dataclass
class World:
    users: dict[str, User]
    ids: dict[str, object]
    other_ids: dict[str, object]


def _objects(make_territory, make_site, make_practitioner, make_user, communes, email_prefix):
    territory = make_territory(communes=communes)
    site = make_site(territory)
    gp = make_practitioner(territory, site_ids=[site.id], profession=Profession.GP)
    users = {
        role.value: make_user(
            role,
            territory,
            email=f"{email_prefix}-{role.value}@example.org",
            practitioner=gp if role == Role.GP else None,
        )
        for role in Role
        if role != Role.ADMIN
    }
    start = now_utc().date() + timedelta(days=1)
    period = scenarios.open_period(
        territory,
        name="Période",
        start=start,
        end=start + timedelta(days=6),
        templates=[
            scenarios.template(
                site, weekdays=range(7), start=time(17), end=time(20), valid_from=date(2026, 1, 1)
            )
        ],
    )
    volunteered = rota_services.volunteer(period.sessions[1], gp, by=None)
    absence = rota_services.declare_unavailability(
        gp,
        start_date=start + timedelta(days=30),
        end_date=start + timedelta(days=31),
        reason="",
        by=None,
    )
    swap = SwapRequest(
        territory_id=territory.id,
        assignment_id=volunteered.id,
        session_id=volunteered.session_id,
        from_practitioner_id=gp.id,
        status=SwapStatus.OPEN,
    )
    db.session.add(swap)
    exchange = ExchangeProposal(
        territory_id=territory.id,
        assignment_id=volunteered.id,
        session_id=volunteered.session_id,
        from_practitioner_id=gp.id,
        any_in_month=True,
        status=SwapStatus.OPEN,
    )
    db.session.add(exchange)
    db.session.flush()
    target_user = make_user(Role.GP, territory, email=f"{email_prefix}-target@example.org")
    target_user.password_hash = None  # an invitation still pending, so reinvite applies
    _, api_token = tokens.create_token(users[Role.REGULATOR.value], "matrice", by=None)
    service = regulation_services.create_service(f"SAS {email_prefix}", by=None)
    regulation_services.attach_territory(service, territory, by=None)
    regulation_services.assign_regulator(users[Role.REGULATOR.value], service, by=None)
    db.session.commit()
    ids = {
        "commune_id": territory.communes[0].id,
        "site_id": site.id,
        "practitioner_id": gp.id,
        "user_id": target_user.id,
        "insee_code": communes[0],
        "action": "desactiver",
        "token": "made-up-token",
        "reference": "ZZZZ2345",  # booking pages: no such booking
        "filename": "style.css",
        "period_id": period.id,
        "session_id": period.sessions[0].id,
        "assignment_id": volunteered.id,
        "swap_id": swap.id,
        "proposal_id": exchange.id,
        "template_id": period.sessions[0].template_id,
        "token_id": api_token.id,
        "slot_id": f"{period.sessions[0].id}-1-0",
        "ident": "1",
        "service_id": service.id,
        "territory_id": territory.id,
        "absence_id": absence.id,
        "item_id": absence.id,
    }
    return users, ids


@pytest.fixture
def two_territories(app, make_territory, make_site, make_practitioner, make_user) -> World:
    """Built once per process and engine, then restored (``tests/world_cache.py``)."""
    return world_cache.reuse(
        "two_territories",
        lambda: _build_two_territories(make_territory, make_site, make_practitioner, make_user),
    )


def _build_two_territories(make_territory, make_site, make_practitioner, make_user) -> World:
    users, ids = _objects(make_territory, make_site, make_practitioner, make_user, ("85047",), "a")
    _, other_ids = _objects(
        make_territory, make_site, make_practitioner, make_user, ("17369",), "b"
    )
    users[Role.ADMIN.value] = make_user(Role.ADMIN, None, email="admin@example.org")
    return World(users=users, ids=ids, other_ids=other_ids)


ACTION_FOR = {
    "rota.period_action": "generer",
    "rota.edit_assignment": "verrouiller",
    "rota.decide_swap": "accepter",
    "rota.approve_swap": "refuser",
    "exchanges.decide": "refuser",
}


def _url(app: Flask, endpoint: str, values: dict) -> str:
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    values = {**values, "action": ACTION_FOR.get(endpoint, values["action"])}
    return app.url_for(endpoint, **{k: values[k] for k in rule.arguments})


def test_every_route_is_in_the_matrix(app):
    routes = {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert routes == set(MATRIX)


def _answer_is_right(endpoint: str, method: str, role: str, response) -> None:
    """What ``role`` must get from the route (see the comments on MATRIX)."""
    status = response.status_code
    allowed = role in MATRIX[(endpoint, method)]
    if (endpoint, method) in API_ROUTES:
        assert status == 401, role
        assert response.get_json()["code"] == "unauthorized"
    elif (endpoint, method) in FHIR_ROUTES:
        assert status == 401, role
        assert response.get_json()["resourceType"] == "OperationOutcome"
    elif not allowed and role == ANON:
        assert status == 302, role
        assert "/connexion" in response.headers["Location"]
    elif not allowed:
        assert status == 403, role
        assert "accès" in response.get_data(as_text=True)
    elif endpoint in NOT_FOUND_FOR_EVERYONE or (endpoint, role) in NOT_FOUND_FOR:
        assert status == 404, role
    elif method == "GET":
        assert status in (200, 302), (role, status)
        if status == 302:  # home by role; login once logged in
            assert endpoint in ("auth.home", "auth.login", *REDIRECTING_PAGES), role
    else:
        assert status in (200, 302, 400), (role, status)


@pytest.mark.parametrize(("endpoint", "method"), sorted(MATRIX))
def test_route_access_by_role(app, two_territories, endpoint, method):
    """Every role on one route, each with its own cookie jar, on one world.

    The roles refused go first: a refusal changes nothing, so each allowed role then meets
    the world as built (the allowed ones never change another account's data). One world
    per route rather than per route × role: the matrix costs a seventh of its setups.
    """
    allowed = MATRIX[(endpoint, method)]
    url = _url(app, endpoint, two_territories.ids)
    for role in sorted(ROLES, key=lambda r: (r in allowed, r)):
        client = app.test_client()
        if role != ANON:
            login = client.post(
                "/connexion",
                data={"email": two_territories.users[role].email, "password": PASSWORD},
            )
            assert login.status_code == 302, role
        response = client.open(url, method=method, data={})
        response.close()  # static files stream from disk
        _answer_is_right(endpoint, method, role, response)


ID_ROUTES = sorted(
    key
    for key in MATRIX
    if MATRIX[key] == COORD
    and key[0]
    in {
        "territory.remove_commune",
        "territory.set_commune_centre",
        "territory.edit_site",
        "territory.toggle_site",
        "territory.edit_practitioner",
        "territory.toggle_practitioner",
        "territory.toggle_user",
        "territory.reinvite_user",
        "rota.period",
        "rota.period_action",
        "rota.toggle_template",
        "rota.session_detail",
        "rota.assign",
        "rota.edit_assignment",
        "rota.edit_template",
        "rota.approve_swap",
        "exchanges.decide",
        "rota.replace_gp",
        "rota.cancel_session",
        "fairness.absence_exemption",
        "fairness.period_fairness",
        "api_tokens.revoke",
    }
)


@pytest.mark.parametrize(("endpoint", "method"), ID_ROUTES)
def test_other_territory_ids_are_not_found(app, client, two_territories, endpoint, method):
    client.post(
        "/connexion",
        data={"email": two_territories.users["coordinator"].email, "password": PASSWORD},
    )
    before = _snapshot()
    response = client.open(
        _url(app, endpoint, two_territories.other_ids), method=method, data={"name": "pirate"}
    )
    assert response.status_code == 404
    db.session.expire_all()
    assert _snapshot() == before


@pytest.mark.parametrize(
    "endpoint",
    [
        "rota.volunteer",
        "rota.offer_swap",
        "rota.decide_swap",
        "rota.save_wish",
        "rota.take_place",
        "declarations.delete",
        "exchanges.propose",
        "exchanges.accept",
        "exchanges.withdraw",
        "exchanges.decline",
    ],
)
def test_gp_cannot_touch_another_territory_session(app, client, two_territories, endpoint):
    client.post(
        "/connexion", data={"email": two_territories.users["gp"].email, "password": PASSWORD}
    )
    before = _snapshot()
    response = client.post(_url(app, endpoint, two_territories.other_ids))
    assert response.status_code == 404
    db.session.expire_all()
    assert _snapshot() == before


def _snapshot():
    return (
        db.session.execute(sa.select(Commune.id, Commune.territory_id).order_by(Commune.id)).all(),
        db.session.execute(sa.select(Site.id, Site.name, Site.active).order_by(Site.id)).all(),
        db.session.execute(
            sa.select(Practitioner.id, Practitioner.active).order_by(Practitioner.id)
        ).all(),
        db.session.execute(
            sa.select(User.id, User.active, User.invitation_hash).order_by(User.id)
        ).all(),
        db.session.execute(
            sa.text("SELECT id, session_id, practitioner_id, locked FROM assignment ORDER BY id")
        ).all(),
        db.session.execute(sa.text("SELECT id, status FROM rota_period ORDER BY id")).all(),
        db.session.execute(
            sa.text("SELECT id, cancelled, version FROM snp_session ORDER BY id")
        ).all(),
        db.session.execute(sa.text("SELECT id, status FROM swap_request ORDER BY id")).all(),
        db.session.execute(sa.text("SELECT id, status FROM exchange_proposal ORDER BY id")).all(),
        db.session.execute(sa.text("SELECT id, weight FROM wish ORDER BY id")).all(),
        db.session.execute(
            sa.text("SELECT id, active, start_time FROM session_template ORDER BY id")
        ).all(),
    )


def test_coordinator_lists_show_only_their_territory(app, client, two_territories):
    client.post(
        "/connexion",
        data={"email": two_territories.users["coordinator"].email, "password": PASSWORD},
    )
    users_page = client.get("/coordination/comptes").get_data(as_text=True)
    assert "a-gp@example.org" in users_page
    assert "b-gp@example.org" not in users_page
    communes_page = client.get("/coordination/communes").get_data(as_text=True)
    assert "Challans" in communes_page
    assert "Saint-Martin-de-Ré" not in communes_page


def test_invite_cannot_link_another_territory_practitioner(app, client, two_territories):
    client.post(
        "/connexion",
        data={"email": two_territories.users["coordinator"].email, "password": PASSWORD},
    )
    response = client.post(
        "/coordination/comptes/inviter",
        data={
            "email": "intrus@example.org",
            "role": "gp",
            "practitioner_id": two_territories.other_ids["practitioner_id"],
        },
    )
    assert response.status_code == 200  # refused by the form: not a valid choice
    assert db.session.scalar(sa.select(User).where(User.email == "intrus@example.org")) is None


@pytest.mark.parametrize("role", sorted(ROTA_READERS))
def test_another_territory_rota_cannot_be_printed(app, client, two_territories, role):
    client.post(
        "/connexion", data={"email": two_territories.users[role].email, "password": PASSWORD}
    )
    response = client.get(_url(app, "rota.print_rota", two_territories.other_ids))
    assert response.status_code == 404


# Forms posted with cookies must carry the CSRF token; bearer-token APIs are exempt.
CSRF_ROUTES = sorted(
    key
    for key in MATRIX
    if key[1] == "POST"
    and key not in API_ROUTES
    and MATRIX[key] - {ANON}  # a logged-in role may post it
    and key[0] != "auth.login"  # checked below, without a session
)


# Tests speak https (PREFERRED_URL_SCHEME), where Flask-WTF also wants a same-origin Referer,
# which browsers send (Referrer-Policy: same-origin): only the token is missing below.
SAME_ORIGIN = {"Referer": "https://tdr.test/"}


def _csrf_login(client, email: str) -> None:
    page = client.get("/connexion").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token, "the login form carries a CSRF token"
    answer = client.post(
        "/connexion",
        data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)},
        headers=SAME_ORIGIN,
    )
    assert answer.status_code == 302


@pytest.mark.parametrize(("endpoint", "method"), CSRF_ROUTES)
def test_state_changing_forms_refuse_a_missing_csrf_token(
    make_app, two_territories, endpoint, method
):
    guarded = make_app(WTF_CSRF_ENABLED=True)  # same database as ``two_territories``
    role = sorted(MATRIX[(endpoint, method)] - {ANON})[0]
    email = two_territories.users[role].email
    db.session.rollback()  # SQLite: the test's own reads must not hold the write lock
    client = guarded.test_client()
    _csrf_login(client, email)
    before = _snapshot()
    db.session.rollback()  # SQLite: our read must not hold the lock the request may need
    response = client.post(
        _url(guarded, endpoint, two_territories.ids),
        data={"name": "x", "reason": "x"},
        headers=SAME_ORIGIN,
    )
    assert response.status_code == 400, (endpoint, role)
    assert "expiré" in response.get_data(as_text=True) or "invalide" in response.get_data(
        as_text=True
    )
    db.session.expire_all()
    assert _snapshot() == before


def test_login_refuses_a_missing_csrf_token(make_app, two_territories):
    guarded = make_app(WTF_CSRF_ENABLED=True)
    email = two_territories.users["coordinator"].email
    db.session.rollback()
    answer = guarded.test_client().post(
        "/connexion",
        data={"email": email, "password": PASSWORD},
        headers=SAME_ORIGIN,
    )
    assert answer.status_code == 400
