"""Understanding one caller utterance: fast rules first, then the local model, then the cloud (if enabled).

The rules carry the common calls by themselves (intent keywords, services and providers from the
clinic config, dates, times, yes/no, digits). A model is asked only when the rules cannot tell
what the caller wants, and its answer goes through the same slot parsers, so a model can widen
what is understood but never put a value into a flow that the parsers would not accept.
"""

from __future__ import annotations

import logging
import re
import time as timer
from dataclasses import dataclass, field, replace
from datetime import date

from appliance.brain import spoken
from appliance.brain.interpretation import Interpretation
from appliance.config import Config

log = logging.getLogger("dentra.brain")


def _rx(*alternatives: str) -> re.Pattern:
    return re.compile(r"\b(?:" + "|".join(alternatives) + r")\b", re.IGNORECASE)


EMERGENCY = _rx(r"swollen", r"swelling", r"swell(?:s|ing)? up", r"bleeding", r"bleed(?:s)?", r"knocked (?:out|loose)",
                r"broke(?:n)? (?:my |a )?(?:jaw|tooth|teeth)", r"cracked (?:my |a )?tooth", r"trauma", r"accident",
                r"can'?t breathe",
                r"(?:trouble|difficulty|hard|problems?) (?:breathing|swallowing|to breathe|to swallow)",
                r"abscess", r"(?:severe|terrible|unbearable|excruciating|really bad) (?:tooth ?ache|pain)",
                r"emergency", r"fever", r"pus")
# Guidance first, then straight to a person: these can be life-threatening.
SEVERE = _rx(r"breath\w*", r"swallow\w*", r"won'?t stop bleeding", r"can'?t stop (?:the )?bleeding",
             r"uncontrolled", r"fever", r"face is swollen", r"eye", r"broke(?:n)? (?:my )?jaw", r"accident")
NEGATED_EMERGENCY = re.compile(r"\b(?:no|not|isn'?t|without|never)\b(?:\W+\w+){0,3}\W+(?:emergency|swelling|swollen|"
                               r"bleeding|pain|fever)", re.IGNORECASE)
TRANSFER = _rx(r"(?:real|actual|live) (?:person|human)", r"a (?:person|human)", r"human being", r"somebody",
               r"(?:talk|speak) (?:to|with) (?:someone|a|the|your|an?) ?\w*", r"receptionist", r"front desk",
               r"operator", r"representative", r"transfer me", r"put me through", r"someone (?:there|real)")
ANGRY = _rx(r"ridiculous", r"useless", r"stupid", r"hate (?:this|you)", r"fed up", r"damn", r"shit\w*", r"fuck\w*",
            r"furious", r"wtf", r"waste of (?:my )?time", r"this is (?:terrible|awful|absurd)")
INJECTION = _rx(r"ignore (?:all |your |any |the |previous |prior )*(?:instructions|rules|prompts?|programming)",
                r"(?:admin|administrator|developer|debug|god|maintenance) mode", r"system prompt", r"jailbreak",
                r"read (?:me )?(?:out )?(?:the|all|every|your) "
                r"(?:list|patients|appointments|schedule|records|database)",
                r"(?:list|give me|tell me) (?:all|every|the other) (?:the )?(?:patients|appointments|records)",
                r"(?:all|other) (?:the )?patients", r"everyone'?s", r"pretend (?:you are|to be)", r"you are now",
                r"disregard (?:your|the|all)", r"override")
SPANISH = _rx(r"hola", r"español", r"espanol", r"quiero", r"quisiera", r"necesito", r"una cita", r"por favor",
              r"buenos d[ií]as", r"buenas tardes", r"hablo", r"habla", r"gracias", r"mi cita", r"dolor de muela")
SPANISH_REQUEST = _rx(r"(?:speak|speaks|habla\w*) (?:in )?spanish", r"in spanish", r"en espa[nñ]ol")
CANCEL = _rx(r"cancel(?!lation polic)\w*", r"call off",
             r"(?:can'?t|cannot|won'?t|will not|not going to) make (?:it|my)")
RESCHEDULE = _rx(r"re-?schedul\w*", r"re-?book", r"move (?:my|the|it)",
                 r"change (?:my|the) (?:appointment|time|day|date)",
                 r"push (?:it|my appointment) back", r"postpone", r"(?:a )?(?:different|another|later|earlier) "
                 r"(?:time|day|date)")
APPOINTMENT_INFO = _rx(r"when(?:'s| is| was)? my (?:next )?appointment", r"what time is my",
                       r"do i have an appointment",
                       r"my next appointment", r"confirm my appointment", r"when am i (?:coming|scheduled|booked)",
                       r"what day is my")
BOOK = _rx(r"book\w*", r"schedul\w*", r"make an appointment", r"set up an appointment", r"(?:an |a new )?appointment",
           r"come in", r"get in", r"see (?:the |a )?(?:dentist|doctor|hygienist|dr\.?)", r"check ?-?up",
           r"cleaning", r"teeth cleaned", r"need (?:a|an) \w+", r"first visit")
QUESTION = _rx(r"do you (?:take|accept|have|offer|see|do|treat|work)", r"how much", r"what does .{1,40} cost", r"cost",
               r"price\w*", r"insurance", r"hours", r"are you open", r"when (?:are|do) you (?:open|close)", r"open on",
               r"where (?:are|is)", r"address", r"located", r"directions", r"parking", r"park", r"pay\w*",
               r"credit card\w*", r"financ\w*", r"polic\w*", r"what should i bring", r"accepting new", r"sedation",
               r"children", r"kids", r"in network")
GOODBYE = _rx(r"that'?s (?:all|everything|it)", r"that is (?:all|everything)", r"nothing else", r"no,? thanks?",
              r"no,? thank you", r"bye", r"goodbye", r"i'?m (?:good|all set|fine)", r"all set", r"no more")
NEW_PATIENT = _rx(r"new patient", r"new to (?:the area|town|your (?:practice|office|clinic))",
                  r"first (?:time|visit|checkup)",
                  r"never been (?:there|here|to you)", r"haven'?t been (?:there|here) before", r"not a patient",
                  r"become a patient")
SERVICE_SYNONYMS = {
    "cleaning": ("cleaning", "clean", "cleaned", "hygiene", "hygienist", "polish", "scale"),
    "exam": ("exam", "examination", "check", "checkup", "look at"),
    "new-patient": ("new patient", "first visit", "x-rays", "x rays"),
    "filling": ("filling", "fillings", "cavity", "cavities"),
    "crown": ("crown", "crowns", "cap"),
    "root-canal": ("root canal", "root canals"),
    "whitening": ("whitening", "whiten", "whiter", "bleaching"),
    "emergency": ("emergency",),
}
STOP_WORDS = {"and", "with", "the", "a", "an", "visit", "dental", "teeth", "tooth", "of", "for"}
# Checked in order: "how much do I pay" is a price question, "do you take cards" is about payment.
TOPIC_WORDS = {
    "price": _rx(r"how much", r"cost\w*", r"price\w*", r"charge", r"fee"),
    "payment": _rx(r"pay\w*", r"credit", r"cash", r"carecredit", r"financ\w*", r"cards?", r"checks?"),
    "insurance": _rx(r"insurance", r"in network", r"do you (?:take|accept)", r"plan", r"coverage", r"covered"),
    "hours": _rx(r"hours", r"open", r"close\w*", r"what time do you"),
    "address": _rx(r"where", r"address", r"located", r"location", r"directions", r"get there"),
    "parking": _rx(r"park\w*"),
    "cancellation": _rx(r"cancel\w* polic\w*", r"late fee", r"no.?show fee", r"cancel\w* fee"),
    "new_patients": _rx(r"new patients?", r"bring", r"accepting", r"first visit", r"arrive"),
}


@dataclass(frozen=True)
class Heard:
    """Everything the rules (and possibly a model) made of one utterance."""

    text: str
    intent: str = "other"
    service: str | None = None
    provider: str | None = None
    location: str | None = None
    day: spoken.DateRequest | None = None
    when: spoken.TimePreference | None = None
    yes: bool | None = None
    topic: str | None = None
    new_patient: bool = False
    emergency: str | None = None  # "severe" | "urgent"
    wants_person: bool = False
    angry: bool = False
    injection: bool = False
    spanish: bool = False
    dtmf: str | None = None
    source: str = "rules"
    model_failed: bool = False  # the cloud fallback was asked and did not answer (timeout, error)
    slots: dict[str, str] = field(default_factory=dict)


class Catalog:
    """Service, provider and location words of this clinic, for matching what callers say."""

    def __init__(self, config: Config):
        self.config = config
        self.service_words: dict[str, set[str]] = {}
        for s in config.services:
            words = {w for w in re.split(r"[^a-z]+", (s.name + " " + s.id).lower()) if len(w) > 2} - STOP_WORDS
            words |= set(SERVICE_SYNONYMS.get(s.id, ()))
            words.add(s.id.replace("-", " "))
            self.service_words[s.id] = words
        self.provider_words: dict[str, set[str]] = {}
        for p in config.providers:
            name = re.sub(r",.*$", "", p.name)  # "Ana Rivera, RDH" -> "Ana Rivera"
            words = {w for w in re.split(r"[^a-z]+", name.lower()) if len(w) > 2 and w not in {"dr", "doctor"}}
            self.provider_words[p.id] = words
        self.location_words = {loc.id: {loc.id.lower(), loc.id.replace("side", " side").lower(),
                                        *(w for w in loc.name.lower().split() if len(w) > 3)} - STOP_WORDS
                               for loc in config.locations}
        shared = set.intersection(*self.location_words.values()) if len(self.location_words) > 1 else set()
        self.location_words = {k: v - shared for k, v in self.location_words.items()}

    @staticmethod
    def _best(text: str, table: dict[str, set[str]]) -> str | None:
        low = text.lower()
        scores = {}
        for key, words in table.items():
            score = sum(len(w) for w in words if re.search(r"\b" + re.escape(w) + r"\b", low))
            if score:
                scores[key] = score
        if not scores:
            return None
        best = max(scores.values())
        top = [k for k, v in scores.items() if v == best]
        return top[0] if len(top) == 1 else None

    def service(self, text: str) -> str | None:
        return self._best(text, self.service_words)

    def provider(self, text: str) -> str | None:
        return self._best(text, self.provider_words)

    def location(self, text: str) -> str | None:
        return self._best(text, self.location_words)


def _intent(text: str, yes: bool | None, service: str | None) -> str:
    if CANCEL.search(text) and not TOPIC_WORDS["cancellation"].search(text):
        return "cancel"
    if RESCHEDULE.search(text):
        return "reschedule"
    if APPOINTMENT_INFO.search(text):
        return "appointment_info"
    if QUESTION.search(text) and not re.search(r"\b(?:book|schedule|make an appointment)\b", text, re.I):
        return "question"
    if BOOK.search(text):
        return "book"
    if GOODBYE.search(text):
        return "goodbye"
    if yes is True:
        return "affirm"
    if yes is False:
        return "deny"
    if service:  # "is there any chance I could get an exam today?"
        return "book"
    if text.rstrip().endswith("?"):
        return "question"
    return "other"


def _topic(text: str) -> str | None:
    for topic, pattern in TOPIC_WORDS.items():
        if pattern.search(text):
            return topic
    return None


def rules(text: str, today: date, catalog: Catalog) -> Heard:
    """The rule layer: fast, deterministic, and enough for the common calls."""
    digits = spoken.dtmf(text)
    if digits is not None:
        # on the keypad 1 is yes and 2 is no, as in most phone menus
        return Heard(text, intent="other", dtmf=digits, yes={"1": True, "2": False}.get(digits))
    yes = spoken.yes_no(text)
    emergency = None
    if EMERGENCY.search(text) and not NEGATED_EMERGENCY.search(text):
        emergency = "severe" if SEVERE.search(text) else "urgent"
    service = catalog.service(text)
    return Heard(
        text=text, intent=_intent(text, yes, service), service=service, provider=catalog.provider(text),
        location=catalog.location(text), day=spoken.date_request(text, today), when=spoken.time_preference(text),
        yes=yes, topic=_topic(text), new_patient=bool(NEW_PATIENT.search(text)), emergency=emergency,
        wants_person=bool(TRANSFER.search(text)), angry=bool(ANGRY.search(text)),
        injection=bool(INJECTION.search(text)), spanish=_spanish(text))


def _spanish(text: str) -> bool:
    """Spoken in Spanish (Spanish words, no common English ones), or asking for Spanish."""
    if SPANISH_REQUEST.search(text):
        return True
    return bool(SPANISH.search(text)) and not re.search(r"\b(?:the|and|my|to|is|you|what|can)\b", text, re.I)


class Understander:
    """Rules first; a local model and then a cloud model only when the rules could not tell the intent.

    Shared by every call on the box, so it keeps no per-call state.
    """

    def __init__(self, config: Config, local=None, cloud=None, min_confidence: float = 0.5):
        self.catalog = Catalog(config)
        self.local, self.cloud, self.min_confidence = local, cloud, min_confidence

    def hear(self, text: str, today: date, expects: str, context: str = "", redactor=None, *, store=None,
             call_id: str | None = None) -> Heard:
        heard = rules(text, today, self.catalog)
        if heard.intent != "other" or expects != "intent" or heard.dtmf or not text.strip():
            return heard
        started = timer.perf_counter()
        found = self.local.interpret(text, expects, context) if self.local is not None else None
        unsure = found is None or found.intent == "other" or found.confidence < self.min_confidence
        cloud_failed = False
        if unsure and self.cloud is not None and redactor is not None:
            # placeholders replace names, numbers, birth dates and e-mails before anything leaves the box
            answer = self.cloud.interpret(text, expects, context, redactor, store=store, call_id=call_id)
            cloud_failed = answer is None
            found = answer or found
        log.info("model understanding took %.0f ms (source %s)", (timer.perf_counter() - started) * 1000,
                 found.source if found else None)
        if found is None:
            return replace(heard, model_failed=cloud_failed)
        return replace(self._merge(heard, found, today), model_failed=cloud_failed)
    def _merge(self, heard: Heard, found: Interpretation, today: date) -> Heard:
        """Take the model's intent; its slot texts go through the same parsers as the caller's words."""
        slots = found.slots
        update = {"intent": found.intent, "source": found.source, "slots": dict(slots)}
        if "service" in slots and heard.service is None:
            update["service"] = self.catalog.service(slots["service"])
        if "provider" in slots and heard.provider is None:
            update["provider"] = self.catalog.provider(slots["provider"])
        if "date" in slots and heard.day is None:
            update["day"] = spoken.date_request(slots["date"], today)
        if "time" in slots and heard.when is None:
            update["when"] = spoken.time_preference(slots["time"])
        if "topic" in slots and heard.topic is None:
            update["topic"] = slots["topic"]
        return replace(heard, **update)
