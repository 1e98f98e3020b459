"""Forms of the booking pages, and reading the patient's commune as a booker types it."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date

from wtforms import BooleanField, DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError
from wtforms.widgets import TextInput

from app import communes_ref
from app.communes_ref import OfficialCommune
from app.forms import REQUIRED, AppForm, domain_check, select_choices
from app.sms import normalise_mobile
from app.validators import normalise_email, normalise_phone
from booking.services import REASONS, PatientData
from booking.tokens import MAX_LABEL

DATE_FORMATS = ["%d/%m/%Y", "%Y-%m-%d"]  # typed by hand, or sent by a date picker


class FrenchDateField(DateField):
    """A date typed as JJ/MM/AAAA (faster on the phone than a picker), ISO also accepted."""

    widget = TextInput()

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("format", DATE_FORMATS)
        super().__init__(*args, **kwargs)

    def process_formdata(self, valuelist: list[str]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError as exc:
            raise ValueError("Date illisible : utilisez le format JJ/MM/AAAA.") from exc


class BookingForm(AppForm):
    """The patient's minimal data: what the GP needs to call and recognise them, no more."""

    family_name = StringField(
        "Nom de famille",
        validators=[DataRequired(REQUIRED), Length(max=100, message="100 caractères au plus.")],
        render_kw={"autocomplete": "off"},
    )
    given_name = StringField(
        "Prénom",
        validators=[DataRequired(REQUIRED), Length(max=100, message="100 caractères au plus.")],
        render_kw={"autocomplete": "off"},
    )
    birth_date = FrenchDateField(
        "Date de naissance",
        validators=[InputRequired(REQUIRED)],
        render_kw={"inputmode": "numeric", "autocomplete": "off", "placeholder": "JJ/MM/AAAA"},
    )
    phone = StringField(
        "Téléphone du patient",
        validators=[DataRequired(REQUIRED), domain_check(normalise_phone)],
        render_kw={"inputmode": "tel", "autocomplete": "off"},
    )
    reason_code = SelectField("Motif", choices=select_choices(REASONS.items()), default="autre")
    reason = StringField(
        "Précision sur le motif (facultatif)",
        validators=[Optional(), Length(max=200, message="200 caractères au plus.")],
        render_kw={"autocomplete": "off", "maxlength": 200},
    )
    without_gp = BooleanField("Patient sans médecin traitant")
    mobile = StringField(
        "Portable du patient (SMS)",
        validators=[Optional(), domain_check(normalise_mobile)],
        render_kw={"inputmode": "tel", "autocomplete": "off"},
    )
    email = StringField(
        "E-mail du patient",
        validators=[Optional(), domain_check(normalise_email)],
        render_kw={"inputmode": "email", "autocomplete": "off"},
    )
    contact_consent = BooleanField(
        "Le patient accepte de recevoir la confirmation et le lien d'annulation"
    )

    def validate_contact_consent(self, field: BooleanField) -> None:
        """A contact only with the patient's consent: the box is ticked, or both are empty."""
        if ((self.mobile.data or "").strip() or (self.email.data or "").strip()) and not field.data:
            raise ValidationError(
                "cochez-la si le patient accepte, ou laissez son portable et son e-mail vides."
            )

    def patient(self) -> PatientData:
        return PatientData(
            family_name=self.family_name.data or "",
            given_name=self.given_name.data or "",
            birth_date=self.birth_date.data,
            phone=self.phone.data or "",
            reason=self.reason.data or "",
            reason_code=self.reason_code.data or "autre",
            without_gp=bool(self.without_gp.data),
            email=self.email.data or "",
            mobile=self.mobile.data or "",
            contact_consent=bool(self.contact_consent.data),
        )

    def fill_from(self, patient: PatientData) -> None:
        """Pre-fill from a booking to re-place (same patient, new slot)."""
        self.family_name.data = patient.family_name
        self.given_name.data = patient.given_name
        self.birth_date.data = patient.birth_date
        self.phone.data = patient.phone
        self.reason.data = patient.reason
        self.reason_code.data = patient.reason_code
        self.without_gp.data = patient.without_gp


class CancelForm(AppForm):
    reason = TextAreaField(
        "Motif de l'annulation",
        validators=[DataRequired(REQUIRED), Length(max=200, message="200 caractères au plus.")],
        render_kw={"maxlength": 200, "rows": 2},
    )


class PatientCancelForm(AppForm):
    """The patient's confirm button (only the CSRF token: the link names the booking)."""


class MarkForm(AppForm):
    """Only the CSRF token: the button pressed says whether the patient came and, if so,
    whether the GP is their médecin traitant (MRT) or not (majoration SNP)."""

    #: ``presence`` button value → (honoured, billing)
    ANSWERS: dict[str, tuple[bool, str | None]] = {
        "snp": (True, "snp"),
        "mrt": (True, "mrt"),
        "venu": (True, None),
        "absent": (False, None),
    }


# --- the patient's commune ----------------------------------------------------------------------

_NAME_AND_CODE = re.compile(r"^(?P<name>.+?)\s*\((?P<code>[0-9AB]{5})\)$", re.IGNORECASE)
MAX_CANDIDATES = 20


@dataclass(frozen=True)
class CommuneLookup:
    """What the booker's text names: one commune, several to choose from, or nothing."""

    commune: OfficialCommune | None = None
    candidates: list[OfficialCommune] = field(default_factory=list)
    error: str | None = None


def datalist_label(commune_name: str, postal_codes: list[str] | tuple[str, ...]) -> str:
    """ "Challans (85300)": what the suggestion list offers and ``resolve_commune`` reads back."""
    return f"{commune_name} ({postal_codes[0]})" if postal_codes else commune_name


def resolve_commune(text: str, *, insee: str = "", local: Collection[str] = ()) -> CommuneLookup:
    """The commune meant by an INSEE code, a postal code, a name, or "Name (code)".

    ``insee`` is the choice made in a disambiguation list. Candidates from the territory
    (``local`` INSEE codes) come first, as the likeliest.
    """
    if insee:
        found = communes_ref.get(insee.strip()[:5])
        if found is None:
            return CommuneLookup(error="Commune inconnue : choisissez-la à nouveau.")
        return CommuneLookup(commune=found)
    query = " ".join((text or "").split())[:100]
    if not query:
        return CommuneLookup()
    named = _NAME_AND_CODE.match(query)
    if named:
        wanted = communes_ref.fold(named["name"])
        exact = [
            c for c in communes_ref.search(named["code"]) if communes_ref.fold(c.name) == wanted
        ]
        if len(exact) == 1:
            return CommuneLookup(commune=exact[0])
        query = named["name"]
    found = communes_ref.search(query, limit=200)
    if not found:
        return CommuneLookup(
            error=f"Aucune commune ne correspond à « {query} » : saisissez son nom, "
            "son code postal ou son code INSEE."
        )
    if len(found) == 1:
        return CommuneLookup(commune=found[0])
    folded = communes_ref.fold(query)
    same_name = [c for c in found if communes_ref.fold(c.name) == folded]
    if len(same_name) == 1:
        return CommuneLookup(commune=same_name[0])
    ranked = sorted(
        found,
        key=lambda c: (c.insee_code not in local, communes_ref.fold(c.name) != folded),
    )
    return CommuneLookup(candidates=ranked[:MAX_CANDIDATES])


def did_you_mean(
    text: str, lookup: CommuneLookup, *, among: Collection[str] = ()
) -> list[communes_ref.Suggestion]:
    """The likeliest communes for a name that matched none ("Chalans" → Challans (85300)).

    A typo must never end on "0 créneau libre": the page offers these as links instead,
    the desk's communes (``among``) first, then the country's.
    """
    if not lookup.error or not (text or "").strip():
        return []
    return communes_ref.suggest(text, among=among, limit=5)


# Days a page may show: the pages step a day back and forth and turn local midnights into
# UTC, which overflows at the ends of ``date`` (9999-12-31, 0001-01-01).
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)


def parse_day(text: str | None, default: date) -> date:
    """A ``AAAA-MM-JJ`` day from a query string; anything unreadable or absurd gives ``default``."""
    try:
        day = date.fromisoformat(text) if text else default
    except ValueError:
        return default
    return day if FIRST_DAY <= day <= LAST_DAY else default


_ACCOUNT_ID = re.compile(r"[0-9]{1,9}")


def account_id(value: object) -> int | None:
    """An account number as a select sends it, or ``None`` for anything else.

    ``None`` rather than WTForms' English "could not coerce": the service then refuses
    the account with a French message, and 400 digits never reach the database.
    """
    text = str(value).strip() if value is not None else ""
    return int(text) if _ACCOUNT_ID.fullmatch(text) else None


class ServiceTokenForm(AppForm):
    """Issue an API token to one of a regulation service's regulators (administrator).

    The choices are not enforced by the form: ``tokens.issue_service_token`` checks the
    account belongs to the service and says why in French when it does not.
    """

    user_id = SelectField(
        "Compte de régulateur·rice", coerce=account_id, choices=[], validate_choice=False
    )
    label = StringField(
        "Libellé (logiciel, poste…)",
        validators=[Optional(), Length(max=MAX_LABEL, message="100 caractères au plus.")],
    )
