"""Scripted callers in the acceptance format (../shared/acceptance), played in-process against the brain.

Same scenario JSON and the same persona rules as `callsim.py`, but without a process per call, so
dozens of conversations run in seconds. `check` returns the problems found, like callsim does.
"""

from __future__ import annotations

import io
import json
import re
from datetime import datetime

from appliance.brain.conversation import BrainContext, Conversation
from appliance.recognition import recognize_call
from appliance.store import appointments

MAX_TURNS = 24


def persona_answer(persona: dict, expects: str, state: dict) -> str | None:
    """What the scripted caller says when the box expects `expects`; None = hang up (callsim's rules)."""
    answers = persona.get("answers", {})
    if expects == "nothing":
        return None
    queue = state.setdefault("queues", {})
    if expects in answers:
        value = answers[expects]
        if isinstance(value, list):
            i = queue.get(expects, 0)
            queue[expects] = i + 1
            return value[i] if i < len(value) else persona.get("fallback", "I'm not sure.")
        return value
    if expects == "intent":
        if state.get("opened"):
            return persona.get("fallback", "That's all, thank you.")
        state["opened"] = True
        return persona["opening"]
    return {"anything_else": "No, that's all. Thank you.", "confirmation": "Yes, that's right.",
            "slot_choice": "The first one works for me."}.get(expects, persona.get("fallback", "I'm not sure."))


def play(config, store, scenario: dict, understander=None) -> tuple[list[dict], str, str]:
    """Hold one scripted call; returns (box lines with the caller's replies as {"caller": ...}, outcome, call id)."""
    now = datetime.fromisoformat(scenario["now"]) if scenario.get("now") else datetime(2026, 12, 1, 9, 0)
    ctx = BrainContext.create(config, store)
    if understander is not None:  # e.g. one with a local model loaded once for many calls
        ctx.understander = understander
    call_id, recognition = recognize_call(store, scenario.get("caller", "anonymous"), ctx.region, channel="simulate")
    conversation = Conversation(ctx, call_id, recognition, now)
    last = conversation.start()
    lines, state = [last.as_json()], {}
    for _ in range(MAX_TURNS):
        if conversation.ended:
            break
        reply = persona_answer(scenario["persona"], last.expects, state)
        if reply is None:
            break
        last = conversation.hear(reply)
        lines += [{"caller": reply}, last.as_json()]
    return lines, conversation.hang_up(), call_id


def check(config, store, scenario: dict, understander=None) -> tuple[list[str], list[dict]]:
    """Play the scenario (and its `before` calls) and compare with `expect`, as callsim does."""
    for before in scenario.get("before", []):
        play(config, store, {**before, "now": before.get("now", scenario.get("now"))}, understander)
    lines, outcome, _call_id = play(config, store, scenario, understander)
    said = [line for line in lines if "say" in line]
    exp, problems = scenario.get("expect", {}), []
    want = exp.get("outcome")
    if want and outcome not in (want if isinstance(want, list) else [want]):
        problems.append(f"outcome {outcome!r}, wanted {want!r}")
    text = " ".join(line["say"] for line in said).lower()
    problems += [f"never said /{p}/" for p in exp.get("said", []) if not re.search(p, text)]
    problems += [f"said forbidden /{p}/" for p in exp.get("never_said", []) if re.search(p, text)]
    flows = {line["flow"] for line in said}
    problems += [f"flow {f!r} never entered" for f in exp.get("flows", []) if f not in flows]
    if len(said) > MAX_TURNS and said[-1]["expects"] != "nothing":
        problems.append("conversation did not end")
    appts = [a.as_json() for a in appointments.listing(store)]
    for want_appt in exp.get("appointments", []):
        if not any(all(_match(a.get(k), v) for k, v in want_appt.items()) for a in appts):
            problems.append(f"no appointment matching {want_appt}")
    for unwanted in exp.get("no_appointments", []):
        if any(all(_match(a.get(k), v) for k, v in unwanted.items()) for a in appts):
            problems.append(f"unexpected appointment matching {unwanted}")
    return problems, lines


def _match(have, want) -> bool:
    if isinstance(want, str) and want.startswith("re:"):
        return have is not None and re.search(want[3:], str(have)) is not None
    if isinstance(want, list):
        return have in want
    return have == want


def transcript(lines: list[dict]) -> str:
    out = io.StringIO()
    for line in lines:
        out.write(json.dumps(line) + "\n")
    return out.getvalue()
