"""A demo that feels real: a coastal CPTS of Vendée and a small island CPTS to show isolation.

Everything goes through the territory services, so the demo obeys the same rules (and
leaves the same audit trail) as data typed by a coordinator. Names and RPPS numbers are
fictitious; communes, postal codes and populations come from the official list.
"""

from __future__ import annotations

import itertools
import random
from datetime import date, time, timedelta

import sqlalchemy as sa

from app import communes_ref
from app.enums import Profession, Role, SiteKind
from app.extensions import db
from app.models import Practitioner, Site, Territory, User
from app.passwords import hash_password
from app.regulation import services as regulation
from app.territory import services
from app.territory.services import PractitionerData, SiteData, TerritorySettings
from app.timeutil import now_utc
from app.validators import luhn_complete
from rota import scenarios
from rota.models import ConsultationMode, HolidayRule, RotaPeriod, Session

DEMO_PASSWORD = "demo-tourderole-2026"
MAIN_SLUG = "cote-de-lumiere"
SERVICE_NAME = "SAS 85"  # the regulation desk covering both demo CPTS
ISLAND_SLUG = "ile-de-re"

MAIN_EPCIS = ("200023778", "200071629", "248500258", "248500191")
ISLAND_EPCIS = ("241700459",)

MAIN_SITES = [
    (
        "MSP des Marais",
        SiteKind.MSP,
        "85047",
        "12 boulevard Lucien Dodin",
        "02 51 93 20 10",
        46.8467,
        -1.8781,
        "Plain-pied, accès PMR, parking devant l'entrée.",
    ),
    (
        "Cabinet médical du Port",
        SiteKind.CABINET,
        "85222",
        "4 quai du Port Fidèle",
        "02 51 55 31 40",
        46.6952,
        -1.9418,
        "Rez-de-chaussée, une marche à l'entrée ; rampe amovible sur demande.",
    ),
    (
        "Cabinet des Dunes",
        SiteKind.CABINET,
        "85234",
        "27 avenue de la Mer",
        "02 51 58 02 70",
        46.7907,
        -2.0610,
        "Ascenseur, places PMR rue des Pins.",
    ),
    (
        "Maison médicale de garde de Riez",
        SiteKind.MMG,
        "85226",
        "2 rue de l'Hôpital",
        "02 51 54 66 80",
        46.7210,
        -1.9453,
        "Accès PMR, ouverte en soirée et le week-end.",
    ),
]
ISLAND_SITES = [
    (
        "Cabinet médical de Saint-Martin",
        SiteKind.CABINET,
        "17369",
        "8 rue de Sully",
        "05 46 09 21 30",
        46.2030,
        -1.3670,
        "Accès PMR par la cour intérieure.",
    ),
]

FAMILY_NAMES = [
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
    "Lefebvre",
    "Michel",
    "Garcia",
    "David",
    "Bertrand",
    "Roux",
    "Vincent",
    "Fournier",
    "Morel",
    "Girard",
    "André",
    "Mercier",
    "Dupont",
    "Lambert",
    "Bonnet",
    "François",
    "Martinez",
    "Legrand",
    "Garnier",
    "Faure",
    "Rousseau",
    "Blanc",
    "Guérin",
    "Muller",
    "Henry",
    "Roussel",
    "Nicolas",
    "Perrin",
    "Haddad",
    "Nguyen",
    "Benali",
    "Diallo",
    "Rivière",
    "Le Goff",
    "Tessier",
    "Chauvin",
    "Gautier",
    "Barbier",
]
GIVEN_NAMES = [
    "Claire",
    "Julien",
    "Sophie",
    "Nicolas",
    "Camille",
    "Thomas",
    "Émilie",
    "Antoine",
    "Léa",
    "Mathieu",
    "Sarah",
    "Hugo",
    "Amina",
    "Karim",
    "Chloé",
    "Pierre",
    "Inès",
    "Louis",
    "Manon",
    "Yann",
    "Hélène",
    "Paul",
    "Nadia",
    "Gaël",
    "Élodie",
    "Olivier",
    "Aurélie",
    "Romain",
    "Linh",
    "Mamadou",
    "Isabelle",
    "François",
    "Anne",
    "Maël",
    "Marion",
    "Bruno",
    "Céline",
    "Farid",
    "Laure",
    "Arnaud",
]


def fictitious_rpps(counter: int) -> str:
    """An 11-digit, Luhn-valid RPPS in a range kept for the demo (prefix 10009)."""
    return luhn_complete(f"10009{counter:05d}")


def _mobile(rng: random.Random) -> str:
    return f"06 {rng.randint(12, 59)} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}"


def _email_part(text: str) -> str:
    return communes_ref.fold(text).replace(" ", "-")


def _settings(name: str, finess: str | None, phone: str, email: str) -> TerritorySettings:
    return TerritorySettings(
        name=name,
        finess=finess,
        timezone="Europe/Paris",
        holiday_subdivision=None,
        phone=phone,
        email=email,
    )


def _communes_of(territory: Territory, epcis: tuple[str, ...]) -> None:
    members = sorted(
        (c for c in communes_ref.reference().communes.values() if c.epci_code in epcis),
        key=lambda c: c.insee_code,
    )
    for official in members:
        services.add_commune(territory, official.insee_code, by=None)


def _sites(territory: Territory, specs: list[tuple]) -> list[Site]:
    by_insee = {c.insee_code: c for c in territory.communes}
    sites = []
    for name, kind, insee, address, phone, lat, lon, access in specs:
        commune = by_insee[insee]
        sites.append(
            services.create_site(
                territory,
                SiteData(
                    name=name,
                    kind=kind,
                    address_line=address,
                    postal_code=commune.postal_codes[0],
                    commune_id=commune.id,
                    phone=phone,
                    latitude=lat,
                    longitude=lon,
                    accessibility=access,
                ),
                by=None,
            )
        )
    return sites


def _practitioners(
    territory: Territory,
    sites: list[Site],
    *,
    gps: int,
    pharmacists: int,
    rng: random.Random,
    numbers: itertools.count,
    names: itertools.cycle,
) -> tuple[list[Practitioner], list[Practitioner]]:
    made: dict[Profession, list[Practitioner]] = {Profession.GP: [], Profession.PHARMACIST: []}
    for profession, count in ((Profession.GP, gps), (Profession.PHARMACIST, pharmacists)):
        for i in range(count):
            family, given = next(names)
            if profession == Profession.GP:
                home = sites[i % len(sites)]
                chosen = [home] if i % 4 else [home, sites[(i + 1) % len(sites)]]
                email = f"{_email_part(given)}.{_email_part(family)}@medecin.demo"
            else:
                chosen, email = [], f"{_email_part(given)}.{_email_part(family)}@pharmacie.demo"
            made[profession].append(
                services.create_practitioner(
                    territory,
                    PractitionerData(
                        rpps=fictitious_rpps(next(numbers)),
                        family_name=family,
                        given_name=given,
                        profession=profession,
                        email=email,
                        phone=_mobile(rng),
                        site_ids=[s.id for s in chosen],
                    ),
                    by=None,
                )
            )
    return made[Profession.GP], made[Profession.PHARMACIST]


def _account(
    email: str,
    role: Role,
    territory: Territory | None,
    password_hash: str,
    *,
    name: str = "",
    practitioner: Practitioner | None = None,
) -> User:
    user = services.create_user(
        email=email,
        role=role,
        territory=territory,
        display_name=name,
        practitioner=practitioner,
        by=None,
    )
    user.password_hash = password_hash  # hashed once: argon2 is slow on purpose
    return user


def _accounts() -> list[tuple[str, str, str]]:
    """What ``flask demo`` prints and the README lists: (e-mail, password, label)."""
    return [(email, DEMO_PASSWORD, label) for email, label in _ACCOUNT_LABELS]


_ACCOUNT_LABELS = [
    ("coordination@demo.tourderole.fr", "Coordination — CPTS Côte de Lumière"),
    ("medecin1@demo.tourderole.fr", "Médecin — CPTS Côte de Lumière"),
    ("medecin2@demo.tourderole.fr", "Médecin — CPTS Côte de Lumière"),
    ("medecin3@demo.tourderole.fr", "Médecin — CPTS Côte de Lumière"),
    ("medecin4@demo.tourderole.fr", "Médecin — CPTS Côte de Lumière"),
    ("medecin5@demo.tourderole.fr", "Médecin — CPTS Côte de Lumière"),
    ("regulation1@demo.tourderole.fr", "Régulation — service SAS 85 (les deux CPTS)"),
    ("regulation2@demo.tourderole.fr", "Régulation — service SAS 85 (les deux CPTS)"),
    ("pharmacie1@demo.tourderole.fr", "Pharmacie — CPTS Côte de Lumière"),
    ("pharmacie2@demo.tourderole.fr", "Pharmacie — CPTS Côte de Lumière"),
    ("pharmacie3@demo.tourderole.fr", "Pharmacie — CPTS Côte de Lumière"),
    ("coordination.re@demo.tourderole.fr", "Coordination — CPTS Île de Ré"),
    ("admin@demo.tourderole.fr", "Administration de la plateforme"),
]
DEMO_ACCOUNTS = _accounts()
ADMIN_EMAIL = "admin@demo.tourderole.fr"


def refusal(*, env_name: str) -> str | None:
    """Why the demo must not be loaded here (French), or None.

    Its accounts, an administrator among them, share a password printed in the README:
    on a production database, or one where real people have accounts, that is a way in.
    """
    if env_name != "development":
        return (
            "La démo crée des comptes dont le mot de passe est public : elle ne se charge "
            "qu'en développement (TOURDEROLE_ENV=development). Ajoutez --force si c'est "
            "vraiment voulu."
        )
    demo_emails = [email for email, _, _ in DEMO_ACCOUNTS]
    others = db.session.scalar(
        sa.select(sa.func.count(User.id)).where(User.email.not_in(demo_emails))
    )
    if others:
        return (
            f"La base contient déjà {others} compte(s) hors démo : la démo et son mot de "
            "passe public n'y sont pas chargés. Ajoutez --force si c'est vraiment voulu."
        )
    return None


def _published_rota(
    territory: Territory, sites: list[Site], gps: list[Practitioner], today: date
) -> None:
    """Templates for the four sites and a published rota from this Monday for five weeks."""
    monday = today - timedelta(days=today.weekday())
    msp, port, dunes, mmg = sites
    weekdays = range(5)
    specs = [
        (msp, weekdays, time(17), time(20), 1, ConsultationMode.SURGERY, 4, 2),
        (port, weekdays, time(17), time(20), 1, ConsultationMode.SURGERY, 4, 2),
        (dunes, (0, 2, 4), time(17), time(20), 1, ConsultationMode.SURGERY, 4, 2),
        (mmg, (5,), time(9), time(13), 2, ConsultationMode.SURGERY, 8, 4),
        (mmg, (6,), time(9), time(12), 1, ConsultationMode.WALK_IN, 0, 0),
        (mmg, (), time(9), time(13), 1, ConsultationMode.SURGERY, 4, 2),  # bank holidays
    ]

    def first_volunteers(period: RotaPeriod) -> list[tuple[Session, Practitioner]]:
        """A few GPs volunteer first, as they would during the wishes window."""
        singles = [s for s in period.sessions if s.gps_needed == 1][::7]
        return [
            (session, gp)
            for gp, session in zip(gps[:6], singles, strict=False)
            if session.site_id in {site.id for site in gp.sites}
        ]

    scenarios.publish_period(
        territory,
        name=f"Semaines du {monday:%d/%m/%Y}",
        start=monday,
        end=monday + timedelta(weeks=5, days=-1),
        templates=[
            scenarios.template(
                site,
                weekdays=days,
                start=start,
                end=end,
                gps_needed=needed,
                mode=mode,
                sas_slots=sas,
                pharmacy_slots=pharmacy,
                valid_from=monday,
                on_holidays=HolidayRule.SKIP if days else HolidayRule.ONLY,
            )
            for site, days, start, end, needed, mode, sas, pharmacy in specs
        ],
        volunteers=first_volunteers,
    )


def _island_rota(territory: Territory, sites: list[Site], today: date) -> None:
    """A small published rota on the island too: weekday evenings at its one surgery, so
    the SAS 85 desk sees slots of both CPTS in one search."""
    monday = today - timedelta(days=today.weekday())
    scenarios.publish_period(
        territory,
        name=f"Semaines du {monday:%d/%m/%Y}",
        start=monday,
        end=monday + timedelta(weeks=5, days=-1),
        templates=[
            scenarios.template(
                sites[0],
                weekdays=range(5),
                start=time(17),
                end=time(20),
                gps_needed=1,
                mode=ConsultationMode.SURGERY,
                sas_slots=4,
                pharmacy_slots=0,
                valid_from=monday,
                on_holidays=HolidayRule.SKIP,
            )
        ],
    )


def _regulation_service(*territories: Territory) -> None:
    """The département's desk: "SAS 85", attached to both CPTS, with the two regulators."""
    service = regulation.create_service(SERVICE_NAME, by=None)
    for territory in territories:
        regulation.attach_territory(service, territory, by=None)
    for user in db.session.scalars(
        sa.select(User).where(User.role == Role.REGULATOR).order_by(User.email)
    ):
        regulation.assign_regulator(user, service, by=None)


DEMO_PATIENTS = [
    ("Fontaine", "Jules", date(1987, 2, 14), "06 11 22 33 44", "fievre", "Fièvre à 39 °C"),
    ("Marchand", "Inès", date(2016, 9, 3), "06 55 44 33 22", "orl", "Otite probable"),
    ("Perrin", "Gérard", date(1948, 11, 23), "02 51 12 34 56", "urinaire", ""),
]


def _bookings(territory: Territory) -> None:
    """A few bookings on the soonest free slots, so the pages show some from the start.

    Made only when slots are bookable right now (the demo may be loaded at night).
    """
    from booking import services as booking_services

    regulator = db.session.scalar(
        sa.select(User).where(User.email == "regulation1@demo.tourderole.fr")
    )
    pharmacist = db.session.scalar(
        sa.select(User).where(User.email == "pharmacie1@demo.tourderole.fr")
    )
    for user, patient in zip((regulator, regulator, pharmacist), DEMO_PATIENTS, strict=True):
        assert user is not None
        found = booking_services.free_slots(territory.id, booking_services.booker_channel(user))
        if not found:
            return
        family, given, born, phone, code, reason = patient
        booking_services.book(
            user,
            found[len(found) // 3].id,  # not all at the first slot of the evening
            booking_services.PatientData(
                family_name=family,
                given_name=given,
                birth_date=born,
                phone=phone,
                reason=reason,
                reason_code=code,
                without_gp=family == "Perrin",
            ),
        )


def load_demo(today: date | None = None) -> bool:
    """Create the demo territories in one transaction; do nothing if they exist."""
    if db.session.scalar(sa.select(Territory.id).where(Territory.slug == MAIN_SLUG)):
        return False
    rng = random.Random(2026)
    names = list(itertools.product(FAMILY_NAMES, GIVEN_NAMES))
    rng.shuffle(names)
    name_cycle = itertools.cycle(names)
    numbers = itertools.count(1)
    password_hash = hash_password(DEMO_PASSWORD)
    try:
        main = services.create_territory(
            MAIN_SLUG,
            _settings(
                "CPTS Côte de Lumière",
                "850012345",
                "02 51 49 00 00",
                "coordination@cpts-cote-de-lumiere.fr",
            ),
            by=None,
        )
        _communes_of(main, MAIN_EPCIS)
        sites = _sites(main, MAIN_SITES)
        gps, pharmacists = _practitioners(
            main, sites, gps=40, pharmacists=3, rng=rng, numbers=numbers, names=name_cycle
        )
        _account(
            "coordination@demo.tourderole.fr",
            Role.COORDINATOR,
            main,
            password_hash,
            name="Nathalie Coordination",
        )
        for i, gp in enumerate(gps[:5], start=1):
            _account(
                f"medecin{i}@demo.tourderole.fr", Role.GP, main, password_hash, practitioner=gp
            )
        for i in (1, 2):
            _account(
                f"regulation{i}@demo.tourderole.fr",
                Role.REGULATOR,
                main,
                password_hash,
                name=f"Régulation SAS 85 — poste {i}",
            )
        for i, pharmacist in enumerate(pharmacists, start=1):
            _account(
                f"pharmacie{i}@demo.tourderole.fr",
                Role.PHARMACIST,
                main,
                password_hash,
                practitioner=pharmacist,
            )

        island = services.create_territory(
            ISLAND_SLUG,
            _settings("CPTS Île de Ré", None, "05 46 09 00 00", "coordination@cpts-iledere.fr"),
            by=None,
        )
        _communes_of(island, ISLAND_EPCIS)
        island_sites = _sites(island, ISLAND_SITES)
        island_gps, _ = _practitioners(
            island, island_sites, gps=5, pharmacists=0, rng=rng, numbers=numbers, names=name_cycle
        )
        _account(
            "coordination.re@demo.tourderole.fr",
            Role.COORDINATOR,
            island,
            password_hash,
            name="Coordination Île de Ré",
        )
        _account(ADMIN_EMAIL, Role.ADMIN, None, password_hash, name="Administration")
        _published_rota(main, sites, gps, today or now_utc().date())
        _island_rota(island, island_sites, today or now_utc().date())
        _regulation_service(main, island)
        _bookings(main)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return True
