"""Schemathesis on the JSON API, in process, with a regulator's token (ASVS 13.2.x, 5.1.x).

Every operation of ``/api/v1/openapi.json`` is called with generated requests, valid and
invalid (both generation modes), on a published rota whose clock is frozen so that free
slots exist. Checks: never a 5xx, every status code and body as documented (so every 4xx is
``{"code", "message"}``), content types and headers as declared, invalid requests refused.
``positive_data_acceptance`` is left out: a request valid for the schema may still be
refused by the rules (a slot that does not exist, outside the window), which is a 4xx by
design. Bounded and deterministic (``derandomize``), so it costs seconds, not minutes.
"""

from __future__ import annotations

import pytest
import schemathesis
import time_machine
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from app.extensions import db
from booking import tokens

MAX_EXAMPLES = 40


@pytest.fixture
def regulator_token(booking_world) -> str:
    plain, _ = tokens.create_token(booking_world.users["regulator"], "schemathesis", by=None)
    db.session.commit()
    return plain


def _fuzz(operation, mode: GenerationMode) -> None:
    """Run one operation's examples in one mode; Hypothesis raises the first failure found."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        # No replay from an example database, no "explain" pass (it reruns each failure).
        phases=[Phase.explicit, Phase.generate, Phase.target, Phase.shrink],
    )
    def run(case) -> None:
        case.call_and_validate(excluded_checks=[positive_data_acceptance])

    run()


def test_api_conforms_to_its_openapi_document(app, booking_world, regulator_token):
    # schemathesis.pytest.from_fixture would give one test item per operation, but it
    # breaks on pytest 9 (it reads a removed private attribute): loop over them instead.
    config = schemathesis.Config.from_dict(
        {
            # The token as the document's security scheme: Schemathesis sends it, and
            # knows when a negative case drops it on purpose (expecting a 401).
            "auth": {"openapi": {"bearerAuth": {"bearer": regulator_token}}},
            # Unknown query parameters are ignored, as most APIs do: don't send them.
            "generation": {"allow-extra-parameters": False},
        }
    )
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=config)
    failures = {}
    with time_machine.travel(booking_world.now, tick=False):
        for result in schema.get_all_operations():
            operation = result.ok()
            for mode in GenerationMode:
                try:
                    _fuzz(operation, mode)
                except Exception as exc:  # noqa: BLE001 - reported below, all together
                    failures[f"{operation.label} ({mode.value})"] = exc
    assert not failures, "\n\n".join(f"{label}:\n{exc}" for label, exc in failures.items())
