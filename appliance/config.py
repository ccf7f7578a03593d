"""Clinic configuration: one TOML file loaded into nested frozen dataclasses, checked at load.

Every field has a default or is required and carries a one-line note (`doc`) with its unit.
Unknown keys are errors. Every error names the file and the dotted key, e.g.
`clinic.toml: services[3].minutes: must be a positive multiple of calendar.slot_step_minutes, got 50`.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from types import MappingProxyType
from typing import Any, get_args, get_origin, get_type_hints
from zoneinfo import ZoneInfo

from appliance.errors import ConfigError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def note(doc: str, **kw: Any) -> Any:
    """A dataclass field with a one-line note (what it is, in which unit)."""
    return field(metadata={"doc": doc}, **kw)


@dataclass(frozen=True)
class TimeRange:
    """A clinic-local time span within one day, e.g. 08:00-17:00."""

    start: time
    end: time

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def parse_time_range(value: Any) -> TimeRange:
    m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", str(value))
    if not isinstance(value, str) or not m:
        raise ValueError(f"must look like \"08:00-17:00\", got {value!r}")
    h1, m1, h2, m2 = map(int, m.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
        raise ValueError(f"is not a valid time of day, got {value!r}")
    start, end = time(h1, m1), time(23, 59) if h2 == 24 else time(h2, m2)
    if end <= start:
        raise ValueError(f"must end after it starts, got {value!r}")
    return TimeRange(start, end)


def parse_date(value: Any) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"must be a date like 2026-12-24, got {value!r}") from None


_PARSERS = {TimeRange: parse_time_range, date: parse_date}


# ---- the clinic (the part in ../shared/demo/clinic.toml) ----


@dataclass(frozen=True)
class ClinicInfo:
    name: str = note("clinic name as callers know it")
    timezone: str = note("IANA time zone; all clinic times are local to it")
    phone: str = note("main number, E.164", default="")
    default_location: str = note("location id used when a caller does not choose", default="")
    languages: tuple[str, ...] = note("ISO 639-1 codes callers may speak", default=("en",))
    country: str = note("ISO 3166 region for phone numbers; empty = from clinic.phone", default="")


@dataclass(frozen=True)
class Location:
    id: str = note("short id used in appointments")
    name: str = note("name spoken to callers")
    address: str = note("street address spoken to callers", default="")
    hours: dict[str, TimeRange] = note("opening hours per weekday (mon..sun)", default_factory=dict)
    breaks: tuple[TimeRange, ...] = note("daily closed spans, e.g. lunch", default=())


@dataclass(frozen=True)
class CalendarRules:
    holidays: tuple[date, ...] = note("dates the clinic is closed", default=())
    slot_step_minutes: int = note("appointments start on multiples of this, minutes", default=15)
    min_notice_hours: int = note("earliest bookable time after now, hours", default=2)
    max_days_ahead: int = note("latest bookable day after today, days", default=120)


@dataclass(frozen=True)
class Provider:
    id: str = note("short id used in appointments")
    name: str = note("name spoken to callers")
    role: str = note("what the provider does, e.g. dentist or hygienist")
    locations: tuple[str, ...] = note("location ids the provider works at")


@dataclass(frozen=True)
class Service:
    id: str = note("short id used in appointments")
    name: str = note("name spoken to callers")
    minutes: int = note("length, minutes; a multiple of calendar.slot_step_minutes")
    roles: tuple[str, ...] = note("provider roles that can perform it")
    price: float = note("list price in the clinic's currency", default=0)
    confirm_by_phone: bool = note("staff confirm these bookings by phone", default=False)


@dataclass(frozen=True)
class Faq:
    q: str = note("question as a caller might ask it")
    a: str = note("answer read to the caller")


@dataclass(frozen=True)
class Policies:
    cancellation: str = note("cancellation policy read to callers", default="")
    insurance_accepted: tuple[str, ...] = note("insurance plans in network", default=())
    insurance_note: str = note("what to say about insurance", default="")
    payment: str = note("payment policy", default="")
    new_patients: str = note("what new patients should know", default="")
    parking: str = note("parking directions", default="")
    emergency: str = note("emergency guidance read before anything else", default="")
    faq: tuple[Faq, ...] = note("other questions and their answers", default=())


@dataclass(frozen=True)
class Escalation:
    transfer_to: str = note("SIP extension of the front desk", default="")
    after_hours_voicemail: bool = note("offer voicemail when nobody can pick up", default=True)


# ---- the appliance's own sections (defaults keep the demo clinic file loadable) ----


@dataclass(frozen=True)
class SipSettings:
    registrar: str = note("host:port of the PBX; empty = take direct calls", default="")
    extension: str = note("extension the box registers as", default="250")
    password_env: str = note("environment variable holding the SIP password", default="DENTRA_SIP_PASSWORD")
    listen: str = note("host:port for SIP", default="127.0.0.1:5070")
    allowed_peers: tuple[str, ...] = note("addresses INVITEs are accepted from", default=("127.0.0.1",))
    codecs: tuple[str, ...] = note("codecs in preference order", default=("g722", "pcmu", "pcma"))


@dataclass(frozen=True)
class StoreSettings:
    data_dir: str = note("where the database lives; --data-dir overrides", default="/var/lib/dentra")
    key_file: str = note("0600 key file; empty = <data_dir>/dentra.key", default="")


@dataclass(frozen=True)
class WebSettings:
    listen: str = note("host:port of the receptionist page (HTTPS)", default="127.0.0.1:8443")
    idle_timeout_minutes: int = note("sign a receptionist out after this long without a request, minutes",
                                     default=15)
    session_max_hours: int = note("sign out after this long even when active, hours", default=12)
    lockout_failures: int = note("failed sign-ins in a row that lock an account", default=5)
    lockout_minutes: int = note("how long a locked account stays locked, minutes", default=15)
    address_failures: int = note("failed sign-ins from one address that pause it", default=20)
    address_window_minutes: int = note("window for counting an address's failures, minutes", default=15)
    threads: int = note("requests and live screens served at once (one thread each)", default=32)


@dataclass(frozen=True)
class ReplicationSettings:
    url: str = note("offsite replica: s3://, sftp:// or file://; empty = off", default="")
    sftp_host_key: str = note("the SFTP server's public host key, one line of `ssh-keyscan -t ed25519 HOST`; "
                              "required for sftp://", default="")
    sftp_key_file: str = note("0600 private key for SFTP login; empty = password from password_env", default="")
    password_env: str = note("environment variable holding the SFTP password", default="DENTRA_REPLICA_PASSWORD")
    access_key_env: str = note("environment variable holding the S3 access key id",
                               default="DENTRA_REPLICA_ACCESS_KEY_ID")
    secret_key_env: str = note("environment variable holding the S3 secret key",
                               default="DENTRA_REPLICA_SECRET_ACCESS_KEY")
    secrets_file: str = note("0600 file of NAME=value lines read when those variables are unset; empty = none",
                             default="")
    sync_interval_seconds: float = note("how often new writes are shipped; about this much is at risk, seconds",
                                        default=1.0)
    max_lag_seconds: float = note("`dentra status` alerts when the replica is further behind, seconds",
                                  default=300.0)
    drill_max_age_days: int = note("`dentra status` alerts when the last good restore drill is older, days",
                                   default=8)


@dataclass(frozen=True)
class CloudLlmSettings:
    enabled: bool = note("allow the cloud fallback (PHI is replaced by placeholders)", default=False)
    base_url: str = note("OpenAI-compatible endpoint", default="")
    model: str = note("model name at that endpoint", default="")
    api_key_env: str = note("environment variable holding the API key", default="DENTRA_CLOUD_LLM_KEY")
    timeout_seconds: float = note("give up and offer the front desk after this, seconds", default=4.0)
    ca_file: str = note("extra CA certificate file to trust for base_url; empty = system CAs", default="")


@dataclass(frozen=True)
class ModelSettings:
    dir: str = note("folder holding model files; relative to the data dir", default="models")
    stt: str = note("speech recognition model name from models/manifest.toml", default="")
    stt_wideband: str = note("speech recognition model for wideband calls (G.722, Opus: 16 kHz audio); "
                             "empty = stt for every call", default="")
    llm: str = note("language model name from models/manifest.toml; empty = rules only", default="")
    tts: str = note("speech synthesis voice name from models/manifest.toml", default="")
    turn: str = note("end-of-turn model name from models/manifest.toml; empty = fixed pauses only", default="")


@dataclass(frozen=True)
class Config:
    """The whole clinic configuration; `source` is the file it came from."""

    clinic: ClinicInfo = note("who the clinic is")
    locations: tuple[Location, ...] = note("where patients are seen")
    providers: tuple[Provider, ...] = note("who sees patients")
    services: tuple[Service, ...] = note("what can be booked")
    calendar: CalendarRules = note("booking rules", default_factory=CalendarRules)
    policies: Policies = note("what the box may tell callers", default_factory=Policies)
    escalation: Escalation = note("handing calls to people", default_factory=Escalation)
    sip: SipSettings = note("telephony", default_factory=SipSettings)
    store: StoreSettings = note("encrypted database", default_factory=StoreSettings)
    web: WebSettings = note("receptionist page", default_factory=WebSettings)
    replication: ReplicationSettings = note("offsite copy", default_factory=ReplicationSettings)
    cloud_llm: CloudLlmSettings = note("optional cloud fallback", default_factory=CloudLlmSettings)
    models: ModelSettings = note("speech and language models", default_factory=ModelSettings)
    source: str = field(default="", metadata={"internal": True})

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.clinic.timezone)

    def location(self, location_id: str) -> Location:
        return _by_id(self.locations, location_id, "location")

    def provider(self, provider_id: str) -> Provider:
        return _by_id(self.providers, provider_id, "provider")

    def service(self, service_id: str) -> Service:
        return _by_id(self.services, service_id, "service")


def _by_id(items, item_id, kind):
    for item in items:
        if item.id == item_id:
            return item
    raise KeyError(f"no {kind} with id {item_id!r}")


def load_config(path: str | Path) -> Config:
    """Read and check a clinic TOML file; raises ConfigError naming file and key."""
    path = Path(path)
    file = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(file, "", "file not found; pass --config with the clinic's TOML file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(file, "", f"cannot be read: {err}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(file, "", f"is not valid TOML: {err}") from None
    config = _build(Config, raw, "", file)
    config = dataclasses.replace(config, source=str(path.resolve()))
    from appliance.config_checks import check_config  # cross-checks live beside, to keep this file short

    check_config(config, file)
    return config


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _build(cls: type, raw: Any, path: str, file: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(file, path, f"must be a table, got {raw!r}")
    hints = get_type_hints(cls)
    public = [f for f in dataclasses.fields(cls) if not f.metadata.get("internal")]
    names = [f.name for f in public]
    for key in raw:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; known keys: {', '.join(names)}"
            raise ConfigError(file, _join(path, key), f"unknown key{hint}")
    kwargs = {}
    for f in public:
        key = _join(path, f.name)
        if f.name in raw:
            kwargs[f.name] = _convert(hints[f.name], raw[f.name], key, file)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(file, key, "is required")
    return cls(**kwargs)


def _convert(tp: Any, value: Any, path: str, file: str) -> Any:
    origin = get_origin(tp)
    if tp in _PARSERS:
        try:
            return _PARSERS[tp](value)
        except ValueError as err:
            raise ConfigError(file, path, str(err)) from None
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, path, file)
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(file, path, f"must be a list, got {value!r}")
        item_type = get_args(tp)[0]
        return tuple(_convert(item_type, v, f"{path}[{i}]", file) for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(file, path, f"must be a table, got {value!r}")
        item_type = get_args(tp)[1]
        return MappingProxyType({k: _convert(item_type, v, _join(path, k), file) for k, v in value.items()})
    expected = {str: "a string", bool: "true or false", int: "a whole number", float: "a number"}[tp]
    ok = isinstance(value, tp) and not (tp is int and isinstance(value, bool))
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        ok, value = True, float(value)
    if not ok:
        raise ConfigError(file, path, f"must be {expected}, got {value!r}")
    return value


def field_docs(cls: type = Config, prefix: str = "") -> Mapping[str, str]:
    """Dotted key -> one-line note, for `dentra config keys` and documentation."""
    docs: dict[str, str] = {}
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.metadata.get("internal"):
            continue
        key = _join(prefix, f.name)
        docs[key] = f.metadata.get("doc", "")
        inner = hints[f.name]
        if get_origin(inner) is tuple:
            inner, key = get_args(inner)[0], key + "[]"
        if dataclasses.is_dataclass(inner) and inner not in _PARSERS:
            docs.update(field_docs(inner, key))
    return docs
