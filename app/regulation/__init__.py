"""Regulation services (SAS desks) across territories: model in ``app.models``, use cases here."""
