"""One call's conversation: explicit state, one reply per caller turn, everything recorded.

Checks that apply on every turn (emergency, asking for a person, an upset caller, prompt
injection, Spanish, silence) run before the step the box is waiting for. Steps live in
identity.py (who is calling) and flows.py (what they want); they fill the state and call
`advance()`, which asks for whatever the current goal still lacks.
"""

from __future__ import annotations

import logging
import time as timer
from dataclasses import dataclass, field
from datetime import datetime

from appliance import events
from appliance.brain import appointment_flows, flows, identity
from appliance.brain.understanding import Heard, Understander
from appliance.config import Config
from appliance.phones import clinic_region
from appliance.recognition import Recognition
from appliance.scheduling.availability import Slot
from appliance.store import calls
from appliance.store.appointments import Appointment
from appliance.store.db import Store
from appliance.store.patients import Patient

log = logging.getLogger("dentra.brain")

MAX_TURNS = 30  # a call this long is not going well: hand it to a person
MAX_SILENCES = 3
MAX_TEXT = 1000  # speech recognition never gives more in one turn; longer input is cut


@dataclass(frozen=True)
class BoxLine:
    """What the box says in one turn, what it waits for, in which flow, and what it changed."""

    say: str
    expects: str
    flow: str
    action: dict | None = None

    def as_json(self) -> dict:
        return {"say": self.say, "expects": self.expects, "flow": self.flow, "action": self.action}


@dataclass
class BrainContext:
    """What every conversation on this box shares."""

    config: Config
    store: Store
    understander: Understander
    region: str

    @classmethod
    def create(cls, config: Config, store: Store) -> BrainContext:
        """Rules always; the local model and the cloud fallback when the config names them."""
        from appliance.brain.engines import cloud_model, local_model

        understander = Understander(config, local=local_model(config, store.data_dir), cloud=cloud_model(config))
        return cls(config, store, understander, clinic_region(config))


@dataclass
class Conversation:
    ctx: BrainContext
    call_id: str
    recognition: Recognition
    now: datetime
    # who is calling
    candidates: list[Patient] = field(default_factory=list)
    patient: Patient | None = None
    verified: bool = False
    said_name: tuple[str, str | None] | None = None
    said_birth_date: object = None
    failed_checks: int = 0
    new_patient: dict = field(default_factory=dict)
    # what they want
    goal: str | None = None
    flow: str = "greeting"
    expects: str = "intent"
    service: str | None = None
    provider: str | None = None
    location: str | None = None
    day: object = None
    when: object = None
    offers: list[Slot] = field(default_factory=list)
    chosen: Slot | None = None
    target: Appointment | None = None
    choices: list[Appointment] = field(default_factory=list)
    pending_offer: str | None = None  # "transfer" | "book" | "emergency-slot" while a yes/no is awaited
    # how it is going
    turns: int = 0
    misunderstood: int = 0
    silences: int = 0
    actions: list[dict] = field(default_factory=list)
    answered: bool = False
    closed: bool = False  # ended by the usual goodbye, not by silence or a hand-off
    ended: bool = False
    handoff: str | None = None  # "transferred" | "escalated"
    heard: Heard | None = None
    cloud_redactor: object = None

    def __post_init__(self):
        self.candidates = list(self.recognition.candidates)
        if len(self.candidates) == 1:
            self.patient = self.candidates[0]

    @property
    def config(self) -> Config:
        return self.ctx.config

    @property
    def store(self) -> Store:
        return self.ctx.store

    # ---- the turn loop ----

    def start(self) -> BoxLine:
        """The greeting: by first name when caller ID matches one patient, generic otherwise."""
        clinic = self.config.clinic.name
        if self.patient is not None:
            text = f"Thanks for calling {clinic}. Hi {self.patient.greeting_name}! How can I help you today?"
        else:
            text = f"Thanks for calling {clinic}, this is the virtual receptionist. How can I help you today?"
        return self.reply(text, "intent", "greeting")

    def hear(self, text: str) -> BoxLine:
        """One caller utterance in, one reply out."""
        started = timer.perf_counter()
        text = (text or "").strip()[:MAX_TEXT]
        self.turns += 1
        heard = self.ctx.understander.hear(text, self.now.date(), self.expects, self._context(),
                                           self._redactor(), store=self.store, call_id=self.call_id)
        self.heard = heard
        self._record("caller", text, heard.intent)
        line = self._respond(heard)
        log.info("turn %d: intent=%s source=%s flow=%s expects=%s in %.1f ms", self.turns, heard.intent,
                 heard.source, line.flow, line.expects, (timer.perf_counter() - started) * 1000)
        return line

    def _respond(self, heard: Heard) -> BoxLine:
        if self.ended:
            return self.reply("", "nothing", self.flow)
        if not heard.text:
            return self._silence()
        self.silences = 0
        if heard.emergency and self.flow != "emergency":
            return flows.emergency(self, heard)
        if heard.spanish:
            return flows.spanish(self)
        if heard.wants_person and not heard.injection:
            return flows.transfer(self, "caller asked for a person")
        if heard.angry:
            return flows.transfer(self, "caller upset")
        if heard.injection:  # refused, and counted: a caller who keeps trying is handed to a person
            return self.not_understood("I'm sorry, I can't help with that. I can help with your own appointments "
                                       "or questions about the clinic. " + flows.question_for(self.expects))
        if heard.dtmf == "0":  # the keypad's universal "operator"
            return flows.transfer(self, "caller pressed 0")
        if self.turns > MAX_TURNS:
            return flows.transfer(self, "call too long")
        step = STEPS.get(self.expects, flows.on_intent)
        return step(self, heard)

    def _silence(self) -> BoxLine:
        self.silences += 1
        if self.silences >= MAX_SILENCES:
            return self.finish("I can't hear anything, so I'll end the call now. Please call us back any time.")
        return self.reply("Sorry, I didn't catch that. " + flows.question_for(self.expects), self.expects, self.flow)

    def not_understood(self, again: str) -> BoxLine:
        """The caller's words did not fit; ask again, and after two misses hand over to a person."""
        self.misunderstood += 1
        if self.misunderstood >= 3:
            return flows.transfer(self, "repeated misunderstanding",
                                  "I'm sorry, I'm having trouble understanding.")
        return self.reply(again, self.expects, self.flow)

    def advance(self) -> BoxLine:
        """Ask for whatever the current goal still needs, or finish it."""
        self.misunderstood = 0
        return flows.advance(self)

    # ---- output and records ----

    def reply(self, say: str, expects: str, flow: str, action: dict | None = None) -> BoxLine:
        self.expects, self.flow = expects, flow
        if action:
            self.actions.append(action)
        self._record("box", say, None)
        return BoxLine(say, expects, flow, action)

    def finish(self, say: str, action: dict | None = None, flow: str = "closing") -> BoxLine:
        line = self.reply(say, "nothing", flow, action)
        self.ended = True
        return line

    def _record(self, speaker: str, text: str, intent: str | None) -> None:
        with self.store.write():
            calls.add_turn(self.store, self.call_id, speaker, text, intent=intent, flow=self.flow)
            events.emit(self.store, "caller-said" if speaker == "caller" else "box-said", self.call_id,
                        text=text, flow=self.flow, expects=self.expects)

    def _redactor(self):
        """One redactor per call (same value, same placeholder all call long); only when the cloud is on."""
        if self.ctx.understander.cloud is None:
            return None
        if self.cloud_redactor is None:
            from appliance.brain.redaction import Redactor

            self.cloud_redactor = Redactor()
        self.cloud_redactor.add(identity.known_phi(self))
        return self.cloud_redactor

    def _context(self) -> str:
        return f"flow={self.flow}; waiting for {self.expects}"

    def outcome(self) -> str:
        """How the call ended: a hand-off, else the last change to the store, else answered or abandoned."""
        if self.handoff:
            return self.handoff
        for action in reversed(self.actions):
            if action["type"] in ("booked", "rescheduled", "cancelled"):
                return action["type"]
        if self.answered or self.closed:
            return "answered"
        return "abandoned"

    def hang_up(self) -> str:
        """The caller hung up (or the box ended the call): store the outcome and return it."""
        result = self.outcome()
        with self.store.write():
            calls.end(self.store, self.call_id, result, self.flow)
            events.emit(self.store, "call-ended", self.call_id, outcome=result)
        return result


STEPS = {
    "intent": flows.on_intent,
    "anything_else": flows.on_anything_else,
    "which_patient": identity.on_which_patient,
    "name": identity.on_name,
    "date_of_birth": identity.on_birth_date,
    "phone": identity.on_phone,
    "service": appointment_flows.on_service,
    "preferred_time": appointment_flows.on_preferred_time,
    "slot_choice": appointment_flows.on_slot_choice,
    "confirmation": flows.on_confirmation,
    "appointment_choice": appointment_flows.on_appointment_choice,
}
