"""The audit log page: filters, pages by sequence number, CSV export; the chain still verifies after use."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from appliance.store import audit
from tests.test_cli import dentra
from tests.web.conftest import csrf_of
from tests.web.pages import audit_rows, make_escalation


@pytest.fixture
def store(demo_store):
    return demo_store


@pytest.fixture
def manager(signed_in):
    return signed_in("manager", "mia")


def shown_seqs(page: str) -> list[int]:
    return [int(s) for s in re.findall(r'<td class="muted">(\d+)</td>', page)]


def test_newest_first_with_filters(manager, signed_in, store):
    desk = signed_in("front_desk", "ned")
    desk.get("/patients/P1001")
    desk.get("/patients/P1002")
    page = manager.get("/audit?user=ned&action=patient-viewed").get_data(as_text=True)
    seqs = shown_seqs(page)
    assert len(seqs) == 2 and seqs == sorted(seqs, reverse=True)
    assert "web:ned" in page and 'href="/audit?patient=P1002"' in page
    only = manager.get("/audit?patient=P1001&action=patient-viewed").get_data(as_text=True)
    assert len(shown_seqs(only)) == 1
    brain = manager.get("/audit?user=import:demo&action=patient-created").get_data(as_text=True)
    assert len(shown_seqs(brain)) == 30
    [viewed] = [r for r in audit_rows(store, "audit-viewed") if r["detail"].get("filter_user") == "ned"]
    assert viewed["actor"] == "web:mia" and viewed["detail"]["filter_action"] == "patient-viewed"


def test_date_range_is_in_clinic_days(manager):
    today = datetime.now(ZoneInfo("America/Chicago")).date()  # audit rows carry the real time
    assert shown_seqs(manager.get(f"/audit?from={today}&to={today}").get_data(as_text=True))
    assert shown_seqs(manager.get("/audit?to=2020-01-01").get_data(as_text=True)) == []
    assert "No audit rows match." in manager.get("/audit?from=2099-01-01").get_data(as_text=True)


@pytest.mark.parametrize("query, message", [
    ("from=2026-12-02&to=2026-12-01", "from (2026-12-02) must be on or before to (2026-12-01)."),
    ("from=soon", "from must be a date like 2026-12-01, got 'soon'."),
    ("user=a%20b", "user may hold letters, digits and : . _ @ - only"),
    ("before=x", "before must be a row number"),
])
def test_bad_filters_are_clear(manager, query, message):
    response = manager.get(f"/audit?{query}")
    assert response.status_code == 400 and message in html.unescape(response.get_data(as_text=True))


def test_pages_go_back_by_sequence_number(manager, store):
    with store.write():
        for i in range(60):
            audit.record(store, "test", "filler", None, str(i))
    first = manager.get("/audit").get_data(as_text=True)
    seqs = shown_seqs(first)
    assert len(seqs) == 50 and f'href="/audit?before={seqs[-1]}"' in first
    second = manager.get(f"/audit?before={seqs[-1]}").get_data(as_text=True)
    more = shown_seqs(second)
    assert more and max(more) == seqs[-1] - 1 and 'href="/audit"' in second


def test_csv_export_has_every_matching_row_and_defuses_formulas(manager, store):
    with store.write():  # text someone else typed could reach a subject; a spreadsheet must not run it
        for subject in ("=HYPERLINK(1)", "+1+1", "-2", "@SUM(A1)"):
            audit.record(store, "web", "sign-in-failed", None, subject)
    response = manager.get("/audit.csv")
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="dentra-audit-')
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["seq", "at_utc", "at_local", "actor", "action", "patient_id", "subject", "detail"]
    assert [int(r[0]) for r in rows[1:]] == sorted(int(r[0]) for r in rows[1:])  # oldest first
    assert len(rows) - 1 == store.conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0]
    failed = [r[6] for r in rows if r[4] == "sign-in-failed"]
    assert failed == ["'=HYPERLINK(1)", "'+1+1", "'-2", "'@SUM(A1)"]
    assert not [cell for r in rows for cell in r if cell and cell[0] in "=+-@"]
    filtered = list(csv.reader(io.StringIO(manager.get("/audit.csv?action=patient-created&patient=P1001")
                                           .get_data(as_text=True))))
    assert [r[5] for r in filtered[1:]] == ["P1001"]
    [export, narrowed] = audit_rows(store, "audit-exported")
    assert export["actor"] == "web:mia" and narrowed["detail"]["filter_patient"] == "P1001"


def test_the_chain_still_verifies_after_the_pages_are_used(signed_in, store, config):
    escalation_id = make_escalation(store)
    desk = signed_in("front_desk")
    token = csrf_of(desk.get("/patients/P1001"))
    for path in ("/today?day=2026-12-01", "/calls", "/patients?q=lopez", "/escalations"):
        assert desk.get(path).status_code == 200
    desk.post("/patients/P1001/phones", data={"number": "2175550190", "kind": "work", "csrf_token": token})
    desk.post(f"/escalations/{escalation_id}/acknowledge", data={"csrf_token": token})
    manager = signed_in("manager")
    assert manager.get("/audit.csv").status_code == 200
    assert desk.get("/audit").status_code == 403
    assert audit.verify(store).ok
    # the real command in its own process (cli.main resets SIGPIPE, which must not leak into pytest)
    run = dentra("audit", "verify", "--config", config.source, "--data-dir", str(store.data_dir))
    assert run.stdout.startswith("audit chain ok")
