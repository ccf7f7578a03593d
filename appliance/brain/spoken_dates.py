"""Days, times of day and dates of birth in what a caller says, read relative to the call's clinic-local date.

Rules chosen here, so flows can rely on them:
- A bare weekday ("Thursday", "any time Thursday") is its next occurrence strictly after today; "this
  Thursday" is the next occurrence on or after today; "next Thursday" is the Thursday of next week
  (weeks run Monday to Sunday), so "next Monday" said on Tuesday 2026-12-01 is 2026-12-07.
- A date without a year ("December 24th", "12/24") and a bare day ("the 23rd") are the next such day on
  or after today; a day this month has already passed, or that this month lacks, rolls to the next month.
- Several days named ("Thursday or Friday") give one range from the earliest to the latest.
- A date before today (only possible with a year: a date of birth, a past visit) is not a request.
- Vague wishes ("as soon as possible", "sometime soon") are no day at all: None, and the flow decides.
- Bare clock hours mean office hours: 1-6 are afternoon, 7-11 morning, 12 noon, unless the caller says
  am/pm or a part of the day.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, time, timedelta

from appliance.brain.spoken_numbers import words_to_ordinal_digits

_MONTHS = {"january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4, "apr": 4, "may": 5,
           "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8, "september": 9, "sept": 9, "sep": 9,
           "october": 10, "oct": 10, "november": 11, "nov": 11, "december": 12, "dec": 12}
_WEEKDAYS = {"monday": 0, "tuesday": 1, "tues": 1, "wednesday": 2, "weds": 2, "thursday": 3, "thurs": 3, "thur": 3,
             "friday": 4, "saturday": 5, "sunday": 6}
_MONTH = "(?:" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\b\.?"
_WEEKDAY = "(?:" + "|".join(sorted(_WEEKDAYS, key=len, reverse=True)) + ")"
_ORD = r"(?:st|nd|rd|th)"
_QUOTES = str.maketrans({"’": "'", "‘": "'", "`": "'"})


def _prepare(text: str) -> str:
    """Lower case, straight apostrophes, "a.m." as "am", and number words as digits (ordinals keep "rd")."""
    text = " ".join(text.translate(_QUOTES).lower().split())
    text = re.sub(r"\b([ap])\.\s?m\b\.?", r"\1m", text)
    return words_to_ordinal_digits(text)


def _month_number(word: str) -> int:
    return _MONTHS[word.rstrip(".")]


# ---- which day ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DateRequest:
    """The day or days a caller asks for; `weekday` (0 = Monday) is set when exactly one weekday was named,
    so a flow can notice "Friday December 5th" when the 5th is a Saturday; `explicit` when a calendar date
    (month and day, numeric date, "the 23rd", a holiday) was named rather than a weekday or a range."""

    first: date
    last: date
    weekday: int | None = None
    explicit: bool = False


_NEGATED = re.compile(r"\b(?:not|except|anything but|but not|instead of|other than|(?:can'?t|cannot) (?:do|make|come)"
                      r"(?: it)?)\s+(?:on\s+|for\s+|in\s+)?(?:the\s+)?$")


def _negated(t: str, start: int) -> bool:
    """The words just before `start` rule the day out ("not Thursday", "instead of the 24th")."""
    return _NEGATED.search(t, max(0, start - 40), start) is not None


# a year after a month and day: "2026", or "72" ("April 18th, 72") but not the hour in "December 24th 10 am"
_YEAR = r"(?P<y>\d{4}|\d{2}(?!\s*(?:am\b|pm\b|:|o'?clock|noon|ish|\d)))\b"
_CALENDAR_DATES = [
    ("iso", re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})\b")),
    ("numeric", re.compile(r"\b(?P<m>\d{1,2})/(?P<d>\d{1,2})(?:/(?P<y>\d{4}|\d{2}))?\b")),
    ("month_day", re.compile(rf"\b(?P<mon>{_MONTH})\s+(?:the\s+)?(?P<d>\d{{1,2}}){_ORD}?\b(?:,?\s+{_YEAR})?")),
    ("day_month", re.compile(rf"\b(?:the\s+)?(?P<d>\d{{1,2}}){_ORD}?\s+(?:of\s+)?(?P<mon>{_MONTH})(?:,?\s+{_YEAR})?")),
    ("holiday", re.compile(r"\b(?P<h>christmas eve|christmas(?: day)?|new year'?s eve|new year'?s(?: day)?)\b")),
]
_HOLIDAYS = {"christmas eve": (12, 24), "christmas": (12, 25), "christmas day": (12, 25), "new years eve": (12, 31),
             "new years": (1, 1), "new years day": (1, 1)}
_DAY_OF_MONTH = re.compile(
    rf"\b(?:(?P<d>\d{{1,2}}){_ORD}|(?:on\s+)?the\s+(?P<bare>\d{{1,2}}))\b"
    r"(?!\s*(?::|am\b|pm\b|o'?clock|\d|/|-|one\b|ones\b|option|choice|slot|appointment))")
_WEEKDAY_MENTION = re.compile(
    rf"\b(?P<q>this coming|the coming|coming|this|next|the following|following|a week from)?\s*"
    rf"\b(?P<wd>{_WEEKDAY})s?\b(?P<after>\s+(?:of\s+)?(?:next|this)\s+week|\s+after\s+next)?")
_RELATIVE = re.compile(
    r"\b(?P<day>(?:the\s+)?day after tomorrow|tomorrow|today|tonight|this (?:morning|afternoon|evening))\b"
    r"|\bin\s+(?P<n>\d{1,2}|a|one)\s+days?\b|\bor\s+(?P<or_after>the\s+day\s+after)\b(?!\s+tomorrow)")


def _next_on_or_after(today: date, month: int, day: int) -> date | None:
    for year in range(today.year, today.year + 5):
        try:
            found = date(year, month, day)
        except ValueError:
            continue
        if found >= today:
            return found
    return None


def _day_this_or_next_month(today: date, day: int) -> date | None:
    year, month = today.year, today.month
    for _ in range(12 if day >= 1 else 0):
        if day <= calendar.monthrange(year, month)[1] and date(year, month, day) >= today:
            return date(year, month, day)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None


def _calendar_dates(t: str, today: date) -> tuple[list[tuple[int, date]], list[tuple[int, int]]]:
    found: list[tuple[int, date]] = []
    spans: list[tuple[int, int]] = []
    for kind, pattern in _CALENDAR_DATES:
        for m in pattern.finditer(t):
            if any(s <= m.start() < e or s < m.end() <= e for s, e in spans):
                continue
            spans.append(m.span())
            if _negated(t, m.start()):
                continue
            day = _calendar_date(kind, m, today)
            if day is not None and day >= today:  # a past date is a birthday or a last visit, not a request
                found.append((m.start(), day))
    for m in _DAY_OF_MONTH.finditer(t):
        if any(s <= m.start() < e for s, e in spans) or _negated(t, m.start()):
            continue
        day = _day_this_or_next_month(today, int(m.group("d") or m.group("bare")))
        if day is not None:
            found.append((m.start(), day))
    return found, spans


def _calendar_date(kind: str, m: re.Match, today: date) -> date | None:
    if kind == "holiday":
        return _next_on_or_after(today, *_HOLIDAYS[m.group("h").replace("'", "")])
    month = _month_number(m.group("mon")) if kind in ("month_day", "day_month") else int(m.group("m"))
    day = int(m.group("d"))
    if kind == "numeric" and month > 12 >= day:  # "24/12": day first
        month, day = day, month
    year = m.group("y")
    if year is None:
        return _next_on_or_after(today, month, day)
    full = int(year) if len(year) == 4 else 2000 + int(year) if 2000 + int(year) <= today.year + 10 \
        else 1900 + int(year)  # "12/24/26" is 2026, "4/18/72" 1972 (a birthday, not a request)
    try:
        return date(full, month, day)
    except ValueError:
        return None


def _weekday_dates(t: str, today: date, taken: list[tuple[int, int]]) -> list[tuple[int, date, int]]:
    monday = today - timedelta(days=today.weekday())
    whole_next_week = re.search(r"\bnext week\b", t) is not None
    found = []
    for m in _WEEKDAY_MENTION.finditer(t):
        start = m.start("wd")
        if any(s <= start < e for s, e in taken) or _negated(t, start):
            continue
        wd, q, after = _WEEKDAYS[m.group("wd")], m.group("q") or "", (m.group("after") or "").strip()
        strictly_after = today + timedelta(days=(wd - today.weekday() - 1) % 7 + 1)
        if q in ("next", "following", "the following") or "next" in after or (whole_next_week and not q):
            day = monday + timedelta(days=7 + wd)
        elif "this" in q or "coming" in q or "this" in after:
            day = today + timedelta(days=(wd - today.weekday()) % 7)
        elif q == "a week from" or after == "after next":
            day = strictly_after + timedelta(days=7)
        else:
            day = strictly_after
        found.append((start, day, wd))
    return found


def _clip(today: date, first: date, last: date) -> tuple[date, date] | None:
    """The part of a range from today on; None when all of it is past."""
    return (max(today, first), last) if last >= today else None


def _week_range(today: date, weeks: int, first_day: int = 0, last_day: int = 6) -> tuple[date, date] | None:
    monday = today - timedelta(days=today.weekday()) + timedelta(weeks=weeks)
    return _clip(today, monday + timedelta(days=first_day), monday + timedelta(days=last_day))


def _month_range(today: date, month_offset: int, part: str = "") -> tuple[date, date] | None:
    year, month = divmod(today.year * 12 + today.month - 1 + month_offset, 12)
    last = calendar.monthrange(year, month + 1)[1]
    lo, hi = {"early": (1, 10), "mid": (11, 20), "late": (last - 6, last)}.get(part, (1, last))
    return _clip(today, date(year, month + 1, lo), date(year, month + 1, hi))


_PART = r"(?:(?P<part>early|beginning of|start of|first week of|mid|middle of|late|later|end of|the end of)\s+)?"
_RANGES: list[tuple[re.Pattern, object]] = [
    (re.compile(r"\b(?:the\s+)?week after next\b"), lambda m, d: _week_range(d, 2)),
    (re.compile(rf"\b{_PART}next week\b"), lambda m, d: _week_range(d, 1, *_week_part(m))),
    (re.compile(rf"\b{_PART}(?:this|the) week\b"),  # "the week" alone is not this week ("during the week")
     lambda m, d: _week_range(d, 0, *_week_part(m)) if m.group("part") or "this" in m.group() else None),
    (re.compile(r"\bnext weekend\b"), lambda m, d: _week_range(d, 1, 5, 6)),
    (re.compile(r"\b(?:this |the )?weekend\b"), lambda m, d: _week_range(d, 0, 5, 6)),
    (re.compile(r"\b(?:in\s+(?P<n>\d{1,2}|a|one|a couple of|a couple|couple of)\s+weeks?"
                r"|(?P<n2>\d{1,2}|a|one|a couple of|a couple|couple of)\s+weeks?\s+from\s+now)\b"),
     lambda m, d: _week_range(d, _count(m.group("n") or m.group("n2")))),
    (re.compile(rf"\b{_PART}next month\b"), lambda m, d: _month_range(d, 1, _month_part(m))),
    (re.compile(rf"\b{_PART}(?:this|the) month\b|\bend of month\b"),
     lambda m, d: _this_month(m, d)),
    (re.compile(rf"\b(?P<lead>{_PART}(?:in\s+)?)(?P<mon>{_MONTH})"), lambda m, d: _named_month(m, d)),
]


def _count(n: str) -> int:
    return int(n) if n.isdigit() else 2 if "couple" in n else 1


def _week_part(m: re.Match) -> tuple[int, int]:
    part = m.group("part") or ""
    if part in ("early", "beginning of", "start of"):
        return 0, 2
    if part in ("late", "later", "end of", "the end of"):
        return 3, 6
    return (1, 3) if part in ("mid", "middle of") else (0, 6)


def _month_part(m: re.Match) -> str:
    part = m.group("part") or ""
    if part in ("early", "beginning of", "start of", "first week of"):
        return "early"
    return "mid" if part in ("mid", "middle of") else "late" if part else ""


def _this_month(m: re.Match, today: date) -> tuple[date, date] | None:
    if m.group("part") or m.group() == "end of month":
        return _month_range(today, 0, _month_part(m) or "late")
    return _month_range(today, 0) if m.group().startswith("this") else None  # not "the month"


def _named_month(m: re.Match, today: date) -> tuple[date, date] | None:
    if m.group("mon").startswith("may") and not m.group("lead").strip():
        return None  # "may" alone is usually the verb ("may I ...")
    month = _month_number(m.group("mon"))
    offset = (month - today.month) % 12
    return _month_range(today, offset, _month_part(m)) or _month_range(today, offset + 12, _month_part(m))


def date_request(text: str, today: date) -> DateRequest | None:
    """The day or days the caller asks for, relative to `today` (the call's clinic-local date); None if no day."""
    t = _prepare(text)
    dates, spans = _calendar_dates(t, today)
    weekdays = _weekday_dates(t, today, spans)
    named = {wd for _, _, wd in weekdays}
    weekday = named.pop() if len(named) == 1 else None
    if dates:
        days = sorted(day for _, day in dates)
        return DateRequest(days[0], days[-1], weekday, True)
    days = [day for _, day, _ in weekdays]
    for m in _RELATIVE.finditer(t):
        if _negated(t, m.start()):
            continue
        if m.group("n"):
            n = m.group("n")
            days.append(today + timedelta(days=int(n) if n.isdigit() else 1))
        elif m.group("or_after"):  # "tomorrow or the day after"
            days.append(today + timedelta(days=2))
        else:
            word = m.group("day")
            days.append(today + timedelta(days=2 if "after tomorrow" in word else 1 if word == "tomorrow" else 0))
    if days:
        days.sort()
        return DateRequest(days[0], days[-1], weekday if days[0] == days[-1] else None, False)
    for pattern, make in _RANGES:
        for m in pattern.finditer(t):
            if any(s <= m.start("mon" if "mon" in pattern.groupindex else 0) < e for s, e in spans) or \
                    _negated(t, m.start()):
                continue  # the month of "April 18th, 1972" is not a wish for April
            found = make(m, today)
            if found is not None:
                return DateRequest(found[0], found[1], None, False)
    return None


# ---- what time of day ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimePreference:
    """When in the day the caller wants to come: a part of the day, a window, an exact time, or any time."""

    part_of_day: str | None = None  # morning | afternoon | evening
    earliest: time | None = None
    latest: time | None = None
    exact: time | None = None
    any_time: bool = False


_PARTS = [  # (phrase, part of day, earliest, latest); longer phrases first so they win over "afternoon"
    (r"good (?:morning|afternoon|evening)", None, None, None),  # a greeting, not a wish
    (r"after lunch", "afternoon", time(13), None),
    (r"before (?:lunch|noon|midday)", "morning", None, time(12)),
    (r"late (?:in the )?afternoon|later in the afternoon|(?:late|later) in the day|end of the day"
     r"|last (?:appointment|slot) of the day|after school", "afternoon", time(15), None),
    (r"early (?:in the )?afternoon", "afternoon", None, time(15)),
    (r"early (?:in the )?morning|first thing(?: in the morning)?|first appointment of the day",
     "morning", None, time(10)),
    (r"late (?:in the )?morning", "morning", time(10), None),
    (r"after work", "evening", time(17), None),
    (r"not (?:in )?(?:the )?mornings?|no mornings", None, time(12), None),
    (r"not (?:in )?(?:the )?afternoons?|no afternoons", "morning", None, time(12)),
    (r"mornings?|the am|early(?!\s+(?:next|this|in\b|on\b|the\b|week|month|" + _MONTH + "))", "morning", None, None),
    (r"afternoons?|the pm", "afternoon", None, None),
    (r"evenings?|tonight", "evening", None, None),
]
_PART_RE = re.compile("|".join(rf"(?P<p{i}>\b(?:{src})\b)" for i, (src, *_rest) in enumerate(_PARTS)))

_CLOCK = (r"(?:half past \d{1,2}|quarter (?:past|after|to|till|of) \d{1,2}|noon|midday"
          r"|\d{1,2}(?!\d)(?::[0-5]\d|\s[0-5]\d(?!\d))?(?:\s*(?:am|pm|o'?clock|ish)\b)?)")
_NOT_CLOCK = r"(?!\s*(?:weeks?|days?|months?|years?|hours?|minutes?|people|of\b|st\b|nd\b|rd\b|th\b|/|-\d))"
_RANGE_RE = re.compile(
    rf"\b(?:(?:from|between)\s+(?P<a>{_CLOCK})\s*(?:to|and|-|till|until|through)\s*(?P<b>{_CLOCK})"
    rf"|(?P<c>{_CLOCK})\s*(?:to|-|till|until)\s*(?P<d>{_CLOCK})){_NOT_CLOCK}")
_CUE_RE = re.compile(
    r"\b(?P<cue>no later than|no earlier than|not later than|not earlier than|not before|not after|"
    r"any ?time after|any ?time before|at|around|about|say|by|after|before|until|till|til|from)\s+"
    rf"(?:like\s+|maybe\s+)?(?P<t>{_CLOCK}){_NOT_CLOCK}")
_STANDALONE_RE = re.compile(
    r"\b(?P<t>\d{1,2}(?::[0-5]\d)?\s*(?:am|pm|o'?clock|ish)|\d{1,2}:[0-5]\d"
    r"|(?<![\d/-] )[1-9]\d?\s[0-5]\d(?!\d| \d)"  # "ten thirty", but not "oh four eighteen seventy two"
    rf"|half past \d{{1,2}}|quarter (?:past|after|to|till|of) \d{{1,2}}|noon|midday)\b{_NOT_CLOCK}")
_ANY_TIME = re.compile(r"\b(?:any ?time|whenever|whatever works|whatever time|(?:it )?doesn'?t matter|don'?t care"
                       r"|(?:i'?m )?flexible|no preference|all day)\b")
_EARLIEST_CUES = {"after", "no earlier than", "not earlier than", "not before", "from", "any time after",
                  "anytime after"}
_LATEST_CUES = {"before", "by", "until", "till", "til", "no later than", "not later than", "not after",
                "any time before", "anytime before"}
_LUNCH = re.compile(r"\b(?:lunch ?time|at lunch|over lunch|around lunch|during lunch)\b")
_HALF_QUARTER = re.compile(r"(half past|quarter (?:past|after|to|till|of)) (\d{1,2})$")
_CLOCK_PARTS = re.compile(r"(?P<h>\d{1,2})(?::|\s)?(?P<m>[0-5]\d)?\s*(?P<ap>am|pm|o'?clock|ish)?$")


def _clock(spoken: str, hint: str | None) -> time | None:
    """A clock time from one spoken time ("10 30", "half past 2", "3pm"), reading bare hours as office hours."""
    spoken = spoken.strip()
    if spoken in ("noon", "midday"):
        return time(12)
    minute = 0
    m = _HALF_QUARTER.match(spoken)
    if m:
        hour, ap, rel = int(m.group(2)), None, m.group(1)
        minute = 30 if rel == "half past" else 15 if rel.endswith(("past", "after")) else -15
    else:
        m = _CLOCK_PARTS.match(spoken)
        if not m:
            return None
        hour, minute, ap = int(m.group("h")), int(m.group("m") or 0), m.group("ap")
    if hour > 23 or (hour > 12 and ap in ("am", "pm")) or (hour == 0 and ap != "am"):
        return None
    if ap == "pm" and hour < 12:
        hour += 12
    elif ap == "am" and hour == 12:
        hour = 0
    elif ap not in ("am", "pm") and 1 <= hour <= 11 and (hint in ("afternoon", "evening") or
                                                          (hint is None and hour <= 6)):
        hour += 12
    if minute < 0:
        hour, minute = (hour - 1) % 24, 45
    return time(hour, minute)


def _shift(at: time, hours: int) -> time:
    return time(min(23, max(0, at.hour + hours)), at.minute)


def time_preference(text: str) -> TimePreference | None:
    """What the caller says about the time of day ("Thursday afternoon", "after 3", "ten thirty"); None if nothing."""
    t = _prepare(text)
    parts, earliest, latest, exact = set(), None, None, None
    for m in _PART_RE.finditer(t):
        part, lo, hi = _PARTS[int(m.lastgroup[1:])][1:]
        if part:
            parts.add(part)
        earliest, latest = lo or earliest, hi or latest
    if len(parts) > 1:  # "morning or afternoon": no constraint at all
        return TimePreference(any_time=True)
    part = parts.pop() if parts else None
    if _LUNCH.search(t):
        earliest, latest = earliest or time(11, 30), latest or time(13, 30)
    taken: list[tuple[int, int]] = []
    for m in _RANGE_RE.finditer(t):
        a, b = _clock(m.group("a") or m.group("c"), part), _clock(m.group("b") or m.group("d"), part)
        if a and b and a < b:
            earliest, latest = a, b
            taken.append(m.span())
            break
    for m in _CUE_RE.finditer(t):
        if any(s <= m.start() < e for s, e in taken):
            continue
        at, cue = _clock(m.group("t"), part), m.group("cue")
        if at is None:
            continue
        taken.append(m.span())
        if cue in _EARLIEST_CUES:
            earliest = at
        elif cue in _LATEST_CUES:
            latest = at
        elif exact is None:
            exact = at
            if cue in ("around", "about") or m.group("t").endswith("ish"):
                earliest, latest = _shift(at, -1), _shift(at, 1)
    if exact is None:
        for m in _STANDALONE_RE.finditer(t):
            if not any(s <= m.start() < e for s, e in taken) and (at := _clock(m.group("t"), part)):
                exact = at
                if m.group("t").endswith("ish"):
                    earliest, latest = _shift(at, -1), _shift(at, 1)
                break
    if part or earliest or latest or exact:
        return TimePreference(part, earliest, latest, exact)
    return TimePreference(any_time=True) if _ANY_TIME.search(t) else None


# ---- date of birth --------------------------------------------------------------------------------------------

_BIRTH_DATES = [
    re.compile(r"\b(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})\b"),
    re.compile(r"\b(?P<m>\d{1,2})[-/. ](?P<d>\d{1,2})[-/. ](?P<y>\d{4}|\d{2})\b"),
    re.compile(rf"\b(?P<mon>{_MONTH})\s+(?:the\s+)?(?P<d>\d{{1,2}}){_ORD}?,?\s+(?:of\s+)?(?P<y>\d{{4}}|\d{{2}})\b"),
    re.compile(rf"\b(?P<d>\d{{1,2}}){_ORD}?\s+(?:of\s+)?(?P<mon>{_MONTH}),?\s+(?:of\s+)?(?P<y>\d{{4}}|\d{{2}})\b"),
    re.compile(r"\b(?P<m>\d{2})(?P<d>\d{2})(?P<y>\d{4}|\d{2})\b"),  # "oh four one eight seven two" said as digits
]


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def birth_date(text: str, today: date | None = None) -> date | None:
    """The date of birth said ("April 18th, 1972", "oh four eighteen seventy two"); None if none is said, or
    the date is impossible, in the future, or more than 120 years ago. A two-digit year up to this year's
    is read as 20xx, above it as 19xx. Numbers are month first (US), day first only when the month is over 12."""
    today = today or date.today()
    t = _prepare(text)
    found = sorted((m for pattern in _BIRTH_DATES for m in pattern.finditer(t)), key=lambda m: m.start())
    for m in found:
        groups = m.groupdict()
        month = _month_number(groups["mon"]) if groups.get("mon") else int(groups["m"])
        day, year = int(m.group("d")), m.group("y")
        year_number = int(year) if len(year) == 4 else 2000 + int(year) if int(year) <= today.year % 100 \
            else 1900 + int(year)
        if month > 12 >= day and not groups.get("mon"):
            month, day = day, month
        try:
            born = date(year_number, month, day)
        except ValueError:
            continue
        if _years_before(today, 120) <= born <= today:
            return born
    return None
