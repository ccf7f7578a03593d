"""Patient search through the blind indexes, the profile, and audited edits of phones and preferences."""

from __future__ import annotations

import html

import pytest

from appliance.store import crypto, patients
from appliance.store.patients import Patient, Phone
from tests.web.conftest import csrf_of
from tests.web.pages import audit_rows, make_call

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
def store(demo_store):
    return demo_store


@pytest.fixture
def desk(signed_in):
    return signed_in("front_desk", "gil")


def text_of(response) -> str:
    """The page as a reader sees it (quotes in messages are HTML-escaped)."""
    return html.unescape(response.get_data(as_text=True))


def post(client, path: str, **form):
    return client.post(path, data={**form, "csrf_token": csrf_of(client.get("/patients/P1001"))})


@pytest.fixture
def decrypted(monkeypatch):
    """Which patients' columns the page decrypted: search must decrypt only the patients it found."""
    seen = set()
    original = crypto.Vault.decrypt

    def spy(self, blob, table, column, row_id):
        if table == "patients":
            seen.add(row_id)
        return original(self, blob, table, column, row_id)

    monkeypatch.setattr(crypto.Vault, "decrypt", spy)
    return seen


@pytest.mark.parametrize("query, found", [
    ("Lopez", {"P1001", "P1029"}), ("maria LOPEZ", {"P1001"}), ("(217) 555-0103", {"P1002"}),
    ("217.555.0100", {"P1001", "P1029"}), ("+1 217 555 0103", {"P1002"}), ("p1002", {"P1002"}),
])
def test_search_by_name_phone_or_id_decrypts_only_what_it_found(desk, store, decrypted, query, found):
    page = desk.get("/patients", query_string={"q": query}).get_data(as_text=True)
    assert set(patients.ids_by_name(store, "lopez")) >= {"P1001"}  # the demo data is what the test assumes
    shown = {pid for pid in found if f'href="/patients/{pid}"' in page}
    assert shown == found and decrypted == found
    rows = audit_rows(store, "patient-search")
    assert {r["patient_id"] for r in rows} == found
    if not query.lower().startswith("p"):  # the audit log holds ids, never what was typed
        assert all(query.lower() not in str(r).lower() for r in rows)


def test_search_explains_whole_words_and_bad_numbers(desk, store):
    partial = desk.get("/patients?q=Mar").get_data(as_text=True)
    assert "No patient matches Mar (names match whole words only)." in partial
    bad = desk.get("/patients?q=555-01234567")
    assert bad.status_code == 400
    assert "'555-01234567' is not a valid phone number here (US)" in text_of(bad)
    assert desk.get("/patients?q=P9999").get_data(as_text=True).count("No patient matches") == 1
    assert audit_rows(store, "patient-search") == []


def test_the_profile_shows_details_phones_appointments_and_calls(desk, store):
    make_call(store, "+12175550103", outcome="booked")
    page = desk.get("/patients/P1002").get_data(as_text=True)
    for text in ("James Smith", "1972-04-18", "(54 years)", "Allergies:", "lidocaine", "(217) 555-0103",
                 "Upcoming appointments", "Tue 1 Dec 2026, 09:00", "Dental exam", "Dr. Samuel Okafor",
                 "Recent calls", "booked"):
        assert text in page, text
    rows = audit_rows(store, "patient-viewed")
    assert [(r["actor"], r["patient_id"], r["detail"]["page"]) for r in rows] == [
        ("web:gil", "P1002", "patients.profile")]


def test_an_unknown_patient_is_a_clear_404(desk, store):
    for pid in ("P9999", "P1001;DROP", "x" * 40):
        response = desk.get(f"/patients/{pid}")
        assert response.status_code == 404, pid
        assert "There is no patient with id" in response.get_data(as_text=True)
    assert desk.post("/patients/P9999/phones", data={"number": "2175550177", "kind": "home",
                                                     "csrf_token": csrf_of(desk.get("/patients"))}).status_code == 404


def test_adding_a_phone_is_validated_audited_and_found_by_caller_id(desk, store):
    done = post(desk, "/patients/P1001/phones", number="(217) 555-0177", kind="mobile")
    assert done.status_code == 302 and done.headers["Location"] == "/patients/P1001?saved=phone-added"
    page = desk.get(done.headers["Location"]).get_data(as_text=True)
    assert "Phone added." in page and "(217) 555-0177" in page
    assert patients.ids_by_phone(store, "+12175550177") == ["P1001"]
    [row] = audit_rows(store, "patient-phone-added")
    assert (row["actor"], row["patient_id"], row["detail"]["kind"]) == ("web:gil", "P1001", "mobile")
    assert "0177" not in str(row)  # ids and codes only


@pytest.mark.parametrize("number, kind, message", [
    ("12345", "mobile", "'12345' is not a valid phone number here (US)"),
    ("217 555 0100", "home", "That number is already on file for this patient."),
    ("217 555 0178", "pager", "Choose the phone type: home, mobile, work."),
])
def test_a_bad_phone_is_refused_with_a_clear_message(desk, store, number, kind, message):
    response = post(desk, "/patients/P1001/phones", number=number, kind=kind)
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and message in text_of(response)
    assert f'value="{number}"' in page  # what was typed stays in the form
    assert audit_rows(store, "patient-phone-added") == []


def test_changing_and_removing_a_phone(desk, store):
    phone_id = store.conn.execute("SELECT phone_id FROM patient_phones WHERE patient_id = 'P1001' AND kind = 'work'"
                                  ).fetchone()[0]
    assert post(desk, f"/patients/P1001/phones/{phone_id}/kind", kind="mobile").status_code == 302
    assert {ph.kind for ph in patients.phones_on_file(store, "P1001") if ph.phone_id == phone_id} == {"mobile"}
    assert post(desk, f"/patients/P1001/phones/{phone_id}/kind", kind="fax").status_code == 400
    assert post(desk, f"/patients/P1001/phones/{phone_id}/remove").status_code == 302
    assert patients.ids_by_phone(store, "+12175550102") == []
    again = post(desk, f"/patients/P1001/phones/{phone_id}/remove")
    assert again.status_code == 404 and "has no such phone" in again.get_data(as_text=True)
    [kind] = audit_rows(store, "patient-phone-kind-changed")
    [removed] = audit_rows(store, "patient-phone-removed")
    assert kind["detail"]["kind"] == "mobile" and removed["detail"]["phone_id"] == phone_id


def test_another_patients_phone_cannot_be_removed_through_this_one(desk, store):
    james = store.conn.execute("SELECT phone_id FROM patient_phones WHERE patient_id = 'P1002'").fetchone()[0]
    assert post(desk, f"/patients/P1001/phones/{james}/remove").status_code == 404
    assert patients.ids_by_phone(store, "+12175550103") == ["P1002"]


def test_preferences_are_saved_indexed_and_audited(desk, store):
    done = post(desk, "/patients/P1001/preferences", preferred_name="Mari", language="en",
                preferred_provider="dr-chen", preferred_time="morning", preferred_location="northside")
    assert done.headers["Location"] == "/patients/P1001?saved=preferences-changed"
    p = patients.get(store, "P1001")
    assert (p.preferred_name, p.language, p.preferred_provider, p.preferred_time, p.preferred_location) == (
        "Mari", "en", "dr-chen", "morning", "northside")
    assert patients.ids_by_name(store, "mari") == ["P1001"]  # callers who give the name they go by are found
    [row] = audit_rows(store, "patient-preferences-changed")
    assert row["detail"]["fields"] == ["language", "preferred_location", "preferred_name", "preferred_provider",
                                       "preferred_time"]
    assert "Mari" not in str(row)
    cleared = post(desk, "/patients/P1001/preferences", preferred_name="", language="en", preferred_provider="",
                   preferred_time="", preferred_location="")
    assert cleared.status_code == 302 and patients.get(store, "P1001").preferred_name is None
    assert patients.ids_by_name(store, "mari") == []


@pytest.mark.parametrize("field, value, message", [
    ("language", "fr", "Language must be one the clinic speaks: en, es."),
    ("preferred_provider", "dr-who", "Choose a provider from the list."),
    ("preferred_time", "night", "Choose a time of day from the list."),
    ("preferred_location", "moon", "Choose a location from the list."),
    ("preferred_name", "x" * 61, "at most 60 characters"),
])
def test_bad_preferences_are_refused(desk, store, field, value, message):
    form = {"preferred_name": "", "language": "es", "preferred_provider": "", "preferred_time": "",
            "preferred_location": "", field: value}
    response = post(desk, "/patients/P1001/preferences", **form)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert patients.get(store, "P1001").language == "es" and audit_rows(store, "patient-preferences-changed") == []


def test_a_patient_named_like_a_script_renders_as_text(desk, store):
    with store.write():
        evil = patients.add(store, Patient(SCRIPT, "Hacker", preferred_name=SCRIPT, allergies=SCRIPT,
                                           phones=(Phone("+12175550188"),)), "test")
    for path in ("/patients?q=hacker", f"/patients/{evil.patient_id}", "/patients?q=2175550188"):
        page = desk.get(path).get_data(as_text=True)
        assert SCRIPT not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page, path
