"""Forms of the coordinator pages: one per use case, French labels and messages."""

from __future__ import annotations

from datetime import time

from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    EmailField,
    FloatField,
    HiddenField,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import (
    AnyOf,
    DataRequired,
    Length,
    NumberRange,
    Optional,
)

from app.enums import Profession, SiteKind
from app.forms import (
    REQUIRED,
    AppForm,
    MultiCheckboxField,
    NumberField,
    domain_check,
    select_choices,
)
from app.territory.services import (
    BOOKING_HORIZONS,
    HOLIDAY_SUBDIVISIONS,
    TERRITORY_ROLES,
    TIMEZONES,
)
from app.validators import normalise_finess, normalise_phone, normalise_rpps


class LocalTimeField(TimeField):
    """An ``HH:MM`` time; an invalid one gets a French message."""

    def process_formdata(self, valuelist: list[str]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError("Heure invalide (format HH:MM).") from None


class TerritoryForm(AppForm):
    name = StringField("Nom de la CPTS", validators=[DataRequired(REQUIRED), Length(max=200)])
    finess = StringField(
        "N° FINESS de l'association",
        validators=[Optional(), domain_check(normalise_finess)],
    )
    timezone = SelectField("Fuseau horaire", choices=select_choices(TIMEZONES.items()))
    holiday_subdivision = SelectField(
        "Jours fériés applicables", choices=select_choices(HOLIDAY_SUBDIVISIONS.items())
    )
    phone = StringField(
        "Téléphone de la coordination", validators=[Optional(), domain_check(normalise_phone)]
    )
    email = EmailField("E-mail de la coordination", validators=[Optional(), Length(max=254)])
    min_rest_hours = NumberField(
        "Repos minimal entre deux plages d'un médecin (heures)",
        default=10,
        validators=[Optional(), NumberRange(0, 48, "Entre 0 et 48 heures.")],
    )
    max_sessions_per_week = NumberField(
        "Maximum de plages par médecin et par semaine (facultatif)",
        validators=[Optional(), NumberRange(1, 14, "Entre 1 et 14 plages.")],
    )
    swaps_need_approval = BooleanField(
        "Les échanges entre médecins sont validés par la coordination"
    )
    absence_on_duty_to_replace = BooleanField(
        "Accepter une indisponibilité déclarée un jour de garde, la plage passant « à remplacer »"
    )
    booking_release_minutes = NumberField(
        "Ouverture des créneaux réservés à tous, avant leur début (minutes)",
        default=120,
        validators=[Optional(), NumberRange(0, 1440, "Entre 0 et 1440 minutes.")],
    )
    booking_horizon_hours = SelectField(
        "Créneaux réservables jusqu'à",
        coerce=int,
        default=24,
        choices=select_choices(BOOKING_HORIZONS.items()),
    )
    patient_data_days = NumberField(
        "Conservation des données des patients après le rendez-vous (jours)",
        default=90,
        validators=[Optional(), NumberRange(1, 3650, "Entre 1 et 3650 jours.")],
    )
    # PDSA hours and the CPAM's weekly cap: the conditions of the majoration SNP.
    pdsa_weekday_from = LocalTimeField(
        "PDSA du lundi au vendredi : à partir de", default=time(20), validators=[Optional()]
    )
    pdsa_weekday_until = LocalTimeField(
        "PDSA : jusqu'au lendemain matin", default=time(8), validators=[Optional()]
    )
    pdsa_saturday_from = LocalTimeField(
        "PDSA le samedi : à partir de", default=time(12), validators=[Optional()]
    )
    snp_weekly_cap = NumberField(
        "Plafond hebdomadaire de majorations SNP par médecin (facultatif)",
        default=20,
        validators=[Optional(), NumberRange(1, 500, "Entre 1 et 500 actes.")],
    )


class NewTerritoryForm(TerritoryForm):
    slug = StringField(
        "Identifiant court (dans les adresses)",
        validators=[DataRequired(REQUIRED), Length(min=2, max=60)],
    )
    coordinator_email = EmailField(
        "E-mail du ou de la coordonnateur·rice (invitation)",
        validators=[Optional(), Length(max=254)],
    )


class CommuneAddForm(AppForm):
    insee_code = HiddenField(validators=[DataRequired(REQUIRED)])
    postal_codes = MultiCheckboxField("Codes postaux rattachés à la CPTS", choices=[])


class EpciAddForm(AppForm):
    epci_code = HiddenField(validators=[DataRequired(REQUIRED)])


class SiteForm(AppForm):
    name = StringField("Nom du lieu", validators=[DataRequired(REQUIRED), Length(max=200)])
    kind = SelectField("Type de lieu", choices=select_choices(SiteKind.choices()))
    address_line = StringField("Adresse", validators=[DataRequired(REQUIRED), Length(max=200)])
    postal_code = StringField("Code postal", validators=[DataRequired(REQUIRED), Length(max=5)])
    commune_id = SelectField("Commune", coerce=int, choices=[])
    phone = StringField("Téléphone du lieu", validators=[Optional(), domain_check(normalise_phone)])
    latitude = FloatField(
        "Latitude (facultatif)",
        validators=[Optional(), NumberRange(-90, 90, "Latitude entre -90 et 90.")],
    )
    longitude = FloatField(
        "Longitude (facultatif)",
        validators=[Optional(), NumberRange(-180, 180, "Longitude entre -180 et 180.")],
    )
    accessibility = TextAreaField(
        "Accessibilité (PMR, stationnement, étage…)", validators=[Optional(), Length(max=2000)]
    )


class PractitionerForm(AppForm):
    rpps = StringField(
        "N° RPPS (11 chiffres)",
        validators=[DataRequired(REQUIRED), domain_check(normalise_rpps)],
    )
    family_name = StringField("Nom", validators=[DataRequired(REQUIRED), Length(max=120)])
    given_name = StringField("Prénom", validators=[DataRequired(REQUIRED), Length(max=120)])
    profession = SelectField("Profession", choices=select_choices(Profession.choices()))
    email = EmailField("E-mail", validators=[Optional(), Length(max=254)])
    phone = StringField("Téléphone", validators=[Optional(), domain_check(normalise_phone)])
    site_ids = MultiCheckboxField("Lieux d'exercice", coerce=int, choices=[])


class PractitionerImportForm(AppForm):
    file = FileField(
        "Fichier CSV (rpps;nom;prenom;profession;email;telephone;sites)",
        validators=[FileRequired("Choisissez un fichier CSV.")],
    )


INVITABLE_ROLES = [(r.value, r.label) for r in TERRITORY_ROLES]


class InviteUserForm(AppForm):
    email = EmailField("E-mail", validators=[DataRequired(REQUIRED), Length(max=254)])
    role = SelectField("Rôle", choices=select_choices(INVITABLE_ROLES))
    display_name = StringField("Nom affiché", validators=[Optional(), Length(max=200)])
    practitioner_id = SelectField(
        "Professionnel de santé lié (médecins et pharmaciens)", coerce=int, choices=[]
    )


class InvitationActionForm(AppForm):
    """A button of the accounts page acting on an invitation, named by its address."""

    email = HiddenField(validators=[DataRequired(), Length(max=254)])
    action = HiddenField(validators=[AnyOf(("lien", "annuler", "relancer"))])


class CommuneCentreForm(AppForm):
    """One commune's centre; decimal comma accepted (the service reads the numbers)."""

    latitude = StringField("Latitude", validators=[Optional(), Length(max=20)])
    longitude = StringField("Longitude", validators=[Optional(), Length(max=20)])


class CommuneCentresImportForm(AppForm):
    file = FileField(
        "Fichier CSV (code_insee;latitude;longitude)",
        validators=[FileRequired("Choisissez un fichier CSV.")],
    )
