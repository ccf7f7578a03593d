"""Redaction: no name, phone number, birth date or e-mail survives, ordinary words do, and restore round-trips."""

from __future__ import annotations

import csv
import re
from datetime import date

import pytest

from appliance import defaults
from appliance.brain.redaction import PLACEHOLDER, Redactor, date_key, spoken_digits

# The caller's candidate patients, as the conversation knows them from caller ID.
KNOWN = ["Maria", "Lopez", "Maria Lopez", "Carlos Garcia", "maria.lopez@example.com", "+12175550100"]

CASES = [
    # (utterance, PHI that must not remain)
    ("Hi, this is Maria Lopez calling about my cleaning", ["Maria", "Lopez"]),
    ("maria lopez here, I need to cancel", ["maria", "lopez"]),
    ("It's Carlos. Carlos Garcia.", ["Carlos", "Garcia"]),
    ("my name is James Smith", ["James", "Smith"]),
    ("my name is april jones and I need a cleaning", ["april", "jones"]),
    ("I'm Wei Zhang, a new patient", ["Wei", "Zhang"]),
    ("i'm ahmad khan", ["ahmad", "khan"]),
    ("This is Dr. Robert Johnson's wife, Linda", ["Robert", "Johnson", "Linda"]),
    ("It's for my daughter Emma, she's seven", ["Emma"]),
    ("my son's name is Tommy", ["Tommy"]),
    ("hola, me llamo Maria Lopez", ["Maria", "Lopez"]),
    ("mi nombre es Jorge Ramirez", ["Jorge", "Ramirez"]),
    ("Smith, S M I T H", ["Smith", "S M I T H"]),
    ("This is her mother speaking, Rosa Diaz", ["Rosa", "Diaz"]),
    ("Rosa Diaz speaking", ["Rosa", "Diaz"]),
    ("Hi, James here", ["James"]),
    ("I’m Jennifer O’Brien", ["Jennifer", "Brien"]),
    ("My number is 217-555-0103", ["217", "555", "0103"]),
    ("call me at (217) 555-0103", ["217", "555", "0103"]),
    ("+1 217 555 0103 is my cell", ["217", "555", "0103"]),
    ("reach me on 2175550103 please", ["2175550103"]),
    ("it's 217.555.0103", ["217", "555", "0103"]),
    ("two one seven five five five zero one zero three", ["two one seven", "zero one zero three"]),
    ("two one seven, five five five, oh one oh three", ["two one seven", "oh one oh three"]),
    ("five five five double oh one three", ["five five five", "double oh"]),
    ("two one seven, uh, five five five, oh one oh three", ["two one seven", "five five five"]),
    ("my number ends in 0103", ["0103"]),
    ("I was born April 18th, 1972", ["April 18", "1972"]),
    ("date of birth 4/18/1972", ["4/18", "1972"]),
    ("DOB 04-18-72", ["04-18", "72"]),
    ("it's 1972-04-18", ["1972"]),
    ("18 April 1972", ["18 April", "1972"]),
    ("the 18th of April, 1972", ["18th", "1972"]),
    ("april eighteenth nineteen seventy two", ["eighteenth", "nineteen seventy"]),
    ("May 3rd, two thousand and five", ["May 3rd", "two thousand"]),
    ("my birthday is four eighteen seventy two", ["four eighteen", "seventy two"]),
    ("I was born on the eighteenth of April", ["eighteenth", "April"]),
    ("email is james.smith@example.com", ["james", "smith", "example"]),
    ("it's maria dot lopez at gmail dot com", ["maria", "lopez", "gmail"]),
    ("jsmith72 at yahoo dot com", ["jsmith72", "yahoo"]),
    ("my member ID is W123456789", ["W123456789"]),
]


@pytest.mark.parametrize(("utterance", "phi"), CASES)
def test_no_phi_remains(utterance, phi):
    redacted = Redactor(KNOWN).redact(utterance)
    for value in phi:
        assert value.lower() not in redacted.lower(), f"{value!r} left in {redacted!r}"
    assert PLACEHOLDER.search(redacted)


@pytest.mark.parametrize("utterance", [
    "Can I book a cleaning on Thursday morning with Dr. Chen? I have MetLife.",
    "it's MetLife",
    "I'm calling about my appointment",
    "This is about my crown",
    "I'm in a lot of pain and my jaw is swollen",
    "I'd like the 10:30 slot on December 8th",
    "is 3 pm okay? the 2nd or the 3rd",
    "my son has a toothache",
    "Can I come in May? June works too.",
    "It's Thursday at two thirty",
    "I need two fillings and one crown",
    "how much is a cleaning, is it $120?",
    "do you take Delta Dental or Cigna",
    "yes please, that works",
    "I'm not sure, maybe next week",
    "this is urgent, my tooth broke",
    "it's the downtown office",
    "I am Spanish speaking, do you have someone",
    "Okay here is the thing, I am here early",
    "It is what it is",
    "I am wondering if Dr. Okafor has anything Friday afternoon",
])
def test_ordinary_words_stay(utterance):
    assert Redactor(KNOWN).redact(utterance) == utterance


def test_restore_round_trips_strings_dicts_and_lists():
    r = Redactor(KNOWN)
    said = "Maria Lopez, born 8/2/1980, number 217 555 0100, email maria.lopez@example.com"
    redacted = r.redact(said)
    assert r.restore(redacted) == said
    slots = {"name": "[NAME_1]", "date_of_birth": "[DOB_1]", "phone": "PHONE_1", "nested": {"e": ["[EMAIL_1]"]}}
    assert r.restore(slots) == {"name": "Maria Lopez", "date_of_birth": "8/2/1980", "phone": "217 555 0100",
                                "nested": {"e": ["maria.lopez@example.com"]}}
    assert r.restore(("[NAME_9]", 3, None)) == ("[NAME_9]", 3, None)  # unknown placeholders stay visible
    assert r.has_placeholder("[NAME_9]") and not r.has_placeholder("Maria")


def test_same_value_same_placeholder_across_forms_and_turns():
    r = Redactor(KNOWN)
    first = r.redact("My number is 217-555-0103 and I was born April 18th, 1972")
    second = r.redact("that's two one seven five five five zero one zero three, and 4/18/1972, my birthday")
    assert first == "My number is [PHONE_1] and I was born [DOB_1]"
    assert second == "that's [PHONE_1], and [DOB_1], my birthday"
    assert r.redact("+1 (217) 555-0103") == "[PHONE_1]"
    assert r.restore("[PHONE_1] [DOB_1]") == "217-555-0103 April 18th, 1972"


def test_names_are_whole_words_case_insensitive_and_learned():
    r = Redactor(["Ana Li"])
    assert r.redact("ANA said li is her surname") == "[NAME_1] said [NAME_2] is her surname"
    assert r.redact("Analise and Lisbon stay") == "Analise and Lisbon stay"
    assert r.redact("Ana Li") == "[NAME_3]"
    # a name the caller introduced is redacted later in the call too, even alone
    assert r.redact("my name is Bob Stone") == "my name is [NAME_4]"
    assert r.redact("Stone, like the rock") == "[NAME_5], like the rock"


def test_known_first_name_takes_the_surname_with_it():
    r = Redactor(["James"])
    assert r.redact("James Smith here") == "[NAME_1] here"
    assert r.placeholders["[NAME_1]"] == "James Smith"
    assert r.redact("James Thursday") == "[NAME_2] Thursday"


def test_accents_and_hyphens_in_known_names():
    r = Redactor(["José Pérez-Núñez"])
    assert r.redact("Jose Perez Nunez") == "[NAME_1]"
    assert r.redact("josé") == "[NAME_2]"


def test_expects_name_redacts_any_unknown_word():
    r = Redactor()
    assert r.redact("uh, Jim Bowers", expects="name") == "uh, [NAME_1]"
    assert r.redact("it's Zebulon", expects="which_patient") == "it's [NAME_2]"


def test_expects_date_of_birth_and_phone_redact_bare_numbers():
    r = Redactor()
    assert r.redact("four eighteen seventy two", expects="date_of_birth") == "[DOB_1]"
    assert r.redact("the eighteenth", expects="date_of_birth") == "the [DOB_2]"
    assert r.redact("it's 555 0103", expects="phone") == "it's [PHONE_1]"


@pytest.mark.parametrize(("said", "key"), [
    ("April 18th, 1972", "1972-04-18"), ("4/18/1972", "1972-04-18"), ("18/04/1972", "1972-04-18"),
    ("1972-04-18", "1972-04-18"), ("4-18-72", "1972-04-18"), ("the 18th of April 1972", "1972-04-18"),
    ("April eighteenth, nineteen seventy-two", "1972-04-18"), ("twenty first of may two thousand three", "2003-05-21"),
    ("Feb 2 twenty twenty", "2020-02-02"), ("march nineteen oh five", "1905-03-00"),
])
def test_date_key(said, key):
    assert date_key(said) == key


def test_spoken_digits():
    assert spoken_digits(["two", "one", "seven", "five", "five", "five", "oh", "one", "oh", "three"]) == "2175550103"
    assert spoken_digits(["double", "five", "fifty", "five", "triple", "0", "12"]) == "555500012"


def test_placeholders_are_the_only_bracketed_tokens_added():
    r = Redactor(KNOWN)
    out = r.redact("This is Maria Lopez, 217-555-0100, born 8/2/1980")
    assert re.findall(r"\[[A-Z]+_\d+\]", out) == ["[NAME_1]", "[PHONE_1]", "[DOB_1]"]


ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def demo_patients():
    with open(defaults.DEMO_DIR / "patients.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("patient", demo_patients(), ids=lambda p: p["patient_id"])
def test_every_demo_patient_said_every_way_leaves_no_phi(patient):
    """Each demo patient introduces themselves and gives their details; a fresh redactor knows nothing."""
    first, last = patient["first_name"], patient["last_name"]
    born = date.fromisoformat(patient["date_of_birth"])
    national = patient["phone"][2:]
    said = [f"Hi, my name is {first} {last}", f"this is {first} {last}", f"I'm {first} {last}, calling to book",
            f"it's {first.lower()} {last.lower()}", f"I was born {born:%B} {born.day}, {born.year}",
            f"my date of birth is {born.month}/{born.day}/{born.year}",
            f"my number is {national[:3]}-{national[3:6]}-{national[6:]}",
            "that's " + " ".join(ONES[int(c)] for c in national), f"my email is {patient['email']}"]
    phi = [first, last, str(born.year), national[6:], patient["email"].split("@")[0]]
    for utterance in said:
        redacted = Redactor().redact(utterance).lower()
        assert not [v for v in phi if v.lower() in redacted], redacted


def test_a_known_birth_date_is_redacted_without_its_year():
    r = Redactor(["Maria", "Lopez", "Maria Lopez", "1980-08-02"])
    for said in ("my birthday is August 2nd", "august second", "the 2nd of Aug", "8/2", "8/2/1980"):
        assert r.redact(said).endswith("[DOB_1]"), said
    assert r.redact("can I come August 3rd or the 12th of August?") == "can I come August 3rd or the 12th of August?"
