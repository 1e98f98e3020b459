"""The coordinator's cockpit: a contract target, a regulated booking honoured as SNP, and the
indicator and the GP's evidence that follow from it; on a phone and on a desktop."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from tests.browser import server as live
from tests.browser.facts import GP_ACCOUNTS
from tests.browser.journey import Journey, expect, fill_patient

PHONE = {"viewport": {"width": 375, "height": 812}}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}


@dataclass(frozen=True)
class Slot:
    id: str
    gp_email: str
    starts_at: datetime


def soonest_sas_slot_of_a_gp_account(database_url: str, now: datetime) -> Slot:
    """The first slot a regulator may book now (reserved to the SAS or open to all) whose GP
    has a demo account."""
    import sqlalchemy as sa

    from app import create_app
    from app.extensions import db
    from app.models import Territory, User
    from booking import services

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True})
    with app.app_context():
        try:
            accounts = {
                u.practitioner_id: u.email
                for u in db.session.scalars(sa.select(User).where(User.email.in_(GP_ACCOUNTS)))
            }
            territory = db.session.scalar(
                sa.select(Territory).where(Territory.slug == "cote-de-lumiere")
            )
            offers = services.free_slots(territory.id, "sas", now=now + timedelta(minutes=2))
            assert offers, "no slot bookable by the SAS in the next 24 h"
            for free in offers:
                if free.practitioner.id in accounts:
                    return Slot(free.id, accounts[free.practitioner.id], free.slot.starts_at)
            # None of the demo GP accounts holds a session that soon: the GP of the soonest
            # slot gets an account, with the demo password (arranged, not a step of the journey).
            free = offers[0]
            model = db.session.scalar(sa.select(User).where(User.email == GP_ACCOUNTS[0]))
            db.session.add(
                User(
                    email="medecin-du-soir@demo.tourderole.fr",
                    role=model.role,
                    territory_id=territory.id,
                    practitioner_id=free.practitioner.id,
                    display_name=free.practitioner.display_name,
                    session_token="journey-cockpit-" + "x" * 16,
                    password_hash=model.password_hash,
                )
            )
            db.session.commit()
            return Slot(free.id, "medecin-du-soir@demo.tourderole.fr", free.slot.starts_at)
        finally:
            db.session.remove()
            db.engine.dispose()


def test_target_booking_honoured_snp_shows_in_indicators_and_evidence(
    journey: Journey, live_server, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    year = live.NOW.year
    # The coordinator writes down a target of the contract.
    coordinator = journey.login("coordination@demo.tourderole.fr", **DESKTOP)
    expect(coordinator.get_by_role("heading", name="À faire")).to_be_visible()
    coordinator.get_by_role("link", name="Indicateurs SNP et exports").click()
    expect(coordinator.get_by_role("heading", name="Indicateurs SNP", level=1)).to_be_visible()
    journey.step(coordinator, "indicateurs-avant")
    coordinator.get_by_role("link", name="Objectifs du contrat (ACI)").click()
    coordinator.get_by_label("Nom de l'indicateur du contrat").fill("Consultations SNP régulées")
    coordinator.get_by_label("Valeur lue").select_option("activity.bookings.total.honoured")
    coordinator.get_by_role("button", name="Ajouter").click()
    expect(coordinator.get_by_role("status")).to_contain_text("Indicateur ajouté")
    coordinator.get_by_label("Année du contrat").fill(str(year))
    coordinator.get_by_label("Cible").fill("1 200")
    coordinator.get_by_role("button", name="Enregistrer la cible").click()
    expect(coordinator.get_by_role("status")).to_contain_text(f"Cible {year} enregistrée")
    journey.step(coordinator, "objectif-enregistre")

    # A regulator books a SAS slot of a GP who has an account.
    slot = soonest_sas_slot_of_a_gp_account(live_server.database_url, live.NOW)
    regulator = journey.login("regulation1@demo.tourderole.fr", **PHONE)
    regulator.goto(f"/reserver?creneau={slot.id}")
    expect(regulator.get_by_role("heading", name="Créneau choisi")).to_be_visible()
    fill_patient(regulator, family_name="Garnier")
    regulator.get_by_role("button", name="Réserver", exact=True).click()
    reference = regulator.locator("h1 .reference").inner_text().strip()
    journey.step(regulator, "rendez-vous-regule")

    # Half an hour into the consultation (a second server, its clock later, same database).
    monkeypatch.setattr(live, "NOW", slot.starts_at + timedelta(minutes=30))
    later = live.LiveServer(live_server.database_url, log=tmp_path / "later.log").start()
    try:
        journey.base_url = later.url
        gp = journey.login(slot.gp_email, **PHONE)
        gp.goto(f"/rendez-vous/{reference}")
        gp.get_by_role("button", name="Patient venu · hors patientèle (SNP)").click()
        expect(gp.get_by_role("status")).to_contain_text(f"{reference} : patient venu")
        journey.step(gp, "patient-venu-snp")
        gp.get_by_role("navigation", name="Navigation principale").get_by_role(
            "link", name="Mes actes régulés"
        ).click()
        row = gp.get_by_role("row").filter(has_text=reference)
        expect(row).to_contain_text("SNP")
        expect(row.get_by_role("cell").nth(4)).to_have_text("oui")  # within 48 h
        expect(gp.get_by_text("Garnier")).to_have_count(0)
        journey.step(gp, "mes-actes-regules")

        boss = journey.login("coordination@demo.tourderole.fr", **DESKTOP)
        boss.get_by_role("navigation", name="Navigation principale").get_by_role(
            "link", name="Indicateurs"
        ).click()
        expect(boss.locator('[data-figure="activity.bookings.total.honoured"]').first).to_have_text(
            "1"
        )
        journey.step(boss, "indicateurs-apres")
        boss.get_by_role("link", name="Objectifs du contrat (ACI)").click()
        progress = boss.get_by_role("row").filter(has_text="Consultations SNP régulées")
        expect(progress).to_contain_text(str(year))
        expect(progress.get_by_role("cell").nth(1)).to_have_text("1")
        journey.step(boss, "objectifs-progression")
        boss.get_by_role("link", name="← Indicateurs").click()
        boss.get_by_role("link", name="Actes régulés par médecin").click()
        expect(boss.get_by_role("heading", level=1)).to_contain_text("Actes régulés par médecin")
        expect(boss.get_by_text("Garnier")).to_have_count(0)
        journey.step(boss, "actes-par-medecin")
        phone = journey.login("coordination@demo.tourderole.fr", **PHONE)
        phone.goto("/coordination/indicateurs")
        journey.step(phone, "indicateurs-telephone")
    finally:
        later.stop()
