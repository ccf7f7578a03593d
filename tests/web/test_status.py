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
    for text in ("unknown — voice service status not published", "extension 250",
                 "no backup configured yet", f"Dentra Edge {appliance.__version__}", "Disk free", "Store size",
                 "America/Chicago", "migration"):
        assert text in page, text
    assert not [name for name in demo_names() if name in page]
    assert "+1217" not in page and "(217)" not in page
    assert store.conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0] == before  # no PHI, no audit row


def test_backups_configured_but_never_run(config, store, web_now):
    page = status_page(config, store, web_now, replication={"url": "s3://bucket/clinic?endpoint=x"})
    assert "no backup run recorded yet" in page and "replication to s3:// is configured" in page
    assert "bucket" not in page


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
