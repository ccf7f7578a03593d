"""What callers want: book, reschedule, cancel, hear their appointment, ask, get help, or a person.

Each step fills the conversation's state and calls `advance`, which asks for what the goal still
lacks. Only slots the availability engine offered are ever booked, and every reply is a template
filled from the store and the config.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from appliance.brain import identity, policy, spoken
from appliance.brain.replies import say_list, say_on, say_provider, say_time, say_when
from appliance.errors import SchedulingError
from appliance.scheduling import booking
from appliance.scheduling.availability import choose_offers, find_slots
from appliance.store import appointments, audit, escalations

if TYPE_CHECKING:
    from appliance.brain.conversation import BoxLine, Conversation

GOALS = ("book", "reschedule", "cancel", "appointment_info")
SEARCH_DAYS = 14  # when the caller names no day, look this far ahead
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
        return c.reply(_join(lead, "What else can I do for you?"), "intent", c.flow, action)
    if not identity.ready(c):
        line = identity.ask(c, lead)
        return _with_action(c, line, action)
    handler = {"book": _advance_book, "reschedule": _advance_move, "cancel": _advance_cancel,
               "appointment_info": _advance_info}[c.goal]
    return handler(c, lead, action)


def _with_action(c: Conversation, line: BoxLine, action: dict | None) -> BoxLine:
    if action is None:
        return line
    c.actions.append(action)
    return type(line)(line.say, line.expects, line.flow, action)


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


# ---- booking ----


def _service_for_patient(c: Conversation) -> str | None:
    """New patients start with the new-patient visit when the clinic has one (except emergencies)."""
    svc = c.service
    if c.new_patient.get("created") and svc in (None, "cleaning", "exam"):
        ids = {s.id for s in c.config.services}
        if "new-patient" in ids:
            return "new-patient"
    return svc


def _advance_book(c: Conversation, lead: str, action) -> BoxLine:
    if c.chosen is not None:  # the caller already said yes to this slot (an emergency visit) before verifying
        return _do_book(c, lead)
    c.service = _service_for_patient(c)
    if c.service is None:
        names = say_list([s.name.lower() for s in c.config.services if s.id != "emergency"][:5])
        return c.reply(_join(lead, f"What kind of visit do you need? For example {names}."), "service", "book",
                       action)
    if c.day is None and c.when is None:
        name = c.config.service(c.service).name.lower()
        return c.reply(_join(lead, f"Sure, a {name}. What day and time would suit you?"), "preferred_time",
                       "book", action)
    return _offer(c, lead, action)


def _search(c: Conversation, service: str, exclude: str | None = None):
    first = c.day.first if c.day else c.now.date()
    last = c.day.last if c.day else c.now.date() + timedelta(days=SEARCH_DAYS)
    part = c.when.part_of_day if c.when else None
    slots = find_slots(c.store, c.config, service, first, last, c.now, location=c.location,
                       provider=c.provider, time_of_day=part, exclude_appointment=exclude)
    if c.when is not None:
        slots = [s for s in slots if _fits_time(s.start.time(), c.when)]
    # a moved appointment stays with its provider when possible; a new one goes to the patient's favourite
    prefer = c.target.provider if c.goal == "reschedule" and c.target else (
        c.patient.preferred_provider if c.patient else None)
    pref_time = c.patient.preferred_time if c.patient else None
    if c.when and c.when.exact:
        slots.sort(key=lambda s: abs((datetime.combine(s.start.date(), c.when.exact) - s.start).total_seconds()))
        return slots[:3]
    return choose_offers(slots, 3, preferred_provider=prefer, preferred_time=pref_time or None)


def _fits_time(t, when) -> bool:
    if when.earliest and t < when.earliest:
        return False
    if when.latest and t >= when.latest:
        return False
    if when.exact:
        return abs((t.hour * 60 + t.minute) - (when.exact.hour * 60 + when.exact.minute)) <= 60
    return True


def _no_slots_reason(c: Conversation) -> str:
    if c.day is not None and c.day.first == c.day.last:
        d = c.day.first
        if d in c.config.calendar.holidays:
            return f"We're closed {say_on(d, c.now.date())} for the holiday."
        return f"I'm sorry, I don't have anything open {say_on(d, c.now.date())}."
    return "I'm sorry, I don't have anything open then."


def _offer(c: Conversation, lead: str, action, exclude: str | None = None) -> BoxLine:
    service = c.target.service if c.goal == "reschedule" and c.target else c.service
    flow = c.goal or "book"
    c.offers = sorted(_search(c, service, exclude), key=lambda s: s.start)
    c.chosen = None
    if not c.offers:
        reason = _no_slots_reason(c)
        c.day, c.when = None, None
        return c.reply(_join(lead, reason, "What other day or time would work for you?"), "preferred_time", flow,
                       action)
    return c.reply(_join(lead, describe_offers(c)), "slot_choice", flow, action)


def describe_offers(c: Conversation) -> str:
    """'On Thursday, December 3rd Ana Rivera has 1 PM, 2:30 PM or 4 PM at Bright Smile Downtown.'"""
    today = c.now.date()
    one_day = len({s.start.date() for s in c.offers}) == 1
    one_provider = len({s.provider for s in c.offers}) == 1
    one_location = len({s.location for s in c.offers}) == 1
    parts = []
    for s in c.offers:
        part = say_time(s.start.time()) if one_day else say_when(s.start, today)
        if not one_provider:
            part += f" with {say_provider(c.config.provider(s.provider).name)}"
        if not one_location:
            part += f" at {c.config.location(s.location).name}"
        parts.append(part)
    lead = say_on(c.offers[0].start.date(), today) if one_day else ""
    who = f"{say_provider(c.config.provider(c.offers[0].provider).name)} has" if one_provider else "I have"
    where = f" at {c.config.location(c.offers[0].location).name}" if one_location else ""
    question = "Would that work?" if len(c.offers) == 1 else "Which would you like?"
    text = f"{_join(lead, who)} {say_list(parts)}{where}. {question}"
    return text[0].upper() + text[1:]


def on_service(c: Conversation, heard) -> BoxLine:
    if heard.service is None:
        if heard.intent in GOALS and heard.intent != c.goal:
            return start_goal(c, heard.intent, heard)
        names = say_list([s.name.lower() for s in c.config.services if s.id != "emergency"])
        return c.not_understood(f"Sorry, which kind of visit? We offer {names}.")
    c.service = heard.service
    c.day, c.when = heard.day or c.day, heard.when or c.when
    return advance(c)


def on_preferred_time(c: Conversation, heard) -> BoxLine:
    if heard.intent in ("cancel", "appointment_info") and heard.intent != c.goal:  # the caller changed their mind
        return start_goal(c, heard.intent, heard)
    if heard.day is None and heard.when is None:
        if heard.yes is False or heard.intent in ("deny", "goodbye"):
            c.goal = None
            return c.reply("No problem. Is there anything else I can help with?", "anything_else", c.flow)
        if heard.intent in GOALS and heard.intent != c.goal:
            return start_goal(c, heard.intent, heard)
        return c.not_understood("Sorry, what day would you like? For example, next Tuesday morning.")
    c.day, c.when = heard.day, heard.when
    c.provider = heard.provider or c.provider
    return advance(c)


def on_slot_choice(c: Conversation, heard) -> BoxLine:
    pick = _pick_offer(c, heard)
    if pick is not None:
        c.chosen = c.offers[pick]
        return _confirm(c)
    if heard.day is not None or heard.when is not None:  # "do you have anything Friday?", "no, I said Thursday"
        c.day, c.when = heard.day or c.day, heard.when
        return advance(c)
    if heard.yes is False or heard.intent in ("deny", "goodbye"):
        c.goal, c.offers = None, []
        return c.reply("No problem. Is there anything else I can help with?", "anything_else", c.flow)
    return c.not_understood("Sorry, which time would you like? You can say the first, second or third one.")


def _pick_offer(c: Conversation, heard) -> int | None:
    if heard.dtmf:
        number = int(heard.dtmf) if heard.dtmf.isdigit() else 0
        return number - 1 if 1 <= number <= len(c.offers) else None
    index = spoken.ordinal_choice(heard.text, len(c.offers))
    if index is not None:
        return index
    if heard.when and heard.when.exact:
        hits = [i for i, s in enumerate(c.offers) if s.start.time() == heard.when.exact]
        if len(hits) == 1:
            return hits[0]
    if heard.yes and len(c.offers) == 1:
        return 0
    return None


def _confirm(c: Conversation) -> BoxLine:
    s = c.chosen
    what = c.config.service(s.service).name.lower()
    where = c.config.location(s.location).name
    who = say_provider(c.config.provider(s.provider).name)
    when = say_on(s.start, c.now.date())
    if c.goal == "reschedule":
        old = say_when(c.target.start, c.now.date())
        text = f"To confirm: I'll move your {what} from {old} to {say_when(s.start, c.now.date())} with {who} " \
               f"at {where}. Is that right?"
    else:
        text = f"To confirm: a {what} {when} with {who} at {where}. Shall I book it?"
    return c.reply(text, "confirmation", c.goal)


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
    return {"book": _do_book, "reschedule": _do_move, "cancel": _do_cancel}[c.goal](c)


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
        return _do_book(c)
    return close_or_more(c)


def _do_book(c: Conversation, lead: str = "") -> BoxLine:
    s = c.chosen
    try:
        appt = booking.book(c.store, c.config, s, c.patient.patient_id, c.now, source="ai", actor="brain",
                            call_id=c.call_id)
    except SchedulingError:
        return _offer(c, "I'm sorry, that time was just taken.", None)
    c.goal = None
    action = {"type": "booked", "appointment_id": appt.appointment_id, "service": appt.service,
              "provider": appt.provider, "location": appt.location, "start": appointments.to_text(appt.start)}
    confirm = " Our team will call you to confirm." if c.config.service(s.service).confirm_by_phone else ""
    who, where = say_provider(c.config.provider(s.provider).name), c.config.location(s.location).name
    return c.reply(_join(lead, f"You're booked {say_on(appt.start, c.now.date())} with {who} at {where}.{confirm} "
                               "Is there anything else I can help with?"), "anything_else", "book", action)


# ---- the caller's own appointments ----


def _upcoming(c: Conversation):
    """The patient's appointments that have not started yet."""
    return appointments.listing(c.store, patient_id=c.patient.patient_id, start_from=c.now + timedelta(minutes=1),
                                statuses=appointments.UPCOMING)


def _describe(c: Conversation, a) -> str:
    what = c.config.service(a.service).name.lower()
    who = say_provider(c.config.provider(a.provider).name)
    return f"your {what} {say_on(a.start, c.now.date())} with {who} at {c.config.location(a.location).name}"


def _disclose(c: Conversation, appts) -> None:
    with c.store.write():
        for a in appts:
            audit.record(c.store, "brain", "appointment-disclosed", c.patient.patient_id, a.appointment_id,
                         call_id=c.call_id)


def _pick_target(c: Conversation, lead: str, action, verb: str) -> BoxLine | None:
    """Settle which upcoming appointment the caller means; returns a question when it is not clear."""
    if c.target is not None:
        return None
    upcoming = _upcoming(c)
    if not upcoming:
        c.goal, c.pending_offer = None, "book"
        return c.reply(_join(lead, "I don't see any upcoming appointments for you. Would you like to book one?"),
                       "confirmation", c.flow, action)
    heard = c.heard
    narrowed = [a for a in upcoming if _appointment_fits(a, heard)] if heard else upcoming
    if len(narrowed) == 1 or len(upcoming) == 1:
        c.target = narrowed[0] if len(narrowed) == 1 else upcoming[0]
        return None
    c.choices = upcoming[:4]
    _disclose(c, c.choices)
    listed = say_list([f"{c.config.service(a.service).name.lower()} {say_on(a.start, c.now.date())}"
                       for a in c.choices])
    return c.reply(_join(lead, f"You have {listed}. Which one would you like to {verb}?"), "appointment_choice",
                   c.flow, action)


def _appointment_fits(a, heard) -> bool:
    if heard.service and a.service != heard.service:
        return False
    return not (heard.day and not heard.day.first <= a.start.date() <= heard.day.last)


def on_appointment_choice(c: Conversation, heard) -> BoxLine:
    index = spoken.ordinal_choice(heard.text, len(c.choices))
    hits = [c.choices[index]] if index is not None else [a for a in c.choices if _appointment_fits(a, heard)]
    if len(hits) != 1 or not (index is not None or heard.service or heard.day):
        return c.not_understood("Sorry, which appointment? You can say the first or the second one.")
    c.target = hits[0]
    return advance(c)


def _advance_cancel(c: Conversation, lead: str, action) -> BoxLine:
    question = _pick_target(c, lead, action, "cancel")
    if question is not None:
        return question
    _disclose(c, [c.target])
    policy_note = c.config.policies.cancellation
    return c.reply(_join(lead, f"I see {_describe(c, c.target)}.", policy_note, "Would you like me to cancel it?"),
                   "confirmation", "cancel", action)


def _do_cancel(c: Conversation) -> BoxLine:
    try:
        booking.cancel(c.store, c.target.appointment_id, c.now, reason="caller cancelled by phone", actor="brain",
                       call_id=c.call_id)
    except SchedulingError:
        return transfer(c, "cancel failed", "I'm sorry, I can't cancel that one myself.")
    action = {"type": "cancelled", "appointment_id": c.target.appointment_id}
    c.goal = None
    return c.reply("It's cancelled. If you'd like to rebook, just tell me when; otherwise, is there anything else "
                   "I can help with?", "anything_else", "cancel", action)


def _advance_move(c: Conversation, lead: str, action) -> BoxLine:
    question = _pick_target(c, lead, action, "move")
    if question is not None:
        return question
    if c.day is None and c.when is None:
        _disclose(c, [c.target])
        return c.reply(_join(lead, f"I see {_describe(c, c.target)}. When would you like to move it to?"),
                       "preferred_time", "reschedule", action)
    return _offer(c, lead, action, exclude=c.target.appointment_id)


def _do_move(c: Conversation) -> BoxLine:
    try:
        new = booking.reschedule(c.store, c.config, c.target.appointment_id, c.chosen, c.now, source="ai",
                                 actor="brain", call_id=c.call_id)
    except SchedulingError:
        return _offer(c, "I'm sorry, that time was just taken.", None, exclude=c.target.appointment_id)
    action = {"type": "rescheduled", "appointment_id": new.appointment_id, "previous": c.target.appointment_id,
              "service": new.service, "provider": new.provider, "location": new.location,
              "start": appointments.to_text(new.start)}
    c.goal = None
    return c.reply(f"Done. Your appointment is now {say_on(new.start, c.now.date())}. Is there anything else I "
                   "can help with?", "anything_else", "reschedule", action)


def _advance_info(c: Conversation, lead: str, action) -> BoxLine:
    upcoming = _upcoming(c)
    c.goal = None
    c.answered = True
    if not upcoming:
        c.pending_offer = "book"
        return c.reply(_join(lead, "You don't have any upcoming appointments. Would you like to book one?"),
                       "confirmation", "question", action)
    _disclose(c, upcoming[:2])
    text = f"Your next appointment is {_describe(c, upcoming[0])}."
    if len(upcoming) > 1:
        text += f" After that, {_describe(c, upcoming[1])}."
    return c.reply(_join(lead, text, "Is there anything else I can help with?"), "anything_else", "question", action)


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
        return c.finish(_join(lead, "I'm transferring you to our front desk now. Please hold."), action, flow)
    esc = escalations.open_escalation(c.store, c.call_id, patient_id, reason, kind="callback")
    c.handoff = "escalated"
    action = {"type": "escalated", "escalation_id": esc}
    return c.finish(_join(lead, "Our front desk is closed right now. I've asked the team to call you back as soon "
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

