"""Caller recognition against the demo clinic: candidates from the blind index, and the record on the call."""

from __future__ import annotations

import pytest

from appliance import recognition
from appliance.recognition import SINGLE_MATCH_CONFIDENCE, identify, recognize_call
from appliance.store import calls, patients


def ids(result) -> list[str]:
    return [p.patient_id for p in result.candidates]


def call_row(store, call_id):
    return store.conn.execute("SELECT * FROM calls WHERE call_id = ?", (call_id,)).fetchone()


@pytest.mark.parametrize("raw", ["+12175550103", "2175550103", "+1 (217) 555-0103", "sip:+12175550103@pbx",
                                 '"James" <sip:2175550103@pbx;user=phone>', "tel:+12175550103"])
def test_known_single_patient(demo_store, raw):
    r = identify(demo_store, raw, "US")
    assert (r.number_status, r.e164) == ("valid", "+12175550103")
    assert ids(r) == ["P1002"]
    assert r.patient is not None and r.patient.patient_id == "P1002"
    assert r.patient.first_name == "James"  # decrypted for the greeting
    assert r.confidence == SINGLE_MATCH_CONFIDENCE


def test_household_phone_gives_several_candidates(demo_store):
    r = identify(demo_store, "+12175550100", "US")
    assert ids(r) == ["P1001", "P1029"]
    assert {p.last_name for p in r.candidates} == {"Lopez"}
    assert r.patient is None  # the brain must ask which patient is calling
    assert 0 < r.confidence < SINGLE_MATCH_CONFIDENCE


def test_a_mobile_shared_by_nobody_else_is_one_patient(demo_store):
    assert ids(identify(demo_store, "+12175550101", "US")) == ["P1001"]


def test_work_phone(demo_store):
    r = identify(demo_store, "2175550125", "US")
    assert ids(r) == ["P1016"]
    assert r.patient.first_name == "Grace"


def test_unknown_valid_number(demo_store):
    r = identify(demo_store, "+12175550199", "US")
    assert (r.number_status, r.e164, r.candidates, r.confidence, r.patient) == \
        ("valid", "+12175550199", (), 0.0, None)


@pytest.mark.parametrize("raw", ["12", "abc", "5550125", "sip:abc@pbx", "+1 (000) 555-0125"])
def test_unparseable_number(demo_store, raw):
    r = identify(demo_store, raw, "US")
    assert (r.number_status, r.e164, r.candidates, r.confidence) == ("unparseable", None, (), 0.0)


@pytest.mark.parametrize("raw", [None, "", "anonymous", "sip:anonymous@anonymous.invalid", "Restricted"])
def test_withheld_number(demo_store, raw):
    r = identify(demo_store, raw, "US")
    assert (r.number_status, r.e164, r.candidates, r.confidence) == ("withheld", None, (), 0.0)


def test_empty_store_knows_nobody(store):
    r = identify(store, "+12175550103", "US")
    assert (r.number_status, r.candidates) == ("valid", ())


def test_region_matters_for_national_numbers(demo_store):
    assert ids(identify(demo_store, "2175550103", "GB")) == []
    assert identify(demo_store, "2175550103", "GB").number_status == "unparseable"


# ---- recorded on the call ----


def test_recognize_call_records_a_single_match(demo_store):
    call_id, r = recognize_call(demo_store, "sip:+12175550103@pbx", "US")
    assert ids(r) == ["P1002"]
    row = call_row(demo_store, call_id)
    assert (row["direction"], row["channel"], row["patient_id"]) == ("inbound", "sip", "P1002")
    assert demo_store.vault.decrypt(row["caller_number"], "calls", "caller_number", call_id) == "+12175550103"
    assert row["caller_index"] == demo_store.vault.blind_index("phone", "+12175550103")
    [rec] = calls.recognitions(demo_store, call_id)
    assert (rec["method"], rec["number_status"], rec["candidates"], rec["patient_id"]) == \
        ("caller-id", "valid", ["P1002"], "P1002")
    assert rec["confidence"] == pytest.approx(SINGLE_MATCH_CONFIDENCE)


def test_recognize_call_household_sets_no_patient(demo_store):
    call_id, r = recognize_call(demo_store, "+12175550100", "US")
    assert call_row(demo_store, call_id)["patient_id"] is None
    [rec] = calls.recognitions(demo_store, call_id)
    assert (rec["method"], rec["candidates"], rec["patient_id"]) == ("caller-id", ["P1001", "P1029"], None)
    assert rec["confidence"] == pytest.approx(r.confidence)


def test_recognize_call_unknown_number(demo_store):
    call_id, _ = recognize_call(demo_store, "+12175550199", "US")
    row = call_row(demo_store, call_id)
    assert row["patient_id"] is None and row["caller_number"] is not None
    [rec] = calls.recognitions(demo_store, call_id)
    assert (rec["method"], rec["number_status"], rec["candidates"], rec["confidence"]) == ("none", "valid", [], 0)


@pytest.mark.parametrize(("raw", "status"), [("12", "unparseable"), ("garbage!!", "unparseable"),
                                             ("anonymous", "withheld"), (None, "withheld")])
def test_recognize_call_unrecognized_numbers_are_recorded(demo_store, raw, status):
    call_id, r = recognize_call(demo_store, raw, "US")
    assert r.number_status == status
    row = call_row(demo_store, call_id)
    assert (row["caller_index"], row["patient_id"]) == (None, None)
    # what the PBX sent is kept (encrypted) when it was a number we could not read; nothing when withheld
    kept = demo_store.vault.decrypt(row["caller_number"], "calls", "caller_number", call_id)
    assert kept == (raw if status == "unparseable" else None)
    [rec] = calls.recognitions(demo_store, call_id)
    assert (rec["method"], rec["number_status"], rec["candidates"], rec["patient_id"]) == ("none", status, [], None)


def test_recognize_call_keeps_a_given_call_id_and_direction(demo_store):
    call_id, _ = recognize_call(demo_store, "+12175550103", "US", call_id="Ctest1", direction="outbound",
                                channel="sim")
    assert call_id == "Ctest1"
    row = call_row(demo_store, "Ctest1")
    assert (row["direction"], row["channel"]) == ("outbound", "sim")


def test_each_call_gets_its_own_row(demo_store):
    a, _ = recognize_call(demo_store, "+12175550103", "US")
    b, _ = recognize_call(demo_store, "+12175550103", "US")
    assert a != b
    assert demo_store.conn.execute("SELECT COUNT(*) FROM call_recognitions").fetchone()[0] == 2


def test_a_new_phone_is_recognized_at_once(demo_store):
    with demo_store.write():
        patients.add_phone(demo_store, "P1002", patients.Phone("+12175550199", "mobile"))
    assert ids(identify(demo_store, "217-555-0199", "US")) == ["P1002"]


# ---- the lookup is one indexed query ----


def test_lookup_is_one_indexed_query(demo_store):
    seen: list[str] = []
    demo_store.conn.set_trace_callback(seen.append)
    try:
        found = patients.ids_by_phone(demo_store, "+12175550100")
    finally:
        demo_store.conn.set_trace_callback(None)
    assert found == ["P1001", "P1029"]
    assert len(seen) == 1
    sql = seen[0]
    plan = [row["detail"] for row in demo_store.conn.execute("EXPLAIN QUERY PLAN " + sql, [b"x"] * sql.count("?"))]
    assert any("USING INDEX patient_phones_lookup" in step or "USING COVERING INDEX patient_phones_lookup" in step
               for step in plan), plan
    assert not any(step.startswith("SCAN") for step in plan), plan


def test_identify_does_not_write(demo_store):
    before = demo_store.conn.total_changes
    identify(demo_store, "+12175550100", "US")
    assert demo_store.conn.total_changes == before
    assert recognition.Recognition("valid", "+1", (), 0.0).patient is None
