"""Pro Santé Connect: the national OpenID Connect login of health professionals.

Authlib does the protocol (discovery, authorization code flow with PKCE S256, state and
nonce kept in the session, the ID token's signature, issuer, audience, expiry and nonce
checked). What is ours: asking for PSC's scopes and ``acr_values=eidas1``, refusing an
ID token below that level, reading the national identifier (``preferred_username`` in
the ID token, ``SubjectNameID`` in userinfo: "8" followed by the RPPS), and matching it
to an existing account through its practitioner. Nobody is given an account by logging in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app
from joserfc.errors import JoseError
from requests import RequestException

from app import audit
from app.enums import Role
from app.extensions import db
from app.models import Practitioner, User

# PSC's national identifier of a professional with an RPPS number: "8" + the 11 digits.
NATIONAL_ID_RE = re.compile(r"^8(\d{11})$")
EXTENSION = "tourderole_psc"


class PscError(Exception):
    """A PSC login that cannot go on; the message is French, for the login page."""


def init_psc(app: Flask) -> None:
    """Register the PSC client when the instance has one (``PSC_CLIENT_ID``)."""
    oauth = OAuth(app)
    if app.config.get("PSC_CLIENT_ID"):
        oauth.register(
            "psc",
            client_id=app.config["PSC_CLIENT_ID"],
            client_secret=app.config["PSC_CLIENT_SECRET"],
            server_metadata_url=app.config["PSC_DISCOVERY_URL"],
            client_kwargs={
                "scope": app.config["PSC_SCOPE"],
                "code_challenge_method": "S256",
                "token_endpoint_auth_method": "client_secret_basic",
                "timeout": 10,
            },
        )
    app.extensions[EXTENSION] = oauth


def psc_enabled() -> bool:
    return bool(current_app.config.get("PSC_CLIENT_ID"))


def _client():
    return current_app.extensions[EXTENSION].create_client("psc")


def authorize_redirect(redirect_uri: str):
    """The redirect to PSC's login page; Authlib keeps state, nonce and PKCE verifier."""
    try:
        return _client().authorize_redirect(
            redirect_uri, acr_values=current_app.config["PSC_ACR_VALUES"]
        )
    except (RequestException, ValueError, KeyError) as exc:  # discovery unreachable
        current_app.logger.warning("Pro Santé Connect discovery failed: %s", type(exc).__name__)
        raise PscError(
            "Pro Santé Connect ne répond pas pour le moment. Réessayez dans quelques minutes."
        ) from exc


@dataclass(frozen=True)
class PscIdentity:
    national_id: str
    rpps: str | None


def identity_from_callback() -> PscIdentity:
    """Finish the code flow (state, code + verifier, ID token with nonce) and read who it is."""
    acr = current_app.config["PSC_ACR_VALUES"]
    client = _client()
    try:
        # Our own claims options replace Authlib's default issuer check: keep it.
        issuer = client.load_server_metadata()["issuer"]
        token = client.authorize_access_token(
            claims_options={
                "iss": {"essential": True, "values": [issuer]},
                "acr": {"essential": True, "values": acr.split()},
            }
        )
    except (OAuthError, JoseError) as exc:
        current_app.logger.info("Pro Santé Connect login refused: %s %s", type(exc).__name__, exc)
        raise PscError(
            "La connexion avec Pro Santé Connect n'a pas abouti. Recommencez depuis la page "
            "de connexion."
        ) from exc
    except (RequestException, KeyError) as exc:
        raise PscError(
            "Pro Santé Connect ne répond pas pour le moment. Réessayez dans quelques minutes."
        ) from exc
    claims = dict(token.get("userinfo") or {})
    national_id = claims.get("preferred_username") or claims.get("SubjectNameID")
    if not national_id:
        try:
            info = client.userinfo(token=token)
        except (OAuthError, RequestException, ValueError) as exc:
            raise PscError(
                "Pro Santé Connect n'a pas transmis votre identifiant national."
            ) from exc
        national_id = info.get("SubjectNameID") or info.get("preferred_username")
    national_id = str(national_id or "")
    match = NATIONAL_ID_RE.match(national_id)
    return PscIdentity(national_id=national_id, rpps=match.group(1) if match else None)


def find_psc_account(identity: PscIdentity) -> User:
    """The active account of the practitioner with this RPPS; never a new one."""
    if identity.rpps is None:
        audit.record("auth.psc_refused", by=None, detail={"reason": "not_rpps"})
        db.session.commit()
        raise PscError(
            "Pro Santé Connect vous a identifié·e sans numéro RPPS : la connexion par Pro "
            "Santé Connect est réservée aux professionnels inscrits au RPPS."
        )
    user = db.session.scalar(
        sa.select(User)
        .join(Practitioner, User.practitioner_id == Practitioner.id)
        .where(Practitioner.rpps == identity.rpps, User.active.is_(True))
        .order_by(User.last_login_at.desc().nulls_last(), User.id)
        .limit(1)
    )
    if user is None:
        audit.record("auth.psc_refused", by=None, detail={"reason": "unknown_rpps"})
        db.session.commit()
        raise PscError(
            "Aucun compte Tour de rôle n'est rattaché à votre numéro RPPS. Demandez à la "
            "coordination de votre CPTS de vous inviter : aucun compte n'est créé "
            "automatiquement."
        )
    return user


def password_refused_for(user: User) -> bool:
    """GPs of a territory that requires PSC may not log in with a password."""
    return (
        user.role == Role.GP and user.territory is not None and user.territory.require_psc_for_gps
    )
