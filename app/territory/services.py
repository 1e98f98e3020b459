"""Territory use cases. Each flushes and audits; the caller commits once per request."""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import time

import sqlalchemy as sa

from app import audit, communes_ref, events
from app.auth.services import issue_invitation, new_session_token
from app.enums import Profession, Role, SiteKind
from app.extensions import db
from app.models import Commune, CommunePostalCode, Practitioner, Site, Territory, User
from app.passwords import hash_password
from app.territory.practitioner_csv import decode as decode_csv
from app.timeutil import is_valid_zone
from app.validators import (
    ValidationError,
    check_password_strength,
    normalise_email,
    normalise_finess,
    normalise_phone,
    normalise_postal_code,
    normalise_rpps,
)

HOLIDAY_SUBDIVISIONS: dict[str, str] = {
    "": "France métropolitaine (droit commun)",
    "57": "Moselle",
    "67": "Bas-Rhin",
    "68": "Haut-Rhin",
    "971": "Guadeloupe",
    "972": "Martinique",
    "973": "Guyane",
    "974": "La Réunion",
    "976": "Mayotte",
    "BL": "Saint-Barthélemy",
    "MF": "Saint-Martin",
    "PM": "Saint-Pierre-et-Miquelon",
    "NC": "Nouvelle-Calédonie",
    "PF": "Polynésie française",
    "WF": "Wallis-et-Futuna",
}

TIMEZONES: dict[str, str] = {
    "Europe/Paris": "Métropole (Europe/Paris)",
    "America/Guadeloupe": "Guadeloupe, Saint-Barthélemy, Saint-Martin",
    "America/Martinique": "Martinique",
    "America/Cayenne": "Guyane",
    "Indian/Reunion": "La Réunion",
    "Indian/Mayotte": "Mayotte",
    "America/Miquelon": "Saint-Pierre-et-Miquelon",
    "Pacific/Noumea": "Nouvelle-Calédonie",
    "Pacific/Tahiti": "Polynésie française",
    "Pacific/Wallis": "Wallis-et-Futuna",
}


# How far ahead slots may be booked: a day, or two as some SAS platforms do.
BOOKING_HORIZONS: dict[int, str] = {24: "24 heures", 48: "48 heures"}


def holiday_subdivision_code(value: str | None) -> str | None:
    """The code the ``holidays`` package expects (Bas-Rhin and Haut-Rhin share Alsace's)."""
    if value in ("67", "68"):
        return "6AE"
    return value or None


# --- territory -------------------------------------------------------------------------


@dataclass(frozen=True)
class TerritorySettings:
    name: str
    finess: str | None
    timezone: str
    holiday_subdivision: str | None
    phone: str | None
    email: str | None
    min_rest_hours: int = 10
    max_sessions_per_week: int | None = None
    swaps_need_approval: bool = False
    absence_on_duty_to_replace: bool = False
    booking_release_minutes: int = 120
    booking_horizon_hours: int = 24
    patient_data_days: int = 90
    pdsa_weekday_from: time = time(20)
    pdsa_weekday_until: time = time(8)
    pdsa_saturday_from: time = time(12)
    snp_weekly_cap: int | None = 20


def _clean_settings(settings: TerritorySettings) -> dict[str, str | int | bool | time | None]:
    name = settings.name.strip()
    if not name:
        raise ValidationError("Le nom du territoire est obligatoire.")
    if not is_valid_zone(settings.timezone):
        raise ValidationError(f"Fuseau horaire inconnu : « {settings.timezone} ».")
    if (settings.holiday_subdivision or "") not in HOLIDAY_SUBDIVISIONS:
        raise ValidationError("Subdivision de jours fériés inconnue.")
    if not 0 <= settings.min_rest_hours <= 48:
        raise ValidationError("Le repos minimal doit être compris entre 0 et 48 heures.")
    if settings.max_sessions_per_week is not None and settings.max_sessions_per_week < 1:
        raise ValidationError("Le maximum hebdomadaire doit être d'au moins une plage.")
    if not 0 <= settings.booking_release_minutes <= 1440:
        raise ValidationError(
            "L'ouverture des créneaux réservés se fait entre 0 et 1440 minutes avant leur début."
        )
    if settings.booking_horizon_hours not in BOOKING_HORIZONS:
        raise ValidationError("Les créneaux sont réservables 24 ou 48 heures à l'avance.")
    if not 1 <= settings.patient_data_days <= 3650:
        raise ValidationError(
            "Les données des patients sont conservées entre 1 et 3650 jours après le rendez-vous."
        )
    if settings.snp_weekly_cap is not None and not 1 <= settings.snp_weekly_cap <= 500:
        raise ValidationError("Le plafond hebdomadaire est compris entre 1 et 500 actes.")
    if settings.pdsa_weekday_until > settings.pdsa_weekday_from:
        raise ValidationError(
            "La PDSA de semaine commence le soir et finit le lendemain matin : "
            "l'heure de fin doit précéder l'heure de début."
        )
    if settings.pdsa_weekday_until > settings.pdsa_saturday_from:
        raise ValidationError("La PDSA du samedi commence après la fin de celle de la nuit.")
    return {
        "name": name,
        "finess": normalise_finess(settings.finess) if settings.finess else None,
        "timezone": settings.timezone,
        "holiday_subdivision": settings.holiday_subdivision or None,
        "phone": normalise_phone(settings.phone) if settings.phone else None,
        "email": normalise_email(settings.email) if settings.email else None,
        "min_rest_hours": settings.min_rest_hours,
        "max_sessions_per_week": settings.max_sessions_per_week,
        "swaps_need_approval": settings.swaps_need_approval,
        "absence_on_duty_to_replace": settings.absence_on_duty_to_replace,
        "booking_release_minutes": settings.booking_release_minutes,
        "booking_horizon_hours": settings.booking_horizon_hours,
        "patient_data_days": settings.patient_data_days,
        "pdsa_weekday_from": settings.pdsa_weekday_from,
        "pdsa_weekday_until": settings.pdsa_weekday_until,
        "pdsa_saturday_from": settings.pdsa_saturday_from,
        "snp_weekly_cap": settings.snp_weekly_cap,
    }


# In addresses: ASCII letters and digits, words joined by single hyphens ("nord-vendee").
SLUG_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def _refuse_taken_name(name: str, *, other_than: int | None = None) -> None:
    """Two CPTS of one name can't be told apart in the public list or in e-mails."""
    query = sa.select(Territory.id).where(sa.func.lower(Territory.name) == name.lower())
    if other_than is not None:
        query = query.where(Territory.id != other_than)
    if db.session.scalar(query) is not None:
        raise ValidationError(f"Un territoire porte déjà ce nom : « {name} ».")


def create_territory(slug: str, settings: TerritorySettings, *, by: User | None) -> Territory:
    slug = slug.strip().lower()
    if not 2 <= len(slug) <= 60 or not SLUG_RE.fullmatch(slug):
        raise ValidationError(
            "L'identifiant court (2 à 60 caractères) s'écrit en lettres sans accents, chiffres "
            "et tirets simples, ex. « nord-vendee »."
        )
    if db.session.scalar(sa.select(Territory.id).where(Territory.slug == slug)):
        raise ValidationError(f"L'identifiant « {slug} » est déjà pris.")
    values = _clean_settings(settings)
    _refuse_taken_name(values["name"])
    territory = Territory(slug=slug, **values)
    db.session.add(territory)
    db.session.flush()
    audit.record("territory.create", by=by, territory_id=territory.id, target=territory)
    return territory


def update_territory(territory: Territory, settings: TerritorySettings, *, by: User | None) -> None:
    values = _clean_settings(settings)
    _refuse_taken_name(values["name"], other_than=territory.id)
    changed = [k for k, v in values.items() if getattr(territory, k) != v]
    for key, value in values.items():
        setattr(territory, key, value)
    db.session.flush()
    audit.record(
        "territory.update",
        by=by,
        territory_id=territory.id,
        target=territory,
        detail={"fields": changed},
    )


# --- communes ---------------------------------------------------------------------------


def owner_of_postal_codes(insee_code: str, postal_codes: Iterable[str]) -> dict[str, str]:
    """Which territory already holds each of these postal codes of a commune (code → name)."""
    rows = db.session.execute(
        sa.select(CommunePostalCode.postal_code, Territory.name)
        .join(Commune, Commune.id == CommunePostalCode.commune_id)
        .join(Territory, Territory.id == Commune.territory_id)
        .where(
            CommunePostalCode.insee_code == insee_code,
            CommunePostalCode.postal_code.in_(list(postal_codes)),
        )
    )
    return {postal_code: name for postal_code, name in rows}


def add_commune(
    territory: Territory,
    insee_code: str,
    *,
    postal_codes: Sequence[str] | None = None,
    by: User | None,
) -> Commune:
    """Add an official commune, whole or (urban communes) for some of its postal codes only."""
    official = communes_ref.get(insee_code)
    if official is None:
        raise ValidationError(f"Commune inconnue dans la liste officielle : « {insee_code} ».")
    all_codes = list(official.postal_codes)
    wanted = [normalise_postal_code(c) for c in postal_codes] if postal_codes else all_codes
    stray = [c for c in wanted if c not in all_codes]
    if stray:
        raise ValidationError(
            f"{official.name} n'a pas le code postal {', '.join(stray)} "
            f"(codes : {', '.join(all_codes)})."
        )
    taken = owner_of_postal_codes(official.insee_code, wanted)
    if taken:
        owners = sorted(set(taken.values()))
        raise ValidationError(
            f"{official.name} ({', '.join(sorted(taken))}) appartient déjà à : {', '.join(owners)}. "
            "Une commune ne peut relever que d'une seule CPTS."
        )
    population = official.population
    if len(wanted) < len(all_codes) and all_codes:
        # Split urban commune: without finer figures, share the population evenly.
        population = round(official.population * len(wanted) / len(all_codes))
    commune = Commune(
        territory_id=territory.id,
        insee_code=official.insee_code,
        name=official.name,
        department=official.department,
        epci_code=official.epci_code or None,
        population=population,
        # The shipped centre (town hall), if the official data has one; the coordinator
        # may correct it or fill it in (``set_commune_centre``, ``import_commune_centres``).
        latitude=official.latitude,
        longitude=official.longitude,
    )
    commune.postal_code_rows = [
        CommunePostalCode(insee_code=official.insee_code, postal_code=c) for c in sorted(wanted)
    ]
    db.session.add(commune)
    db.session.flush()
    audit.record(
        "commune.add",
        by=by,
        territory_id=territory.id,
        target=commune,
        detail={"insee": commune.insee_code, "postal_codes": sorted(wanted)},
    )
    return commune


def remove_commune(commune: Commune, *, by: User | None) -> None:
    used = db.session.scalar(sa.select(sa.func.count(Site.id)).where(Site.commune_id == commune.id))
    if used:
        raise ValidationError(
            f"{commune.name} ne peut pas être retirée : {used} lieu(x) de consultation s'y trouvent."
        )
    audit.record(
        "commune.remove",
        by=by,
        territory_id=commune.territory_id,
        target=commune,
        detail={"insee": commune.insee_code},
    )
    db.session.delete(commune)
    db.session.flush()


# --- commune centres ----------------------------------------------------------------------

# Column names accepted in a centres CSV, French and English, folded.
_CENTRE_HEADERS = {
    "insee": {"code insee", "insee", "code", "code commune", "insee code", "codgeo"},
    "latitude": {"latitude", "lat"},
    "longitude": {"longitude", "lon", "lng", "long"},
}
MAX_CENTRE_ROWS = 2_000


def parse_coordinate(text: str | float | None, *, axis: str) -> float:
    """A latitude or longitude in decimal degrees; a French decimal comma is accepted."""
    limit = 90.0 if axis == "latitude" else 180.0
    label = "Latitude" if axis == "latitude" else "Longitude"
    if isinstance(text, float | int):
        value = float(text)
    else:
        raw = (text or "").strip().replace(",", ".")
        try:
            value = float(raw)
        except ValueError:
            raise ValidationError(f"{label} illisible : « {text} ».") from None
    if not math.isfinite(value) or not -limit <= value <= limit:
        raise ValidationError(f"{label} entre -{limit:g} et {limit:g}, en degrés décimaux.")
    return value


def set_commune_centre(
    commune: Commune,
    latitude: float | str | None,
    longitude: float | str | None,
    *,
    by: User | None,
) -> None:
    """Set (or clear, with two ``None``) the point distances to this commune are measured from."""
    if (latitude is None) != (longitude is None):
        raise ValidationError("Indiquez la latitude et la longitude, ou aucune des deux.")
    if latitude is not None and longitude is not None:
        latitude = parse_coordinate(latitude, axis="latitude")
        longitude = parse_coordinate(longitude, axis="longitude")
    before = (commune.latitude, commune.longitude)
    commune.latitude, commune.longitude = latitude, longitude
    db.session.flush()
    audit.record(
        "commune.centre",
        by=by,
        territory_id=commune.territory_id,
        target=commune,
        detail={
            "insee": commune.insee_code,
            "before": list(before),
            "after": [latitude, longitude],
        },
    )


@dataclass(frozen=True)
class CentreImport:
    updated: list[str]
    unchanged: int


def import_commune_centres(
    territory: Territory, data: bytes | str, *, by: User | None
) -> CentreImport:
    """Set the centres of the territory's communes from a CSV (code INSEE; latitude; longitude).

    All or nothing: a line that names a commune outside the territory or holds an unreadable
    coordinate refuses the whole file, with every faulty line in the message.
    """
    rows = _centre_rows(decode_csv(data) if isinstance(data, bytes) else data)
    by_insee: dict[str, list[Commune]] = {}
    for commune in territory.communes:
        by_insee.setdefault(commune.insee_code, []).append(commune)
    errors: list[str] = []
    planned: list[tuple[Commune, float, float]] = []
    seen: set[str] = set()
    for line, insee, lat_text, lon_text in rows:
        code = insee.strip().upper()
        if code in seen:
            errors.append(f"ligne {line} : {code} figure deux fois")
            continue
        seen.add(code)
        communes = by_insee.get(code)
        if not communes:
            errors.append(f"ligne {line} : {code or '(vide)'} n'est pas une commune du territoire")
            continue
        try:
            lat = parse_coordinate(lat_text, axis="latitude")
            lon = parse_coordinate(lon_text, axis="longitude")
        except ValidationError as exc:
            errors.append(f"ligne {line} : {exc}")
            continue
        planned.extend((commune, lat, lon) for commune in communes)
    if errors:
        shown = "; ".join(errors[:10]) + (" ; …" if len(errors) > 10 else "")
        raise ValidationError(
            f"Fichier refusé, rien n'a été modifié ({len(errors)} erreur(s)) : {shown}."
        )
    updated: list[str] = []
    unchanged = 0
    for commune, lat, lon in planned:
        if (commune.latitude, commune.longitude) == (lat, lon):
            unchanged += 1
            continue
        set_commune_centre(commune, lat, lon, by=by)
        updated.append(commune.name)
    return CentreImport(updated=updated, unchanged=unchanged)


def _centre_rows(text: str) -> list[tuple[int, str, str, str]]:
    """(line number, INSEE code, latitude, longitude) of each data line of a centres CSV."""
    lines = [line for line in text.lstrip("\ufeff").splitlines()]
    if not any(line.strip() for line in lines):
        raise ValidationError("Le fichier est vide.")
    if len(lines) > MAX_CENTRE_ROWS + 1:
        raise ValidationError(f"Fichier trop long : {MAX_CENTRE_ROWS} communes au plus.")
    try:
        dialect = csv.Sniffer().sniff(lines[0], delimiters=";,\t")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ";"
    reader = csv.reader(lines, delimiter=delimiter)
    header = [communes_ref.fold(cell.replace("_", " ")) for cell in next(reader)]
    columns: dict[str, int] = {}
    for name, accepted in _CENTRE_HEADERS.items():
        found = [i for i, cell in enumerate(header) if cell in accepted]
        if found:
            columns[name] = found[0]
    if len(columns) < 3:
        raise ValidationError(
            "En-tête attendu : code_insee;latitude;longitude (séparateur ; , ou tabulation)."
        )
    rows: list[tuple[int, str, str, str]] = []
    for number, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        padded = cells + [""] * (max(columns.values()) + 1 - len(cells))
        rows.append(
            (
                number,
                padded[columns["insee"]],
                padded[columns["latitude"]],
                padded[columns["longitude"]],
            )
        )
    return rows


# --- sites ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteData:
    name: str
    kind: SiteKind
    address_line: str
    postal_code: str
    commune_id: int
    phone: str | None
    latitude: float | None
    longitude: float | None
    accessibility: str


def _clean_site(territory: Territory, data: SiteData, *, site_id: int | None) -> dict:
    name = data.name.strip()
    if not name:
        raise ValidationError("Le nom du lieu est obligatoire.")
    if not data.address_line.strip():
        raise ValidationError("L'adresse est obligatoire.")
    commune = db.session.get(Commune, data.commune_id)
    if commune is None or commune.territory_id != territory.id:
        raise ValidationError("Choisissez une commune du territoire.")
    postal_code = normalise_postal_code(data.postal_code)
    if postal_code not in commune.postal_codes:
        raise ValidationError(
            f"Le code postal {postal_code} ne correspond pas à {commune.name} "
            f"({', '.join(commune.postal_codes)})."
        )
    clash = db.session.scalar(
        sa.select(Site.id).where(
            Site.territory_id == territory.id, Site.name == name, Site.id != (site_id or 0)
        )
    )
    if clash:
        raise ValidationError(f"Un lieu nommé « {name} » existe déjà.")
    if (data.latitude is None) != (data.longitude is None):
        raise ValidationError("Indiquez la latitude et la longitude, ou aucune des deux.")
    return {
        "name": name,
        "kind": data.kind,
        "address_line": data.address_line.strip(),
        "postal_code": postal_code,
        "commune_id": commune.id,
        "phone": normalise_phone(data.phone) if data.phone else None,
        "latitude": data.latitude,
        "longitude": data.longitude,
        "accessibility": data.accessibility.strip(),
    }


def create_site(territory: Territory, data: SiteData, *, by: User | None) -> Site:
    site = Site(territory_id=territory.id, **_clean_site(territory, data, site_id=None))
    db.session.add(site)
    db.session.flush()
    audit.record("site.create", by=by, territory_id=territory.id, target=site)
    return site


def update_site(site: Site, data: SiteData, *, by: User | None) -> None:
    for key, value in _clean_site(site.territory, data, site_id=site.id).items():
        setattr(site, key, value)
    db.session.flush()
    audit.record("site.update", by=by, territory_id=site.territory_id, target=site)


def set_site_active(site: Site, active: bool, *, by: User | None) -> None:
    site.active = active
    db.session.flush()
    audit.record(
        "site.activate" if active else "site.deactivate",
        by=by,
        territory_id=site.territory_id,
        target=site,
    )


# --- practitioners ----------------------------------------------------------------------


@dataclass(frozen=True)
class PractitionerData:
    rpps: str
    family_name: str
    given_name: str
    profession: Profession
    email: str | None
    phone: str | None
    site_ids: Sequence[int]


def _clean_practitioner(
    territory: Territory, data: PractitionerData, *, practitioner_id: int | None
) -> dict:
    rpps = normalise_rpps(data.rpps)
    if not data.family_name.strip() or not data.given_name.strip():
        raise ValidationError("Le nom et le prénom sont obligatoires.")
    clash = db.session.scalar(
        sa.select(Practitioner.id).where(
            Practitioner.territory_id == territory.id,
            Practitioner.rpps == rpps,
            Practitioner.id != (practitioner_id or 0),
        )
    )
    if clash:
        raise ValidationError(
            f"Un professionnel avec le RPPS {rpps} existe déjà sur le territoire."
        )
    sites = list(
        db.session.scalars(
            sa.select(Site).where(
                Site.territory_id == territory.id, Site.id.in_(list(data.site_ids))
            )
        )
    )
    if len(sites) != len(set(data.site_ids)):
        raise ValidationError("Un des lieux choisis n'appartient pas au territoire.")
    return {
        "rpps": rpps,
        "family_name": data.family_name.strip(),
        "given_name": data.given_name.strip(),
        "profession": data.profession,
        "email": normalise_email(data.email) if data.email else None,
        "phone": normalise_phone(data.phone) if data.phone else None,
        "sites": sites,
    }


def create_practitioner(
    territory: Territory, data: PractitionerData, *, by: User | None
) -> Practitioner:
    practitioner = Practitioner(
        territory_id=territory.id, **_clean_practitioner(territory, data, practitioner_id=None)
    )
    db.session.add(practitioner)
    db.session.flush()
    audit.record("practitioner.create", by=by, territory_id=territory.id, target=practitioner)
    return practitioner


def update_practitioner(
    practitioner: Practitioner, data: PractitionerData, *, by: User | None
) -> None:
    territory = db.session.get(Territory, practitioner.territory_id)
    assert territory is not None
    for key, value in _clean_practitioner(territory, data, practitioner_id=practitioner.id).items():
        setattr(practitioner, key, value)
    db.session.flush()
    audit.record(
        "practitioner.update", by=by, territory_id=practitioner.territory_id, target=practitioner
    )


def set_practitioner_active(practitioner: Practitioner, active: bool, *, by: User | None) -> None:
    """Deactivating a practitioner also deactivates the account linked to them."""
    practitioner.active = active
    if not active:
        for user in db.session.scalars(
            sa.select(User).where(User.practitioner_id == practitioner.id)
        ):
            _deactivate(user, by=by)
        events.practitioner_deactivated.send(practitioner, by=by)
    db.session.flush()
    audit.record(
        "practitioner.activate" if active else "practitioner.deactivate",
        by=by,
        territory_id=practitioner.territory_id,
        target=practitioner,
    )


# --- users ------------------------------------------------------------------------------

TERRITORY_ROLES = (Role.COORDINATOR, Role.GP, Role.REGULATOR, Role.PHARMACIST)


def create_user(
    *,
    email: str,
    role: Role,
    territory: Territory | None,
    display_name: str = "",
    password: str | None = None,
    practitioner: Practitioner | None = None,
    by: User | None,
) -> User:
    """Create an account; without a password it waits for its invitation to be accepted."""
    email = normalise_email(email)
    if db.session.scalar(sa.select(User.id).where(User.email == email)):
        raise ValidationError(f"Un compte existe déjà pour {email}.")
    if role != Role.ADMIN and territory is None:
        raise ValidationError(
            "Un compte autre qu'administrateur doit être rattaché à un territoire."
        )
    if role == Role.ADMIN:
        territory = None
    if practitioner is not None:
        check_linkable(territory, practitioner)
    user = User(
        email=email,
        role=role,
        territory_id=territory.id if territory else None,
        display_name=display_name.strip() or (practitioner.display_name if practitioner else ""),
        practitioner_id=practitioner.id if practitioner else None,
        password_hash=hash_password(check_password_strength(password)) if password else None,
        session_token=new_session_token(),
    )
    db.session.add(user)
    db.session.flush()
    audit.record(
        "user.create",
        by=by,
        territory_id=user.territory_id,
        target=user,
        detail={"role": role.value},
    )
    return user


def check_linkable(territory: Territory | None, practitioner: Practitioner) -> None:
    """An account may name ``practitioner``: one of the territory's, without an account."""
    if territory is None or practitioner.territory_id != territory.id:
        raise ValidationError("Le professionnel choisi n'appartient pas au territoire.")
    if db.session.scalar(sa.select(User.id).where(User.practitioner_id == practitioner.id)):
        raise ValidationError(f"{practitioner.display_name} a déjà un compte.")


def invite_user(
    territory: Territory,
    *,
    email: str,
    role: Role,
    display_name: str = "",
    practitioner: Practitioner | None = None,
    by: User | None,
) -> tuple[User, str]:
    """Create an account without password and return the one-time invitation token."""
    if role not in TERRITORY_ROLES:
        raise ValidationError("Rôle non autorisé pour une invitation.")
    user = create_user(
        email=email,
        role=role,
        territory=territory,
        display_name=display_name,
        practitioner=practitioner,
        by=by,
    )
    token = issue_invitation(user)
    db.session.flush()
    return user, token


def _deactivate(user: User, *, by: User | None) -> None:
    """Close every door of the account: sessions, invitation, and (by the layers above,
    following ``user_deactivated``) API tokens and calendar feed."""
    user.active = False
    user.session_token = new_session_token()
    user.invitation_hash = None
    events.user_deactivated.send(user, by=by)


def set_user_active(user: User, active: bool, *, by: User | None) -> None:
    if by is not None and user.id == by.id and not active:
        raise ValidationError("Vous ne pouvez pas désactiver votre propre compte.")
    if active:
        user.active = True
    else:
        _deactivate(user, by=by)
    db.session.flush()
    audit.record(
        "user.activate" if active else "user.deactivate",
        by=by,
        territory_id=user.territory_id,
        target=user,
    )


def reissue_invitation(user: User, *, by: User | None) -> str:
    token = issue_invitation(user)
    db.session.flush()
    audit.record("user.reinvite", by=by, territory_id=user.territory_id, target=user)
    return token
