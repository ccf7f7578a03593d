"""Who is calling: household choice, verification by name and date of birth, new-patient sign-up.

Caller ID only lets us greet by first name. Revealing or changing anything needs the caller's
full name and date of birth to match one patient's record; two failed tries end in an offer of
the front desk and nothing is disclosed. Every check is audited (ids only).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from appliance.brain import spoken
from appliance.store import audit, patients

if TYPE_CHECKING:
    from appliance.brain.conversation import BoxLine, Conversation

MAX_FAILED_CHECKS = 2


def _fold(name: str | None) -> str:
    return "".join(ch for ch in patients.plain_lower(name or "") if ch.isalpha())


def first_name_matches(patient: patients.Patient, first: str) -> bool:
    return _fold(first) in {_fold(patient.first_name), _fold(patient.preferred_name)}


def known_phi(c: Conversation) -> list[str]:
    """Names and birth dates of everyone this call may be about, for the cloud fallback's placeholders."""
    known = []
    for p in c.candidates + ([c.patient] if c.patient else []):
        known += [p.first_name, p.last_name, p.full_name, str(p.date_of_birth or "")]
    return [k for k in known if k]


def ready(c: Conversation) -> bool:
    """Is the caller identified well enough for the current goal?"""
    if c.verified:
        return True
    return c.goal == "book" and bool(c.new_patient.get("created"))


def ask(c: Conversation, lead: str = "") -> BoxLine:
    """Ask for the next piece of identity the goal needs."""
    lead = (lead + " ") if lead else ""
    flow = c.flow if c.flow != "greeting" else (c.goal or "greeting")
    if len(c.candidates) > 1 and c.patient is None and c.said_name is None:
        return c.reply(lead + "Which patient am I speaking with? Please tell me your first name.",
                       "which_patient", flow)
    if c.said_name is None or c.said_name[1] is None:
        if c.patient is not None:
            return c.reply(lead + f"To confirm it's you, {c.patient.greeting_name}, what's your full name "
                           "and date of birth?", "name", flow)
        if c.said_name is not None:
            return c.reply(lead + "And your last name?", "name", flow)
        return c.reply(lead + "May I have your full name and date of birth?", "name", flow)
    if c.said_birth_date is None:
        return c.reply(lead + "Thank you. And your date of birth?", "date_of_birth", flow)
    if c.new_patient.get("first") and "phone" not in c.new_patient:
        return _ask_phone(c, lead)
    return c.advance()


def on_which_patient(c: Conversation, heard) -> BoxLine:
    name = spoken.person_name(heard.text) or _bare_first_name(heard.text)
    if name is None:
        return c.not_understood("Sorry, which patient is calling? Just your first name is fine.")
    matching = [p for p in c.candidates if first_name_matches(p, name[0])]
    c.patient = matching[0] if len(matching) == 1 else None
    c.said_name = name
    return _after_name(c)


def _bare_first_name(text: str):
    words = [w for w in text.replace(".", " ").split() if w.isalpha()]
    if len(words) == 1 and spoken.yes_no(text) is None:
        return words[0].title(), None
    return None


def on_name(c: Conversation, heard) -> BoxLine:
    name = spoken.person_name(heard.text)
    if name is None and c.said_name is not None and c.said_name[1] is None:
        words = [w for w in heard.text.replace(".", " ").split() if w.isalpha()]
        if len(words) == 1:
            name = (c.said_name[0], words[0].title())
    if name is None:
        if heard.intent not in ("other", "affirm", "deny") and heard.intent != c.goal:
            from appliance.brain import flows

            return flows.on_intent(c, heard)
        return c.not_understood("Sorry, I didn't get your name. Could you say your first and last name?")
    if c.said_name and name[1] is None and first_name_matches_said(c.said_name, name[0]):
        name = c.said_name
    c.said_name = name
    birth = spoken.birth_date(heard.text, c.now.date())
    if birth is not None:
        c.said_birth_date = birth
        return _check(c)
    return _after_name(c)


def first_name_matches_said(said: tuple[str, str | None], first: str) -> bool:
    return _fold(said[0]) == _fold(first)


def _after_name(c: Conversation) -> BoxLine:
    if c.said_name[1] is None:
        greeting = f"Thanks, {c.said_name[0]}." if c.patient else "Thank you."
        return c.reply(f"{greeting} To confirm it's you, what's your full name and date of birth?", "name", c.flow)
    return ask(c)


def _keypad_date(digits: str):
    """MMDDYYYY typed on the keypad."""
    if len(digits) != 8 or not digits.isdigit():
        return None
    try:
        return date(int(digits[4:]), int(digits[:2]), int(digits[2:4]))
    except ValueError:
        return None


def on_birth_date(c: Conversation, heard) -> BoxLine:
    birth = _keypad_date(heard.dtmf) if heard.dtmf else spoken.birth_date(heard.text, c.now.date())
    if birth is None:
        return c.not_understood("Sorry, I didn't catch the date. What's your date of birth, month, day and year?")
    c.said_birth_date = birth
    return _check(c)


def _check(c: Conversation) -> BoxLine:
    """Match the spoken name and birth date to exactly one patient; never say which part was wrong."""
    first, last = c.said_name
    store = c.store
    match = None
    if c.patient is not None and _matches(c.patient, first, last, c.said_birth_date):
        match = c.patient
    else:
        ids = patients.ids_by_name_and_birth_date(store, f"{first} {last}", c.said_birth_date)
        found = [p for p in patients.get_many(store, ids) if _matches(p, first, last, c.said_birth_date)]
        match = found[0] if len(found) == 1 else None
    if match is not None:
        c.patient, c.verified = match, True
        with store.write():
            audit.record(store, "brain", "caller-verified", match.patient_id, c.call_id)
        return c.advance()
    # Someone we have never heard of, on a number we do not know, may sign up; a known name or a known
    # number must match the record (a misheard name on a patient's phone is not a new patient).
    if c.goal == "book" and not c.candidates and not patients.ids_by_name(store, f"{first} {last}"):
        c.new_patient = {"first": first, "last": last, "date_of_birth": c.said_birth_date}
        return _ask_phone(c, "Welcome! It looks like you're new to us, so I'll set you up as a new patient.")
    c.failed_checks += 1
    with store.write():
        audit.record(store, "brain", "verification-failed", None, c.call_id, tries=c.failed_checks)
    if c.failed_checks >= MAX_FAILED_CHECKS:
        c.pending_offer = "transfer"
        return c.reply("I'm sorry, I can't verify your identity over the phone, so I can't share or change "
                       "appointment details. Would you like me to transfer you to our front desk?",
                       "confirmation", c.flow)
    # ask for both again: either could have been misheard, and saying which one was wrong would leak
    c.said_name, c.said_birth_date = None, None
    return c.reply("I'm sorry, that doesn't match our records. Could you say your full name and date of birth "
                   "again?", "name", c.flow)


def _matches(p: patients.Patient, first: str, last: str | None, birth) -> bool:
    return first_name_matches(p, first) and _fold(last) == _fold(p.last_name) and p.date_of_birth == birth


def _ask_phone(c: Conversation, lead: str) -> BoxLine:
    if c.recognition.e164:
        question = "What's the best phone number to reach you? If it's the number you're calling from, just say so."
    else:
        question = "What's the best phone number to reach you?"
    return c.reply(f"{lead} {question}".strip(), "phone", c.flow)


def on_phone(c: Conversation, heard) -> BoxLine:
    number = spoken.phone_number(heard.dtmf or heard.text, c.ctx.region)
    if number is None and c.recognition.e164 and (heard.yes or _means_this_number(heard.text)):
        number = c.recognition.e164
    if number is None:
        return c.not_understood("Sorry, I didn't get the number. Could you say it digit by digit?")
    info = c.new_patient
    info["phone"] = number
    kind = "mobile" if number != c.recognition.e164 else "home"
    with c.store.write():
        created = patients.add(c.store, patients.Patient(
            first_name=info["first"], last_name=info["last"], date_of_birth=info["date_of_birth"],
            phones=(patients.Phone(number, kind),)), "brain", source="ai")
    info["created"] = True
    c.patient, c.verified = created, True
    action = {"type": "patient_created", "patient_id": created.patient_id}
    from appliance.brain import flows

    return flows.advance(c, lead=f"Thanks, {created.first_name}, you're all set up.", action=action)


def _means_this_number(text: str) -> bool:
    low = text.lower()
    return any(p in low for p in ("this number", "same number", "the number i'm calling", "this one", "this phone",
                                  "calling from", "that's fine", "that is fine"))

