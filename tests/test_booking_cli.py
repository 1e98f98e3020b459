"""``flask api-token create|revoke|list`` and ``flask purge``, on both engines."""

import re
from datetime import date, timedelta

import sqlalchemy as sa
import time_machine

from app.extensions import db
from booking import services, tokens
from booking.models import ApiToken, Booking, IdempotencyRecord
from tests.helpers import count

PATIENT = services.PatientData(
    family_name="Durand",
    given_name="Léa",
    birth_date=date(1990, 5, 4),
    phone="06 12 34 56 78",
    reason="Fièvre depuis hier",
    reason_code="fievre",
)


def test_create_prints_the_token_once_and_it_works(runner, booking_world):
    result = runner.invoke(
        args=["api-token", "create", "SAMU1@example.org", "--label", "Logiciel SAS"]
    )
    assert result.exit_code == 0, result.output
    plain = re.search(r"tdr_[A-Za-z0-9_-]{43}", result.output).group(0)
    assert "ne sera plus jamais affiché" in result.output
    assert tokens.authenticate(f"Bearer {plain}") == booking_world.users["regulator"]
    token = db.session.scalar(sa.select(ApiToken))
    assert (token.label, token.prefix) == ("Logiciel SAS", plain[:8])
    listing = runner.invoke(args=["api-token", "list"])
    assert listing.exit_code == 0
    assert plain[:8] in listing.output
    assert "samu1@example.org" in listing.output
    assert "utilisé le" in listing.output  # authenticate() above used it
    assert plain not in listing.output


def test_create_refusals_are_french_and_write_nothing(runner, booking_world):
    unknown = runner.invoke(args=["api-token", "create", "nobody@example.org"])
    assert unknown.exit_code == 1
    assert "Aucun compte" in unknown.output
    gp = runner.invoke(args=["api-token", "create", "gp@example.org"])
    assert gp.exit_code == 1
    assert "régulation, de pharmacie et de coordination" in gp.output
    assert count(ApiToken) == 0


def test_revoke_by_number_or_prefix(runner, booking_world):
    first, one = tokens.create_token(booking_world.users["regulator"], "", by=None)
    _, two = tokens.create_token(booking_world.users["pharmacist"], "", by=None)
    db.session.commit()
    by_prefix = runner.invoke(args=["api-token", "revoke", first[:8]])
    assert by_prefix.exit_code == 0, by_prefix.output
    assert "révoqué" in by_prefix.output
    by_number = runner.invoke(args=["api-token", "revoke", str(two.id)])
    assert by_number.exit_code == 0, by_number.output
    db.session.expire_all()
    assert one.revoked_at is not None
    assert two.revoked_at is not None
    assert tokens.authenticate(f"Bearer {first}") is None
    again = runner.invoke(args=["api-token", "revoke", str(one.id)])
    assert again.exit_code == 1
    assert "déjà révoqué" in again.output
    listing = runner.invoke(args=["api-token", "list"]).output
    assert listing.count("révoqué le") == 2


def test_revoke_needs_an_unambiguous_existing_token(runner, booking_world):
    plain, one = tokens.create_token(booking_world.users["regulator"], "", by=None)
    _, two = tokens.create_token(booking_world.users["regulator2"], "", by=None)
    two.prefix = one.prefix  # 4 random characters: a clash is rare but possible
    db.session.commit()
    ambiguous = runner.invoke(args=["api-token", "revoke", one.prefix])
    assert ambiguous.exit_code == 1
    assert "donnez le numéro" in ambiguous.output
    whole = runner.invoke(args=["api-token", "revoke", plain])  # the whole token settles it
    assert whole.exit_code == 0, whole.output
    for name, message in [
        ("999", "Aucun jeton n° 999"),
        ("tdr_zzzz", "Aucun jeton"),
        ("x", "préfixe"),
    ]:
        result = runner.invoke(args=["api-token", "revoke", name])
        assert result.exit_code == 1
        assert message in result.output
    db.session.expire_all()
    assert two.revoked_at is None


def test_list_without_tokens(runner, app):
    result = runner.invoke(args=["api-token", "list"])
    assert result.exit_code == 0
    assert "Aucun jeton." in result.output


def test_purge_erases_old_patient_data_and_idempotency_records(runner, booking_world):
    world = booking_world
    target = services.free_slots(world.territory.id, "sas", now=world.now)[0].id
    booking = services.book(world.users["regulator"], target, PATIENT, now=world.now)
    db.session.add(
        IdempotencyRecord(
            user_id=world.users["regulator"].id,
            key="k",
            request_hash="0" * 64,
            status_code=201,
            body={"reference": booking.reference},
            created_at=world.now,
        )
    )
    db.session.commit()
    nothing = runner.invoke(args=["purge"])
    assert nothing.exit_code == 0, nothing.output
    assert "Aucune donnée patient à effacer." in nothing.output
    with time_machine.travel(world.now + timedelta(days=91), tick=False):
        result = runner.invoke(args=["purge"])
    assert result.exit_code == 0, result.output
    assert "Données patient effacées pour 1 rendez-vous" in result.output
    assert f"{world.territory.slug} : 1" in result.output
    assert "1 enregistrement(s) d'idempotence expiré(s) supprimé(s)." in result.output
    db.session.expire_all()
    kept = db.session.get(Booking, booking.id)
    assert (kept.family_name, kept.phone) == (None, None)
    assert count(IdempotencyRecord) == 0
