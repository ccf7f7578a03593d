"""The status page for IT: says what it knows (and plainly what it does not), and shows no patient data."""

from __future__ import annotations

import csv
import dataclasses

import pytest

import appliance
from appliance import defaults, models
from appliance.web import create_app
from tests.web.conftest import add_user, browser, enrol
from tests.web.pages import make_call


@pytest.fixture
def store(demo_store):
    return demo_store


def demo_names() -> list[str]:
    with open(defaults.DEMO_DIR / "patients.csv", newline="") as f:
        return [f"{row['first_name']} {row['last_name']}" for row in csv.DictReader(f)]


def status_page(config, store, web_now, **sections) -> str:
    """The page under a config with some sections replaced."""
    changed = dataclasses.replace(config, **{k: dataclasses.replace(getattr(config, k), **v)
                                             for k, v in sections.items()})
    app = create_app(changed, store.data_dir, store.key_file, now=web_now)
    try:
        client = browser(app)
        add_user(store, "it-person", "admin")
        enrol(client, store, "it-person", web_now)
        return client.get("/status").get_data(as_text=True)
    finally:
        app.extensions["dentra"].close()


def test_status_says_what_is_unknown_and_shows_no_patient_data(signed_in, store):
    make_call(store, "+12175550103", lines=[("caller", "This is James Smith")])
    manager = signed_in("manager")
    before = store.conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0]
    page = manager.get("/status").get_data(as_text=True)
    for text in ("SIP registration", "unknown", "the voice service has not reported", "extension 250",
                 "Offsite copy", "not configured", "there is no offsite copy",
                 f"Dentra Edge {appliance.__version__}", "Disk free", "Store size", "America/Chicago", "migration"):
        assert text in page, text
    assert not [name for name in demo_names() if name in page]
    assert "+1217" not in page and "(217)" not in page
    assert store.conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0] == before  # no PHI, no audit row


def test_backups_configured_but_never_run(config, store, web_now):
    page = status_page(config, store, web_now, replication={"url": "s3://bucket/clinic?endpoint=x"})
    assert "not-running" in page and "to s3://" in page and "start it (`systemctl start dentra-replicate`)" in page
    assert "Restore drill" in page and "none yet" in page
    assert "bucket" not in page


def test_the_voice_services_registration_and_the_last_drill_as_they_reported_them(config, store, web_now):
    from appliance.ops.records import write_record

    write_record(store.data_dir, "voice", {"state": "registered", "since": "2026-11-26T09:00:00+00:00",
                                           "registrar": "pbx.clinic.lan:5060", "extension": "250"})
    write_record(store.data_dir, "drill", {"result": "failed", "finished_at": "2026-11-26T03:00:00+00:00",
                                           "errors": ["row counts differ: appointments 40 live, 38 restored"]})
    page = status_page(config, store, web_now, sip={"registrar": "pbx.clinic.lan:5060"},
                       replication={"url": "file:///mnt/backup/dentra"})
    assert "registered since 2026-11-26T09:00:00+00:00" in page
    assert "failed at 2026-11-26T03:00:00+00:00" in page and "row counts differ" in page
    assert "Needs attention" in page and "restore drill: failed" in page


def test_models_missing_installed_or_not_configured(config, store, web_now):
    manifest = models.Manifest.load()
    folder = models.models_dir(config, store.data_dir)
    stt = manifest.get(config.models.stt, "stt") if config.models.stt else manifest.defaults()[0]
    for f in stt.files:  # sparse files of the promised sizes: the page checks sizes, not hashes
        path = stt.target(folder, f)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as out:
            out.truncate(f.size)
    page = status_page(config, store, web_now, models={"stt": stt.name, "llm": "", "tts": "no-such-voice"})
    assert f"{stt.name}: installed, sizes match the manifest" in page
    assert "not configured: calls are understood by rules only" in page
    assert "&#39;no-such-voice&#39; is not a voice" in page
