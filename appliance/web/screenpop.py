"""Screen pops: one outbox tailer per web process fans events out to a bounded queue per browser.

A browser subscribes with the last event id it saw: it first gets what it missed, read from the
store, then live events from its own queue, with no duplicate and no gap across the switch-over
(ids are handed out under SQLite's write lock, so they become visible in order). A browser too
slow to drain its queue is dropped with a reason instead of holding up the others; it reconnects
with its last id and loses nothing. Messages (see `Pop.message`, and live.py for control ones):
`{"id": 123, "type": "call-ringing", "call_id": "C...", "at": "<UTC ISO>", "card": {...}}`, or
`"payload": {...}` instead of `"card"` for events without a card (cards.py lists the shapes); a card
that could not be built is `{"unavailable": "card-failed"}` (logged by event id, without PHI).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from appliance import events
from appliance.store.db import Store
from appliance.web import cards

log = logging.getLogger("dentra.screenpop")

POLL_INTERVAL_S = 0.01  # PRAGMA data_version costs microseconds, so polling often is cheap
FULL_POLL_S = 1.0  # read the outbox anyway now and then, in case a change went unnoticed
QUEUE_SIZE = 256
REPLAY_LIMIT = 1000  # a browser that missed more than this reloads the page instead
PAGE = 200


@dataclass(frozen=True)
class Pop:
    """One event as the page shows it; `shown` lists (patient_id, what) to audit for each viewer."""

    event_id: int
    type: str
    call_id: str | None
    at: str
    card: dict | None
    payload: dict | None
    shown: tuple[tuple[str, str], ...] = ()

    def message(self) -> dict:
        """The JSON message sent to the browser."""
        body = {"card": self.card} if self.card is not None else {"payload": self.payload}
        return {"id": self.event_id, "type": self.type, "call_id": self.call_id, "at": self.at, **body}


class PopSource:
    """Reads the outbox and builds pops on a store connection of its own (Store.open), shared under a lock."""

    def __init__(self, store: Store, now: Callable[[], datetime]):
        self.store, self.now = store, now
        self._lock = threading.Lock()
        self._data_version: int | None = None

    def changed(self) -> bool:
        """Whether another connection committed since the last look (cheap: no table is read)."""
        with self._lock:
            version = self.store.conn.execute("PRAGMA data_version").fetchone()[0]
        seen, self._data_version = self._data_version, version
        return version != seen

    def newest_id(self) -> int:
        with self._lock:
            return self.store.conn.execute("SELECT COALESCE(MAX(event_id), 0) FROM events").fetchone()[0]

    def after(self, event_id: int, limit: int = PAGE) -> list[Pop]:
        """Pops for events newer than `event_id`, oldest first."""
        with self._lock:
            return [self._pop(e) for e in events.since(self.store, event_id, limit)]

    def _pop(self, event: events.Event) -> Pop:
        shown: list[tuple[str, str]] = []
        try:
            card = cards.build_card(self.store, event, self.now(),
                                    lambda patient_id, what: shown.append((patient_id, what)))
        except Exception as err:  # one unreadable event must not stall every screen
            log.warning("card for event %d (%s) failed: %s", event.event_id, event.type, type(err).__name__)
            card, shown = {"unavailable": "card-failed"}, []
        return Pop(event.event_id, event.type, event.call_id, event.at, card,
                   None if card is not None else event.payload, tuple(shown))


class Dropped(Exception):
    """This browser was dropped from the hub; `reason` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Subscriber:
    """One browser's stream: the events it missed (from the store), then its own live queue."""

    def __init__(self, source: PopSource, cursor: int, replay_until: int, queue_size: int, resync: str | None):
        self.source, self.cursor, self.replay_until = source, cursor, replay_until
        self.resync = resync  # why the page should reload its lists (it missed too much), or None
        self.queue: queue.Queue[Pop] = queue.Queue(queue_size)
        self.dropped: str | None = None
        self._backlog: deque[Pop] = deque()

    @property
    def caught_up(self) -> bool:
        return self.cursor >= self.replay_until and not self._backlog

    def next(self, timeout: float) -> Pop | None:
        """The next pop, None if nothing came within `timeout`; raises Dropped once dropped."""
        if self.dropped:
            raise Dropped(self.dropped)
        if not self._backlog and self.cursor < self.replay_until:
            page = self.source.after(self.cursor)
            self._backlog.extend(p for p in page if p.event_id <= self.replay_until)
            if not self._backlog:  # rows gone (pruned): nothing more to replay
                self.cursor = self.replay_until
        if self._backlog:
            pop = self._backlog.popleft()
            self.cursor = pop.event_id
            return pop
        while True:
            try:
                pop = self.queue.get(timeout=timeout)
            except queue.Empty:
                return None
            if self.dropped:
                raise Dropped(self.dropped)
            if pop.event_id > self.cursor:  # never send an event twice
                self.cursor = pop.event_id
                return pop


class ScreenPopHub:
    """Fans pops out to every subscribed browser; the tailer thread is the only publisher."""

    def __init__(self, source: PopSource, *, queue_size: int = QUEUE_SIZE, replay_limit: int = REPLAY_LIMIT):
        self.source, self.queue_size, self.replay_limit = source, queue_size, replay_limit
        self.head = source.newest_id()  # last event published; older ones come from the store
        self._subscribers: set[Subscriber] = set()
        self._lock = threading.Lock()
        self._tailer: OutboxTailer | None = None

    def subscribe(self, last_seen_id: int | None) -> Subscriber:
        """Register a browser; it replays (last_seen_id, head] and then gets every event after head."""
        # register and read head under the publish lock: every event is either replayed or queued
        with self._lock:
            head = self.head
            cursor, resync = head, None
            if last_seen_id is None:
                pass  # a fresh page: live events only, it renders the current state itself
            elif last_seen_id <= head:
                cursor = max(last_seen_id, head - self.replay_limit)
                resync = "missed-too-much" if cursor > last_seen_id else None
            elif last_seen_id <= self.source.newest_id():
                cursor = last_seen_id  # the tailer is a few ms behind; the queue skips what was seen
            else:
                resync = "unknown-event-id"  # the store was restored or replaced since that id
            sub = Subscriber(self.source, cursor, head, self.queue_size, resync)
            self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        with self._lock:
            self._subscribers.discard(sub)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def publish(self, pops: list[Pop]) -> None:
        """Queue pops for every browser without ever waiting on one; a full queue drops that browser."""
        with self._lock:
            for pop in pops:
                for sub in list(self._subscribers):
                    try:
                        sub.queue.put_nowait(pop)
                    except queue.Full:
                        sub.dropped = f"too-slow: {self.queue_size} screen pops waiting"
                        self._subscribers.discard(sub)
                        log.warning("dropped a slow screen (queue of %d full at event %d)",
                                    self.queue_size, pop.event_id)
                self.head = pop.event_id

    def poll(self) -> int:
        """Publish everything newer than head; returns how many events went out."""
        sent = 0
        while True:
            pops = self.source.after(self.head)
            if not pops:
                return sent
            self.publish(pops)
            sent += len(pops)

    def start(self, interval: float = POLL_INTERVAL_S) -> None:
        """Start the tailer thread (one per web process, after any fork)."""
        self._tailer = OutboxTailer(self, interval)
        self._tailer.start()

    def close(self) -> None:
        if self._tailer:
            self._tailer.stop()
        with self._lock:
            for sub in self._subscribers:
                sub.dropped = "server-closing"
                try:
                    sub.queue.put_nowait(None)  # wakes a waiting page at once; it sees `dropped`
                except queue.Full:
                    pass
            self._subscribers.clear()


class OutboxTailer(threading.Thread):
    """Watches the store for commits and publishes new outbox events to the hub."""

    def __init__(self, hub: ScreenPopHub, interval: float):
        super().__init__(name="screenpop-tailer", daemon=True)
        self.hub, self.interval = hub, interval
        self._halt = threading.Event()

    def run(self) -> None:
        last_full = 0.0
        while not self._halt.wait(self.interval):
            try:
                if self.hub.source.changed() or time.monotonic() - last_full >= FULL_POLL_S:
                    last_full = time.monotonic()
                    self.hub.poll()
            except Exception as err:  # a busy or briefly unreadable store: try again shortly
                log.warning("screen pop tailer: %s", type(err).__name__)
                self._halt.wait(0.5)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)
