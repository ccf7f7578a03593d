"""The screen pop in a real browser: `dentra web` over TLS, headless Debian Chromium, password + TOTP sign-in,
calls rung through the voice side's own code (recognition + call-ringing in one write).

Screenshots land in the test's tmp dir; docs/screenshots/ holds the reviewed ones.
"""

from __future__ import annotations

import signal
import time
from datetime import date

import pytest

from appliance import events
from appliance.store import call_commands, patients
from tests.web.front_desk import EXTENSION, USERNAME, PageServer, demo_clinic, front_desk
from tests.web.ringing import ring, say

POP_WITHIN_S = 1.0
SCRIPT_NAME = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def desk(tmp_path_factory, config):
    """(server, browser signed in as anna, the voice side's store, a folder for screenshots)."""
    work = tmp_path_factory.mktemp("front-desk")
    data_dir = demo_clinic(config, work / "data")
    with front_desk(data_dir) as (server, browser, store):
        yield server, browser, store, work


def pop_for(browser, call_id: str, timeout_s: float = POP_WITHIN_S):
    """The call's card once it is visible; fails when that takes longer than `timeout_s`."""
    return browser.page.wait_for_selector(f'.pop[data-call-id="{call_id}"]', state="visible",
                                          timeout=timeout_s * 1000)


def home(server, browser):
    browser.page.goto(server.base + "/", wait_until="domcontentloaded")  # the pop needs the script, not images
    browser.wait_live()


def test_a_known_caller_pops_within_a_second_and_opens_the_patient(desk):
    server, browser, store, work = desk
    home(server, browser)
    started = time.monotonic()
    call_id, _ = ring(store, "+12175550103")  # James Smith, allergic to lidocaine
    card = pop_for(browser, call_id)
    elapsed = time.monotonic() - started
    assert elapsed < POP_WITHIN_S
    assert card.query_selector(".pop-name").text_content() == "James Smith"
    assert card.query_selector(".pop-number").text_content() == "+1 217-555-0103"
    allergy = card.query_selector(".pop-allergy")
    assert allergy.is_visible() and "lidocaine" in allergy.text_content()
    assert "Dental exam" in card.text_content()  # the next appointment
    browser.page.screenshot(path=str(work / "pop-known.png"))
    print(f"screen pop visible {elapsed * 1000:.0f} ms after the event was written")
    card.query_selector(".pop-name").click()
    browser.page.wait_for_url("**/patients/P1002")
    assert "James Smith" in browser.page.locator("h1").first.text_content()
    browser.page.screenshot(path=str(work / "patient.png"))


def test_a_household_phone_shows_each_candidate(desk):
    server, browser, store, work = desk
    home(server, browser)
    call_id, _ = ring(store, "+12175550100")  # Maria and Henry Lopez
    card = pop_for(browser, call_id)
    assert card.query_selector(".pop-title").text_content() == "Household phone: 2 patients"
    names = [n.text_content() for n in card.query_selector_all(".pop-name")]
    assert names == ["Maria Lopez", "Henry Lopez"]
    assert len(card.query_selector_all(".pop-allergy")) == 1  # only Maria has an allergy (latex)
    browser.page.screenshot(path=str(work / "pop-household.png"))


def test_an_unknown_number_is_a_new_caller(desk):
    server, browser, store, work = desk
    home(server, browser)
    call_id, _ = ring(store, "+12175559876")
    card = pop_for(browser, call_id)
    assert card.query_selector(".pop-title").text_content() == "New caller"
    assert card.query_selector(".pop-patient") is None
    browser.page.screenshot(path=str(work / "pop-new-caller.png"))


def test_names_and_words_from_the_store_are_shown_as_text_never_run(desk):
    server, browser, store, work = desk
    with store.write():
        patients.add(store, patients.Patient(SCRIPT_NAME, "Doe", date_of_birth=date(1990, 1, 2),
                                             notes="<img src=x onerror=alert(2)>",
                                             phones=(patients.Phone("+12175550999"),)), "test")
    home(server, browser)
    call_id, _ = ring(store, "+12175550999")
    card = pop_for(browser, call_id)
    assert card.query_selector(".pop-name").text_content() == f"{SCRIPT_NAME} Doe"
    assert "<img src=x onerror=alert(2)>" in card.text_content()
    say(store, call_id, "caller", "my name is <b onmouseover=alert(3)>Jo</b>")
    browser.page.goto(server.base + f"/calls/{call_id}/live")
    browser.wait_live()
    say(store, call_id, "box", "<script>alert(4)</script> is not a name I know")
    browser.page.wait_for_selector("#transcript li:nth-child(2)", timeout=2000)
    lines = browser.page.locator("#transcript .said-text").all_text_contents()
    assert lines == ["my name is <b onmouseover=alert(3)>Jo</b>", "<script>alert(4)</script> is not a name I know"]
    assert browser.page.locator("#transcript b, #transcript script, .pops img, .pops script").count() == 0
    assert browser.dialogs == []


def test_the_live_view_follows_the_call_and_takes_it(desk):
    server, browser, store, work = desk
    call_id, _ = ring(store, "+12175550104")  # Aisha Khan
    with store.write():
        events.emit(store, "call-answered", call_id)
    say(store, call_id, "box", "Thanks for calling Bright Smile Dental. Hi Aisha! How can I help you today?")
    browser.page.goto(server.base + f"/calls/{call_id}/live")
    browser.wait_live()
    page = browser.page
    assert page.locator("#live-status").text_content() == "The AI is answering"
    say(store, call_id, "caller", "I need to move my cleaning to next week", flow="reschedule")
    say(store, call_id, "box", "Sure. What is your date of birth?", flow="reschedule")
    page.wait_for_selector("#transcript li:nth-child(3)", timeout=2000)
    assert page.locator("#live-flow").text_content() == "reschedule"
    assert page.locator("#live-expects").text_content() == "intent"
    page.screenshot(path=str(work / "live-call.png"))
    page.click("button.take")
    page.wait_for_url(f"**/calls/{call_id}/live?asked=take")
    command = call_commands.latest(store, call_id)
    assert (command.command, command.extension, command.by_user, command.done_at) == ("take", EXTENSION, USERNAME,
                                                                                      None)
    assert "Putting the caller through to you" in page.locator("#live-command").text_content()
    with store.write():  # what telephony/commands.py writes once the transfer went through
        call_commands.finish(store, command.command_id, "transferred")
        events.emit(store, "call-transferred", call_id, to=EXTENSION, by=USERNAME, command="take")
    page.wait_for_function("() => document.querySelector('#live-status').dataset.status === 'transferred'",
                           timeout=2000)
    assert page.locator("#live-status").text_content() == f"Transferred to {EXTENSION}"
    assert page.locator("button.take").is_disabled()
    page.screenshot(path=str(work / "live-call-taken.png"))


def test_a_stopping_server_closes_open_screens_at_once(desk, config, tmp_path):
    """At SIGTERM the live channel drops every page (they reconnect to the restarted server) instead of
    holding the stop for gunicorn's graceful timeout."""
    browser = desk[1]
    server = PageServer(demo_clinic(config, tmp_path / "data"))
    context = browser.chromium.new_context(ignore_https_errors=True)
    try:
        page = context.new_page()
        browser.sign_in(server.base, page)
        browser.wait_live(page)
        page.evaluate("""() => document.addEventListener('dentra:live', (e) => {
            if (e.detail.type === 'dropped') window.droppedBecause = e.detail.reason; })""")
        server.proc.send_signal(signal.SIGTERM)
        page.wait_for_function("() => window.droppedBecause === 'server-closing'", timeout=2000)
    finally:
        context.close()
        server.stop()
