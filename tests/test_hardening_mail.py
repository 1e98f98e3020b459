"""Finding 11: in production the e-mail sender must be chosen (``MAIL_BACKEND``): without
it, ``flask outbox send`` refuses to start, rather than "send" every e-mail to the log."""

from __future__ import annotations

import pytest

from app.mail import sender_from_config

FROM = "Tour de rôle <ne-pas-repondre@cpts.fr>"


def test_production_without_a_chosen_backend_refuses_to_send():
    with pytest.raises(ValueError, match="MAIL_BACKEND"):
        sender_from_config({"ENV_NAME": "production", "MAIL_BACKEND": "", "MAIL_FROM": FROM})


def test_outbox_send_says_so_and_sends_nothing(make_app):
    app = make_app(ENV_NAME="production", MAIL_BACKEND="")
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["outbox", "send"])
    assert result.exit_code != 0
    assert "MAIL_BACKEND" in result.output


@pytest.mark.parametrize("backend", ["log", "smtp"])
def test_an_explicit_choice_is_accepted_in_production(backend):
    config = {"ENV_NAME": "production", "MAIL_BACKEND": backend, "MAIL_FROM": FROM}
    assert sender_from_config(config) is not None


def test_development_still_logs_by_default():
    assert type(sender_from_config({"ENV_NAME": "development", "MAIL_FROM": FROM})).__name__ == (
        "LogSender"
    )
