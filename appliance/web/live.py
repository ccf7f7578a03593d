"""The live channel: serves one browser's websocket (flask-sock) from the screen-pop hub.

Wiring is a three-line route (the hub is started once per web process):

    @sock.route("/live")
    def live_channel(ws):
        live.serve(ws, hub, request.args.get("last_event_id"), audit_writer_for_this_user)

Besides event messages (screenpop.py), the browser gets control messages without a card:
- `{"type": "ready", "id": N}`: replay done, live from here; N is the last event id covered.
- `{"type": "resync", "reason": R}`: it missed more than can be replayed (`missed-too-much`) or
  sent an id this store never had (`unknown-event-id`): reload the page's lists.
- `{"type": "ping"}`: keep-alive while nothing happens.
- `{"type": "dropped", "reason": R}`: sent before the server closes the socket; reconnect
  with the last id seen (`signed-out`: the session ended, so the page reloads to the sign-in).
The browser keeps the largest `id` of any message and sends it as `last_event_id` on reconnect.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

from appliance.web.cards import PatientShown
from appliance.web.screenpop import Dropped, ScreenPopHub

log = logging.getLogger("dentra.live")

WAIT_S = 1.0  # how often an idle socket checks that the browser is still there
KEEPALIVE_S = 25.0  # under the usual 30-60 s idle cut of proxies and browsers
RECHECK_S = 5.0  # a signed-out, disabled or idle session stops getting pops within this
CLOSE_POLICY = 1008  # websocket close code "policy violation": the server ended it on purpose


def parse_last_event_id(raw: str | int | None) -> int | None:
    """The id a reconnecting browser sends, None when absent or not a non-negative integer."""
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError):
        return None
    return value if value >= 0 else None


def serve(ws, hub: ScreenPopHub, last_event_id: str | int | None, on_patient_shown: PatientShown,
          *, wait_s: float = WAIT_S, keepalive_s: float = KEEPALIVE_S,
          signed_in: Callable[[], bool] | None = None, recheck_s: float = RECHECK_S) -> str:
    """Push screen pops to one websocket until the browser leaves or is dropped; returns why it ended.

    `signed_in` is asked every `recheck_s`: the socket outlives the request that opened it, and a
    session ended meanwhile (sign-out, idle timeout, account disabled) must stop getting PHI.
    """
    sub = hub.subscribe(parse_last_event_id(last_event_id))
    audited: set[tuple[str, str, str | None]] = set()
    ready_sent, last_sent, last_check = False, time.monotonic(), time.monotonic()
    try:
        if sub.resync:
            _send(ws, {"type": "resync", "reason": sub.resync})
        while True:
            if signed_in is not None and time.monotonic() - last_check >= recheck_s:
                last_check = time.monotonic()
                if not signed_in():
                    _send(ws, {"type": "dropped", "reason": "signed-out"})
                    _close(ws, "signed-out")
                    return "signed-out"
            if not ready_sent and sub.caught_up:
                _send(ws, {"type": "ready", "id": sub.cursor})
                ready_sent, last_sent = True, time.monotonic()
            try:
                pop = sub.next(wait_s)
            except Dropped as dropped:
                _send(ws, {"type": "dropped", "reason": dropped.reason})
                _close(ws, dropped.reason)
                return dropped.reason
            if pop is None:
                if not getattr(ws, "connected", True):
                    return "client-left"
                if time.monotonic() - last_sent >= keepalive_s:
                    _send(ws, {"type": "ping"})
                    last_sent = time.monotonic()
                continue
            for patient_id, what in pop.shown:
                # audit before the data leaves; once per patient, kind and call on this socket
                key = (patient_id, what, pop.call_id)
                if key not in audited:
                    on_patient_shown(patient_id, what)
                    audited.add(key)
            _send(ws, pop.message())
            last_sent = time.monotonic()
    except _ClientGone:
        return "client-left"
    finally:
        hub.unsubscribe(sub)


class _ClientGone(Exception):
    pass


def _send(ws, message: dict) -> None:
    try:
        ws.send(json.dumps(message, separators=(",", ":")))
    except Exception as err:  # flask-sock raises ConnectionClosed once the browser has gone
        log.debug("live socket closed while sending: %s", type(err).__name__)
        raise _ClientGone from None


def _close(ws, reason: str) -> None:
    try:
        ws.close(reason=CLOSE_POLICY, message=reason[:100])
    except Exception:  # already closed by the browser
        pass
