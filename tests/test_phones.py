"""Phone number normalization: every form a PBX, a CSV or a caller gives, to E.164 or None."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance import phones


@pytest.mark.parametrize("raw", [
    "+1 (217) 555-0125",
    "2175550125",
    "(217) 555-0125",
    "217.555.0125",
    "1-217-555-0125",
    "+12175550125",
    "sip:+12175550125@pbx",
    "sip:2175550125@pbx.local:5060",
    "sips:+12175550125@pbx",
    "SIP:+12175550125@PBX",
    '"Ann" <sip:2175550125@pbx;user=phone>',
    "<sip:+12175550125@10.0.0.1>;tag=abc123",
    "Ann Lee <sip:+1-217-555-0125@pbx>",
    "tel:+12175550125",
    "tel:+1-217-555-0125;phone-context=example.com",
    "sip:%2B12175550125@pbx",
    "sip:12175550125@pbx",
    "<tel:+12175550125>",
    "  +1 217 555 0125  ",
])
def test_us_forms_normalize_to_e164(raw):
    assert phones.normalize(raw, "US") == "+12175550125"


def test_uk_number_with_country_prefix():
    assert phones.normalize("+44 20 7946 0958", "US") == "+442079460958"
    assert phones.normalize("sip:+442079460958@pbx", "US") == "+442079460958"


def test_national_form_uses_the_clinic_region():
    assert phones.normalize("020 7946 0958", "GB") == "+442079460958"
    assert phones.normalize("020 7946 0958", "US") is None  # not a US number
    assert phones.normalize("2175550125", "GB") is None


@pytest.mark.parametrize("raw", [
    None, "", "   ", "anonymous", "Anonymous", "ANONYMOUS", "withheld", "private", "restricted", "unknown",
    "unavailable", "sip:anonymous@anonymous.invalid", '"Anonymous" <sip:anonymous@anonymous.invalid>;tag=1',
    "tel:", "<>",
])
def test_withheld_numbers_are_none(raw):
    assert phones.normalize(raw, "US") is None


@pytest.mark.parametrize("raw", [
    "anonymous", "Anonymous", "sip:anonymous@anonymous.invalid", '"Anonymous" <sip:anonymous@anonymous.invalid>',
    "Restricted", "", None,
])
def test_is_withheld(raw):
    assert phones.is_withheld(raw)


@pytest.mark.parametrize("raw", ["+12175550125", "sip:2175550125@pbx", "12", "abc"])
def test_numbers_and_garbage_are_not_withheld(raw):
    assert not phones.is_withheld(raw)


@pytest.mark.parametrize("raw", [
    "12", "abc", "5550125", "555-0125", "+1", "+", "0", "123456789012345678901234567890",
    "+1 (000) 555-0125", "sip:abc@pbx", "sip:@pbx", "\x00\x01", "☎", "tel:+999999",
])
def test_garbage_and_local_numbers_are_none(raw):
    assert phones.normalize(raw, "US") is None


def test_extension_suffix_is_dropped_to_the_main_number():
    # phonenumbers keeps the extension apart; E.164 has none, so the line itself is recognized
    assert phones.normalize("+1 217 555 0125 ext. 12", "US") == "+12175550125"


def test_caller_part_strips_uri_and_display_name():
    assert phones.caller_part('"Ann" <sip:+12175550125@pbx;user=phone>') == "+12175550125"
    assert phones.caller_part("tel:+12175550125;phone-context=x") == "+12175550125"
    assert phones.caller_part(" 217 555 0125 ") == "217 555 0125"


def test_last_digits_hides_the_rest():
    assert phones.last_digits("+12175550125") == "…0125"
    assert phones.last_digits("+12175550125", 2) == "…25"


# ---- the clinic's region ----


def _clinic(config, **fields):
    return dataclasses.replace(config, clinic=dataclasses.replace(config.clinic, **fields))


def test_clinic_region_from_the_clinic_phone(config):
    assert config.clinic.country == ""
    assert phones.clinic_region(config) == "US"
    assert phones.clinic_region(_clinic(config, phone="+442079460958")) == "GB"
    assert phones.clinic_region(_clinic(config, phone="+33142685300")) == "FR"


def test_clinic_country_wins_over_the_phone(config):
    assert phones.clinic_region(_clinic(config, country="gb")) == "GB"
    assert phones.clinic_region(_clinic(config, country="CA", phone="+442079460958")) == "CA"


def test_clinic_region_defaults_to_us(config):
    assert phones.clinic_region(_clinic(config, phone="")) == "US"
    assert phones.clinic_region(_clinic(config, phone="not a number")) == "US"


def test_clinic_region_drives_national_numbers(config):
    uk = _clinic(config, phone="+442079460958")
    assert phones.normalize("020 7946 0958", phones.clinic_region(uk)) == "+442079460958"


# ---- properties ----


@given(st.text(max_size=60))
def test_normalize_never_raises(raw):
    got = phones.normalize(raw, "US")
    assert got is None or (got.startswith("+") and got[1:].isdigit())


@given(st.from_regex(r"\+1[2-9][0-9]{2}[2-9][0-9]{6}", fullmatch=True))
def test_normalize_is_idempotent(raw):
    first = phones.normalize(raw, "US")
    assert first is None or phones.normalize(first, "US") == first
    if first:
        for form in (f"sip:{first}@pbx", f"tel:{first}", f'"X" <sip:{first}@pbx;user=phone>'):
            assert phones.normalize(form, "US") == first
