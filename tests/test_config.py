"""The clinic config: the demo file loads unchanged, and every mistake names file and key."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import date, time

import pytest

from appliance import defaults
from appliance.config import field_docs, load_config
from appliance.errors import ConfigError

EXAMPLE = defaults.EXAMPLE_CONFIG.read_text()


def write(tmp_path, text: str):
    path = tmp_path / "clinic.toml"
    path.write_text(text)
    return path


def error_for(tmp_path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    return message[len(str(path)) + 2:]


def test_demo_clinic_loads_unchanged(shared_demo_clinic):
    demo = load_config(shared_demo_clinic)
    assert demo.clinic.name == "Bright Smile Dental"
    assert [loc.id for loc in demo.locations] == ["downtown", "northside"]
    assert demo.location("downtown").hours["fri"].end == time(14, 0)
    assert demo.location("downtown").breaks[0].start == time(12, 0)
    assert date(2026, 12, 24) in demo.calendar.holidays
    assert demo.service("crown").confirm_by_phone is True
    assert demo.policies.faq[0].q == "Do you see children?"
    assert demo.escalation.transfer_to == "101"
    # the appliance's sections take their defaults
    assert demo.sip.extension == "250" and demo.cloud_llm.enabled is False


def test_example_is_the_demo_clinic_plus_appliance_sections(config, shared_demo_clinic):
    demo = load_config(shared_demo_clinic)
    for section in ("clinic", "locations", "providers", "services", "calendar", "policies", "escalation"):
        assert getattr(config, section) == getattr(demo, section), section
    assert config.sip.allowed_peers == ("127.0.0.1",)
    assert config.sip.codecs == ("g722", "pcmu", "pcma")
    assert config.store.data_dir == "/var/lib/dentra"


def test_service_length_must_fit_the_slot_step(tmp_path):
    filling = 'id = "filling"\nname = "Filling"\nminutes = 60'
    text = EXAMPLE.replace(filling, filling.replace("60", "50"))
    assert error_for(tmp_path, text) == \
        "services[3].minutes: must be a positive multiple of calendar.slot_step_minutes, got 50"


@pytest.mark.parametrize("old, new, expected", [
    ('[clinic]\nname', '[clinic]\nnmae = "x"\nname', r"^clinic\.nmae: unknown key \(did you mean 'name'\?\)$"),
    ('[escalation]', '[escalations]\nx = 1\n[escalation]', r"^escalations: unknown key"),
    ('timezone = "America/Chicago"', 'timezone = "America/Springfield"',
     r"^clinic\.timezone: unknown time zone 'America/Springfield'"),
    ('locations = ["downtown", "northside"]', 'locations = ["downtown", "uptown"]',
     r"^providers\[1\]\.locations\[1\]: no location with id 'uptown'$"),
    ('roles = ["hygienist"]', 'roles = ["hygenist"]',
     r"^services\[0\]\.roles\[0\]: no provider has role 'hygenist'"),
    ('mon = "08:00-17:00"', 'mon = "8-5"', r'^locations\[0\]\.hours\.mon: must look like "08:00-17:00", got \'8-5\'$'),
    ('mon = "08:00-17:00"', 'mon = "17:00-08:00"', r"^locations\[0\]\.hours\.mon: must end after it starts"),
    ('mon = "08:00-17:00"', 'monday = "08:00-17:00"', r"^locations\[0\]\.hours\.monday: must be one of mon, tue"),
    ('breaks = ["12:00-13:00"]', 'breaks = ["12:00-25:00"]', r"^locations\[0\]\.breaks\[0\]: is not a valid time"),
    ('"2026-12-24"', '"2026-12-32"', r"^calendar\.holidays\[0\]: must be a date like 2026-12-24"),
    ('min_notice_hours = 2', 'min_notice_hours = "two"',
     r"^calendar\.min_notice_hours: must be a whole number, got 'two'$"),
    ('slot_step_minutes = 15', 'slot_step_minutes = 7', r"^calendar\.slot_step_minutes: must be 5, 10, 15"),
    ('max_days_ahead = 120', 'max_days_ahead = 0', r"^calendar\.max_days_ahead: must be between 1 and 730"),
    ('name = "Bright Smile Dental"\n', '', r"^clinic\.name: is required$"),
    ('default_location = "downtown"', 'default_location = "midtown"', r"^clinic\.default_location: no location"),
    ('id = "dr-okafor"', 'id = "dr-chen"', r"^providers: id 'dr-chen' is used twice$"),
    ('price = 150\nroles = ["hygienist"]', 'price = -1\nroles = ["hygienist"]', r"^services\[0\]\.price: must not be"),
    ('confirm_by_phone = true', 'confirm_by_phone = "yes"', r"^services\[4\]\.confirm_by_phone: must be true or false"),
    ('url = ""', 'url = "ftp://backup"', r"^replication\.url: must start with s3://, sftp:// or file://"),
    ('enabled = false', 'enabled = true', r"^cloud_llm\.base_url: must be an https:// URL"),
    ('codecs = ["g722", "pcmu", "pcma"]', 'codecs = ["g729"]', r"^sip\.codecs\[0\]: unknown codec 'g729'"),
    ('listen = "127.0.0.1:5070"', 'listen = "5070"', r"^sip\.listen: must look like 127\.0\.0\.1:5070"),
    ('[[policies.faq]]\nq = "Do you see children?"', '[[policies.faq]]\nquestion = "Do you see children?"',
     r"^policies\.faq\[0\]\.question: unknown key"),
    ("idle_timeout_minutes = 15", "idle_timeout_minutes = 0",
     r"^web\.idle_timeout_minutes: must be between 1 and 60 minutes, got 0$"),
    ("idle_timeout_minutes = 15", "idle_timeout_minutes = 240", r"^web\.idle_timeout_minutes: must be between"),
    ("session_max_hours = 12", "session_max_hours = 48", r"^web\.session_max_hours: must be between 1 and 24 hours"),
    ("lockout_failures = 5", "lockout_failures = 1", r"^web\.lockout_failures: must be between 3 and 20 failures"),
    ("lockout_minutes = 15", "lockout_minutes = 0", r"^web\.lockout_minutes: must be between 1 and 1440 minutes"),
    ("address_failures = 20", "address_failures = 2", r"^web\.address_failures: must be between 5 and 1000"),
    ("threads = 32", "threads = 1", r"^web\.threads: must be between 4 and 256 threads, got 1$"),
    ("threads = 32", 'threads = "many"', r"^web\.threads: must be a whole number, got 'many'$"),
    ('listen = "127.0.0.1:8443"', 'listen = "8443"', r"^web\.listen: must look like 127\.0\.0\.1:5070"),
    ("idle_timeout_minutes = 15", "idle_minutes = 15", r"^web\.idle_minutes: unknown key \(did you mean "),
    ('languages = ["en", "es"]', 'languages = "en"', r"^clinic\.languages: must be a list, got 'en'$"),
])
def test_each_mistake_names_the_key(tmp_path, old, new, expected):
    assert old in EXAMPLE, old
    message = error_for(tmp_path, EXAMPLE.replace(old, new, 1))
    assert re.search(expected, message), message


def test_broken_toml_and_missing_file(tmp_path):
    assert "is not valid TOML" in error_for(tmp_path, EXAMPLE + "\n[clinic\n")
    with pytest.raises(ConfigError, match="nowhere.toml: file not found"):
        load_config(tmp_path / "nowhere.toml")


def test_every_field_has_a_note():
    docs = field_docs()
    assert docs["services[].minutes"].startswith("length, minutes")
    assert docs["calendar.min_notice_hours"].endswith("hours")
    assert all(docs.values()), [k for k, v in docs.items() if not v]


def test_cli_config_typo_is_one_line_and_exit_2(tmp_path):
    path = write(tmp_path, EXAMPLE.replace("slot_step_minutes = 15", "slot_stepminutes = 15"))
    run = subprocess.run([sys.executable, "-m", "appliance", "config", "check", "--config", str(path)],
                         capture_output=True, text=True)
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr == (f"dentra: {path}: calendar.slot_stepminutes: unknown key "
                          "(did you mean 'slot_step_minutes'?)\n")


def test_web_defaults_when_the_section_is_absent(shared_demo_clinic):
    web = load_config(shared_demo_clinic).web
    assert (web.listen, web.idle_timeout_minutes, web.session_max_hours) == ("127.0.0.1:8443", 15, 12)
    assert (web.lockout_failures, web.lockout_minutes, web.address_failures, web.threads) == (5, 15, 20, 32)
