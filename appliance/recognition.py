"""Caller recognition: who is probably calling, from the number the PBX gives us.

Caller ID is a hint, not proof (numbers are shared in households and can be spoofed), so the
result lists candidates with a confidence, and the brain still verifies before disclosing anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from appliance import phones
from appliance.store import calls, patients
from appliance.store.db import Store
from appliance.store.patients import Patient

# One patient on a number is likely but not certain the caller (a spouse may use the phone).
SINGLE_MATCH_CONFIDENCE = 0.9


@dataclass(frozen=True)
class Recognition:
    number_status: str  # valid | unparseable | withheld
    e164: str | None
    candidates: tuple[Patient, ...]
    confidence: float

    @property
    def patient(self) -> Patient | None:
        """The one matching patient, or None for unknown numbers and household phones."""
        return self.candidates[0] if len(self.candidates) == 1 else None


def identify(store: Store, raw_number: str | None, region: str) -> Recognition:
    """Normalize the incoming number and look it up through the blind index (one indexed query)."""
    if phones.is_withheld(raw_number):
        return Recognition("withheld", None, (), 0.0)
    e164 = phones.normalize(raw_number, region)
    if e164 is None:
        return Recognition("unparseable", None, (), 0.0)
    found = patients.get_many(store, patients.ids_by_phone(store, e164))
    confidence = SINGLE_MATCH_CONFIDENCE / len(found) if found else 0.0
    return Recognition("valid", e164, tuple(found), round(confidence, 3))


def recognize_call(store: Store, raw_number: str | None, region: str, *, direction: str = "inbound",
                   channel: str = "sip", call_id: str | None = None) -> tuple[str, Recognition]:
    """Open a call for this number and record how its caller was recognized; returns (call_id, result)."""
    result = identify(store, raw_number, region)
    with store.write():
        # an unparseable number is kept as sent (encrypted) so staff can see what the PBX delivered
        raw = raw_number if result.number_status == "unparseable" else None
        call_id = calls.start(store, direction=direction, channel=channel, caller_e164=result.e164,
                              caller_raw=raw, call_id=call_id)
        calls.record_recognition(
            store, call_id, method="caller-id" if result.candidates else "none", number_status=result.number_status,
            candidates=[p.patient_id for p in result.candidates], confidence=result.confidence)
    return call_id, result
