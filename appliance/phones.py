"""Phone numbers: any form a PBX, a CSV or a caller gives, normalized to E.164 for the blind index."""

from __future__ import annotations

import re
from urllib.parse import unquote

import phonenumbers

WITHHELD = {"", "anonymous", "unknown", "private", "restricted", "unavailable", "withheld"}


def clinic_region(config) -> str:
    """The ISO region for numbers without a country code: clinic.country, else the clinic phone's."""
    if config.clinic.country:
        return config.clinic.country.upper()
    if config.clinic.phone:
        try:
            region = phonenumbers.region_code_for_number(phonenumbers.parse(config.clinic.phone, None))
            if region:
                return region
        except phonenumbers.NumberParseException:
            pass
    return "US"


def caller_part(raw: str) -> str:
    """The user part of a SIP/tel URI or header (`"Ann" <sip:+1217...@pbx;user=phone>`), else raw."""
    text = raw.strip()
    m = re.search(r"<([^>]*)>", text)
    if m:
        text = m.group(1)
    m = re.match(r"(?i)(?:sips?|tel):([^@;?>]*)", text)
    if m:
        text = unquote(m.group(1))  # some trunks send the user part escaped (`sip:%2B1217...@pbx`)
    return text.strip().strip('"')


def is_withheld(raw: str | None) -> bool:
    return raw is None or caller_part(raw).lower() in WITHHELD


def normalize(raw: str | None, region: str) -> str | None:
    """E.164 (`+12175550125`) for a valid number, None for anything that is not one."""
    if raw is None:
        return None
    text = caller_part(raw)
    if text.lower() in WITHHELD or not re.search(r"\d", text):
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def last_digits(e164: str, n: int = 4) -> str:
    """Only the last digits, for logs and screens that must not show the whole number."""
    return "…" + e164[-n:]


def readable(number: str) -> str:
    """An E.164 number grouped for people ("+1 217-555-0103"); anything else as it came."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
