"""The live call view and its two buttons, the screen-pop settings, and who may open /live (Flask test client)."""

from __future__ import annotations

import json
from datetime import date

import pytest

from appliance import events
from appliance.store import call_commands, patients, users
from appliance.web import access, live
from appliance.web.security import SESSION_COOKIE
from tests.web.conftest import csrf_of
from tests.web.ringing import ring, say
from tests.web.test_screenpop import FakeSocket


@pytest.fixture
def call(store):
    """A ringing call from Nora Ek's phone, with two lines said (one with HTML in it)."""
    with store.write():
        patients.add(store, patients.Patient("Nora", "Ek", "P2001", date(1985, 3, 4), allergies="penicillin",
                                             phones=(patients.Phone("+12175550150"),)), "test")
    call_id, _ = ring(store, "+12175550150")
    say(store, call_id, "box", "Hi Nora! How can I help you today?")
    say(store, call_id, "caller", "book me <b>now</b>", flow="book")
    return call_id


def with_extension(client, store, username: str, extension: str | None = "102"):
    users.set_extension(store, username, extension, "test")
    return client


def audit_rows(store, action: str) -> list:
    return store.conn.execute("SELECT * FROM audit_log WHERE action = ? ORDER BY seq", (action,)).fetchall()


def test_the_live_view_shows_the_call_so_far_as_text_and_is_audited(signed_in, store, call):
    page = signed_in("front_desk").get(f"/calls/{call}/live").get_data(as_text=True)
    assert "Call from +1 217-555-0150" in page and "Nora Ek" in page
    assert "book me &lt;b&gt;now&lt;/b&gt;" in page and "<b>now" not in page
    assert '<dd id="live-flow">book</dd>' in page
    [row] = audit_rows(store, "call-live-viewed")
    assert row["patient_id"] == "P2001" and json.loads(row["detail"])["call_id"] == call


def test_unknown_calls_are_404(signed_in):
    desk = signed_in("front_desk")
    assert desk.get("/calls/C404/live").status_code == 404
    assert desk.get("/calls/not%20an%20id/live").status_code == 404


def test_take_the_call_writes_a_command_for_the_voice_side_and_audits_it(signed_in, store, call):
    desk = signed_in("front_desk", "rita")
    with_extension(desk, store, "rita")
    token = csrf_of(desk.get(f"/calls/{call}/live"))
    done = desk.post(f"/calls/{call}/take", data={"csrf_token": token})
    assert done.status_code == 302 and done.headers["Location"] == f"/calls/{call}/live?asked=take"
    again = desk.post(f"/calls/{call}/take", data={"csrf_token": token})  # a double click
    assert again.status_code == 302
    [command] = store.conn.execute("SELECT * FROM call_commands").fetchall()
    assert (command["command"], command["extension"], command["by_user"]) == ("take", "102", "rita")
    [row] = audit_rows(store, "call-take-requested")
    assert (row["actor"], row["patient_id"], row["subject"]) == ("web:rita", "P2001", call)
    page = desk.get(f"/calls/{call}/live?asked=take").get_data(as_text=True)
    assert "Putting the caller through to you (ext 102)" in page


def test_end_ai_hands_to_the_front_desk_extension(signed_in, store, call, config):
    desk = signed_in("manager")
    token = csrf_of(desk.get(f"/calls/{call}/live"))
    assert desk.post(f"/calls/{call}/end-ai", data={"csrf_token": token}).status_code == 302
    command = call_commands.latest(store, call)
    assert (command.command, command.extension) == ("end-ai", config.escalation.transfer_to)


def test_without_an_extension_or_once_the_call_ended_nothing_is_written(signed_in, store, call):
    desk = signed_in("front_desk")
    page = desk.get(f"/calls/{call}/live")
    assert "You have no desk extension" in page.get_data(as_text=True)
    refused = desk.post(f"/calls/{call}/take", data={"csrf_token": csrf_of(page)})
    assert refused.status_code == 409 and "dentra users set-extension" in refused.get_data(as_text=True)
    with store.write():
        store.conn.execute("UPDATE calls SET ended_at = '2026-12-01T15:00:00+00:00' WHERE call_id = ?", (call,))
    ended = desk.post(f"/calls/{call}/end-ai", data={"csrf_token": csrf_of(page)})
    assert ended.status_code == 409 and "already ended" in ended.get_data(as_text=True)
    assert store.conn.execute("SELECT COUNT(*) FROM call_commands").fetchone()[0] == 0


def test_commands_need_the_form_token_and_a_signed_in_user(signed_in, client, store, call):
    desk = signed_in("front_desk", "rita")
    with_extension(desk, store, "rita")
    assert desk.post(f"/calls/{call}/take").status_code == 400
    assert client.post(f"/calls/{call}/take").status_code == 400
    assert client.get(f"/calls/{call}/live").status_code == 302  # to the sign-in page
    upgrade = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
               "Sec-WebSocket-Version": "13"}
    refused = client.get("/live", headers=upgrade)  # the websocket too: no handshake for a stranger
    assert refused.status_code == 302 and "/login" in refused.headers["Location"]
    assert store.conn.execute("SELECT COUNT(*) FROM call_commands").fetchone()[0] == 0


def test_screen_pop_preferences_are_kept_per_user_and_reach_every_page(signed_in, store):
    desk = signed_in("front_desk", "rita")
    page = desk.get("/settings")
    assert 'data-pop-sound="0" data-pop-notify="0"' in page.get_data(as_text=True)
    saved = desk.post("/settings", data={"csrf_token": csrf_of(page), "sound": "on"})
    assert saved.status_code == 302
    assert 'data-pop-sound="1" data-pop-notify="0"' in desk.get("/").get_data(as_text=True)
    other = signed_in("front_desk").get("/").get_data(as_text=True)
    assert 'data-pop-sound="0"' in other  # rita's choice is hers
    [row] = audit_rows(store, "pop-preferences-set")
    assert json.loads(row["detail"])["sound"] is True
    assert desk.post("/settings", data={"sound": "on"}).status_code == 400  # no token


def test_a_live_socket_stops_when_its_session_ends(app, signed_in, web_now, config):
    desk = signed_in("front_desk")
    cookie = desk.get_cookie(SESSION_COOKIE).value
    with app.test_request_context("/live", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"}):
        still = access.session_check()
        assert still()
        web_now.advance(minutes=config.web.idle_timeout_minutes + 1)
        assert not still()
    ws = FakeSocket()
    hub = app.extensions["dentra.live"].get()
    assert live.serve(ws, hub, None, lambda *_: None, wait_s=0.01, signed_in=lambda: False, recheck_s=0) == \
        "signed-out"
    assert ws.sent[-1] == {"type": "dropped", "reason": "signed-out"}


def test_the_hub_is_made_once_and_closed_with_the_app(app, store):
    hubs = app.extensions["dentra.live"]
    first = hubs.get()
    assert hubs.get() is first and first.subscriber_count == 0
    with store.write():
        events.emit(store, "call-answered", None)
    app.extensions["dentra"].close()
    with pytest.raises(RuntimeError, match="stopping"):
        hubs.get()
