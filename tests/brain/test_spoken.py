"""The fast rule layer: yes/no, number words, days, times, dates of birth, phones, choices, key presses, names."""

from __future__ import annotations

import csv
import json
import timeit
from datetime import date, time, timedelta
from pathlib import Path

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.brain import spoken
from appliance.brain.spoken import (
    DateRequest,
    TimePreference,
    birth_date,
    date_request,
    dtmf,
    ordinal_choice,
    person_name,
    phone_number,
    time_preference,
    words_to_digits,
    yes_no,
)
from appliance.brain.spoken_numbers import words_to_ordinal_digits

SHARED = Path(__file__).resolve().parents[3] / "shared"
TUE = date(2026, 12, 1)        # the demo calls' day, a Tuesday
MONTH_END = date(2026, 1, 30)  # a Friday two days before February
YEAR_END = date(2026, 12, 30)  # a Wednesday
SAT = date(2026, 12, 5)
SUN = date(2026, 12, 6)
D = date


# ---- yes / no ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "yes", "Yes.", "YES", "yeah", "Yeah!", "yep", "yup", "sure", "Sure thing", "that's right", "That’s right.",
    "thats right", "correct", "That is correct", "please do", "yes please", "Yes please.", "sounds good",
    "Sounds great", "that works", "That works for me", "works for me", "ok", "OK", "okay", "Okay.", "alright",
    "all right", "absolutely", "definitely", "certainly", "go ahead", "Go ahead and book it", "of course",
    "no problem", "not a problem", "No worries", "I don't mind", "uh-huh", "Mm-hmm", "mhm", "I think so",
    "Yes, please cancel it.", "Yes, that's right.", "That's fine.", "Perfect", "Great, thanks", "I do",
    "That's all correct", "yes right away", "Yes please.", "This number is fine.", "That's okay.", "it's ok",
])
def test_yes(text):
    assert yes_no(text) is True


@pytest.mark.parametrize("text", [
    "no", "No.", "NO", "nope", "Nope.", "nah", "no thanks", "No thank you", "not really", "that's wrong",
    "That's not right", "that isn't correct", "incorrect", "don't", "please don't", "never mind", "Nevermind",
    "No, that's all. Thank you.", "No, that's everything, thanks.", "No, I'll call back later.",
    "No thanks, I'll call back later to rebook.", "No.", "absolutely not", "definitely not", "of course not",
    "I don't think so", "that doesn't work", "That won't work for me", "not right now", "I'd rather not",
    "that's all", "nothing else", "uh-uh", "No, that's fine", "No, that's okay.", "no it's ok", "wrong",
])
def test_no(text):
    assert yes_no(text) is False


@pytest.mark.parametrize("text", [
    "yes no", "Yeah, no", "I don't know", "not sure", "I'm not sure", "maybe", "no idea", "", "   ",
    "Thursday afternoon", "James Smith", "What?", "Hello?", "April 18th, 1972", "<dtmf 1>",
])
def test_neither_yes_nor_no(text):
    assert yes_no(text) is None


# ---- number words -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, digits", [
    ("oh seven twenty three two thousand three", "07 23 2003"),
    ("two one seven five five five zero one two five", "2175550125"),
    ("two one seven, five five five, zero one two five", "217, 555, 0125"),
    ("Two One Seven", "217"),
    ("nineteen seventy two", "1972"),
    ("nineteen ninety-nine.", "1999."),
    ("nineteen oh five", "1905"),
    ("twenty twenty six", "2026"),
    ("twenty oh three", "2003"),
    ("two thousand and three", "2003"),
    ("two thousand three", "2003"),
    ("nineteen hundred", "1900"),
    ("one hundred and five", "105"),
    ("twenty five hundred", "2500"),
    ("three hundred thousand", "300000"),
    ("eighteenth", "18"),
    ("twenty-third", "23"),
    ("twenty third", "23"),
    ("the thirty first", "the 31"),
    ("oh four eighteen seventy two", "04 18 72"),
    ("april eighteenth nineteen seventy two", "april 18 1972"),
    ("ten thirty", "10 30"),
    ("ten oh five", "10 05"),
    ("twelve fifteen", "12 15"),
    ("half past two", "half past 2"),
    ("half past one", "half past 1"),
    ("at one", "at 1"),
    ("one pm", "1 pm"),
    ("one", "1"),
    ("double five", "55"),
    ("five five five, one two three four", "555, 1234"),
    ("December first", "December 1"),
    ("on the first", "on the 1"),
    ("the second of January", "the 2 of January"),
    ("the twenty third then, any time", "the 23 then, any time"),
    ("option two", "option 2"),
    ("in two weeks", "in 2 weeks"),
    ("2 1 7", "2 1 7"),
])
def test_words_to_digits(text, digits):
    assert words_to_digits(text) == digits


@pytest.mark.parametrize("text", [
    "the first one", "The first one works for me.", "that one", "one of them", "I need a second", "first time here",
    "a first checkup", "Oh, I see", "oh no", "and", "a hundred", "hundred", "No, that's all. Thank you.",
    "the fourth one", "the third option", "Hi, I'd like to schedule a cleaning please.", "", "Grace Kim",
])
def test_words_that_are_not_numbers_stay(text):
    assert words_to_digits(text) == " ".join(text.split())


@pytest.mark.parametrize("text, digits", [
    ("the twenty third", "the 23rd"), ("eighteenth", "18th"), ("December first", "December 1st"),
    ("the second of May", "the 2nd of May"), ("the eleventh", "the 11th"), ("twenty second", "22nd"),
    ("thirtieth", "30th"), ("the twelfth", "the 12th"),
])
def test_ordinal_digits_keep_their_suffix(text, digits):
    assert words_to_ordinal_digits(text) == digits


_UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_TEENS_WORDS = ["ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
                "nineteen"]
_TENS_WORDS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def _say(n: int, with_and: bool) -> str:
    """English words for 0 <= n < 1,000,000 as people say them ("two thousand and three")."""
    if n < 10:
        return _UNITS[n]
    if n < 20:
        return _TEENS_WORDS[n - 10]
    if n < 100:
        return _TENS_WORDS[n // 10] + ("" if n % 10 == 0 else " " + _UNITS[n % 10])
    if n < 1000:
        rest = n % 100
        joint = " and " if with_and else " "
        return _UNITS[n // 100] + " hundred" + ("" if rest == 0 else joint + _say(rest, with_and))
    rest = n % 1000
    joint = " and " if with_and and rest < 100 else " "
    return _say(n // 1000, with_and) + " thousand" + ("" if rest == 0 else joint + _say(rest, with_and))


@given(st.integers(0, 999_999), st.booleans())
def test_any_cardinal_said_in_full_becomes_its_digits(n, with_and):
    assert words_to_digits(_say(n, with_and)) == str(n)


@given(st.lists(st.integers(0, 9), min_size=1, max_size=15))
def test_digits_said_one_by_one_are_joined(digits):
    said = " ".join("oh" if d == 0 and i % 2 else _UNITS[d] for i, d in enumerate(digits))
    if said.endswith("oh"):  # a trailing "oh" is an exclamation, not a zero
        return
    assert words_to_digits(said) == "".join(map(str, digits))


# ---- which day --------------------------------------------------------------------------------------------

def _req(first, last=None, weekday=None, explicit=False):
    return DateRequest(first, last or first, weekday, explicit)


@pytest.mark.parametrize("text, today, expected", [
    # the acceptance scenarios
    ("Thursday afternoon", TUE, _req(D(2026, 12, 3), weekday=3)),
    ("any time Thursday", TUE, _req(D(2026, 12, 3), weekday=3)),
    ("next Monday morning", TUE, _req(D(2026, 12, 7), weekday=0)),
    ("Monday any time", TUE, _req(D(2026, 12, 7), weekday=0)),
    ("December 24th", TUE, _req(D(2026, 12, 24), explicit=True)),
    ("Can I book an exam for December 24th?", TUE, _req(D(2026, 12, 24), explicit=True)),
    ("the 23rd then, any time", TUE, _req(D(2026, 12, 23), explicit=True)),
    ("The cleaning on Friday December 4th.", TUE, _req(D(2026, 12, 4), weekday=4, explicit=True)),
    ("Hi, I need to cancel my cleaning this Friday.", TUE, _req(D(2026, 12, 4), weekday=4)),
    # relative days
    ("today", TUE, _req(TUE)),
    ("this afternoon", TUE, _req(TUE)),
    ("Tonight?", TUE, _req(TUE)),
    ("tomorrow", TUE, _req(D(2026, 12, 2))),
    ("Tomorrow morning please", SUN, _req(D(2026, 12, 7))),
    ("the day after tomorrow", TUE, _req(D(2026, 12, 3))),
    ("in three days", TUE, _req(D(2026, 12, 4))),
    ("tomorrow or the day after", TUE, _req(D(2026, 12, 2), D(2026, 12, 3))),
    # weekdays: bare = strictly after today, "this" = on or after today, "next" = in next week
    ("Thursday", TUE, _req(D(2026, 12, 3), weekday=3)),
    ("on thursday", TUE, _req(D(2026, 12, 3), weekday=3)),
    ("THURSDAY", TUE, _req(D(2026, 12, 3), weekday=3)),
    ("Tuesday", TUE, _req(D(2026, 12, 8), weekday=1)),
    ("this Tuesday", TUE, _req(TUE, weekday=1)),
    ("this Thursday", TUE, _req(D(2026, 12, 3), weekday=3)),
    ("this coming Thursday", TUE, _req(D(2026, 12, 3), weekday=3)),
    ("this Monday", TUE, _req(D(2026, 12, 7), weekday=0)),
    ("next Monday", TUE, _req(D(2026, 12, 7), weekday=0)),
    ("next Tuesday", TUE, _req(D(2026, 12, 8), weekday=1)),
    ("next Thursday", TUE, _req(D(2026, 12, 10), weekday=3)),
    ("Thursday next week", TUE, _req(D(2026, 12, 10), weekday=3)),
    ("next week on Thursday", TUE, _req(D(2026, 12, 10), weekday=3)),
    ("Thursday of next week", TUE, _req(D(2026, 12, 10), weekday=3)),
    ("a week from Thursday", TUE, _req(D(2026, 12, 10), weekday=3)),
    ("Thursday after next", TUE, _req(D(2026, 12, 10), weekday=3)),
    ("Monday", SAT, _req(D(2026, 12, 7), weekday=0)),
    ("next Monday", SAT, _req(D(2026, 12, 7), weekday=0)),
    ("Monday", SUN, _req(D(2026, 12, 7), weekday=0)),
    ("next Monday", SUN, _req(D(2026, 12, 7), weekday=0)),
    ("Sunday", SUN, _req(D(2026, 12, 13), weekday=6)),
    ("this Sunday", SUN, _req(SUN, weekday=6)),
    ("Saturday", SAT, _req(D(2026, 12, 12), weekday=5)),
    ("Monday", MONTH_END, _req(D(2026, 2, 2), weekday=0)),
    ("Friday", YEAR_END, _req(D(2027, 1, 1), weekday=4)),
    ("next Friday", YEAR_END, _req(D(2027, 1, 8), weekday=4)),
    ("Thursdays are best", TUE, _req(D(2026, 12, 3), weekday=3)),
    ("Thursday or Friday", TUE, _req(D(2026, 12, 3), D(2026, 12, 4))),
    ("not Thursday, Friday", TUE, _req(D(2026, 12, 4), weekday=4)),
    ("anything but Monday. Wednesday?", TUE, _req(D(2026, 12, 2), weekday=2)),
    # calendar dates
    ("Dec 24", TUE, _req(D(2026, 12, 24), explicit=True)),
    ("Dec. 24th", TUE, _req(D(2026, 12, 24), explicit=True)),
    ("24th of December", TUE, _req(D(2026, 12, 24), explicit=True)),
    ("the 24th of december", TUE, _req(D(2026, 12, 24), explicit=True)),
    ("December the twenty fourth", TUE, _req(D(2026, 12, 24), explicit=True)),
    ("december twenty fourth", TUE, _req(D(2026, 12, 24), explicit=True)),
    ("12/24", TUE, _req(D(2026, 12, 24), explicit=True)),
    ("12/24/2026", TUE, _req(D(2026, 12, 24), explicit=True)),
    ("12/24/26", TUE, _req(D(2026, 12, 24), explicit=True)),
    ("2026-12-24", TUE, _req(D(2026, 12, 24), explicit=True)),
    ("December 24th, 2026", TUE, _req(D(2026, 12, 24), explicit=True)),
    ("December 24th, 26", TUE, _req(D(2026, 12, 24), explicit=True)),
    ("December 24th 10 am", TUE, _req(D(2026, 12, 24), explicit=True)),
    ("December 24th 10 30", TUE, _req(D(2026, 12, 24), explicit=True)),
    ("December 24th, 12 noon", TUE, _req(D(2026, 12, 24), explicit=True)),
    ("January 5th 2027", TUE, _req(D(2027, 1, 5), explicit=True)),
    ("christmas eve", TUE, _req(D(2026, 12, 24), explicit=True)),
    ("New Year's Eve", TUE, _req(D(2026, 12, 31), explicit=True)),
    ("December 1st", TUE, _req(TUE, explicit=True)),
    ("November 30th", TUE, _req(D(2027, 11, 30), explicit=True)),
    ("January 5th", YEAR_END, _req(D(2027, 1, 5), explicit=True)),
    ("the fifth of January", YEAR_END, _req(D(2027, 1, 5), explicit=True)),
    ("Friday the 4th", TUE, _req(D(2026, 12, 4), weekday=4, explicit=True)),
    ("Friday December 5th", TUE, _req(D(2026, 12, 5), weekday=4, explicit=True)),  # the 5th is a Saturday
    ("December 23rd or 24th", TUE, _req(D(2026, 12, 23), D(2026, 12, 24), explicit=True)),
    ("not the 24th, the 23rd", TUE, _req(D(2026, 12, 23), explicit=True)),
    ("the 23rd instead of the 24th", TUE, _req(D(2026, 12, 23), explicit=True)),
    ("I can't do the 24th, how about the 23rd?", TUE, _req(D(2026, 12, 23), explicit=True)),
    ("I can't make it on Thursday, Friday works", TUE, _req(D(2026, 12, 4), weekday=4)),
    ("I can't make it to my appointment tomorrow", TUE, _req(D(2026, 12, 2))),
    # a day of the month: this month if still ahead, else the next month that has it
    ("the 23rd", TUE, _req(D(2026, 12, 23), explicit=True)),
    ("on the 23rd", TUE, _req(D(2026, 12, 23), explicit=True)),
    ("the twenty third", TUE, _req(D(2026, 12, 23), explicit=True)),
    ("on the first", TUE, _req(TUE, explicit=True)),
    ("the 2nd", MONTH_END, _req(D(2026, 2, 2), explicit=True)),
    ("on the second", MONTH_END, _req(D(2026, 2, 2), explicit=True)),
    ("the 30th", MONTH_END, _req(D(2026, 1, 30), explicit=True)),
    ("the 29th", MONTH_END, _req(D(2026, 3, 29), explicit=True)),  # February 2026 has no 29th
    ("the 31st", TUE, _req(D(2026, 12, 31), explicit=True)),
    ("the 5th", YEAR_END, _req(D(2027, 1, 5), explicit=True)),
    ("the 23", TUE, _req(D(2026, 12, 23), explicit=True)),
    # ranges
    ("next week", TUE, _req(D(2026, 12, 7), D(2026, 12, 13))),
    ("sometime next week", SUN, _req(D(2026, 12, 7), D(2026, 12, 13))),
    ("this week", TUE, _req(TUE, D(2026, 12, 6))),
    ("this week", SUN, _req(SUN)),
    ("early next week", TUE, _req(D(2026, 12, 7), D(2026, 12, 9))),
    ("end of the week", TUE, _req(D(2026, 12, 3), D(2026, 12, 6))),
    ("the week after next", TUE, _req(D(2026, 12, 14), D(2026, 12, 20))),
    ("this weekend", TUE, _req(SAT, SUN)),
    ("next weekend", TUE, _req(D(2026, 12, 12), D(2026, 12, 13))),
    ("in two weeks", TUE, _req(D(2026, 12, 14), D(2026, 12, 20))),
    ("in a couple of weeks", TUE, _req(D(2026, 12, 14), D(2026, 12, 20))),
    ("in a week", TUE, _req(D(2026, 12, 7), D(2026, 12, 13))),
    ("three weeks from now", TUE, _req(D(2026, 12, 21), D(2026, 12, 27))),
    ("end of the month", TUE, _req(D(2026, 12, 25), D(2026, 12, 31))),
    ("end of the month", MONTH_END, _req(MONTH_END, D(2026, 1, 31))),
    ("this month", TUE, _req(TUE, D(2026, 12, 31))),
    ("next month", TUE, _req(D(2027, 1, 1), D(2027, 1, 31))),
    ("early next month", TUE, _req(D(2027, 1, 1), D(2027, 1, 10))),
    ("early next month", MONTH_END, _req(D(2026, 2, 1), D(2026, 2, 10))),
    ("the middle of next month", TUE, _req(D(2027, 1, 11), D(2027, 1, 20))),
    ("end of next month", MONTH_END, _req(D(2026, 2, 22), D(2026, 2, 28))),
    ("in January", TUE, _req(D(2027, 1, 1), D(2027, 1, 31))),
    ("early January", YEAR_END, _req(D(2027, 1, 1), D(2027, 1, 10))),
    ("sometime in December", TUE, _req(TUE, D(2026, 12, 31))),
    ("in May", TUE, _req(D(2027, 5, 1), D(2027, 5, 31))),
])
def test_date_request(text, today, expected):
    assert date_request(text, today) == expected


@pytest.mark.parametrize("text", [
    "a cleaning please", "Hi, I'd like to schedule a cleaning please.", "sometime soon", "as soon as possible",
    "When is my next appointment?", "The first one works for me.", "the first one", "the second option", "yes",
    "No thanks, I'll call back later to rebook.", "My jaw is really swollen and I'm having trouble swallowing.",
    "James Smith", "This is James.", "Do you take MetLife dental insurance?", "may I come in at 10",
    "at ten thirty", "any time", "in the morning", "two one seven five five five zero one two five",
    # a date of birth is not a day to book
    "April 18th, 1972", "the 18th of April 1972", "4/18/1972", "oh four eighteen seventy two", "July 23rd, 2003",
    "April 18th, 72", "4/18/72", "the 18th of April, 72",
    "during the week", "the 0", "the 0th", "the 32nd", "13/45", "2026-02-30", "",
])
def test_no_day_requested(text):
    assert date_request(text, TUE) is None


_MONTH_NAMES = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
                "November", "December"]
_TODAYS = st.dates(D(2024, 1, 1), D(2030, 12, 31))


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


@given(_TODAYS, st.dates(D(2000, 1, 1), D(2000, 12, 31)))  # 2000 is a leap year: every month and day
def test_a_month_and_day_is_its_next_occurrence(today, day):
    got = date_request(f"{_MONTH_NAMES[day.month - 1]} {_ordinal(day.day)}", today)
    assert got is not None and got.explicit and got.first == got.last
    assert (got.first.month, got.first.day) == (day.month, day.day)
    assert today <= got.first and (got.first - today).days < 366 * 4 + 1


@given(_TODAYS, st.integers(1, 31))
def test_a_day_of_the_month_is_the_next_such_day(today, n):
    got = date_request(f"the {_ordinal(n)}", today)
    assert got is not None and got.first.day == n and today <= got.first
    assert (got.first - today).days <= 92


@given(_TODAYS, st.sampled_from(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]))
def test_weekdays(today, name):
    wd = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"].index(name)
    bare, this, nxt = (date_request(f"{q}{name}", today) for q in ("", "this ", "next "))
    assert bare.weekday == this.weekday == nxt.weekday == wd
    assert 1 <= (bare.first - today).days <= 7 and bare.first.weekday() == wd
    assert 0 <= (this.first - today).days <= 6 and this.first.weekday() == wd
    monday = today - timedelta(days=today.weekday())
    assert nxt.first == monday + timedelta(days=7 + wd)


# ---- what time of day -------------------------------------------------------------------------------------

def _tp(part=None, earliest=None, latest=None, exact=None, any_time=False):
    return TimePreference(part, earliest, latest, exact, any_time)


@pytest.mark.parametrize("text, expected", [
    # the acceptance scenarios
    ("Thursday afternoon", _tp("afternoon")),
    ("any time Thursday", _tp(any_time=True)),
    ("next Monday morning", _tp("morning")),
    ("Monday any time", _tp(any_time=True)),
    ("the 23rd then, any time", _tp(any_time=True)),
    # parts of the day
    ("morning", _tp("morning")),
    ("Mornings are better", _tp("morning")),
    ("in the afternoon", _tp("afternoon")),
    ("evening", _tp("evening")),
    ("tonight", _tp("evening")),
    ("in the AM", _tp("morning")),
    ("after lunch", _tp("afternoon", earliest=time(13))),
    ("before lunch", _tp("morning", latest=time(12))),
    ("before noon", _tp("morning", latest=time(12))),
    ("early", _tp("morning")),
    ("early if possible", _tp("morning")),
    ("early morning", _tp("morning", latest=time(10))),
    ("first thing in the morning", _tp("morning", latest=time(10))),
    ("late morning", _tp("morning", earliest=time(10))),
    ("early afternoon", _tp("afternoon", latest=time(15))),
    ("late afternoon", _tp("afternoon", earliest=time(15))),
    ("after school", _tp("afternoon", earliest=time(15))),
    ("not in the morning", _tp(earliest=time(12))),
    ("no afternoons", _tp("morning", latest=time(12))),
    ("morning or afternoon", _tp(any_time=True)),
    ("around lunchtime", _tp(earliest=time(11, 30), latest=time(13, 30))),
    # clock times: bare 1-6 are pm, 7-11 am, 12 is noon
    ("1 pm", _tp(exact=time(13))),
    ("1pm", _tp(exact=time(13))),
    ("1 p.m.", _tp(exact=time(13))),
    ("9 a.m.", _tp(exact=time(9))),
    ("at 10", _tp(exact=time(10))),
    ("at 2", _tp(exact=time(14))),
    ("at 12", _tp(exact=time(12))),
    ("at one", _tp(exact=time(13))),
    ("at 7", _tp(exact=time(7))),
    ("10:30", _tp(exact=time(10, 30))),
    ("ten thirty", _tp(exact=time(10, 30))),
    ("at ten thirty please", _tp(exact=time(10, 30))),
    ("eleven fifteen", _tp(exact=time(11, 15))),
    ("two fifteen", _tp(exact=time(14, 15))),
    ("ten oh five", _tp(exact=time(10, 5))),
    ("half past two", _tp(exact=time(14, 30))),
    ("quarter past ten", _tp(exact=time(10, 15))),
    ("quarter to three", _tp(exact=time(14, 45))),
    ("noon", _tp(exact=time(12))),
    ("3 o'clock", _tp(exact=time(15))),
    ("14:00", _tp(exact=time(14))),
    ("Thursday at 3:30 pm", _tp(exact=time(15, 30))),
    ("at 10 in the morning", _tp("morning", exact=time(10))),
    ("at two in the afternoon", _tp("afternoon", exact=time(14))),
    ("at 7 in the evening", _tp("evening", exact=time(19))),
    ("around 3", _tp(earliest=time(14), latest=time(16), exact=time(15))),
    ("about ten", _tp(earliest=time(9), latest=time(11), exact=time(10))),
    ("3ish", _tp(earliest=time(14), latest=time(16), exact=time(15))),
    # windows
    ("after 3", _tp(earliest=time(15))),
    ("any time after 3", _tp(earliest=time(15))),
    ("not before 10", _tp(earliest=time(10))),
    ("before 11", _tp(latest=time(11))),
    ("by 11", _tp(latest=time(11))),
    ("no later than 4", _tp(latest=time(16))),
    ("not after 2", _tp(latest=time(14))),
    ("between 2 and 4", _tp(earliest=time(14), latest=time(16))),
    ("from 9 to 11", _tp(earliest=time(9), latest=time(11))),
    ("2 to 4", _tp(earliest=time(14), latest=time(16))),
    ("between 11 and 1", _tp(earliest=time(11), latest=time(13))),
    ("any time", _tp(any_time=True)),
    ("anytime", _tp(any_time=True)),
    ("whenever", _tp(any_time=True)),
    ("It doesn't matter", _tp(any_time=True)),
    ("I'm flexible", _tp(any_time=True)),
])
def test_time_preference(text, expected):
    assert time_preference(text) == expected


@pytest.mark.parametrize("text", [
    "December 24th", "the 23rd", "Can I book an exam for December 24th?", "No thanks, I'll call back later to rebook.",
    "Hi, I'd like to schedule a cleaning please.", "Good morning, I need a cleaning", "early next month",
    "in 2 weeks", "after 2 weeks", "12 weeks", "2026-12-24", "12/24", "April 18th, 1972",
    "oh four eighteen seventy two",
    "oh seven twenty three two thousand three", "two one seven five five five zero one two five", "yes",
    "The first one works for me.", "James Smith", "",
])
def test_no_time_said(text):
    assert time_preference(text) is None


@given(st.integers(1, 12), st.sampled_from([0, 15, 30, 45]), st.sampled_from(["am", "pm", "a.m.", "PM"]))
def test_clock_times_with_am_pm(hour, minute, ap):
    said = f"{hour}:{minute:02d} {ap}" if minute else f"{hour} {ap}"
    h24 = hour % 12 + (12 if ap.lower().startswith("p") else 0)
    assert time_preference(f"at {said}").exact == time(h24, minute)


# ---- date of birth ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, born", [
    # the acceptance scenarios
    ("April 18th, 1972", D(1972, 4, 18)),
    ("March 3rd, 1990", D(1990, 3, 3)),
    ("February 26, 2000", D(2000, 2, 26)),
    ("September 19th, 1966", D(1966, 9, 19)),
    ("July 23rd, 2003", D(2003, 7, 23)),
    ("January 1st, 1985", D(1985, 1, 1)),
    # other ways of saying it
    ("april eighteenth nineteen seventy two", D(1972, 4, 18)),
    ("April eighteen nineteen seventy two", D(1972, 4, 18)),
    ("4/18/1972", D(1972, 4, 18)),
    ("04-18-1972", D(1972, 4, 18)),
    ("4.18.1972", D(1972, 4, 18)),
    ("1972-04-18", D(1972, 4, 18)),
    ("the 18th of April 1972", D(1972, 4, 18)),
    ("18 April 1972", D(1972, 4, 18)),
    ("18/04/1972", D(1972, 4, 18)),
    ("oh four eighteen seventy two", D(1972, 4, 18)),
    ("four eighteen seventy two", D(1972, 4, 18)),
    ("04/18/72", D(1972, 4, 18)),
    ("oh seven twenty three two thousand three", D(2003, 7, 23)),
    ("July 23rd 2003", D(2003, 7, 23)),
    ("july twenty third two thousand and three", D(2003, 7, 23)),
    ("07/23/03", D(2003, 7, 23)),
    ("oh seven two three oh three", D(2003, 7, 23)),
    ("january first nineteen eighty five", D(1985, 1, 1)),
    ("march third, nineteen ninety", D(1990, 3, 3)),
    ("It's September nineteenth, nineteen sixty six.", D(1966, 9, 19)),
    ("My date of birth is Feb 26 2000", D(2000, 2, 26)),
    ("I was born on the twenty sixth of February, two thousand", D(2000, 2, 26)),
    ("Sept. 19, 1966", D(1966, 9, 19)),
    ("December 1st, 2026", D(2026, 12, 1)),  # born today
    ("February 29th, 2000", D(2000, 2, 29)),
])
def test_birth_date(text, born):
    assert birth_date(text, TUE) == born


@pytest.mark.parametrize("text", [
    "February 30, 1990",  # no such day
    "February 29th, 2001",
    "13/13/1990",
    "April 18th, 2030",  # in the future
    "December 2nd, 2026",
    "April 18 1890",  # over 120 years ago
    "December 24th",  # no year
    "1972",
    "I don't remember",
    "James Smith",
    "",
])
def test_not_a_birth_date(text):
    assert birth_date(text, TUE) is None


def test_two_digit_years_up_to_this_year_are_2000s():
    assert birth_date("4/18/26", TUE) == D(2026, 4, 18)
    assert birth_date("4/18/27", TUE) == D(1927, 4, 18)
    assert birth_date("4/18/05", TUE) == D(2005, 4, 18)


def test_birth_date_defaults_to_the_real_today():
    assert birth_date("April 18th, 1972") == D(1972, 4, 18)


@given(st.dates(D(1907, 1, 1), TUE))
def test_any_birth_date_round_trips(born):
    for said in (f"{_MONTH_NAMES[born.month - 1]} {_ordinal(born.day)}, {born.year}",
                 f"{born.month}/{born.day}/{born.year}", born.isoformat(),
                 f"the {_ordinal(born.day)} of {_MONTH_NAMES[born.month - 1]} {born.year}"):
        assert birth_date(said, TUE) == born, said


# ---- phone numbers ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "two one seven, five five five, zero one two five",
    "two one seven five five five oh one two five",
    "217 555 0125",
    "217-555-0125",
    "(217) 555-0125",
    "217.555.0125",
    "my number is 2 1 7 5 5 5 0 1 2 5",
    "It's 2175550125.",
    "plus one two one seven five five five zero one two five",
    "+1 217 555 0125",
    "one two one seven five five five zero one two five",
    "two seventeen, five five five, oh one twenty five",
])
def test_phone_number(text):
    assert phone_number(text) == "+12175550125"


@pytest.mark.parametrize("text, region, e164", [
    ("+44 20 7946 0958", "US", "+442079460958"),
    ("020 7946 0958", "GB", "+442079460958"),
    ("plus four four two oh seven nine four six oh nine five eight", "US", "+442079460958"),
])
def test_phone_number_other_regions(text, region, e164):
    assert phone_number(text, region) == e164


@pytest.mark.parametrize("text", [
    "This number is fine.", "the one I'm calling from", "555 0125", "123", "two one seven", "000 000 0000",
    "April 18th, 1972", "", "yes",
])
def test_not_a_phone_number(text):
    assert phone_number(text) is None


@given(st.integers(2, 9), st.integers(0, 99), st.integers(2, 9), st.integers(0, 99), st.integers(0, 9999))
def test_any_us_number_said_digit_by_digit(a, b, c, d, line):
    digits = f"{a}{b:02d}{c}{d:02d}{line:04d}"
    number = phonenumbers.parse(digits, "US")
    said = ", ".join(" ".join(_UNITS[int(x)] for x in part) for part in (digits[:3], digits[3:6], digits[6:]))
    expected = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) \
        if phonenumbers.is_valid_number(number) else None
    assert phone_number(said) == expected


# ---- which offered option ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, count, index", [
    ("The first one works for me.", 3, 0),
    ("the first one", 3, 0),
    ("first", 3, 0),
    ("First.", 3, 0),
    ("number two", 3, 1),
    ("Number 2 please", 3, 1),
    ("the second", 3, 1),
    ("The second one, please.", 3, 1),
    ("the 2nd", 3, 1),
    ("the last one", 3, 2),
    ("the last one", 2, 1),
    ("last", 3, 2),
    ("the third option", 3, 2),
    ("option 2", 3, 1),
    ("option three", 3, 2),
    ("2", 3, 1),
    ("two", 3, 1),
    ("Two please.", 3, 1),
    ("one", 3, 0),
    ("the middle one", 3, 1),
    ("the earliest one", 3, 0),
    ("the later one", 2, 1),
    ("not the first one, the second one", 3, 1),
    ("I'll take the third", 3, 2),
    ("Let's do the first one", 3, 0),
])
def test_ordinal_choice(text, count, index):
    assert ordinal_choice(text, count) == index


@pytest.mark.parametrize("text, count", [
    ("the fourth one", 3), ("option 5", 3), ("the third", 2), ("first", 0), ("neither", 3), ("yes", 3),
    ("No, I'll call back later.", 3), ("December first", 3), ("wait a second", 3), ("the first or the second", 3),
    ("the one at 10", 3), ("my last name is Smith", 3), ("the middle one", 2), ("2 pm", 3), ("the 23rd", 3), ("", 3),
])
def test_no_ordinal_choice(text, count):
    assert ordinal_choice(text, count) is None


# ---- key presses ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, keys", [
    ("<dtmf 1>", "1"), ("<dtmf 5#>", "5#"), ("<DTMF 0>", "0"), ("  <dtmf *9>  ", "*9"), ("<dtmf a>", "A"),
    ("<dtmf 0418 1972#>", "04181972#"),
])
def test_dtmf(text, keys):
    assert dtmf(text) == keys


@pytest.mark.parametrize("text", ["1", "dtmf 1", "<dtmf>", "<dtmf x>", "press <dtmf 1>", "<dtmf 1> then", "", "one"])
def test_not_dtmf(text):
    assert dtmf(text) is None


# ---- names ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, name", [
    # the acceptance scenarios
    ("James Smith", ("James", "Smith")),
    ("This is James.", ("James", None)),
    ("Olga Petrov", ("Olga", "Petrov")),
    ("Grace Kim", ("Grace", "Kim")),
    ("David Brown", ("David", "Brown")),
    ("Wei Zhang", ("Wei", "Zhang")),
    ("This is Maria.", ("Maria", None)),
    ("Maria Lopez", ("Maria", "Lopez")),
    # other ways of saying it
    ("It's Maria Lopez", ("Maria", "Lopez")),
    ("it’s maria lopez", ("Maria", "Lopez")),
    ("my name is Olga Petrov", ("Olga", "Petrov")),
    ("My name's Olga Petrov.", ("Olga", "Petrov")),
    ("Olga Petrov here", ("Olga", "Petrov")),
    ("I'm Wei Zhang", ("Wei", "Zhang")),
    ("I am Wei Zhang", ("Wei", "Zhang")),
    ("yes this is Grace Kim", ("Grace", "Kim")),
    ("Yes, this is Grace Kim.", ("Grace", "Kim")),
    ("Hi, it's James Smith calling about my cleaning", ("James", "Smith")),
    ("this is James and I need to reschedule", ("James", None)),
    ("James Smith, I'd like to book", ("James", "Smith")),
    ("JAMES SMITH", ("James", "Smith")),
    ("james", ("James", None)),
    ("Um, James Smith", ("James", "Smith")),
    ("Sean O'Brien", ("Sean", "O'Brien")),
    ("Anna Smith-Jones", ("Anna", "Smith-Jones")),
    ("Maria Garcia Lopez", ("Maria", "Garcia Lopez")),
    ("Maria de la Cruz", ("Maria", "De La Cruz")),
    ("It's Angus McDonald", ("Angus", "McDonald")),
    ("Will Turner speaking", ("Will", "Turner")),
    ("You can call me Liz", ("Liz", None)),
    ("My name is Irving Berg", ("Irving", "Berg")),
])
def test_person_name(text, name):
    assert person_name(text) == name


@pytest.mark.parametrize("text", [
    "I'd like to book a cleaning", "yes", "no", "Yes.", "This is about my appointment", "This is urgent",
    "It's me", "I'm calling about my bill", "I'm new to the area", "I'm in a lot of pain", "It's killing me",
    "Hi, I'd like to schedule a cleaning please.", "Do you take MetLife dental insurance?",
    "My jaw is really swollen and I'm having trouble swallowing.", "Can I please talk to a real person?",
    "When is my next appointment?", "The first one works for me.", "Thursday afternoon", "a cleaning",
    "April 18th, 1972", "No thanks, I'll call back later to rebook.", "Sounds good", "I'm not sure",
    "my last name is Smith", "It's for my son", "<dtmf 1>", "2175550125", "", "   ", "...",
])
def test_not_a_name(text):
    assert person_name(text) is None


# ---- the acceptance scenarios' own words ------------------------------------------------------------------

def _scenarios() -> list[dict]:
    folder = SHARED / "acceptance" / "scenarios"
    if not folder.is_dir():
        pytest.skip(f"{folder} is not here: this checkout has no ../shared beside it")
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def _answers(scenario: dict, key: str) -> list[str]:
    value = scenario["persona"]["answers"].get(key, [])
    return [value] if isinstance(value, str) else value


def test_every_scenario_answer_is_understood_by_the_rules():
    """What the scripted callers say for names, birthdays, times and confirmations needs no model."""
    scenarios = _scenarios()
    demo = SHARED / "demo" / "patients.csv"
    births = {}
    if demo.exists():
        with demo.open(newline="") as f:
            births = {(r["first_name"], r["last_name"]): r["date_of_birth"] for r in csv.DictReader(f)}
    for sc in scenarios:
        today = date.fromisoformat(sc["now"][:10])
        names = [person_name(a) for a in _answers(sc, "name")]
        assert all(names), (sc["name"], names)
        assert all(person_name(a) for a in _answers(sc, "which_patient")), sc["name"]
        for said in _answers(sc, "date_of_birth"):
            born = birth_date(said, today)
            assert born is not None, (sc["name"], said)
            real = births.get(names[0]) if names else None
            if real and sc["name"] != "08-wrong-birthdate-no-disclosure":
                assert born.isoformat() == real, (sc["name"], said)
        for said in _answers(sc, "preferred_time"):
            understood = date_request(said, today) or time_preference(said) or yes_no(said) is False
            assert understood, (sc["name"], said)
        assert all(yes_no(a) is True for a in _answers(sc, "confirmation")), sc["name"]
        assert all(yes_no(a) is False for a in _answers(sc, "anything_else")), sc["name"]
        for said in _answers(sc, "slot_choice") + _answers(sc, "appointment_choice"):
            assert ordinal_choice(said, 3) is not None or date_request(said, today) or yes_no(said) is False, said


# ---- robustness and speed ---------------------------------------------------------------------------------

_WORDY = st.lists(st.sampled_from([
    "one", "oh", "two", "twenty", "third", "first", "hundred", "thousand", "and", "double", "the", "of", "next",
    "this", "Thursday", "December", "may", "at", "pm", "am", "half", "past", "quarter", "to", "noon", "morning",
    "not", "yes", "no", "I'm", "this is", "James", "-", ",", ".", "/", ":", "12", "31st", "2026", "<dtmf", ">",
    "plus", "week", "month", "in", "after", "before", "around", "ish", "o'clock", "'", "nineteen", "seventy",
]), max_size=14).map(" ".join)
_ANY_TEXT = st.one_of(st.text(max_size=80), _WORDY)


@settings(max_examples=300)
@given(_ANY_TEXT, _TODAYS, st.integers(-2, 6))
def test_no_function_crashes_on_any_text(text, today, count):
    assert yes_no(text) in (True, False, None)
    assert isinstance(words_to_digits(text), str)
    assert isinstance(words_to_ordinal_digits(text), str)
    request = date_request(text, today)
    assert request is None or (request.first <= request.last and request.first >= today)
    assert request is None or request.weekday is None or 0 <= request.weekday <= 6
    preference = time_preference(text)
    assert preference is None or isinstance(preference, TimePreference)
    born = birth_date(text, today)
    assert born is None or born <= today
    number = phone_number(text)
    assert number is None or number.startswith("+")
    choice = ordinal_choice(text, count)
    assert choice is None or 0 <= choice < count
    keys = dtmf(text)
    assert keys is None or keys
    name = person_name(text)
    assert name is None or (name[0] and name[0][0] == name[0][0].upper())


def test_results_are_frozen():
    request = date_request("Thursday", TUE)
    with pytest.raises(AttributeError):
        request.first = TUE
    with pytest.raises(AttributeError):
        time_preference("morning").part_of_day = "evening"


def test_spoken_re_exports_the_whole_api():
    for name in spoken.__all__:
        assert getattr(spoken, name)


TYPICAL = [
    "Hi, I'd like to schedule a cleaning please.", "Thursday afternoon", "next Monday morning",
    "The cleaning on Friday December 4th.", "April 18th, 1972", "oh seven twenty three two thousand three",
    "two one seven, five five five, zero one two five", "No, that's all. Thank you.", "yes this is Grace Kim",
    "the 23rd then, any time", "The first one works for me.",
]


@pytest.mark.parametrize("name, call", [
    ("yes_no", yes_no), ("words_to_digits", words_to_digits), ("date_request", lambda t: date_request(t, TUE)),
    ("time_preference", time_preference), ("birth_date", lambda t: birth_date(t, TUE)),
    ("phone_number", phone_number), ("ordinal_choice", lambda t: ordinal_choice(t, 3)), ("dtmf", dtmf),
    ("person_name", person_name),
])
def test_each_call_takes_well_under_a_millisecond(name, call):
    def all_typical():
        for text in TYPICAL:
            call(text)

    best = min(timeit.repeat(all_typical, number=20, repeat=5)) / (20 * len(TYPICAL))
    assert best < 0.001, f"{name}: {best * 1e6:.0f} µs per call"
