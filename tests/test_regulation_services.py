"""Regulation services (SAS desks): the administrator's use cases, the schema, the migration."""

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from app.enums import Role
from app.extensions import db
from app.models import AuditEvent, RegulationService, User
from app.regulation import services
from app.validators import ValidationError
from tests.helpers import build_app


def test_admin_creates_a_service_and_attaches_territories(app, make_territory, make_user):
    north = make_territory(name="CPTS Nord", communes=("85047",))
    south = make_territory(name="CPTS Sud", communes=("85194",))
    admin = make_user(Role.ADMIN, None)
    service = services.create_service("  SAS   85 ", by=admin)
    services.attach_territory(service, north, by=admin)
    services.attach_territory(service, south, by=admin)
    db.session.commit()
    assert service.name == "SAS 85"
    assert services.service_territory_ids(service.id) == sorted([north.id, south.id])
    # The attachment is in each territory's audit trail: its coordinator sees it.
    territories = set(
        db.session.scalars(
            sa.select(AuditEvent.territory_id).where(
                AuditEvent.action == "regulation_service.attach"
            )
        )
    )
    assert territories == {None, north.id, south.id}


@pytest.mark.parametrize(("name", "message"), [("", "obligatoire"), ("x" * 121, "trop long")])
def test_bad_service_names_are_refused(app, name, message):
    with pytest.raises(ValidationError, match=message):
        services.create_service(name, by=None)


def test_service_names_are_unique_whatever_the_case(app):
    services.create_service("SAS 85", by=None)
    with pytest.raises(ValidationError, match="s'appelle déjà"):
        services.create_service("sas 85", by=None)


def test_attaching_twice_or_detaching_an_unattached_territory_is_refused(app, make_territory):
    territory = make_territory()
    service = services.create_service("SAS 85", by=None)
    services.attach_territory(service, territory, by=None)
    with pytest.raises(ValidationError, match="déjà rattaché"):
        services.attach_territory(service, territory, by=None)
    services.detach_territory(service, territory, by=None)
    with pytest.raises(ValidationError, match="n'est pas rattaché"):
        services.detach_territory(service, territory, by=None)


def test_only_regulators_belong_to_a_service(app, make_territory, make_user):
    territory = make_territory()
    coordinator = make_user(Role.COORDINATOR, territory)
    service = services.create_service("SAS 85", by=None)
    with pytest.raises(ValidationError, match="Seul un compte de régulateur"):
        services.assign_regulator(coordinator, service, by=None)


def test_schema_lets_a_service_regulator_have_no_territory(app, make_territory, make_user):
    service = services.create_service("SAS 85", by=None)
    regulator = make_user(Role.REGULATOR, make_territory())
    services.assign_regulator(regulator, service, by=None)
    regulator.territory_id = None
    db.session.commit()
    assert regulator.regulation_service_id == service.id
    with pytest.raises(ValidationError, match="doit rester rattaché"):
        services.assign_regulator(regulator, None, by=None)


@pytest.mark.parametrize(
    ("role", "with_service"), [(Role.REGULATOR, False), (Role.COORDINATOR, True)]
)
def test_schema_refuses_accounts_outside_the_rules(
    app, make_territory, make_user, role, with_service
):
    service = services.create_service("SAS 85", by=None)
    user = make_user(role, make_territory())
    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(
            sa.update(User)
            .where(User.id == user.id)
            .values(
                territory_id=None if not with_service else user.territory_id,
                regulation_service_id=service.id if with_service else None,
            )
        )
    db.session.rollback()


def test_a_service_with_regulators_cannot_be_deleted(app, make_territory, make_user):
    service = services.create_service("SAS 85", by=None)
    services.assign_regulator(make_user(Role.REGULATOR, make_territory()), service, by=None)
    db.session.commit()
    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(sa.delete(RegulationService).where(RegulationService.id == service.id))
    db.session.rollback()


def test_admin_pages_create_attach_assign_and_detach(app, client, auth, make_territory, make_user):
    territory = make_territory(name="CPTS Nord")
    regulator = make_user(Role.REGULATOR, territory)
    admin = make_user(Role.ADMIN, None)
    auth.login(admin.email)
    answer = client.post("/admin/regulation", data={"name": "SAS 85"}, follow_redirects=True)
    assert "Service « SAS 85 » créé" in answer.get_data(as_text=True)
    service = db.session.scalars(sa.select(RegulationService)).one()
    url = f"/admin/regulation/{service.id}"
    answer = client.post(
        url, data={"action": "attach", "attach-territory_id": territory.id}, follow_redirects=True
    )
    assert "CPTS Nord rattaché à SAS 85" in answer.get_data(as_text=True)
    answer = client.post(
        url, data={"action": "assign", "assign-user_id": regulator.id}, follow_redirects=True
    )
    assert f"{regulator.email} rejoint SAS 85" in answer.get_data(as_text=True)
    answer = client.post(f"{url}/territoires/{territory.id}/retirer", follow_redirects=True)
    assert "plus rattaché à SAS 85" in answer.get_data(as_text=True)
    db.session.expire_all()
    assert services.service_territory_ids(service.id) == []
    assert db.session.get(User, regulator.id).regulation_service_id == service.id
    page = client.get("/admin/regulation").get_data(as_text=True)
    assert "SAS 85" in page


def test_the_administrators_menu_leads_to_the_services(client, auth, make_user):
    auth.login(make_user(Role.ADMIN, None).email)
    home = client.get("/", follow_redirects=True).get_data(as_text=True)
    assert '<a href="/admin/regulation">Services de régulation</a>' in home


def test_admin_page_refuses_a_duplicate_name_in_french(app, client, auth, make_user):
    services.create_service("SAS 85", by=None)
    db.session.commit()
    auth.login(make_user(Role.ADMIN, None).email)
    answer = client.post("/admin/regulation", data={"name": "sas 85"}, follow_redirects=True)
    assert "appelle déjà" in answer.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(RegulationService.id))) == 1


# --- the migration moves today's regulators to a service of their territory -------------------

BEFORE = "5d2f7c9e1a43"  # the revision before regulation services


def test_migration_moves_regulators_to_a_service_of_their_territory(empty_database_url):
    app = build_app(empty_database_url)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    with app.app_context():
        upgrade(revision=BEFORE)
        territory = sa.table(
            "territory",
            sa.column("id", sa.Integer),
            sa.column("name", sa.String),
            sa.column("slug", sa.String),
            sa.column("timezone", sa.String),
            sa.column("created_at", sa.DateTime(timezone=True)),
        )
        user = sa.table(
            "user_account",
            sa.column("id", sa.Integer),
            sa.column("email", sa.String),
            sa.column("role", sa.String),
            sa.column("territory_id", sa.Integer),
            sa.column("display_name", sa.String),
            sa.column("active", sa.Boolean),
            sa.column("session_token", sa.String),
            sa.column("created_at", sa.DateTime(timezone=True)),
        )
        with db.engine.begin() as conn:
            conn.execute(
                sa.insert(territory),
                [
                    {"id": i, "name": n, "slug": s, "timezone": "Europe/Paris", "created_at": now}
                    for i, n, s in [
                        (1, "CPTS Nord", "nord"),
                        (2, "CPTS Sud", "sud"),
                        (3, "CPTS Est", "est"),
                    ]
                ],
            )
            accounts = [
                (1, "reg1@example.org", "regulator", 1),
                (2, "reg2@example.org", "regulator", 1),
                (3, "reg3@example.org", "regulator", 2),
                (4, "coord@example.org", "coordinator", 3),
                (5, "admin@example.org", "admin", None),
            ]
            conn.execute(
                sa.insert(user),
                [
                    {
                        "id": i,
                        "email": e,
                        "role": r,
                        "territory_id": t,
                        "display_name": "",
                        "active": True,
                        "session_token": f"token{i}",
                        "created_at": now,
                    }
                    for i, e, r, t in accounts
                ],
            )
        upgrade()
        with db.engine.connect() as conn:
            services_by_name = dict(
                conn.execute(sa.text("SELECT name, id FROM regulation_service")).all()
            )
            links = set(
                conn.execute(
                    sa.text("SELECT service_id, territory_id FROM regulation_service_territory")
                ).all()
            )
            members = dict(
                conn.execute(sa.text("SELECT id, regulation_service_id FROM user_account")).all()
            )
            territories = dict(
                conn.execute(sa.text("SELECT id, territory_id FROM user_account")).all()
            )
        db.engine.dispose()
    # One service per territory that had regulators (not for CPTS Est, which had none).
    assert set(services_by_name) == {"Régulation CPTS Nord", "Régulation CPTS Sud"}
    north, south = services_by_name["Régulation CPTS Nord"], services_by_name["Régulation CPTS Sud"]
    assert links == {(north, 1), (south, 2)}
    assert members == {1: north, 2: north, 3: south, 4: None, 5: None}
    # Regulators keep their territory: booking still reads it until the next step.
    assert territories == {1: 1, 2: 1, 3: 2, 4: 3, 5: None}
