"""The fast rule layer: values from what speech recognition writes, before any model is asked.

Every function takes one utterance as recognized (any case, with or without punctuation, numbers as
digits or words) and returns a value or None when the utterance does not clearly say one. Days, times
and dates of birth live in `spoken_dates`, numbers in `spoken_numbers`; this module adds yes/no and
names and re-exports the rest, so callers import from here.
"""

from __future__ import annotations

import re

from appliance.brain.spoken_dates import DateRequest, TimePreference, birth_date, date_request, time_preference
from appliance.brain.spoken_numbers import dtmf, ordinal_choice, phone_number, words_to_digits

__all__ = ["DateRequest", "TimePreference", "birth_date", "date_request", "dtmf", "ordinal_choice", "person_name",
           "phone_number", "time_preference", "words_to_digits", "yes_no"]

_QUOTES = str.maketrans({"’": "'", "‘": "'", "`": "'"})

# ---- yes / no ----------------------------------------------------------------------------------------------
# One scan, alternatives in priority order: at each position the first that matches wins, so
# "not sure" is neutral before "sure" is a yes, and "no problem" is a yes before "no" is a no.
_ANSWER_PHRASES = [
    ("neutral", r"i (?:don'?t|do not) know|(?:i'?m )?not sure|no idea|dunno|maybe|perhaps"
                r"|right now|right away|hold on|hang on|wait"),
    ("yes", r"no problem|not a problem|no worries|why not|(?:i )?(?:don'?t|do not|wouldn'?t) mind"),
    ("no", r"(?:absolutely|definitely|certainly|of course|sure) not|not really|not quite|not (?:ok|okay|right|correct|"
           r"good|fine)|(?:is|that'?s|it'?s) not (?:right|correct)|(?:isn'?t|aren'?t) (?:right|correct)"
           r"|(?:that )?(?:doesn'?t|does not|won'?t|will not) work|rather not|no thanks?(?: you)?"
           r"|that'?s (?:all|everything)(?! (?:correct|right|good|fine))|that'?ll be all|nothing else"
           r"|never ?mind|uh[- ]uh|nuh[- ]uh"),
    ("weak", r"(?:that'?s|it'?s|that is|it is) (?:ok|okay|alright|all right|fine|good)"),  # "no, that's okay" = no
    ("yes", r"yes|yeah|yea|yep|yup|sure|certainly|definitely|absolutely|correct|exactly|affirmative|ok|okay"
            r"|alright|all right|that'?s right|(?:that|it) works|works for me|sounds (?:good|great|fine|perfect)"
            r"|please do|go ahead|of course|uh[- ]huh|mhm+|mm[- ]?hmm|i think so|i believe so|i guess so"),
    ("weak", r"please|thanks?|thank you|fine|good|great|perfect|lovely|cool|right|that'?s fine|do it|i do|i did"
             r"|i will|i'?d like that|confirm(?:ed)?"),
    ("no", r"no|nope|nah|not|never|don'?t|do not|doesn'?t|didn'?t|can'?t|cannot|won'?t|wrong|incorrect|negative"),
]
_ANSWER_RE = re.compile("|".join(rf"(?P<g{i}>\b(?:{src})\b)" for i, (_kind, src) in enumerate(_ANSWER_PHRASES)))
_ANSWER_KINDS = [kind for kind, _src in _ANSWER_PHRASES]


def yes_no(text: str) -> bool | None:
    """True for a yes ("yeah", "sounds good", "no problem"), False for a no ("nope", "no, that's all"), else None.

    A clear no outweighs polite words ("No, that's fine, thanks" is a no); a clear yes and a clear no
    together ("yes no") and "I don't know" are None.
    """
    spoken = " ".join(text.translate(_QUOTES).lower().split())
    kinds = {_ANSWER_KINDS[int(m.lastgroup[1:])] for m in _ANSWER_RE.finditer(spoken)}
    if "yes" in kinds and "no" in kinds:
        return None
    if "no" in kinds:
        return False
    if "yes" in kinds or "weak" in kinds:
        return True
    return None


# ---- names -------------------------------------------------------------------------------------------------

_NAME_PREFIX = re.compile(
    r"^(?:(?:my|the) name(?:'s| is)|name(?:'s| is)|this is|it'?s|it is|i'?m|i am|im|you'?re speaking (?:with|to)"
    r"|speaking with|you can call me|call me)\s+", re.I)
_NAME_SUFFIX = re.compile(r"\s+(?:here|speaking|calling)$", re.I)
_FILLERS = {"yes", "yeah", "yep", "hi", "hello", "hey", "um", "uh", "er", "well", "oh", "ok", "okay", "sure", "so",
            "sorry", "good", "morning", "afternoon", "evening", "there", "and", "hiya", "right", "yea", "ah",
            "certainly", "of", "course"}
# Words that follow "this is" / "I'm" in sentences that are not names, and answers that are not names.
_NOT_NAME_WORDS = """
a an the to for of in on at by with about from into as and or but so if because since than then that this these
those there here it its it's is was be been being are am were do does did done have has had having would
shall should can could may might must not no yes yeah ok okay i i'm i'd i'll me my mine we our us you your he she
him her his they them their who what when where why how which just only also still really very quite too well
now today tonight tomorrow yesterday soon later again back already actually maybe please thanks thank sorry hi
hello hey um uh calling call called looking trying wondering hoping going gonna want wanted wanting need needed
needing like liked would interested new here speaking regarding concerning re fine good great perfect sure
correct right wrong busy free available late early morning afternoon evening night week weekend month year
monday tuesday wednesday thursday friday saturday sunday book booking booked schedule scheduling appointment
appointments cleaning checkup check exam visit cancel cancelling canceling reschedule rescheduling move change
confirm dentist doctor dr hygienist patient patients office clinic insurance pain tooth teeth toothache filling
crown emergency swollen swelling bleeding broken chipped hurts hurting mom dad mother father wife husband son
daughter kid kids child children baby brother sister family friend myself him herself himself someone somebody
nobody anyone anybody everyone person receptionist front desk human real phone number one two three first
second third last next other another same all any some none nothing everything something anything time times
cool awesome wonderful lovely nice okay alright absolutely definitely nope nah never bye goodbye talk speak
glad happy sad sick ill worried scared nervous having got get getting going coming come calling about also
urgent important serious bad terrible awful allergic pregnant out away home traveling ready open flexible retired
insured covered returning existing current former afraid unable able stuck confused lost upset hurt sore numb
"""
_NOT_NAMES = frozenset(_NOT_NAME_WORDS.split())
# "I'm calling", "it's killing me": a word in -ing right after the prefix is a verb, not a first name
_VERB_ING = re.compile(r"^\w{2,}ing$", re.I)
_PARTICLES = {"de", "la", "del", "della", "der", "den", "van", "von", "da", "di", "du", "le", "st", "bin", "al"}
_NAME_WORD = re.compile(r"^[^\W\d_][^\W\d_'\-]*(?:['\-][^\W\d_]+)*$")


def _name_words(words: list[str]) -> list[str]:
    """The leading run of words that can be a name (at most four, particles allowed inside)."""
    taken = []
    for word in words:
        low = word.lower()
        if low in _PARTICLES and taken:
            taken.append(word)
            continue
        if low in _NOT_NAMES or not _NAME_WORD.match(word) or low.endswith("'s") or (len(word) == 1 and taken):
            break
        taken.append(word)
        if len(taken) == 4:
            break
    while taken and taken[-1].lower() in _PARTICLES:
        taken.pop()
    return taken


def _title(word: str) -> str:
    if any(c.isupper() for c in word[1:]) and not word.isupper():
        return word[0].upper() + word[1:]  # keep "McDonald" as said
    return "-".join("'".join(p[:1].upper() + p[1:].lower() for p in part.split("'")) for part in word.split("-"))


def person_name(text: str) -> tuple[str, str | None] | None:
    """(first, last) from "This is James.", "It's Maria Lopez", "Olga Petrov here"; None for sentences that are
    not a name. Everything after the first word is the last name ("Maria Garcia Lopez" -> "Garcia Lopez")."""
    spoken = " ".join(text.translate(_QUOTES).split())
    for clause in re.split(r"[,.;:!?]+", spoken):
        words = clause.split()
        while words and words[0].lower() in _FILLERS:
            words.pop(0)
        if not words:
            continue
        rest = " ".join(words)
        prefixed = _NAME_PREFIX.match(rest)
        if prefixed:
            rest = rest[prefixed.end():]
        suffixed = _NAME_SUFFIX.search(rest)
        if suffixed and not prefixed:
            rest = rest[: suffixed.start()]
        words = rest.split()
        if words and _VERB_ING.match(words[0]) and not (prefixed and "name" in prefixed.group().lower()):
            return None
        name = _name_words(words)
        # a bare answer must be the whole clause ("James Smith"), not the start of a sentence
        if name and (prefixed or suffixed or len(name) == len(words)):
            first, *last = (_title(w) for w in name)
            return first, " ".join(last) or None
        if prefixed:
            return None
    return None
