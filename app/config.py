"""Configuration read from the environment, with safe defaults for a single machine."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any


def _secret_key(instance_path: Path) -> str:
    """Return SECRET_KEY from the environment, or one generated once into ``instance/``.

    Generating it on first start (0600) means a fresh install is never left with a
    well-known key, and restarts keep sessions valid.
    """
    if key := os.environ.get("SECRET_KEY"):
        return key
    path = instance_path / "secret_key"
    if not path.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def normalise_database_url(url: str) -> str:
    """Let operators write ``postgresql://`` and still get the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def build_config(instance_path: Path) -> dict[str, Any]:
    """Everything the app reads from its environment, in one place."""
    env_name = os.environ.get("TOURDEROLE_ENV", "production")
    development = env_name == "development"
    default_db = f"sqlite:///{instance_path / 'tourderole.sqlite3'}"
    return {
        "ENV_NAME": env_name,
        "SECRET_KEY": _secret_key(instance_path),
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(
            os.environ.get("DATABASE_URL", default_db)
        ),
        "SNP_TIMEZONE": os.environ.get("SNP_TIMEZONE", "Europe/Paris"),
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "memory://"),
        # Reverse proxies in front of the app (app/proxy.py): a count, or their networks.
        "TRUSTED_PROXIES": os.environ.get("TRUSTED_PROXIES", ""),
        # The public address (https://snp.cpts-exemple.fr) of every absolute URL and UID
        # (app/urls.py). PUBLIC_BASE_URL is its older name.
        "PUBLIC_URL": os.environ.get("PUBLIC_URL") or os.environ.get("PUBLIC_BASE_URL", ""),
        "LOG_FORMAT": os.environ.get("LOG_FORMAT", "text"),
        "RATELIMIT_HEADERS_ENABLED": True,
        "RATELIMIT_STRATEGY": "moving-window",
        "LOGIN_RATE_LIMIT_IP": os.environ.get("LOGIN_RATE_LIMIT_IP", "20 per 10 minutes"),
        "LOGIN_RATE_LIMIT_ACCOUNT": os.environ.get("LOGIN_RATE_LIMIT_ACCOUNT", "5 per 10 minutes"),
        "API_BOOKING_RATE_LIMIT": os.environ.get("API_BOOKING_RATE_LIMIT", "30 per minute"),
        "API_RATE_LIMIT": os.environ.get("API_RATE_LIMIT", "300 per minute"),
        "API_ANONYMOUS_RATE_LIMIT": os.environ.get("API_ANONYMOUS_RATE_LIMIT", "60 per minute"),
        "BOOKING_RATE_LIMIT": os.environ.get("BOOKING_RATE_LIMIT", "30 per minute"),
        "ICAL_RATE_LIMIT": os.environ.get("ICAL_RATE_LIMIT", "120 per minute"),
        # Only the benchmarks switch rate limiting off (RATELIMIT_ENABLED=0).
        "RATELIMIT_ENABLED": os.environ.get("RATELIMIT_ENABLED", "1") != "0",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": not development,
        "SESSION_COOKIE_NAME": "tdr_session",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SECURE": not development,
        "SESSION_IDLE_MINUTES": 30,
        "SESSION_ABSOLUTE_HOURS": 12,
        "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
        # A form's CSRF token lives as long as the longest session (12 h), not forever.
        "WTF_CSRF_TIME_LIMIT": 12 * 3600,
        "PREFERRED_URL_SCHEME": "http" if development else "https",
        # E-mail (app/mail.py). Port and timeout stay text here: a typo must not stop the
        # web app from starting, only ``flask outbox send``, which says what is wrong.
        # Empty: "log" in development; in production the sender refuses to start (app/mail.py).
        "MAIL_BACKEND": os.environ.get("MAIL_BACKEND", ""),
        "MAIL_SERVER": os.environ.get("MAIL_SERVER", "localhost"),
        "MAIL_PORT": os.environ.get("MAIL_PORT") or None,  # None: 587, 465 or 25 by security
        "MAIL_SECURITY": os.environ.get("MAIL_SECURITY", "starttls"),
        "MAIL_USERNAME": os.environ.get("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD") or None,
        "MAIL_FROM": os.environ.get("MAIL_FROM", "Tour de rôle <ne-pas-repondre@localhost>"),
        "MAIL_TIMEOUT": os.environ.get("MAIL_TIMEOUT", "30"),
        # Patients' SMS (app/sms.py): checked by ``flask outbox send`` at the first SMS.
        "SMS_BACKEND": os.environ.get("SMS_BACKEND", "log"),
        "BREVO_API_KEY": os.environ.get("BREVO_API_KEY") or None,
        "SMS_SENDER": os.environ.get("SMS_SENDER", ""),
        "SMS_API_URL": os.environ.get("SMS_API_URL") or None,
        "SMS_TIMEOUT": os.environ.get("SMS_TIMEOUT", "15"),
        # Accounts (app/auth): a second factor for admins and coordinators, on by default
        # outside development (``make run``'s demo stays password-only).
        "REQUIRE_2FA": _flag("REQUIRE_2FA", default=not development),
        "TOTP_ISSUER": os.environ.get("TOTP_ISSUER", "Tour de rôle"),
        "PASSWORD_RESET_MINUTES": 60,
        # Pro Santé Connect (docs/deploy.md): off until a client is registered with the ANS.
        "PSC_DISCOVERY_URL": os.environ.get(
            "PSC_DISCOVERY_URL",
            "https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet/"
            ".well-known/openid-configuration",
        ),
        "PSC_CLIENT_ID": os.environ.get("PSC_CLIENT_ID") or None,
        "PSC_CLIENT_SECRET": os.environ.get("PSC_CLIENT_SECRET") or None,
        "PSC_SCOPE": os.environ.get("PSC_SCOPE", "openid scope_all"),
        "PSC_ACR_VALUES": os.environ.get("PSC_ACR_VALUES", "eidas1"),
        # The callback registered with the ANS; unset: built from the request's host.
        "PSC_REDIRECT_URI": os.environ.get("PSC_REDIRECT_URI") or None,
    }


def _flag(name: str, *, default: bool) -> bool:
    """A yes/no setting: ``1``/``true``/``oui`` or ``0``/``false``/``non``; unset: ``default``."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    return value in {"1", "true", "yes", "oui", "on"}
