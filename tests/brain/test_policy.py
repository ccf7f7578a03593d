"""Answers come from the clinic config only, and say so when it has no answer."""

from __future__ import annotations

from datetime import date

import pytest

from appliance.brain.policy import answer
from appliance.brain.replies import say_hours, say_money, say_time, say_when
from appliance.brain.understanding import Catalog, rules

TODAY = date(2026, 12, 1)


def ask(config, text):
    return answer(config, rules(text, TODAY, Catalog(config)), TODAY)


@pytest.mark.parametrize("text, must", [
    ("Do you take MetLife dental insurance?", "Yes, we're in network with MetLife."),
    ("Is Delta Dental accepted?", "Yes, we're in network with Delta Dental."),
    ("Do you take Humana?", "Humana isn't one of the plans we're in network with"),
    ("What insurance do you accept?", "Delta Dental, MetLife, Cigna, Aetna and Guardian"),
    ("How much is a cleaning?", "A cleaning and checkup is $150."),
    ("How much does a root canal cost?", "A root canal is $1,100."),
    ("Do you take credit cards?", "CareCredit"),
    ("Where is the downtown office?", "120 Main St, Springfield, IL 62701"),
    ("Is there parking?", "Free parking behind the building"),
    ("What's your cancellation policy?", "24 hours notice"),
    ("What should I bring as a new patient?", "photo ID"),
    ("Do you see children?", "from their first tooth"),
    ("do you offer sedation", "nitrous oxide"),
    ("Are you open on Saturday?", "Bright Smile Northside is open 9 AM to 1 PM"),
    ("Do you do whitening?", "Yes, we offer teeth whitening; it's $400."),
    ("Are you open on December 24th?", "Bright Smile Downtown is closed and Bright Smile Northside is closed"),
    ("What are your hours downtown?", "Monday to Thursday 8 AM to 5 PM, Friday 8 AM to 2 PM; closed noon to 1 PM"),
])
def test_answers_from_config(config, text, must):
    found = ask(config, text)
    assert found.found and must in found.text, found.text


@pytest.mark.parametrize("text", ["Do you do dental implants?", "Do you have Wi-Fi?", "Who won the game last night?"])
def test_no_answer_is_said_plainly(config, text):
    assert not ask(config, text).found


def test_spoken_forms():
    from datetime import datetime, time

    assert say_time(time(13, 0)) == "1 PM" and say_time(time(9, 30)) == "9:30 AM" and say_time(time(12)) == "noon"
    assert say_when(datetime(2026, 12, 3, 13, 0)) == "Thursday, December 3rd at 1 PM"
    assert say_when(datetime(2026, 12, 2, 8, 0), date(2026, 12, 1)) == "tomorrow at 8 AM"
    assert say_money(1200) == "$1,200" and say_money(95.5) == "$95.50"


def test_hours_are_grouped(config):
    assert say_hours(config.location("northside").hours) == "Tuesday 9 AM to 6 PM, Thursday 9 AM to 6 PM, " \
        "Saturday 9 AM to 1 PM"
