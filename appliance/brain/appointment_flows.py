"""Appointment steps: booking (offers from the availability engine only), rescheduling, cancelling,
and telling verified callers when their appointments are. Every disclosure is audited."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from appliance.brain import flows, spoken
from appliance.brain.replies import join_words, say_list, say_on, say_provider, say_time, say_when
from appliance.errors import SchedulingError
from appliance.scheduling import booking
from appliance.scheduling.availability import choose_offers, find_slots
from appliance.store import appointments, audit

if TYPE_CHECKING:
    from appliance.brain.conversation import BoxLine, Conversation

SEARCH_DAYS = 14  # when the caller names no day, look this far ahead


def _service_for_patient(c: Conversation) -> str | None:
    """New patients start with the new-patient visit when the clinic has one (except emergencies)."""
    svc = c.service
    if c.new_patient.get("created") and svc in (None, "cleaning", "exam"):
        ids = {s.id for s in c.config.services}
        if "new-patient" in ids:
            return "new-patient"
    return svc


def advance_book(c: Conversation, lead: str, action) -> BoxLine:
    if c.chosen is not None:  # the caller already said yes to this slot (an emergency visit) before verifying
        return do_book(c, lead)
    c.service = _service_for_patient(c)
    if c.service is None:
        names = say_list([s.name.lower() for s in c.config.services if s.id != "emergency"][:5])
        return c.reply(join_words(lead, f"What kind of visit do you need? For example {names}."), "service", "book",
                       action)
    if c.day is None and c.when is None:
        name = c.config.service(c.service).name.lower()
        return c.reply(join_words(lead, f"Sure, a {name}. What day and time would suit you?"), "preferred_time",
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
        return c.reply(join_words(lead, reason, "What other day or time would work for you?"), "preferred_time", flow,
                       action)
    return c.reply(join_words(lead, describe_offers(c)), "slot_choice", flow, action)


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
    text = f"{join_words(lead, who)} {say_list(parts)}{where}. {question}"
    return text[0].upper() + text[1:]


def on_service(c: Conversation, heard) -> BoxLine:
    if heard.service is None:
        if heard.intent in flows.GOALS and heard.intent != c.goal:
            return flows.start_goal(c, heard.intent, heard)
        names = say_list([s.name.lower() for s in c.config.services if s.id != "emergency"])
        return c.not_understood(f"Sorry, which kind of visit? We offer {names}.")
    c.service = heard.service
    c.day, c.when = heard.day or c.day, heard.when or c.when
    return flows.advance(c)


def on_preferred_time(c: Conversation, heard) -> BoxLine:
    if heard.intent in ("cancel", "appointment_info") and heard.intent != c.goal:  # the caller changed their mind
        return flows.start_goal(c, heard.intent, heard)
    if heard.day is None and heard.when is None:
        if heard.yes is False or heard.intent in ("deny", "goodbye"):
            c.goal = None
            return c.reply("No problem. Is there anything else I can help with?", "anything_else", c.flow)
        if heard.intent in flows.GOALS and heard.intent != c.goal:
            return flows.start_goal(c, heard.intent, heard)
        return c.not_understood("Sorry, what day would you like? For example, next Tuesday morning.")
    c.day, c.when = heard.day, heard.when
    c.provider = heard.provider or c.provider
    return flows.advance(c)


def on_slot_choice(c: Conversation, heard) -> BoxLine:
    pick = _pick_offer(c, heard)
    if pick is not None:
        c.chosen = c.offers[pick]
        return _confirm(c)
    if heard.day is not None or heard.when is not None:  # "do you have anything Friday?", "no, I said Thursday"
        c.day, c.when = heard.day or c.day, heard.when
        return flows.advance(c)
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


def do_book(c: Conversation, lead: str = "") -> BoxLine:
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
    return c.reply(join_words(lead, f"You're booked {say_on(appt.start, c.now.date())} with {who} at {where}.{confirm} "
                               "Is there anything else I can help with?"), "anything_else", "book", action)


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
        return c.reply(join_words(lead, "I don't see any upcoming appointments for you. Would you like to book one?"),
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
    return c.reply(join_words(lead, f"You have {listed}. Which one would you like to {verb}?"), "appointment_choice",
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
    return flows.advance(c)


def advance_cancel(c: Conversation, lead: str, action) -> BoxLine:
    question = _pick_target(c, lead, action, "cancel")
    if question is not None:
        return question
    _disclose(c, [c.target])
    policy_note = c.config.policies.cancellation
    return c.reply(join_words(lead, f"I see {_describe(c, c.target)}.", policy_note, "Would you like me to cancel it?"),
                   "confirmation", "cancel", action)


def do_cancel(c: Conversation) -> BoxLine:
    try:
        booking.cancel(c.store, c.target.appointment_id, c.now, reason="caller cancelled by phone", actor="brain",
                       call_id=c.call_id)
    except SchedulingError:
        return flows.transfer(c, "cancel failed", "I'm sorry, I can't cancel that one myself.")
    action = {"type": "cancelled", "appointment_id": c.target.appointment_id}
    c.goal = None
    return c.reply("It's cancelled. If you'd like to rebook, just tell me when; otherwise, is there anything else "
                   "I can help with?", "anything_else", "cancel", action)


def advance_move(c: Conversation, lead: str, action) -> BoxLine:
    question = _pick_target(c, lead, action, "move")
    if question is not None:
        return question
    if c.day is None and c.when is None:
        _disclose(c, [c.target])
        return c.reply(join_words(lead, f"I see {_describe(c, c.target)}. When would you like to move it to?"),
                       "preferred_time", "reschedule", action)
    return _offer(c, lead, action, exclude=c.target.appointment_id)


def do_move(c: Conversation) -> BoxLine:
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


def advance_info(c: Conversation, lead: str, action) -> BoxLine:
    upcoming = _upcoming(c)
    c.goal = None
    c.answered = True
    if not upcoming:
        c.pending_offer = "book"
        return c.reply(join_words(lead, "You don't have any upcoming appointments. Would you like to book one?"),
                       "confirmation", "question", action)
    _disclose(c, upcoming[:2])
    text = f"Your next appointment is {_describe(c, upcoming[0])}."
    if len(upcoming) > 1:
        text += f" After that, {_describe(c, upcoming[1])}."
    return c.reply(join_words(lead, text, "Is there anything else I can help with?"), "anything_else", "question",
                   action)
