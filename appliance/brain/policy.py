"""Answers to callers' questions, grounded only in the clinic config; says so when the answer is not there."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from appliance.brain.replies import say_day, say_hours, say_list, say_money, say_time
from appliance.brain.understanding import Heard
from appliance.config import Config
from appliance.scheduling.calendar import open_hours

# Plans callers name that a clinic may not be in network with; the accepted ones come from the config.
KNOWN_PLANS = ("Delta Dental", "MetLife", "Cigna", "Aetna", "Guardian", "Humana", "UnitedHealthcare",
               "United Healthcare", "Blue Cross", "BlueCross", "Anthem", "Principal", "Ameritas", "Medicaid",
               "Medicare", "Tricare", "Sun Life", "Careington", "Humana", "Lincoln", "Spirit", "Renaissance")
FAQ_STOP = {"do", "you", "the", "a", "an", "is", "are", "of", "for", "to", "i", "my", "we", "can", "your", "what",
            "how", "does", "it", "in", "on", "and", "or", "if", "there", "any", "have"}


@dataclass(frozen=True)
class Answer:
    text: str
    found: bool  # False: the clinic's information does not answer this


def _plain(name: str) -> str:
    return re.sub(r"[^a-z]", "", name.lower())


def _named_plans(config: Config, text: str) -> list[str]:
    squashed = _plain(text)
    return [p for p in dict.fromkeys(KNOWN_PLANS + config.policies.insurance_accepted) if _plain(p) in squashed]


def _insurance(config: Config, text: str) -> Answer:
    pol = config.policies
    accepted = {_plain(p): p for p in pol.insurance_accepted}
    named = _named_plans(config, text)
    note = f" {pol.insurance_note}" if pol.insurance_note else ""
    if named:
        plan = named[0]
        if _plain(plan) in accepted:
            return Answer(f"Yes, we're in network with {accepted[_plain(plan)]}.{note}", True)
        return Answer(f"{plan} isn't one of the plans we're in network with; we work with "
                      f"{say_list(list(pol.insurance_accepted), 'and')}.{note}", True)
    if pol.insurance_accepted:
        return Answer(f"We're in network with {say_list(list(pol.insurance_accepted), 'and')}.{note}", True)
    return Answer("", False)


def _price(config: Config, heard: Heard) -> Answer:
    if heard.service:
        s = config.service(heard.service)
        if s.price:
            return Answer(f"A {s.name.lower()} is {say_money(s.price)}.", True)
        return Answer("", False)
    priced = [f"{s.name.lower()} {say_money(s.price)}" for s in config.services if s.price]
    if not priced:
        return Answer("", False)
    return Answer(f"Our prices are: {say_list(priced, 'and')}.", True)


def _hours(config: Config, heard: Heard, today: date) -> Answer:
    locations = [config.location(heard.location)] if heard.location else list(config.locations)
    if heard.day is not None:
        day = heard.day.first
        parts = []
        for loc in locations:
            hours = open_hours(config, loc.id, day)
            parts.append(f"{loc.name} is open {say_time(hours.start)} to {say_time(hours.end)}" if hours
                         else f"{loc.name} is closed")
        return Answer(f"On {say_day(day, today)}, {say_list(parts, 'and')}.", True)
    parts = [f"{loc.name} is open {say_hours(loc.hours, loc.breaks)}" for loc in locations if loc.hours]
    if not parts:
        return Answer("", False)
    return Answer(". ".join(parts) + ".", True)


def _faq(config: Config, text: str) -> Answer:
    words = set(re.findall(r"[a-z]+", text.lower())) - FAQ_STOP
    best, best_score = None, 0.0
    for item in config.policies.faq:
        q_words = set(re.findall(r"[a-z]+", item.q.lower())) - FAQ_STOP
        if not q_words:
            continue
        score = len(words & q_words) / len(q_words)
        if score > best_score:
            best, best_score = item, score
    if best is not None and best_score >= 0.5:
        return Answer(best.a, True)
    return Answer("", False)


def answer(config: Config, heard: Heard, today: date) -> Answer:
    """The clinic's own words for this question, or found=False when its information has no answer."""
    pol = config.policies
    text = heard.text
    faq = _faq(config, text)
    if faq.found:
        return faq
    topic = heard.topic
    if topic == "insurance" or _named_plans(config, text):
        return _insurance(config, text)
    if topic == "price":
        return _price(config, heard)
    if topic == "hours" or (heard.day is not None and re.search(r"\bopen\b", text, re.I)):
        return _hours(config, heard, today)
    if topic == "address":
        locations = [config.location(heard.location)] if heard.location else list(config.locations)
        known = [f"{loc.name} is at {loc.address}" for loc in locations if loc.address]
        return Answer(". ".join(known) + ".", True) if known else Answer("", False)
    simple = {"payment": pol.payment, "parking": pol.parking, "cancellation": pol.cancellation,
              "new_patients": pol.new_patients}
    if topic in simple:
        return Answer(simple[topic], bool(simple[topic]))
    if heard.service:  # "do you do whitening?"
        s = config.service(heard.service)
        price = f"; it's {say_money(s.price)}" if s.price else ""
        return Answer(f"Yes, we offer {s.name.lower()}{price}.", True)
    if re.search(r"\b(?:dentists?|doctors?|hygienists?|who works)\b", text, re.I):
        by_role: dict[str, list[str]] = {}
        for p in config.providers:
            by_role.setdefault(p.role, []).append(p.name)
        return Answer(" ".join(f"Our {role}s: {say_list(names, 'and')}." for role, names in by_role.items()), True)
    return Answer("", False)
