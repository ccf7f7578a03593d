"""What the staff pages share: clinic-local days and times, clear 400/404 answers, and page numbers.

Stored times come in two kinds: appointments are clinic-local wall-clock text, while calls,
escalations and audit rows carry UTC ISO timestamps. Pages always show clinic-local time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import NoReturn

import phonenumbers
from flask import Flask, abort

from appliance import phones
from appliance.store.users import ROLES
from appliance.web import security, web_context

STAFF = ROLES  # front desk, managers and admins all work with patients
MANAGERS = ("manager", "admin")
PAGE_SIZE = 25
DAY_FORMAT = "%a %-d %b %Y"


def refuse(status: int, message: str) -> NoReturn:
    """Stop the request with one clear message (a short page, or JSON for scripts)."""
    abort(security.error_response(status, message))


def echo(value: str) -> str:
    """A bad input quoted back in an error message, cut short (it is escaped by the template)."""
    return repr(value if len(value) <= 40 else value[:40] + "…")


def parse_day(text: str | None, field: str = "day") -> date | None:
    """A `YYYY-MM-DD` query value as a date; None when absent; a 400 that says what is wrong otherwise."""
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        refuse(400, f"{field} must be a date like 2026-12-01, got {echo(text)}.")


def page_number(text: str | None) -> int:
    """The `page` query value (1 when absent); a 400 for anything but a positive whole number."""
    if not text:
        return 1
    if not text.isdigit() or int(text) < 1 or len(text) > 6:
        refuse(400, f"page must be a whole number from 1, got {echo(text)}.")
    return int(text)


def local_now() -> datetime:
    ctx = web_context()
    return ctx.now().astimezone(ctx.config.tz)


def local_today() -> date:
    return local_now().date()


def utc_text(moment: datetime) -> str:
    """A datetime in the store's UTC text form, so it compares with stored timestamps as text."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def utc_span(first: date, last: date) -> tuple[str, str]:
    """[start, end) in stored UTC text covering clinic-local days first..last inclusive."""
    tz = web_context().config.tz
    start = datetime.combine(first, time.min, tz)
    end = datetime.combine(last + timedelta(days=1), time.min, tz)
    return utc_text(start), utc_text(end)


def to_local(stamp: str | None) -> datetime | None:
    if not stamp:
        return None
    return datetime.fromisoformat(stamp).astimezone(web_context().config.tz)


def local_time(stamp: str | None) -> str:
    """`14:05` for a stored UTC timestamp."""
    moment = to_local(stamp)
    return moment.strftime("%H:%M") if moment else ""


def local_datetime(stamp: str | None) -> str:
    """`Tue 1 Dec 2026 14:05` for a stored UTC timestamp."""
    moment = to_local(stamp)
    return moment.strftime(f"{DAY_FORMAT} %H:%M") if moment else ""


def local_short(stamp: str | None) -> str:
    """`14:05` today, `Tue 1 Dec 14:05` on other days (lists, where the year is rarely in doubt)."""
    moment = to_local(stamp)
    if moment is None:
        return ""
    return moment.strftime("%H:%M" if moment.date() == local_today() else "%a %-d %b %H:%M")


def seconds_between(start: str | None, end: str | None) -> int | None:
    if not start or not end:
        return None
    return max(0, round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()))


def duration(seconds: int | None) -> str:
    """`3:07` (minutes:seconds), or an empty string while a call is still going."""
    if seconds is None:
        return ""
    return f"{seconds // 60}:{seconds % 60:02d}"


def call_length(call) -> str:
    """How long a call lasted, from the first ring to hang-up."""
    return duration(seconds_between(call.started_at, call.ended_at))


def phone_text(number: str | None) -> str:
    """A stored E.164 number as people write it: national form for the clinic's country, else international."""
    if not number:
        return ""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return number  # what the PBX sent, kept as it was
    region = phones.clinic_region(web_context().config)
    local = phonenumbers.region_code_for_number(parsed) == region
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL if local
                                      else phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def masked(number: str | None) -> str:
    return phones.last_digits(number) if number else "withheld"


@dataclass(frozen=True)
class Pager:
    """Which slice of a long list a page shows."""

    page: int
    total: int
    size: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.size))

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


def catalog_name(kind: str, item_id: str | None) -> str:
    """The clinic's name for a service, provider or location id (the id itself if it left the config)."""
    if not item_id:
        return ""
    try:
        return getattr(web_context().config, kind)(item_id).name
    except KeyError:
        return item_id


def register_filters(app: Flask) -> None:
    """Template filters for times and names; each page blueprint calls this once when registered."""
    app.jinja_env.filters.update(local_time=local_time, local_datetime=local_datetime, local_short=local_short,
                                 duration=duration,
                                 call_length=call_length, masked=masked,
                                 phone=phone_text)
    app.jinja_env.globals.update(
        day_format=DAY_FORMAT,
        service_name=lambda i: catalog_name("service", i),
        provider_name=lambda i: catalog_name("provider", i),
        location_name=lambda i: catalog_name("location", i))
