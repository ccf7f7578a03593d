"""The answering service: each ringing call is recognized, popped on screen, answered and held to the end.

Every call gets its own store connection (SQLite connections are not shared between calls) and
its own Conversation; the speech engines and the understanding layer are shared by all calls.
"""

from __future__ import annotations

import logging
from pathlib import Path

from appliance import events
from appliance.brain.conversation import BrainContext, Conversation
from appliance.brain.understanding import Understander
from appliance.clock import Clock
from appliance.config import Config
from appliance.phones import clinic_region, last_digits
from appliance.recognition import Recognition, recognize_call
from appliance.store import Store
from appliance.telephony.commands import CallCommands
from appliance.voice.turns import CallRun, VoiceStages

log = logging.getLogger("dentra.answering")


def announce_ringing(store: Store, number: str | None, region: str) -> tuple[str, Recognition]:
    """Recognize the caller and emit `call-ringing`, so the receptionist's screen pops while the phone rings."""
    call_id, recognition = recognize_call(store, number, region, channel="sip")
    with store.write():
        events.emit(store, "call-ringing", call_id, number_status=recognition.number_status,
                    number_last_digits=last_digits(recognition.e164) if recognition.e164 else None,
                    candidates=[p.patient_id for p in recognition.candidates], confidence=recognition.confidence)
    return call_id, recognition


class AnsweringService:
    """Answers the extension's calls with the brain; `handle` is the SipAgent's call handler."""

    def __init__(self, config: Config, data_dir: Path, key_file: Path | None, stages: VoiceStages,
                 understander: Understander, clock: Clock | None = None):
        self.config, self.data_dir, self.key_file = config, data_dir, key_file
        self.stages, self.understander = stages, understander
        self.clock = clock or Clock(config.tz)
        self.region = clinic_region(config)
        self.runs: dict[str, CallRun] = {}  # live and finished runs by call id (tests and the bench read them)
        self.commands = CallCommands(self)  # "take the call" / "end AI handling" from the receptionist page

    async def handle(self, incoming) -> str | None:
        """Ring -> screen pop -> answer -> conversation -> outcome."""
        store = Store.open(self.data_dir, self.key_file)
        try:
            call_id, recognition = announce_ringing(store, incoming.caller.number or None, self.region)
            log.info("call %s ringing from %s (%d candidates)", call_id, incoming.caller.masked,
                     len(recognition.candidates))
            try:
                await incoming.answer()
            except Exception as err:  # the caller gave up while it rang
                log.info("call %s not answered: %s", call_id, err)
                conversation = self._conversation(store, call_id, recognition)
                conversation.hang_up()
                return None
            conversation = self._conversation(store, call_id, recognition)
            run = CallRun(conversation, self.stages, incoming)
            self.runs[call_id] = run
            self.commands.follow()
            outcome = await run.run()
            log.info("call %s ended: %s", call_id, outcome)
            return outcome
        finally:
            store.close()

    def _conversation(self, store: Store, call_id: str, recognition) -> Conversation:
        brain = BrainContext(self.config, store, self.understander, self.region)
        return Conversation(brain, call_id, recognition, self.clock.now())
