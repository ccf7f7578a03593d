"""Screen-pop cards built from a real demo store: known, household and unknown callers, transcripts, audits."""

from __future__ import annotations

import json
from datetime import date

from appliance import events
from appliance.store import patients
from appliance.store.patients import Patient, Phone
from appliance.web import cards
from tests.conftest import DEMO_NOW
from tests.web.ringing import ring, say


class Shown(list):
    """Collects on_patient_shown calls."""

    def __call__(self, patient_id: str, what: str) -> None:
        self.append((patient_id, what))


def card_for(store, event_id: int, shown=None) -> dict | None:
    (event,) = [e for e in events.since(store, event_id - 1, 1)]
    return cards.build_card(store, event, DEMO_NOW, shown if shown is not None else Shown())


def test_known_caller_card_shows_the_patient_and_is_audited(demo_store):
    shown = Shown()
    _call_id, event_id = ring(demo_store, "+1 217 555 0103")
    card = card_for(demo_store, event_id, shown)
    assert card["number"] == "+12175550103"  # staff see the full number
    assert card["number_masked"] == "…0103"
    assert (card["number_status"], card["new_caller"], card["household"]) == ("valid", False, False)
    (james,) = card["patients"]
    assert james["patient_id"] == "P1002"
    assert (james["name"], james["initials"]) == ("James Smith", "JS")
    assert james["date_of_birth"] == "1972-04-18"
    assert james["age"] == 54
    assert james["last_visit"] == "2026-03-18"
    assert james["calling_from"] == "home"
    assert james["next_appointment"] == {"appointment_id": "A5001", "start": "2026-12-01T09:00",
                                         "service": "Dental exam", "provider": "Dr. Samuel Okafor",
                                         "location": "Bright Smile Downtown"}
    assert (james["balance_cents"], james["insurance"]) == (0, None)
    assert (james["allergies"], james["allergy_alert"]) == ("lidocaine", True)
    assert shown == [("P1002", "screen-pop")]
    json.dumps(card)  # plain data, ready to send


def test_household_phone_shows_each_candidate(demo_store):
    shown = Shown()
    _call_id, event_id = ring(demo_store, "+12175550100")
    card = card_for(demo_store, event_id, shown)
    assert card["household"] is True and card["new_caller"] is False
    by_id = {p["patient_id"]: p for p in card["patients"]}
    assert set(by_id) == {"P1001", "P1029"}
    assert by_id["P1001"]["name"] == "Maria Lopez" and by_id["P1001"]["insurance"] == "MetLife"
    assert by_id["P1001"]["next_appointment"]["start"] == "2026-12-14T10:00"
    assert by_id["P1029"]["name"] == "Henry Lopez" and by_id["P1029"]["next_appointment"] is None
    assert by_id["P1029"]["age"] == 12
    assert sorted(shown) == [("P1001", "screen-pop"), ("P1029", "screen-pop")]


def test_unknown_and_withheld_callers_are_new_callers_and_audit_nobody(demo_store):
    shown = Shown()
    _call_id, event_id = ring(demo_store, "+12175550199")
    card = card_for(demo_store, event_id, shown)
    assert (card["new_caller"], card["patients"], card["number"]) == (True, [], "+12175550199")
    _call_id, event_id = ring(demo_store, "anonymous")
    card = card_for(demo_store, event_id, shown)
    assert (card["new_caller"], card["number"], card["number_status"]) == (True, None, "withheld")
    assert shown == []


def test_allergies_flag_only_when_the_patient_has_some(demo_store):
    _call_id, event_id = ring(demo_store, "+12175550104")  # Aisha Khan: no allergies, a balance
    (aisha,) = card_for(demo_store, event_id)["patients"]
    assert (aisha["allergies"], aisha["allergy_alert"], aisha["balance_cents"]) == (None, False, 12000)


def test_notes_and_preferred_name_reach_the_card_as_plain_text(demo_store):
    with demo_store.write():
        patients.add(demo_store, Patient("<script>alert(1)</script>", "Doe", date_of_birth=date(1990, 12, 2),
                                         preferred_name="Jo", notes="Anxious <b>patient</b>", allergies="  ",
                                         phones=(Phone("+12175550188", "mobile"),)), "test")
    _call_id, event_id = ring(demo_store, "+12175550188")
    (jo,) = card_for(demo_store, event_id)["patients"]
    assert jo["name"] == "<script>alert(1)</script> Doe"  # as stored: the browser sets it with textContent
    assert (jo["preferred_name"], jo["notes"], jo["initials"]) == ("Jo", "Anxious <b>patient</b>", "<D")
    assert (jo["age"], jo["allergy_alert"], jo["calling_from"]) == (35, False, "mobile")


def test_transcript_card_and_its_audit_for_a_recognized_caller(demo_store):
    shown = Shown()
    call_id, _ = ring(demo_store, "+12175550103")
    event_id = say(demo_store, call_id, "caller", "I'd like a <i>cleaning</i>", flow="book")
    card = card_for(demo_store, event_id, shown)
    assert card["line"]["who"] == "caller" and card["line"]["text"] == "I'd like a <i>cleaning</i>"
    assert card["line"]["at"].endswith("+00:00")
    assert (card["flow"], card["expects"]) == ("book", "intent")
    assert shown == [("P1002", "call-transcript")]
    unknown_call, _ = ring(demo_store, "+12175550199")
    card = card_for(demo_store, say(demo_store, unknown_call, "box", "Hello!"), shown)
    assert card["line"]["who"] == "box" and len(shown) == 1  # no patient behind that call


def test_call_status_cards_and_events_without_a_card(demo_store):
    call_id, _ = ring(demo_store, "+12175550103")
    with demo_store.write():
        ids = [events.emit(demo_store, "call-answered", call_id),
               events.emit(demo_store, "call-transferred", call_id, to="101"),
               events.emit(demo_store, "call-ended", call_id, outcome="transferred"),
               events.emit(demo_store, "error", call_id, code="transfer-failed", message="busy"),
               events.emit(demo_store, "appointment-booked", call_id, appointment_id="A5100", patient_id="P1002")]
    got = [card_for(demo_store, i) for i in ids]
    assert got == [{"status": "answered"}, {"status": "transferred", "to": "101", "by": None},
                   {"status": "ended", "outcome": "transferred"},
                   {"status": "error", "code": "transfer-failed", "message": "busy"}, None]


def test_age_counts_whole_years():
    assert cards.age(date(2000, 12, 2), date(2026, 12, 1)) == 25
    assert cards.age(date(2000, 12, 1), date(2026, 12, 1)) == 26
    assert cards.age(None, date(2026, 12, 1)) is None
