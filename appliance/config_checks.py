"""Cross-checks of a loaded clinic configuration: references, ranges and formats between sections."""

from __future__ import annotations

from collections import Counter
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from appliance.config import WEEKDAYS, Config
from appliance.errors import ConfigError

KNOWN_CODECS = {"g722", "pcmu", "pcma", "opus"}
REPLICA_SCHEMES = {"s3", "sftp", "file"}


def check_config(c: Config, file: str) -> None:
    """Raise ConfigError for the first problem found, naming the key."""

    def fail(key: str, problem: str) -> None:
        raise ConfigError(file, key, problem)

    _check_clinic(c, fail)
    _check_ids("locations", [loc.id for loc in c.locations], fail)
    _check_ids("providers", [p.id for p in c.providers], fail)
    _check_ids("services", [s.id for s in c.services], fail)
    if not c.locations:
        fail("locations", "at least one location is required")
    location_ids = {loc.id for loc in c.locations}
    if c.clinic.default_location and c.clinic.default_location not in location_ids:
        fail("clinic.default_location", f"no location with id {c.clinic.default_location!r}")
    for i, loc in enumerate(c.locations):
        for day in loc.hours:
            if day not in WEEKDAYS:
                fail(f"locations[{i}].hours.{day}", f"must be one of {', '.join(WEEKDAYS)}")
    _check_calendar(c, fail)
    roles = {p.role for p in c.providers}
    for i, p in enumerate(c.providers):
        if not p.locations:
            fail(f"providers[{i}].locations", "must name at least one location")
        for j, loc_id in enumerate(p.locations):
            if loc_id not in location_ids:
                fail(f"providers[{i}].locations[{j}]", f"no location with id {loc_id!r}")
    step = c.calendar.slot_step_minutes
    for i, s in enumerate(c.services):
        if s.minutes <= 0 or s.minutes % step:
            fail(f"services[{i}].minutes",
                 f"must be a positive multiple of calendar.slot_step_minutes, got {s.minutes}")
        if s.minutes > 600:  # the store's lookups assume no appointment spans more than a day
            fail(f"services[{i}].minutes", f"must be at most 600 minutes (10 hours), got {s.minutes}")
        if s.price < 0:
            fail(f"services[{i}].price", f"must not be negative, got {s.price}")
        if not s.roles:
            fail(f"services[{i}].roles", "must name at least one provider role")
        for j, role in enumerate(s.roles):
            if role not in roles:
                fail(f"services[{i}].roles[{j}]",
                     f"no provider has role {role!r} (roles: {', '.join(sorted(roles))})")
    _check_appliance(c, fail)


def _check_ids(section: str, ids: list[str], fail) -> None:
    for i, item_id in enumerate(ids):
        if not item_id or not item_id.replace("-", "").replace("_", "").isalnum():
            fail(f"{section}[{i}].id", f"must be letters, digits, - or _, got {item_id!r}")
    dup = [k for k, n in Counter(ids).items() if n > 1]
    if dup:
        fail(section, f"id {dup[0]!r} is used twice")


def _check_clinic(c: Config, fail) -> None:
    try:
        ZoneInfo(c.clinic.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        fail("clinic.timezone", f"unknown time zone {c.clinic.timezone!r}; use an IANA name like America/Chicago")
    if c.clinic.phone:
        try:
            phonenumbers.parse(c.clinic.phone, c.clinic.country or None)
        except phonenumbers.NumberParseException:
            fail("clinic.phone", f"is not a phone number in E.164 form, got {c.clinic.phone!r}")
    if c.clinic.country and c.clinic.country.upper() not in phonenumbers.SUPPORTED_REGIONS:
        fail("clinic.country", f"is not an ISO 3166 region code, got {c.clinic.country!r}")


def _check_calendar(c: Config, fail) -> None:
    cal = c.calendar
    if cal.slot_step_minutes not in (5, 10, 15, 20, 30, 60):
        fail("calendar.slot_step_minutes", f"must be 5, 10, 15, 20, 30 or 60 minutes, got {cal.slot_step_minutes}")
    if not 0 <= cal.min_notice_hours <= 24 * 14:
        fail("calendar.min_notice_hours", f"must be between 0 and 336 hours, got {cal.min_notice_hours}")
    if not 1 <= cal.max_days_ahead <= 730:
        fail("calendar.max_days_ahead", f"must be between 1 and 730 days, got {cal.max_days_ahead}")


def _check_appliance(c: Config, fail) -> None:
    for key, value in (("sip.listen", c.sip.listen), ("web.listen", c.web.listen)):
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            fail(key, f"must look like 127.0.0.1:5070, got {value!r}")
    if c.sip.registrar:
        host, _, port = c.sip.registrar.rpartition(":")
        if not host or not port.isdigit():
            fail("sip.registrar", f"must be host:port of the PBX or empty, got {c.sip.registrar!r}")
    for i, codec in enumerate(c.sip.codecs):
        if codec not in KNOWN_CODECS:
            fail(f"sip.codecs[{i}]", f"unknown codec {codec!r}; use {', '.join(sorted(KNOWN_CODECS))}")
    if c.replication.url and urlsplit(c.replication.url).scheme not in REPLICA_SCHEMES:
        fail("replication.url", f"must start with s3://, sftp:// or file://, got {c.replication.url!r}")
    _check_replication(c, fail)
    if c.cloud_llm.enabled:
        if not c.cloud_llm.base_url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            fail("cloud_llm.base_url", "must be an https:// URL when cloud_llm.enabled is true")
        if not c.cloud_llm.model:
            fail("cloud_llm.model", "is required when cloud_llm.enabled is true")
    if not 0 < c.cloud_llm.timeout_seconds <= 30:
        fail("cloud_llm.timeout_seconds", f"must be between 0 and 30 seconds, got {c.cloud_llm.timeout_seconds}")
    _check_web(c, fail)


# (key, lowest, highest, unit): the web page's limits; outside them sign-in is either unusable or unsafe
WEB_RANGES = (
    ("idle_timeout_minutes", 1, 60, "minutes"),
    ("session_max_hours", 1, 24, "hours"),
    ("lockout_failures", 3, 20, "failures"),
    ("lockout_minutes", 1, 1440, "minutes"),
    ("address_failures", 5, 1000, "failures"),
    ("address_window_minutes", 1, 1440, "minutes"),
    ("threads", 4, 256, "threads"),
)


def _check_web(c: Config, fail) -> None:
    for key, low, high, unit in WEB_RANGES:
        value = getattr(c.web, key)
        if not low <= value <= high:
            fail(f"web.{key}", f"must be between {low} and {high} {unit}, got {value}")


def _check_replication(c: Config, fail) -> None:
    from appliance.ops.target import TargetInvalid, parse_target  # the URL forms live with the replication code

    r = c.replication
    if c.replication.url:
        try:
            parse_target(r, need_secrets=False)
        except TargetInvalid as err:
            fail(err.key, err.problem)
    if not 0.1 <= r.sync_interval_seconds <= 60:
        fail("replication.sync_interval_seconds", f"must be between 0.1 and 60 seconds, got {r.sync_interval_seconds}")
    if not r.max_lag_seconds > 0:
        fail("replication.max_lag_seconds", f"must be positive, got {r.max_lag_seconds}")
    if not 1 <= r.drill_max_age_days <= 365:
        fail("replication.drill_max_age_days", f"must be between 1 and 365 days, got {r.drill_max_age_days}")
