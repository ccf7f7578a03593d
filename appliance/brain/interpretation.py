"""What an understanding layer returns for one caller utterance: an intent and slots, never a reply.

The rule layer, the local LLM and the cloud fallback all produce an `Interpretation`; the flows
decide what to do with it. `SCHEMA` is the JSON schema the models' output is constrained to.
"""

from __future__ import annotations

from dataclasses import dataclass, field

INTENTS = (
    "book",              # wants a new appointment
    "reschedule",        # wants to move an existing appointment
    "cancel",            # wants to cancel an appointment
    "appointment_info",  # asks when their appointment is
    "question",          # asks about hours, address, prices, insurance, payment, parking, policies
    "emergency",         # pain with swelling, bleeding, trauma, trouble breathing or swallowing
    "transfer",          # wants a person / the front desk
    "affirm",            # yes
    "deny",              # no
    "goodbye",           # nothing else, ending the call
    "other",             # none of the above
)

TOPICS = ("hours", "address", "price", "insurance", "payment", "parking", "cancellation", "new_patients",
          "emergency", "faq", "other")

SLOT_NAMES = ("service", "provider", "topic", "date", "time", "name", "date_of_birth", "phone")


@dataclass(frozen=True)
class Interpretation:
    intent: str
    slots: dict[str, str] = field(default_factory=dict)
    confidence: float = 1.0
    source: str = "rules"  # rules | llm | cloud


SCHEMA = {
    "type": "object",
    "properties": {
        "intent": {"type": "string", "enum": list(INTENTS)},
        "slots": {
            "type": "object",
            "properties": {name: {"type": "string"} for name in SLOT_NAMES},
            "additionalProperties": False,
        },
    },
    "required": ["intent", "slots"],
    "additionalProperties": False,
}


def from_model_json(data: dict, source: str, confidence: float) -> Interpretation | None:
    """Validate a model's JSON against the schema by hand; None when it is not usable."""
    if not isinstance(data, dict) or data.get("intent") not in INTENTS:
        return None
    slots = data.get("slots") or {}
    if not isinstance(slots, dict):
        return None
    clean = {k: v.strip() for k, v in slots.items() if k in SLOT_NAMES and isinstance(v, str) and v.strip()}
    return Interpretation(data["intent"], clean, confidence, source)
