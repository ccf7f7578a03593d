"""`dentra simulate`: a text call through the real brain, store and scheduler (no audio).

stdin: one caller utterance per line (`<dtmf 1>` is a key press); end of input = hang-up.
stdout: one JSON object per box turn, then `{"end": true, "outcome": ..., "call_id": ...}`.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import TextIO

from appliance.brain.conversation import BrainContext, Conversation
from appliance.clock import Clock
from appliance.config import Config
from appliance.errors import UsageError
from appliance.recognition import recognize_call
from appliance.store import Store


def parse_now(text: str | None, config: Config) -> datetime:
    """--now as clinic-local time, default the real time."""
    if not text:
        return Clock(config.tz).now()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--now must look like 2026-12-01T09:00 (clinic-local time), got {text!r}") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(config.tz).replace(tzinfo=None)
    return moment.replace(second=0, microsecond=0)


def run_call(config: Config, store: Store, caller: str, now: datetime, lines: TextIO, out: TextIO) -> str:
    """Hold one call; returns the outcome."""
    ctx = BrainContext.create(config, store)
    call_id, recognition = recognize_call(store, caller, ctx.region, channel="simulate")
    conversation = Conversation(ctx, call_id, recognition, now)

    def emit(obj: dict) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    emit(conversation.start().as_json())
    for line in lines:
        emit(conversation.hear(line.rstrip("\r\n")).as_json())
        if conversation.ended:
            break
    outcome = conversation.hang_up()
    emit({"end": True, "outcome": outcome, "call_id": call_id})
    return outcome


def simulate(config: Config, store: Store, caller: str, now_text: str | None) -> int:
    run_call(config, store, caller, parse_now(now_text, config), sys.stdin, sys.stdout)
    return 0
