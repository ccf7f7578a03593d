"""Placeholders for caller PHI before text leaves the box, and the originals put back in the answer.

A `Redactor` lives for one call. It replaces the caller's candidate patients' names, names the
caller introduces, phone numbers (written or spoken digit by digit), e-mail addresses and dates
that could be birth dates by `[NAME_1]`, `[PHONE_1]`, `[DOB_1]`, `[EMAIL_1]` (and long member or
account numbers by `[ID_1]`). The same value always gets the same placeholder, so the cloud model
can copy a placeholder into a slot and `restore` turns it back into what the caller said.
Redacting too much only costs understanding; redacting too little leaks PHI, so doubt redacts.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from appliance.store.patients import plain_lower

PLACEHOLDER = re.compile(r"\[(NAME|PHONE|DOB|EMAIL|ID)_(\d+)\]")
# what a model may send back: brackets sometimes dropped
_LOOSE_PLACEHOLDER = re.compile(r"\[?\b(NAME|PHONE|DOB|EMAIL|ID)_(\d+)\b\]?")
_TOKEN = re.compile(r"\[(?:NAME|PHONE|DOB|EMAIL|ID)_\d+\]|[^\W_]+(?:['’][^\W_]+)?|[^\w\s]")


def _words(text: str) -> list[str]:
    return text.split()


UNITS = {w: i for i, w in enumerate(_words("zero one two three four five six seven eight nine"))} | {"oh": 0}
TEENS = {w: i + 10 for i, w in enumerate(
    _words("ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen"))}
TENS = {w: (i + 2) * 10 for i, w in enumerate(_words("twenty thirty forty fifty sixty seventy eighty ninety"))}
ORDINALS = {w: i + 1 for i, w in enumerate(
    _words("first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth fourteenth "
    "fifteenth sixteenth seventeenth eighteenth nineteenth"))} | {"twentieth": 20, "thirtieth": 30}
NUMBER_WORDS = set(UNITS) | set(TEENS) | set(TENS) | {"hundred", "thousand", "double", "triple"}
MONTHS = {m: i + 1 for i, m in enumerate(
    _words("january february march april may june july august september october november december"))}
MONTHS |= {m[:3]: n for m, n in MONTHS.items()} | {"sept": 9}

_MONTH = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?" \
         r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
_UNIT = r"(?:one|two|three|four|five|six|seven|eight|nine)"
_TEEN = r"(?:ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen)"
_TENS = r"(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)"
_ORD = "|".join(sorted(ORDINALS, key=len, reverse=True))
_DAY = (rf"(?:(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?|(?:twenty|thirty)[\s-]?(?:first|second|third|{_ORD}|{_UNIT})"
        rf"|{_ORD}|{_TEEN}|{_TENS}|{_UNIT})")
_TWO = rf"(?:{_TENS}(?:[\s-]?{_UNIT})?|{_TEEN}|oh[\s-]?{_UNIT})"
_YEAR = (rf"(?:(?:19|20)\d\d|(?:nineteen|twenty)[\s-]?(?:hundred|{_TWO})"
         rf"|two[\s-]thousand(?:[\s-]and)?(?:[\s-]?(?:{_TWO}|{_UNIT}))?)")
_DATES = re.compile("|".join((
    rf"\b{_MONTH}\s+(?:the\s+)?{_DAY}(?:\s*,\s*|\s+(?:of\s+)?){_YEAR}\b",      # April 18th, 1972
    rf"\b(?:the\s+)?{_DAY}\s+(?:of\s+)?{_MONTH},?\s*{_YEAR}\b",                 # the 18th of April 1972
    rf"\b{_MONTH},?\s+{_YEAR}\b",                                               # April 1972
    r"\b(?:19|20)\d\d[-/.]\d{1,2}[-/.]\d{1,2}\b",                               # 1972-04-18
    r"\b\d{1,2}[-/.]\d{1,2}[-/.](?:\d{4}|\d\d)\b",                              # 4/18/1972, 4-18-72
)), re.I)
_BIRTH_CUE = re.compile(r"\b(?:born|birth\s*day|birth\s*date|date\s+of\s+birth|d\.?\s?o\.?\s?b)\b", re.I)
_PHONE_CUE = re.compile(r"\b(?:numbers?|phone|cell|mobile)\b", re.I)
_SENTENCE_END = re.compile(r"[.?!;](?:\s|$)")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_SPOKEN_EMAIL = re.compile(r"\b[\w+-]+(?:(?:\s+(?:dot|underscore|dash|hyphen)\s+|[._-])[\w+-]+)*"
                           r"\s+at\s+[\w-]+(?:(?:\s+dot\s+|\.)[a-z]{2,})+\b", re.I)
_ACCOUNT_ID = re.compile(r"\b(?=[a-z]*\d)(?=\d*[a-z])[a-z\d]{6,}\b", re.I)  # member ids like W123456789
_SPELLED = re.compile(r"\b(?:[a-z][\s.-]+){2,}[a-z]\b(?![\w'’])", re.I)   # S M I T H, s-m-i-t-h
_WORD = r"[^\W\d_](?:[^\W\d_]|['’\-](?=[^\W\d_]))*"
_TITLE = r"(?:(?:mr|mrs|ms|miss|dr|doctor)\.?\s+)?"
_STRONG = (r"(?:(?:my|the|first|last|sur)\s*name\s+is|(?:my\s+)?name['’]s|named|call\s+me|['’]s\s+name\s+is"
           r"|me\s+llamo|mi\s+nombre\s+es)")
_RELATION = (r"(?:my|his|her|our|['’]s)\s+(?:son|daughter|husband|wife|partner|mom|mother|dad|father|child|kid|"
             r"boy|girl|brother|sister|grandson|granddaughter|grandmother|grandma|grandfather|grandpa|nephew|niece|aunt|uncle)")
_WEAK = rf"(?:this\s+is|it['’]?s|it\s+is|i['’]?m|i\s+am|under(?:\s+the\s+name)?|speaking|{_RELATION})"
_INTRO = re.compile(rf"\b(?:(?P<strong>{_STRONG})|(?P<weak>{_WEAK}))[,:]?\s+{_TITLE}(?={_WORD})", re.I)
# "Rosa Diaz speaking", "Hi, James here" at the start of a sentence or clause
_SIGNED = re.compile(rf"(?:^|[.,;!?]\s*|\b(?:hi|hello|hey|yes|yeah)[,!]?\s+)(?P<name>{_WORD}(?:[ \-]{_WORD}){{0,2}})"
                     r"\s+(?:speaking|here)\b", re.I)
_NAME_WORD = re.compile(rf"({_WORD})")
_NEXT_NAME_WORD = re.compile(rf"[ \-]({_WORD})")

# Words that follow "this is" / "it's" / "I'm" without being a name (kept short: doubt redacts).
STOP = set(_words("""
a an the and or but so of to in on at by for with from about as into like than then there here this that these those
it its it's is are was were be been being am do does did done have has had will would can could should shall may might
must not no yes yeah yep yup nope ok okay sure fine good great well just only also still even really very actually
probably maybe please thanks thank sorry hello hi hey bye goodbye uh um er ah oh hmm mm i me my mine you your yours he
him his she her hers we us our they them their who whom what when where why how which whose someone somebody anyone
anybody nobody everyone one two three four five six seven eight nine ten all any some another other same first second
third last next new old right wrong correct back home out off over up down again too now soon later today tomorrow
tonight yesterday week weekend month year morning afternoon evening night noon midnight early late monday tuesday
wednesday thursday friday saturday sunday january february march april june july august september october november
december calling call called looking trying wondering hoping going gonna wanna need needs needed want wants wanted
get got getting make made see seen come came coming said says ask asked asking check checking book booking booked
schedule scheduled reschedule cancel cancelled canceled confirm confirmed confirming available free busy open closed
running stuck able unable afraid confused worried scared nervous sick ill hurt hurting bleeding swollen broken chipped
cracked sore urgent emergency pain painful tooth teeth toothache gum gums jaw mouth face cleaning clean exam checkup
filling fillings crown crowns root canal whitening extraction implant braces denture dentures xray x-ray appointment
appointments visit dentist dental doctor dr hygienist patient patients person human receptionist front desk office
clinic location downtown northside insurance metlife cigna aetna delta guardian humana united unitedhealthcare uhc
anthem blue cross shield bcbs medicaid medicare geha ameritas principal careington cash card payment price cost bill
billing parking hours address everything nothing something anything fine regarding re mister missus name
really only actually probably definitely finally currently hopefully usually already almost exactly totally literally
interested married retired insured covered supposed pleased glad happy sad fine alright here there tired stressed
concerned excited embarrassed annoyed frustrated relieved prepared registered located based disappointed
spanish english french chinese mandarin cantonese vietnamese korean arabic russian portuguese hindi tagalog
son daughter husband wife partner mom mother dad father child kid kids boy girl brother sister family
"""))
# first names that are also ordinary words: taken as names after "my name is", not after "it's"
NAMEABLE = {"april", "may", "june", "august", "will", "bill", "mark", "grace", "hope", "joy", "faith", "rose",
            "dawn", "summer", "sunny", "art", "frank", "jack", "pat", "rich", "sue", "ray", "ruby", "pearl"}
_NAME_EXPECTS = {"name", "which_patient"}


def _fold(text: str) -> str:
    return " ".join(plain_lower(text).split())


def _is_stop(word: str, nameable_ok: bool = False) -> bool:
    w = _fold(word).replace("’", "'")
    return any(x in STOP and not (nameable_ok and x in NAMEABLE) for x in (w, w.split("'")[0]))


def _is_cased(text: str) -> bool:
    """Does the recognizer capitalize (so a lowercase word after "this is" is not a name)?"""
    rest = re.sub(r"\bI\b|\bI['’]|^\W*\w|[.?!]\s+\w", "", PLACEHOLDER.sub("", text))
    return any(c.isupper() for c in rest)


def _name_like(word: str, cased: bool, weak: bool) -> bool:
    """Could this word be part of a person's name (after a trigger or beside a known name)?"""
    if _is_stop(word, nameable_ok=not weak) or len(word) < 2:
        return False
    if cased:
        return word[0].isupper()
    # lowercase transcripts: "I'm calling", "it's hurting" are not names (Ahmed, Mohammed are, so no "-ed" rule)
    return not (weak and len(word) > 4 and _fold(word).endswith("ing"))


def _name_pattern(name: str) -> str:
    """A whole-word pattern for a known name: any accents optional, spaces/hyphens/apostrophes loose."""
    out = []
    for ch in name.strip():
        base = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
        if not ch.isalnum():
            out.append(r"[\s'’\-]*")
        elif base and base != ch:
            out.append(f"[{re.escape(ch)}{re.escape(base)}]")
        else:
            out.append(re.escape(ch))
    return "".join(out)


def spoken_digits(words: list[str]) -> str:
    """The digits a caller read out ("two one seven", "double five", "fifty five"), as a string."""
    out, i = [], 0
    words = [w.lower() for w in words]
    while i < len(words):
        w, nxt = words[i], words[i + 1] if i + 1 < len(words) else ""
        if w.isdigit():
            out.append(w)
        elif w in UNITS:
            out.append(str(UNITS[w]))
        elif w in TEENS:
            out.append(str(TEENS[w]))
        elif w in TENS:
            unit = UNITS.get(nxt, 0) if nxt not in ("zero", "oh") else 0
            out.append(str(TENS[w] + unit))
            i += bool(unit)
        elif w in ("double", "triple") and (nxt in UNITS or (nxt.isdigit() and len(nxt) == 1)):
            out.append((nxt if nxt.isdigit() else str(UNITS[nxt])) * (2 if w == "double" else 3))
            i += 1
        elif w in ("hundred", "thousand"):
            out.append("00" if w == "hundred" else "000")
        i += 1
    return "".join(out)


def _spoken_number(words: list[str]) -> int | None:
    """A day or year said in words: "eighteenth" 18, "nineteen seventy two" 1972, "two thousand three" 2003."""
    words = [w for w in words if w != "and"]
    if not words:
        return None
    if "thousand" in words:
        k = words.index("thousand")
        high, low = _spoken_number(words[:k]) or 1, _spoken_number(words[k + 1:]) or 0
        return high * 1000 + low
    if words[-1] == "hundred":
        return (_spoken_number(words[:-1]) or 1) * 100
    groups, i = [], 0
    while i < len(words):
        w = words[i]
        if w in TENS:
            nxt = words[i + 1] if i + 1 < len(words) else ""
            extra = UNITS.get(nxt) or ORDINALS.get(nxt, 0) if nxt not in ("zero", "oh") else 0
            groups.append(TENS[w] + (extra if extra < 10 else 0))
            i += 1 + bool(extra)
            continue
        value = TEENS.get(w, ORDINALS.get(w, UNITS.get(w)))
        if value is None:
            return None
        if w == "oh" and i + 1 < len(words) and words[i + 1] in UNITS:
            value, i = UNITS[words[i + 1]], i + 1
        groups.append(value)
        i += 1
    if len(groups) == 1:
        return groups[0]
    return groups[0] * 100 + groups[1] if len(groups) == 2 else None


def date_key(text: str) -> str:
    """A canonical YYYY-MM-DD for a date however it was said, so one birth date keeps one placeholder."""
    folded = _fold(text).replace(",", " ")
    nums = re.findall(r"\d+", folded)
    iso = re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", folded)
    if iso:
        y, m, d = map(int, iso.groups())
    elif re.fullmatch(r"\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}", folded):
        m, d, y = map(int, nums)
        m, d = (d, m) if m > 12 >= d else (m, d)   # 18/04/1972 is day first
        y += 0 if y > 99 else 1900 if y > 30 else 2000
    else:
        words = re.findall(r"[a-z]+|\d+", folded)
        month = next((MONTHS[w] for w in words if w in MONTHS), None)
        rest = [w for w in words if w not in MONTHS and w not in ("the", "of", "st", "nd", "rd", "th")]
        rest = [re.sub(r"(?<=\d)(st|nd|rd|th)$", "", w) for w in rest]
        year = next((int(w) for w in rest if w.isdigit() and len(w) == 4), None)
        day = next((int(w) for w in rest if w.isdigit() and len(w) <= 2), None)
        if year is None or day is None:
            split = next((i for i, w in enumerate(rest) if w in ("nineteen", "twenty", "two") and i > 0), None)
            spoken = [w for w in rest if not w.isdigit()]
            if day is None and year is not None:
                day = _spoken_number(spoken)
            elif year is None and day is not None:
                year = _spoken_number(spoken)
            elif split is not None:
                day, year = _spoken_number(rest[:split]), _spoken_number(rest[split:])
            else:
                year = _spoken_number(spoken)  # "April nineteen oh five"
        if not (month and year):
            return folded
        m, d, y = month, day or 0, year
    return f"{y:04d}-{m:02d}-{d:02d}"


class Redactor:
    """Placeholders for one call's PHI; `redact` before sending, `restore` on what comes back."""

    def __init__(self, known: Iterable[str] = ()):
        self._by_key: dict[tuple[str, str], str] = {}
        self._originals: dict[str, str] = {}
        self._names: set[str] = set()
        self._name_sources: set[str] = set()
        self._name_re: re.Pattern | None = None
        self._birthdays: list[tuple[re.Pattern, str]] = []  # known birth dates said without a year
        self.add(known)

    # ---- what we know about the caller ----

    def add(self, known: Iterable[str]) -> None:
        """Learn more names to redact from now on (the caller's candidate patients, first and last).

        E-mails, phone numbers and dated birth dates are found by their shape in any form, known or not;
        a known birth date (YYYY-MM-DD) is also redacted when said without its year ("August 2nd").
        """
        for value in known:
            value = (value or "").strip()
            if re.fullmatch(r"(?:19|20)\d\d-\d\d-\d\d", value):
                self._birthdays.append((_birthday_pattern(int(value[5:7]), int(value[8:])), value))
            elif value and "@" not in value and not any(c.isdigit() for c in value):
                self._learn_name(value)

    def _learn_name(self, name: str) -> None:
        parts = [p for p in re.split(r"[\s,]+", name) if len(p) >= 2]
        new = {n for n in [" ".join(parts), *parts] if n and _fold(n) not in self._names}
        if new:
            self._names |= {_fold(n) for n in new}
            self._name_sources |= new
            alts = sorted({_name_pattern(n) for n in self._name_sources}, key=len, reverse=True)
            self._name_re = re.compile(rf"(?<![\w\[])(?:{'|'.join(alts)})(?![\w\]])", re.I)

    # ---- placeholders ----

    def _placeholder(self, kind: str, key: str, original: str) -> str:
        found = self._by_key.get((kind, key))
        if found is None:
            n = sum(1 for k, _ in self._by_key if k == kind) + 1
            found = self._by_key[(kind, key)] = f"[{kind}_{n}]"
            self._originals[found] = original.strip()
        return found

    @property
    def placeholders(self) -> dict[str, str]:
        """Placeholder -> original text, for tests and debugging on the box (never logged)."""
        return dict(self._originals)

    def restore(self, value):
        """Put the originals back into a string, or into the strings of a dict / list / tuple, recursively."""
        if isinstance(value, str):
            return _LOOSE_PLACEHOLDER.sub(
                lambda m: self._originals.get(f"[{m.group(1)}_{m.group(2)}]", m.group(0)), value)
        if isinstance(value, dict):
            return {k: self.restore(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.restore(v) for v in value)
        return value

    @staticmethod
    def has_placeholder(text) -> bool:
        """Does this string still hold a placeholder (one the model made up, as restore keeps those)?"""
        return isinstance(text, str) and bool(_LOOSE_PLACEHOLDER.search(text))

    # ---- redaction ----

    def redact(self, text: str, expects: str | None = None) -> str:
        """The text with PHI replaced by placeholders; `expects` (what the box asked for) redacts harder."""
        if not text:
            return text
        text = _EMAIL.sub(lambda m: self._placeholder("EMAIL", m.group(0).lower(), m.group(0)), text)
        text = _SPOKEN_EMAIL.sub(lambda m: self._placeholder("EMAIL", _spoken_email_key(m.group(0)), m.group(0)),
                                 text)
        text = _DATES.sub(lambda m: self._placeholder("DOB", date_key(m.group(0)), m.group(0)), text)
        for pattern, iso in self._birthdays:
            text = pattern.sub(lambda m, key=iso: self._placeholder("DOB", key, m.group(0)), text)
        text = self._cued(text, _BIRTH_CUE, self._dob_runs)
        if expects == "date_of_birth":
            text = self._dob_runs(text)
        text = _ACCOUNT_ID.sub(lambda m: self._id(m.group(0)), text)
        text = self._phone_runs(text, 7)
        text = self._cued(text, _PHONE_CUE, lambda s: self._phone_runs(s, 4))  # "ends in 0103"
        if expects == "phone":
            text = self._phone_runs(text, 3)
        text = self._introduced(text)
        text = _SPELLED.sub(self._spelled, text)
        text = self._known_names(text)
        if expects in _NAME_EXPECTS:
            text = self._all_names(text)
        return text

    def _id(self, token: str) -> str:
        if sum(c.isdigit() for c in token) < 5 or re.fullmatch(r"\d+(?:st|nd|rd|th)", token, re.I):
            return token
        return self._placeholder("ID", token.upper(), token)

    def _cued(self, text: str, cue: re.Pattern, redact) -> str:
        """Apply `redact` to the rest of each sentence after a cue ("born ...", "my number is ...")."""
        out, pos = [], 0
        for m in cue.finditer(text):
            if m.start() < pos:
                continue
            end = _SENTENCE_END.search(text, m.end())
            end = end.start() if end else len(text)
            out += [text[pos:m.end()], redact(text[m.end():end])]
            pos = end
        return "".join(out) + text[pos:]

    def _phone_runs(self, text: str, min_digits: int) -> str:
        def core(t):
            return t.isdigit() or t.lower() in NUMBER_WORDS

        def replace(words, span):
            digits = spoken_digits(words)
            if len(digits) < min_digits:
                return None
            key = digits[1:] if len(digits) == 11 and digits[0] == "1" else digits
            return self._placeholder("PHONE", key, span)

        # callers pause mid-number ("two one seven, uh, five five five ..."): a filler does not end it
        return _replace_runs(text, core, {"-", ",", ".", "(", ")", "/", "uh", "um", "er", "erm"}, replace, lead="+(")

    def _dob_runs(self, text: str) -> str:
        def core(t):
            t = t.lower().rstrip(".")
            return (t.isdigit() or t in NUMBER_WORDS or t in ORDINALS or t in MONTHS
                    or bool(re.fullmatch(r"\d{1,2}(?:st|nd|rd|th)", t)))

        def replace(words, span):
            dated = any(w.lower().rstrip(".") in MONTHS or w.lower() in ORDINALS or not w.isalnum() for w in words)
            if not dated and len(spoken_digits(words)) >= 7:
                return None  # "born in May, number 217 555 0100": a phone number, left for the phone pass
            return self._placeholder("DOB", date_key(span), span)

        return _replace_runs(text, core, {"-", ",", ".", "/", "of", "the", "and"}, replace)

    def _introduced(self, text: str) -> str:
        """Names the caller gives ("my name is X Y", "this is X", "for my daughter X"); learned for later turns."""
        cased, spans = _is_cased(text), []
        for m in _INTRO.finditer(text):
            weak, words, end = m.group("strong") is None, [], m.end()
            w = _NAME_WORD.match(text, end)
            while w and len(words) < 3 and _name_like(w.group(1), cased, weak):
                words.append(w.group(1))
                end = w.end()
                w = _NEXT_NAME_WORD.match(text, end)
            if words and (not spans or m.end() >= spans[-1][1]):
                spans.append((m.end(), end, " ".join(words)))
        for m in _SIGNED.finditer(text):
            words = m.group("name").replace("-", " ").split()
            if all(_name_like(w, cased, True) for w in words) and not any(s < m.end() and m.start() < e
                                                                             for s, e, _ in spans):
                spans.append((m.start("name"), m.end("name"), m.group("name")))
        spans.sort()
        for start, end, name in reversed(spans):
            text = text[:start] + self._placeholder("NAME", _fold(name), text[start:end]) + text[end:]
            self._learn_name(name)
        return text

    def _spelled(self, m: re.Match) -> str:
        """A spelled name ("Smith, S M I T H") keeps the placeholder of the name it spells, which is learned."""
        word = re.sub(r"\W", "", m.group(0))
        if re.search(rf"\b{word}\b", m.string, re.I):
            self._learn_name(word)
        return self._placeholder("NAME", _fold(word), m.group(0))

    def _known_names(self, text: str) -> str:
        if self._name_re is None:
            return text
        cased, out, pos = _is_cased(text), [], 0
        for m in self._name_re.finditer(text):
            if m.start() < pos:
                continue
            end = m.end()
            # a surname said right after a known first name ("James Smith" when only James was known)
            nxt = _NEXT_NAME_WORD.match(text, end)
            if " " not in m.group(0).strip() and nxt and _name_like(nxt.group(1), cased, True) \
                    and not self._name_re.fullmatch(nxt.group(1)):
                end = nxt.end()
            said = text[m.start():end]
            out += [text[pos:m.start()], self._placeholder("NAME", _fold(said), said)]
            pos = end
        return "".join(out) + text[pos:]

    def _all_names(self, text: str) -> str:
        """After "what is your name?" every word that is not an ordinary word is taken for a name."""
        return _replace_runs(text, lambda t: bool(re.fullmatch(_WORD, t)) and not _is_stop(t), {"-"},
                             lambda words, span: self._placeholder("NAME", _fold(span), span))


def _birthday_pattern(month: int, day: int) -> re.Pattern:
    """Month and day of a known birth date in the usual spoken and written forms, without a year."""
    names = "|".join(m for m, n in MONTHS.items() if n == month)
    by_value = {v: w for w, v in (ORDINALS | UNITS | TEENS | TENS).items() if w != "oh"}
    tens, unit = divmod(day, 10)
    words = [w for w, v in ORDINALS.items() if v == day] + ([by_value[day]] if day in by_value else [])
    if day > 20 and unit:
        words += [rf"{by_value[tens * 10]}[\s-]?{w}" for w, v in (ORDINALS | UNITS).items() if v == unit and w != "oh"]
    said_day = "|".join([rf"0?{day}(?:st|nd|rd|th)?", *words])
    return re.compile(rf"\b(?:(?:{names})\.?\s+(?:the\s+)?(?:{said_day})|(?:the\s+)?(?:{said_day})\s+of\s+(?:{names})"
                      rf"|0?{month}[/-]0?{day})\b(?![/-]\d)", re.I)


def _spoken_email_key(said: str) -> str:
    s = re.sub(r"\s+dot\s+", ".", said.lower())
    s = re.sub(r"\s+underscore\s+", "_", s)
    s = re.sub(r"\s+(?:dash|hyphen)\s+", "-", s)
    return re.sub(r"\s+at\s+", "@", s).replace(" ", "")


def _replace_runs(text: str, core, glue: set[str], replace, lead: str = "") -> str:
    """Replace each run of `core` tokens (with `glue` tokens only between them) by `replace(words, span)`."""
    runs, current = [], []
    for tok in _TOKEN.finditer(text):
        t = tok.group(0)
        if core(t) or (current and t.lower() in glue):
            current.append(tok)
        else:
            runs.append(current)
            current = []
    runs.append(current)
    out, pos = [], 0
    for run in runs:
        while run and not core(run[-1].group(0)):
            run = run[:-1]
        if not run:
            continue
        start, end = run[0].start(), run[-1].end()
        while start > pos and text[start - 1] in lead:
            start -= 1
        words = [t.group(0) for t in run if core(t.group(0))]
        new = replace(words, text[start:end])
        if new is not None:
            out += [text[pos:start], new]
            pos = end
    return "".join(out) + text[pos:]
