"""Numbers as speech recognition writes them: number words to digits, phone numbers, choices, key presses.

Everything here is a pure function over one utterance; the regexes are compiled at import so a call
stays far below a millisecond.
"""

from __future__ import annotations

import re

import phonenumbers

_DIGITS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
           "nine": 9}
_TEENS = {"ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
          "seventeen": 17, "eighteen": 18, "nineteen": 19}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
ORDINAL_WORDS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8, "ninth": 9,
    "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14, "fifteenth": 15,
    "sixteenth": 16, "seventeenth": 17, "eighteenth": 18, "nineteenth": 19, "twentieth": 20, "thirtieth": 30,
}
CARDINAL_WORDS = {**_DIGITS, **_TEENS, **_TENS}
MONTH_WORDS = {"january", "jan", "february", "feb", "march", "mar", "april", "apr", "may", "june", "jun", "july",
               "jul", "august", "aug", "september", "sep", "sept", "october", "oct", "november", "nov", "december",
               "dec"}

# "one" is also a pronoun ("the first one", "that one"): it is a number only next to other number
# words, after these cue words, before these time words, or said on its own.
_ONE_CUES = {"at", "number", "option", "choice", "around", "about", "after", "before", "by", "until", "till", "past"}
_ONE_AFTER = {"am", "pm", "a.m", "p.m", "o'clock", "oclock"}
# an ordinal followed by one of these picks an offered option, not a day ("the fourth one")
_CHOICE_NOUNS = {"one", "ones", "option", "options", "choice", "slot", "time", "appointment", "available", "opening",
                 "thing", "checkup", "visit"}
# "first/second/third" are days only in a date context ("December first", "the 2nd of", "on the third")
_DAY_FOLLOWERS = {"of", "then", "at", "in", "any", "anytime", "morning", "afternoon", "evening", "please", "or",
                  "and", "instead", "if"}

_NUMBER_KINDS = {"digit", "teen", "tens", "ord", "hundred", "thousand", "one", "mult", "and"}
_TOKEN = re.compile(r"\S+")
_EDGES = re.compile(r"^(\W*)(.*?)(\W*)$", re.S)


class _Tok:
    __slots__ = ("lead", "core", "trail", "low", "kind", "value")

    def __init__(self, lead: str, core: str, trail: str):
        self.lead, self.core, self.trail, self.low = lead, core, trail, core.lower()
        self.kind, self.value = _base_kind(self.low)


def _base_kind(low: str) -> tuple[str | None, int]:
    if low == "one":
        return "one", 1
    if low in _DIGITS:
        return "digit", _DIGITS[low]
    if low in ("oh", "o"):
        return "oh", 0
    if low in _TEENS:
        return "teen", _TEENS[low]
    if low in _TENS:
        return "tens", _TENS[low]
    if low in ORDINAL_WORDS:
        return "ord", ORDINAL_WORDS[low]
    if low in ("hundred", "thousand", "and"):
        return low, 0
    if low in ("double", "triple"):
        return "mult", 2 if low == "double" else 3
    return None, 0


def _tokens(text: str) -> list[_Tok]:
    toks = []
    for raw in _TOKEN.findall(text):
        lead, core, trail = _EDGES.match(raw).groups()
        parts = core.split("-")
        if len(parts) > 1 and all(_base_kind(p.lower())[0] for p in parts):
            # "twenty-third", "two-one-seven": each part is its own number word
            for i, part in enumerate(parts):
                toks.append(_Tok(lead if i == 0 else "", part, trail if i == len(parts) - 1 else ""))
        else:
            toks.append(_Tok(lead, core, trail))
    return toks


def _linked(toks: list[_Tok], i: int, j: int) -> bool:
    """Tokens i < j = i + 1 belong to one spoken group (no punctuation between them)."""
    return i >= 0 and j < len(toks) and not toks[i].trail and not toks[j].lead


def _resolve(toks: list[_Tok]) -> None:
    """Decide which ambiguous words ("oh", "one", "and", ordinals) are numbers here; others get kind None."""
    n = len(toks)
    nxt = [toks[i + 1] if _linked(toks, i, i + 1) else None for i in range(n)]
    prv = [toks[i - 1] if _linked(toks, i - 1, i) else None for i in range(n)]
    for i, t in enumerate(toks):
        if t.kind in ("oh", "mult"):
            ok = nxt[i] is not None and nxt[i].kind in ("digit", "one", "oh")
            t.kind = ("digit" if t.kind == "oh" else "mult") if ok else None
    for i, t in enumerate(toks):
        if t.kind in ("hundred", "thousand"):
            ok = prv[i] is not None and prv[i].kind in ("digit", "one", "teen", "tens", "hundred")
            t.kind = t.kind if ok else None
    for i, t in enumerate(toks):
        if t.kind == "one":
            p, q = prv[i], nxt[i]
            near = (p is not None and p.kind in ("digit", "one", "teen", "tens", "hundred", "thousand", "and")) or (
                q is not None and q.kind in ("digit", "one", "teen", "tens", "hundred", "thousand"))
            cue = (i > 0 and toks[i - 1].low in _ONE_CUES) or (i + 1 < n and toks[i + 1].low in _ONE_AFTER)
            t.kind = "digit" if near or cue or n == 1 else None
        elif t.kind == "and":
            ok = prv[i] is not None and prv[i].kind in ("hundred", "thousand") and nxt[i] is not None and nxt[
                i].kind in ("digit", "one", "teen", "tens", "ord")
            t.kind = "and" if ok else None
    for i, t in enumerate(toks):
        if t.kind == "ord":
            t.kind = "ord" if _is_number_ordinal(toks, i, prv[i]) else None


def _is_number_ordinal(toks: list[_Tok], i: int, prev: _Tok | None) -> bool:
    after = toks[i + 1].low if i + 1 < len(toks) else ""
    if after in _CHOICE_NOUNS:
        return False
    if toks[i].value > 3 or (prev is not None and prev.kind == "tens"):
        return True
    before = toks[i - 1].low if i > 0 else ""
    before2 = toks[i - 2].low if i > 1 else ""
    if before in MONTH_WORDS or (before == "the" and before2 in MONTH_WORDS) or after == "of":
        return True
    ends_clause = i + 1 == len(toks) or bool(toks[i].trail)
    return before == "the" and (ends_clause or after in _DAY_FOLLOWERS)


def _suffix(n: int) -> str:
    if 10 <= n % 100 <= 20:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


def _cardinal(run: list[_Tok], i: int) -> tuple[int, int, bool]:
    """Parse "two thousand and three", "twenty third", "one hundred five" from run[i]; (value, next i, ordinal)."""
    total = cur = 0
    last = None
    j = i
    while j < len(run):
        t = run[j]
        kind = t.kind
        if kind == "ord":
            kind = "digit" if t.value < 10 else "teen" if t.value < 20 else "tens"
        units_free = last in (None, "hundred", "thousand", "and")
        if (kind == "digit" and t.value > 0 and (units_free or last == "tens")) or (
                kind in ("teen", "tens") and units_free):
            cur += t.value
        elif kind == "hundred" and last in ("digit", "teen", "tens") and cur < 100:
            cur *= 100
        elif kind == "thousand" and last in ("digit", "teen", "tens", "hundred") and total == 0:
            total, cur = cur * 1000, 0
        elif kind == "and" and last in ("hundred", "thousand"):
            pass
        else:
            break
        last = kind
        j += 1
        if t.kind == "ord":
            return total + cur, j, True
    return total + cur, j, False


def _parse_run(run: list[_Tok], ordinal_suffix: bool) -> list[str]:
    """Digit strings for one group of number words, split where a new number clearly starts."""
    chunks: list[str] = []
    i = 0

    def before_multiplier(k: int) -> bool:
        return k + 1 < len(run) and run[k + 1].kind in ("hundred", "thousand")

    while i < len(run):
        t = run[i]
        if t.kind in ("digit", "mult") and not before_multiplier(i):
            # digit by digit, as phone numbers and "oh seven" are said
            digits = ""
            while i < len(run) and run[i].kind in ("digit", "mult") and not before_multiplier(i):
                if run[i].kind == "mult" and i + 1 < len(run) and run[i + 1].kind == "digit":
                    digits += str(run[i + 1].value) * run[i].value
                    i += 2
                elif run[i].kind == "mult":
                    break
                else:
                    digits += str(run[i].value)
                    i += 1
            if digits:
                chunks.append(digits)
                continue
        nxt = run[i + 1] if i + 1 < len(run) else None
        if t.kind in ("teen", "tens") and t.value in (19, 20) and nxt is not None:
            # years said in pairs: "nineteen seventy two", "twenty twenty six", "twenty oh five"
            low, j = None, i + 2
            if nxt.kind in ("teen", "tens"):
                low = nxt.value
                if nxt.kind == "tens" and j < len(run) and run[j].kind == "digit" and run[j].value > 0:
                    low, j = low + run[j].value, j + 1
            elif nxt.kind == "digit" and nxt.value == 0 and j < len(run) and run[j].kind == "digit":
                low, j = run[j].value, j + 1
            if low is not None:
                chunks.append(f"{t.value}{low:02d}")
                i = j
                continue
        value, j, is_ordinal = _cardinal(run, i)
        if j == i:  # cannot happen after _resolve, but never loop forever
            chunks.append(t.core)
            i += 1
            continue
        chunks.append(f"{value}{_suffix(value)}" if is_ordinal and ordinal_suffix else str(value))
        i = j
    return chunks


def _convert(text: str, ordinal_suffix: bool) -> str:
    toks = _tokens(text)
    _resolve(toks)
    out: list[str] = []
    i = 0
    while i < len(toks):
        if toks[i].kind not in _NUMBER_KINDS:
            out.append(toks[i].lead + toks[i].core + toks[i].trail)
            i += 1
            continue
        j = i + 1
        while j < len(toks) and toks[j].kind in _NUMBER_KINDS and _linked(toks, j - 1, j):
            j += 1
        run = toks[i:j]
        out.append(run[0].lead + " ".join(_parse_run(run, ordinal_suffix)) + run[-1].trail)
        i = j
    return " ".join(out)


def words_to_digits(text: str) -> str:
    """The utterance with spoken numbers as digits: "oh seven twenty three two thousand three" -> "07 23 2003".

    Digits said one by one are joined ("two one seven" -> "217"); separate numbers stay separate words;
    ordinals become plain numbers ("twenty-third" -> "23"). Ambiguous words stay words: "one" unless it is
    next to other numbers or a cue ("at one", "one pm"), "oh" unless a digit follows, ordinals followed by
    "one/option/slot" ("the first one"), and "first/second/third" outside a date context.
    """
    return _convert(text, ordinal_suffix=False)


def words_to_ordinal_digits(text: str) -> str:
    """Like `words_to_digits`, but ordinals keep their suffix ("the twenty third" -> "the 23rd")."""
    return _convert(text, ordinal_suffix=True)


# ---- phone numbers -------------------------------------------------------------------------------

_PLUS = re.compile(r"\bplus\s*(?=\d)", re.I)
_PHONE_SPAN = re.compile(r"\+?\(?\d[\d\s().,/-]*\d")


def phone_number(text: str, region: str = "US") -> str | None:
    """The E.164 form of a valid phone number in the utterance ("two one seven, five five five, ..."), else None."""
    spoken = _PLUS.sub("+", words_to_digits(text))
    for match in _PHONE_SPAN.finditer(spoken):
        candidate = re.sub(r"[^\d+]", "", match.group())
        if not 7 <= len(candidate.lstrip("+")) <= 15:
            continue
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None


# ---- which offered option ------------------------------------------------------------------------

_SMALL = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
          "ten": 10}
_ORD_SRC = "|".join(sorted(ORDINAL_WORDS, key=len, reverse=True))
_NUM_SRC = "|".join(_SMALL)
_MONTH_SRC = "|".join(sorted(MONTH_WORDS, key=len, reverse=True))
_CHOICE = re.compile(
    rf"\b(?:(?P<ord>{_ORD_SRC}|\d{{1,2}}(?:st|nd|rd|th))\b(?!\s+(?:of\b|thing\b))"
    rf"|(?:number|option|choice|slot)\s*(?P<num>\d{{1,2}}|{_NUM_SRC})\b"
    r"|(?P<last>(?:the\s+)?(?:last|final|latter)\b(?!\s+(?:name|week|month|year|time|night|visit))"
    r"|the\s+(?:later|latest)(?:\s+one)?\b)"
    r"|(?P<early>the\s+(?:earlier|earliest|sooner|soonest)(?:\s+one)?\b)"
    r"|(?P<middle>(?:the\s+)?middle(?:\s+one)?\b))"
)
_CHOICE_NEGATED = re.compile(r"\bnot\s+(?:the\s+)?$")
_CHOICE_NOT_ORDINAL = re.compile(rf"(?:\b(?:{_MONTH_SRC})\s+(?:the\s+)?|\b(?:a|just a|one)\s+|\bat\s+)$")
_CHOICE_FILLERS = {"the", "um", "uh", "please", "ok", "okay", "let's", "lets", "do", "go", "with", "i'll", "take",
                   "number", "option", "yes", "yeah", "how", "about"}
_DTMF = re.compile(r"^\s*<\s*dtmf\s*([0-9*#a-d][0-9*#a-d\s]*)>\s*$", re.I)


def ordinal_choice(text: str, count: int) -> int | None:
    """The 0-based index of the offered option the caller picks ("the first one", "option 2", "the last one")."""
    if count <= 0:
        return None
    spoken = " ".join(text.lower().replace("’", "'").split())
    picks: set[int] = set()
    for m in _CHOICE.finditer(spoken):
        before = spoken[max(0, m.start() - 30): m.start()]
        if _CHOICE_NEGATED.search(before):
            continue
        if m.group("ord"):
            if _CHOICE_NOT_ORDINAL.search(before):  # "December first", "a second", "at first"
                continue
            word = m.group("ord")
            picks.add((ORDINAL_WORDS[word] if word in ORDINAL_WORDS else int(word[:-2])) - 1)
        elif m.group("num"):
            word = m.group("num")
            picks.add((_SMALL[word] if word in _SMALL else int(word)) - 1)
        elif m.group("last"):
            picks.add(count - 1)
        elif m.group("early"):
            picks.add(0)
        elif count % 2 == 1:
            picks.add(count // 2)
    if not picks:
        # just a number on its own: "two", "2 please", "the one"
        words = [w for w in re.findall(r"[\w'#]+", spoken) if w not in _CHOICE_FILLERS]
        if len(words) == 1 and (words[0] in _SMALL or (words[0].isdecimal() and len(words[0]) <= 3)):
            picks.add((_SMALL[words[0]] if words[0] in _SMALL else int(words[0])) - 1)
    if len(picks) != 1:
        return None
    index = picks.pop()
    return index if 0 <= index < count else None


def dtmf(text: str) -> str | None:
    """The keys of a key-press line ("<dtmf 5#>" -> "5#"), else None."""
    m = _DTMF.match(text)
    return re.sub(r"\s", "", m.group(1)).upper() if m else None
