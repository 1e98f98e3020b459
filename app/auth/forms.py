"""Forms of the account pages."""

from __future__ import annotations

from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from app.auth.password_policy import password_problem
from app.forms import AppForm
from app.validators import MIN_PASSWORD_LENGTH


class LoginForm(AppForm):
    email = EmailField(
        "Adresse e-mail", validators=[DataRequired("Indiquez votre adresse e-mail.")]
    )
    password = PasswordField(
        "Mot de passe", validators=[DataRequired("Indiquez votre mot de passe.")]
    )
    next = StringField()


class SetPasswordForm(AppForm):
    password = PasswordField(
        "Nouveau mot de passe",
        validators=[
            DataRequired("Choisissez un mot de passe."),
            Length(
                min=MIN_PASSWORD_LENGTH,
                max=200,
                message=f"Le mot de passe doit comporter au moins {MIN_PASSWORD_LENGTH} caractères.",
            ),
        ],
    )
    confirm = PasswordField(
        "Confirmez le mot de passe",
        validators=[EqualTo("password", "Les deux mots de passe ne correspondent pas.")],
    )

    def validate_password(self, field: PasswordField) -> None:
        """The whole policy (known passwords, zxcvbn), with its reason under the field."""
        if problem := password_problem(field.data or ""):
            raise ValidationError(problem)


class SecondFactorForm(AppForm):
    code = StringField(
        "Code à 6 chiffres ou code de secours",
        validators=[
            DataRequired("Saisissez le code affiché par votre application."),
            Length(max=20),
        ],
    )
    next = StringField()


class EnableTotpForm(AppForm):
    code = StringField(
        "Code à 6 chiffres affiché par l'application",
        validators=[
            DataRequired("Saisissez le code affiché par votre application."),
            Length(max=20),
        ],
    )


class ForgotPasswordForm(AppForm):
    email = EmailField(
        "Adresse e-mail",
        validators=[DataRequired("Indiquez votre adresse e-mail."), Length(max=254)],
    )


class ChangePasswordForm(SetPasswordForm):
    current = PasswordField(
        "Mot de passe actuel",
        validators=[DataRequired("Indiquez votre mot de passe actuel."), Length(max=200)],
    )


class LoginRulesForm(AppForm):
    require_psc_for_gps = BooleanField(
        "Les médecins généralistes se connectent uniquement avec Pro Santé Connect"
    )
    require_2fa = BooleanField(
        "Double authentification obligatoire pour tous les comptes à mot de passe du territoire"
    )
