"""Forms of the account pages."""

from __future__ import annotations

from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

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
