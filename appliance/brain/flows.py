"""What callers want: book, reschedule, cancel, hear their appointment, ask, get help, or a person.

Each step fills the conversation's state and calls `advance`, which asks for what the goal still
lacks. Only slots the availability engine offered are ever booked, and every reply is a template
filled from the store and the config.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from appliance.brain import appointment_flows, identity, policy
from appliance.brain.replies import join_words, say_provider, say_time
from appliance.scheduling.availability import find_slots
from appliance.store import escalations

if TYPE_CHECKING:
    from appliance.brain.conversation import BoxLine, Conversation

GOALS = ("book", "reschedule", "cancel", "appointment_info")
QUESTIONS = {
    "intent": "How can I help you?",
    "anything_else": "Is there anything else I can help with?",
    "which_patient": "Which patient am I speaking with?",
    "name": "What's your full name?",
    "date_of_birth": "What's your date of birth?",
    "phone": "What's the best phone number to reach you?",
    "service": "What kind of visit do you need?",
    "preferred_time": "What day and time would suit you?",
    "slot_choice": "Which of those times would you like?",
    "confirmation": "Shall I go ahead?",
    "appointment_choice": "Which appointment do you mean?",
}


def question_for(expects: str) -> str:
    return QUESTIONS.get(expects, "How can I help you?")


# ---- entering a goal ----


def on_intent(c: Conversation, heard) -> BoxLine:
    intent = heard.intent
    if intent in GOALS:
        return start_goal(c, intent, heard)
    if intent == "question" or (heard.topic and intent == "other"):
        return answer_question(c, heard)
    if intent in ("goodbye", "deny"):
        return close(c)
    if intent == "affirm":
        return c.reply("Sure. What can I do for you? I can book, move or cancel appointments, or answer "
                       "questions about the clinic.", "intent", c.flow)
    if heard.service:  # "a cleaning please"
        return start_goal(c, "book", heard)
    if heard.model_failed:  # the cloud fallback timed out or failed: a person takes over
        return transfer(c, "understanding unavailable", "I'm sorry, I'm having trouble right now.")
    return c.not_understood("Sorry, I didn't quite get that. I can book, move or cancel appointments, or answer "
                            "questions about the clinic. What would you like to do?")


def start_goal(c: Conversation, goal: str, heard) -> BoxLine:
    c.goal, c.flow = goal, ("question" if goal == "appointment_info" else goal)
    c.offers, c.chosen, c.target, c.choices = [], None, None, []
    c.service = (heard.service or c.service) if goal == "book" else None
    c.provider, c.location = heard.provider, heard.location
    c.day, c.when = heard.day, heard.when
    if heard.new_patient and not c.verified:
        c.candidates, c.patient = [], None  # a new patient on someone's phone is not that someone
    return advance(c)


def advance(c: Conversation, lead: str = "", action: dict | None = None) -> BoxLine:
    """Ask for what the goal still needs, or complete it."""
    c.misunderstood = 0
    if c.goal is None:
        return c.reply(join_words(lead, "What else can I do for you?"), "intent", c.flow, action)
    if not identity.ready(c):
        line = identity.ask(c, lead)
        return _with_action(c, line, action)
    steps = appointment_flows
    handler = {"book": steps.advance_book, "reschedule": steps.advance_move, "cancel": steps.advance_cancel,
               "appointment_info": steps.advance_info}[c.goal]
    return handler(c, lead, action)


def _with_action(c: Conversation, line: BoxLine, action: dict | None) -> BoxLine:
    if action is None:
        return line
    c.actions.append(action)
    return type(line)(line.say, line.expects, line.flow, action)



def on_confirmation(c: Conversation, heard) -> BoxLine:
    offer, c.pending_offer = c.pending_offer, None
    if offer is not None:
        return _answer_offer(c, offer, heard)
    if heard.yes is None:
        if heard.day is not None or heard.when is not None:
            c.day, c.when = heard.day or c.day, heard.when
            return advance(c)
        return c.not_understood("Sorry, is that a yes or a no?")
    if heard.yes is False:
        if c.goal == "cancel":
            c.goal = None
            return c.reply("Alright, I'll leave it as it is. Is there anything else I can help with?",
                           "anything_else", "cancel")
        c.offers, c.chosen, c.day, c.when = [], None, None, None
        return c.reply("No problem. What other day or time would suit you?", "preferred_time", c.goal or "book")
    steps = appointment_flows
    return {"book": steps.do_book, "reschedule": steps.do_move, "cancel": steps.do_cancel}[c.goal](c)


def _answer_offer(c: Conversation, offer: str, heard) -> BoxLine:
    if heard.yes is None:
        c.pending_offer = offer
        return c.not_understood("Sorry, is that a yes or a no?")
    if offer == "transfer":
        return transfer(c, "verification failed" if c.failed_checks else "caller accepted transfer") if heard.yes \
            else close_or_more(c)
    if offer == "book":
        return start_goal(c, "book", heard) if heard.yes else close_or_more(c)
    if offer == "emergency-slot":
        if not heard.yes:
            return transfer(c, "emergency", "Alright.")
        c.goal, c.service = "book", "emergency"
        c.chosen = c.offers[0] if c.offers else None
        if not identity.ready(c):
            return identity.ask(c, "I'll book that for you.")
        return appointment_flows.do_book(c)
    return close_or_more(c)


# ---- questions, closing, hand-offs ----


def answer_question(c: Conversation, heard) -> BoxLine:
    found = policy.answer(c.config, heard, c.now.date())
    if found.found:
        c.answered = True
        return c.reply(f"{found.text} Is there anything else I can help with?", "anything_else", "question")
    c.pending_offer = "transfer"
    return c.reply("I'm sorry, I don't have that information. Would you like me to transfer you to our front "
                   "desk?", "confirmation", "question")


def on_anything_else(c: Conversation, heard) -> BoxLine:
    just_cancelled = c.target if c.actions and c.actions[-1]["type"] == "cancelled" else None
    if just_cancelled and (heard.intent in ("book", "reschedule") or heard.day or heard.when):
        # "can I rebook it for next Friday?": a new booking of the same service
        c.goal, c.service, c.target, c.offers, c.chosen = "book", just_cancelled.service, None, [], None
        c.day, c.when = heard.day, heard.when
        return advance(c)
    if heard.intent in GOALS or heard.intent == "question" or heard.topic or heard.service:
        return on_intent(c, heard)
    if heard.yes is True and heard.intent == "affirm":
        return c.reply("Sure, what can I do for you?", "intent", c.flow)
    return close(c)


def close(c: Conversation) -> BoxLine:
    c.closed = True
    name = f", {c.patient.greeting_name}" if c.patient is not None and c.verified else ""
    return c.finish(f"Thank you for calling {c.config.clinic.name}{name}. Goodbye!")


def close_or_more(c: Conversation) -> BoxLine:
    return c.reply("Alright. Is there anything else I can help with?", "anything_else", c.flow)


def front_desk_open(c: Conversation) -> bool:
    from appliance.scheduling.calendar import open_hours

    for loc in c.config.locations:
        hours = open_hours(c.config, loc.id, c.now.date())
        if hours and hours.start <= c.now.time() < hours.end:
            return True
    return False


def transfer(c: Conversation, reason: str, lead: str = "", flow: str = "transfer") -> BoxLine:
    """Hand the call to the front desk, or, when nobody is there, leave it for a call-back."""
    patient_id = c.patient.patient_id if c.patient is not None and c.verified else None
    if front_desk_open(c) and c.config.escalation.transfer_to:
        esc = escalations.open_escalation(c.store, c.call_id, patient_id, reason, kind="transfer")
        c.handoff = "transferred"
        action = {"type": "transferred", "to": c.config.escalation.transfer_to, "escalation_id": esc}
        return c.finish(join_words(lead, "I'm transferring you to our front desk now. Please hold."), action, flow)
    esc = escalations.open_escalation(c.store, c.call_id, patient_id, reason, kind="callback")
    c.handoff = "escalated"
    action = {"type": "escalated", "escalation_id": esc}
    return c.finish(join_words(lead, "Our front desk is closed right now. I've asked the team to call you back as soon "
                                "as we open."), action, flow)


def emergency(c: Conversation, heard) -> BoxLine:
    """Guidance from the clinic's policy first; then a person (severe) or the first emergency slot today."""
    c.flow = "emergency"
    guidance = c.config.policies.emergency or "If this is life-threatening, call 911."
    if heard.emergency == "severe":
        return transfer(c, "emergency", f"I'm sorry you're going through this. {guidance}", "emergency")
    service = "emergency" if "emergency" in {s.id for s in c.config.services} else None
    slots = []
    if service:
        slots = find_slots(c.store, c.config, service, c.now.date(), c.now.date(), c.now)
    if not slots:
        return transfer(c, "emergency", f"I'm sorry you're in pain. {guidance}", "emergency")
    c.offers, c.pending_offer, c.service = slots[:1], "emergency-slot", service
    first = slots[0]
    return c.reply(f"I'm sorry you're in pain. {guidance} Our first emergency visit today is at "
                   f"{say_time(first.start.time())} with {say_provider(c.config.provider(first.provider).name)} at "
                   f"{c.config.location(first.location).name}. Would you like it?", "confirmation", "emergency")


def spanish(c: Conversation) -> BoxLine:
    """We do not hold calls in Spanish yet: say so in Spanish and hand over to the front desk."""
    return transfer(c, "caller speaks Spanish", "Un momento, por favor. Le comunico con nuestra recepción.")

