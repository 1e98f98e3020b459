"""The territory's login rules, set by its coordinator."""

from __future__ import annotations

from app import audit
from app.models import Territory, User
from app.validators import ValidationError


def update_login_rules(
    territory: Territory,
    *,
    require_psc_for_gps: bool,
    require_2fa: bool,
    psc_available: bool,
    by: User,
) -> None:
    """Require PSC of the territory's GPs, and/or a second factor of every password account."""
    if require_psc_for_gps and not psc_available:
        raise ValidationError(
            "Pro Santé Connect n'est pas configuré sur ce service : l'exiger empêcherait les "
            "médecins généralistes de se connecter."
        )
    changed = [
        name
        for name, value in (
            ("require_psc_for_gps", require_psc_for_gps),
            ("require_2fa", require_2fa),
        )
        if getattr(territory, name) != value
    ]
    territory.require_psc_for_gps = require_psc_for_gps
    territory.require_2fa = require_2fa
    if changed:
        audit.record(
            "territory.login_rules",
            by=by,
            territory_id=territory.id,
            target=territory,
            detail={"changed": changed},
        )
