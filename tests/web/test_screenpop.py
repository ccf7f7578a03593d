"""The screen-pop hub and live channel on real stores: replay, switch-over under writers, slow screens, audits."""

from __future__ import annotations

import json
import random
import threading
import time

import pytest

from appliance import events
from appliance.web import live
from appliance.web.screenpop import Dropped, PopSource, ScreenPopHub
from tests.conftest import DEMO_NOW
from tests.web.ringing import ring, say, second_connection


@pytest.fixture
def web(demo_store):
    """The web process's own connection, a hub on it (no tailer thread), and the box's connection."""
    web_store = second_connection(demo_store)
    hub = ScreenPopHub(PopSource(web_store, lambda: DEMO_NOW), queue_size=8)
    yield hub, demo_store
    hub.close()
    web_store.close()


def emit_many(store, n: int, call_id: str = "C1") -> list[int]:
    ids = []
    for i in range(n):
        with store.write():
            ids.append(events.emit(store, "call-answered" if i % 2 else "call-ended", call_id, outcome="answered"))
    return ids


def drain(sub, until_id: int, timeout: float = 10.0) -> list[int]:
    """Event ids a subscriber gets up to and including `until_id`."""
    got, deadline = [], time.monotonic() + timeout
    while (not got or got[-1] < until_id) and time.monotonic() < deadline:
        pop = sub.next(0.05)
        if pop:
            got.append(pop.event_id)
    return got


def test_message_format_carries_a_card_or_the_payload(web):
    hub, box = web
    call_id, ring_id = ring(box, "+12175550103")
    with box.write():
        booked_id = events.emit(box, "appointment-booked", call_id, appointment_id="A5100", patient_id="P1002")
    hub.poll()
    sub = hub.subscribe(ring_id - 1)
    ringing, booked = sub.next(0.1), sub.next(0.1)
    assert set(ringing.message()) == {"id", "type", "call_id", "at", "card"}
    assert ringing.message()["card"]["patients"][0]["patient_id"] == "P1002"
    assert ringing.shown == (("P1002", "screen-pop"),)
    assert booked.message() == {"id": booked_id, "type": "appointment-booked", "call_id": call_id,
                                "at": booked.at, "payload": {"appointment_id": "A5100", "patient_id": "P1002"}}


def test_a_fresh_page_gets_live_events_only(web):
    hub, box = web
    emit_many(box, 3)
    hub.poll()
    sub = hub.subscribe(None)
    assert sub.caught_up and sub.next(0.01) is None
    (new,) = emit_many(box, 1)
    hub.poll()
    assert sub.next(0.1).event_id == new


def test_reconnect_replays_what_was_missed_then_goes_live(web):
    hub, box = web
    first = emit_many(box, 4)
    hub.poll()
    sub = hub.subscribe(None)
    assert drain(sub, first[-1], timeout=0.2) == []  # nothing to replay for a fresh page
    hub.unsubscribe(sub)  # the browser lost its connection after seeing first[1]
    missed = emit_many(box, 3)
    hub.poll()
    back = hub.subscribe(first[1])
    assert back.resync is None and not back.caught_up
    later = emit_many(box, 2)
    hub.poll()
    assert drain(back, later[-1]) == first[2:] + missed + later


def test_no_duplicate_and_no_gap_while_a_writer_keeps_emitting(demo_store):
    """Pages connect at random moments with random last ids while the box writes; each sees every id once."""
    web_store = second_connection(demo_store)
    hub = ScreenPopHub(PopSource(web_store, lambda: DEMO_NOW), queue_size=2000)
    hub.start(interval=0.001)
    box = second_connection(demo_store)
    base = hub.head
    total, written = 300, []

    def writer():
        for i in range(total):
            with box.write():
                event_id = events.emit(box, "caller-said", "C1", text=f"line {i}", flow="book")
            written.append(event_id)  # a page can only have seen committed events

    thread = threading.Thread(target=writer)
    thread.start()
    subs, switch_overs = [], set()
    rng = random.Random(5)
    while thread.is_alive() and len(subs) < 40:
        last_seen = max(written[-1] - rng.randint(0, 30) if written else base, base)
        sub = hub.subscribe(last_seen)
        # replay then live, or ahead of a tailer a few ms behind (the live queue skips what was seen)
        switch_overs.add("replay" if sub.cursor < sub.replay_until else "ahead" if sub.cursor > sub.replay_until
                         else "at-head")
        subs.append((last_seen, sub))
        time.sleep(0.003)
    thread.join()
    final = written[-1]
    try:
        for last_seen, sub in subs:
            assert drain(sub, final) == list(range(last_seen + 1, final + 1))
            assert sub.next(0.02) is None  # nothing after the last one, no repeats
    finally:
        hub.close()
        box.close()
        web_store.close()
    assert len(subs) >= 5 and "replay" in switch_overs, switch_overs


def test_each_page_has_its_own_queue_and_a_slow_one_is_dropped_alone(web):
    hub, box = web  # queues hold 8 pops
    fast, slow = hub.subscribe(None), hub.subscribe(None)
    assert fast.queue is not slow.queue
    got = []
    for _ in range(3):
        ids = emit_many(box, 5)
        hub.poll()  # never blocks on the slow page
        got += drain(fast, ids[-1])
    assert got == list(range(got[0], got[0] + 15))
    assert hub.subscriber_count == 1  # only the fast page is left
    with pytest.raises(Dropped) as dropped:
        slow.next(0.01)
    assert dropped.value.reason.startswith("too-slow")
    # the dropped page reconnects from what it saw and loses nothing
    back = hub.subscribe(slow.cursor)
    assert drain(back, got[-1]) == got


def test_a_page_that_missed_too_much_is_told_to_reload(demo_store):
    web_store = second_connection(demo_store)
    hub = ScreenPopHub(PopSource(web_store, lambda: DEMO_NOW), replay_limit=5)
    ids = emit_many(demo_store, 12)
    hub.poll()
    sub = hub.subscribe(ids[0])
    assert sub.resync == "missed-too-much"
    assert drain(sub, ids[-1]) == ids[-5:]
    stale = hub.subscribe(ids[-1] + 1000)  # an id from a store that was replaced
    assert stale.resync == "unknown-event-id" and stale.caught_up
    web_store.close()


def test_tailer_delivers_within_100_ms(demo_store):
    web_store = second_connection(demo_store)
    hub = ScreenPopHub(PopSource(web_store, lambda: DEMO_NOW))
    hub.start()
    sub = hub.subscribe(None)
    delays = []
    try:
        for _ in range(20):
            t0 = time.perf_counter()
            ring(demo_store, "+12175550100")
            pop = sub.next(1.0)
            delays.append(time.perf_counter() - t0)
            assert pop is not None and pop.type == "call-ringing"
    finally:
        hub.close()
        web_store.close()
    delays.sort()
    assert delays[int(len(delays) * 0.95) - 1] < 0.1, delays


def test_an_event_whose_card_fails_still_goes_out_and_nothing_private_is_logged(web, monkeypatch, caplog):
    hub, box = web

    def broken(store, event, now, on_patient_shown):
        raise ValueError("Maria Lopez +12175550100")

    monkeypatch.setattr("appliance.web.cards.build_card", broken)
    _call_id, ring_id = ring(box, "+12175550100")
    (after,) = emit_many(box, 1)
    sub = hub.subscribe(None)
    hub.poll()
    failed, fine = sub.next(0.1), sub.next(0.1)
    assert (failed.event_id, failed.card, failed.shown) == (ring_id, {"unavailable": "card-failed"}, ())
    assert fine.event_id == after  # the stream goes on
    assert "card for event" in caplog.text and "Maria" not in caplog.text and "555" not in caplog.text


def test_closing_the_hub_drops_every_page(web):
    hub, _box = web
    sub = hub.subscribe(None)
    hub.close()
    with pytest.raises(Dropped, match="server-closing"):
        sub.next(0.01)
    assert hub.subscriber_count == 0


class FakeSocket:
    """What live.serve needs of a flask-sock websocket: send, close and `connected`."""

    def __init__(self, fail_after: int | None = None, send_delay: float = 0.0):
        self.sent: list[dict] = []
        self.connected, self.closed, self.fail_after, self.send_delay = True, None, fail_after, send_delay

    def send(self, text: str) -> None:
        time.sleep(self.send_delay)
        if self.fail_after is not None and len(self.sent) >= self.fail_after:
            raise ConnectionError("closed")
        self.sent.append(json.loads(text))

    def close(self, reason=None, message=None) -> None:
        self.closed, self.connected = (reason, message), False


def test_serve_replays_audits_each_viewer_and_leaves_when_the_browser_goes(web):
    hub, box = web
    call_id, ring_id = ring(box, "+12175550100")  # a household: two patients shown
    say(box, call_id, "caller", "Hi, it's Maria")
    hub.poll()
    ws, shown = FakeSocket(), []
    threading.Timer(0.3, lambda: setattr(ws, "connected", False)).start()
    why = live.serve(ws, hub, str(ring_id - 1), lambda pid, what: shown.append((pid, what)), wait_s=0.05)
    assert why == "client-left" and hub.subscriber_count == 0
    assert [m["type"] for m in ws.sent] == ["call-ringing", "caller-said", "ready"]
    assert ws.sent[-1] == {"type": "ready", "id": ring_id + 1}
    assert ws.sent[0]["card"]["household"] is True
    assert sorted(shown) == [("P1001", "screen-pop"), ("P1029", "screen-pop")]


def test_serve_tells_a_dropped_page_why_and_closes(web):
    hub, box = web
    ws = FakeSocket(send_delay=0.5)  # a stalled network: the first send takes half a second
    threading.Timer(0.1, lambda: (emit_many(box, 9), hub.poll())).start()  # more than the 8-pop queue
    why = live.serve(ws, hub, None, lambda *_: None, wait_s=0.05)
    assert why.startswith("too-slow") and hub.subscriber_count == 0
    assert ws.sent[-1] == {"type": "dropped", "reason": why} and ws.closed[0] == live.CLOSE_POLICY


def test_serve_stops_when_a_send_fails_and_keeps_alive_when_idle(web):
    hub, box = web
    ws = FakeSocket(fail_after=2)
    why = live.serve(ws, hub, None, lambda *_: None, wait_s=0.01, keepalive_s=0.0)
    assert why == "client-left" and [m["type"] for m in ws.sent] == ["ready", "ping"]
    assert hub.subscriber_count == 0


@pytest.mark.parametrize("raw, expected", [(None, None), ("", None), ("12", 12), (7, 7), ("-1", None),
                                           ("x", None)])
def test_last_event_id_from_the_browser(raw, expected):
    assert live.parse_last_event_id(raw) == expected


def test_a_real_websocket_gets_pops_through_a_three_line_route(demo_store):
    """flask-sock route -> live.serve over a real socket; the page's last id resumes after a reconnect."""
    flask = pytest.importorskip("flask")
    flask_sock = pytest.importorskip("flask_sock")
    from simple_websocket import Client
    from werkzeug.serving import make_server

    web_store = second_connection(demo_store)
    hub = ScreenPopHub(PopSource(web_store, lambda: DEMO_NOW))
    hub.start()
    shown = []
    app = flask.Flask(__name__)
    sock = flask_sock.Sock(app)

    @sock.route("/live")
    def live_channel(ws):
        live.serve(ws, hub, flask.request.args.get("last_event_id"), lambda p, w: shown.append(p), wait_s=0.05)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"ws://127.0.0.1:{server.server_port}/live"
    try:
        page = Client.connect(url)
        assert json.loads(page.receive(2))["type"] == "ready"
        delays = []
        for _ in range(20):
            t0 = time.perf_counter()
            _call_id, ring_id = ring(demo_store, "+12175550103")
            message = json.loads(page.receive(2))
            delays.append(time.perf_counter() - t0)
            assert (message["id"], message["card"]["patients"][0]["name"]) == (ring_id, "James Smith")
        page.close()
        missed = [ring(demo_store, "+12175550199")[1] for _ in range(2)]
        page = Client.connect(f"{url}?last_event_id={ring_id}")
        got = [json.loads(page.receive(2)) for _ in range(3)]  # "ready" comes once the replay is done
        assert [m["id"] for m in got if m["type"] != "ready"] == missed
        assert [m["type"] for m in got].count("ready") == 1
        page.close()
        deadline = time.monotonic() + 3
        while hub.subscriber_count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert hub.subscriber_count == 0  # closed pages are unsubscribed
    finally:
        server.shutdown()
        hub.close()
        web_store.close()
    assert shown == ["P1002"] * 20  # audited once per call on that socket
    delays.sort()
    assert delays[18] < 0.1, delays
