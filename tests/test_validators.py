"""Pure validation rules: no app, no database."""

import pytest

from app.validators import (
    ValidationError,
    check_password_strength,
    display_phone,
    luhn_complete,
    luhn_valid,
    normalise_email,
    normalise_finess,
    normalise_insee,
    normalise_phone,
    normalise_rpps,
    size_category,
)


@pytest.mark.parametrize(
    "rpps", ["10003456786", luhn_complete("1000123456"), luhn_complete("8100000000")]
)
def test_rpps_luhn_valid_is_accepted(rpps):
    assert normalise_rpps(rpps) == rpps


def test_rpps_spaces_are_removed():
    rpps = luhn_complete("1000123456")
    assert normalise_rpps(f" {rpps[:5]} {rpps[5:]} ") == rpps


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "obligatoire"),
        ("1234", "11 chiffres"),
        ("1000345678A", "11 chiffres"),
        ("123456789012", "11 chiffres"),
        ("10003456787", "clé de contrôle"),
    ],
)
def test_rpps_invalid_is_refused_in_french(value, message):
    with pytest.raises(ValidationError, match=message):
        normalise_rpps(value)


def test_luhn_detects_every_single_digit_change():
    rpps = luhn_complete("1000123456")
    for i in range(len(rpps)):
        for d in "0123456789":
            if d != rpps[i]:
                assert not luhn_valid(rpps[:i] + d + rpps[i + 1 :])


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("02 51 49 12 34", "+33251491234"),
        ("06.12.34.56.78", "+33612345678"),
        ("+33 6 12 34 56 78", "+33612345678"),
        ("0590 12 34 56", "+590590123456"),
        ("+262 262 12 34 56", "+262262123456"),
    ],
)
def test_phone_is_stored_e164(raw, e164):
    assert normalise_phone(raw) == e164


@pytest.mark.parametrize("raw", ["12", "01 02", "abc", "06 12 34 56 78 90 12"])
def test_phone_invalid_is_refused_in_french(raw):
    with pytest.raises(ValidationError, match="[Nn]uméro de téléphone"):
        normalise_phone(raw)


def test_phone_displays_in_national_format():
    assert display_phone("+33251491234") == "02 51 49 12 34"
    assert display_phone(None) == ""


@pytest.mark.parametrize("code", ["85047", "2A004", "2b033", "97411"])
def test_insee_codes_accept_corsica(code):
    assert normalise_insee(code) == code.upper()


@pytest.mark.parametrize("code", ["8504", "2C004", "ABCDE", ""])
def test_insee_codes_refuse_bad_values(code):
    with pytest.raises(ValidationError, match="INSEE"):
        normalise_insee(code)


def test_finess_must_have_nine_characters():
    assert normalise_finess("850 012 345") == "850012345"
    with pytest.raises(ValidationError, match="9 caractères"):
        normalise_finess("85001234")


def test_email_is_lowercased():
    assert normalise_email("  Claire.Martin@Example.ORG ") == "claire.martin@example.org"
    with pytest.raises(ValidationError):
        normalise_email("not-an-email")


def test_password_needs_twelve_characters():
    assert check_password_strength("vQ7#mLp2!xZr")  # the full policy: tests/test_password_reset.py
    with pytest.raises(ValidationError, match="12 caractères"):
        check_password_strength("vQ7#mLp2!xZ")


@pytest.mark.parametrize(
    ("population", "category"),
    [(0, 1), (39_999, 1), (40_000, 2), (79_999, 2), (80_000, 3), (175_000, 3), (175_001, 4)],
)
def test_size_category_follows_population_thresholds(population, category):
    assert size_category(population) == category


def test_luhn_complete_gives_a_valid_rpps():
    rpps = luhn_complete("1000123456")

    assert rpps.startswith("1000123456")
    assert normalise_rpps(rpps) == rpps


def test_luhn_complete_refuses_a_non_digit_body():
    with pytest.raises(ValueError, match="digits"):
        luhn_complete("10001234a6")
