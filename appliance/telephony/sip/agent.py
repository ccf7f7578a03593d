"""The box's extension on the PBX (baresip-python): register and stay registered, admit calls, dial out."""

from __future__ import annotations

import asyncio
import inspect
import ipaddress
import logging
import re
import socket
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import baresip

from appliance.config import SipSettings
from appliance.telephony.call import (
    CALLER_ID_HEADERS,
    CallerId,
    caller_id,
    mask_number,
)
from appliance.telephony.sip.calls import IncomingCall, SipCall
from appliance.telephony.sip.common import (
    CODECS,
    SipError,
    SipStatus,
    host_port,
    load_password,
)
from appliance.telephony.sip.trace import SipTrace

log = logging.getLogger("appliance.telephony.sip")


class SipAgent:
    """The box's extension: register, keep registered, admit calls from the PBX, dial out.

    One per process (the stack allows one). `await start()`, then `on_call()` handlers receive each
    admitted `IncomingCall` while it rings; `status` is always current; `await stop()` at the end.
    """

    def __init__(self, settings: SipSettings, *, password: str | None = None, password_file: str | Path | None = None,
                 register_interval: int = 120, register_timeout: float = 5.0,
                 backoff: tuple[float, float] = (1.0, 60.0), max_calls: int = 4, rtp_timeout: int = 30):
        unknown = [c for c in settings.codecs if c not in CODECS]
        if unknown:
            raise SipError(f"sip.codecs: unknown codec {unknown[0]!r}; use {', '.join(CODECS)}", "sip-start-failed")
        self.settings = settings
        self._password, self._password_file = password, password_file
        self._interval, self._register_timeout = register_interval, register_timeout
        self._backoff, self._max_calls, self._rtp_timeout = backoff, max_calls, rtp_timeout
        self._status = SipStatus("unregistered", datetime.now(UTC), registrar=settings.registrar,
                                 extension=settings.extension, listen=settings.listen)
        self._status_changed = asyncio.Event()
        self._status_callbacks: list[Callable[[SipStatus], object]] = []
        self._call_handlers: list[Callable[[IncomingCall], object]] = []
        self._calls: dict[int, SipCall] = {}  # live calls by stack handle
        self._known: set[int] = set()  # every handle the box has seen ring or dialed
        # Why calls closed before a SipCall held them: ua.dial() returns after its call's first events,
        # so a quick 404 or 486 would otherwise go unseen until the ring timeout.
        self._unclaimed: OrderedDict[int, str] = OrderedDict()
        self._tasks: set[asyncio.Task] = set()
        self._runtime = self._ua = self._trace = self._registration = None
        self._reg_events: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._allowed: list = []

    # -- status -------------------------------------------------------------------------------

    @property
    def status(self) -> SipStatus:
        return self._status

    def on_status(self, callback: Callable[[SipStatus], object]) -> None:
        """Call `callback(status)` on every registration state change."""
        self._status_callbacks.append(callback)

    def _set_status(self, state: str, **fields) -> None:
        if state == self._status.state and all(getattr(self._status, k) == v for k, v in fields.items()):
            return
        since = datetime.now(UTC) if state != self._status.state else self._status.since
        self._status = replace(self._status, state=state, since=since, **fields)
        self._status_changed.set()
        self._status_changed = asyncio.Event()
        for callback in list(self._status_callbacks):
            try:
                callback(self._status)
            except Exception:
                log.exception("a status callback raised")

    async def wait_status(self, *states: str, timeout: float) -> SipStatus:
        """The status once its state is one of `states`; SipError if that takes longer than `timeout` s."""
        async def reached() -> SipStatus:
            while self._status.state not in states:
                await self._status_changed.wait()
            return self._status
        try:
            async with asyncio.timeout(timeout):
                return await reached()
        except TimeoutError:
            raise SipError(f"SIP status stayed {self._status.state!r} ({self._status.last_error or 'no error'}), "
                           f"not {'/'.join(states)}, for {timeout:g} s", "sip-register-failed") from None

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the stack on `listen`, then register in the background (status shows how it goes)."""
        s = self.settings
        password = ""
        if s.registrar:
            password = self._password or load_password(s, file=self._password_file)
        host, _port = host_port(s.listen)
        self._allowed = await asyncio.to_thread(_resolve_peers, s.allowed_peers)
        loop = asyncio.get_running_loop()
        self._trace = SipTrace(loop, contact=f"@{s.listen}")
        trace = logging.getLogger("baresip.native.sip")
        # The trace carries every SIP message, caller numbers included: it feeds _SipTrace only
        # and never reaches the application's logs.
        trace.propagate = False
        trace.setLevel(logging.DEBUG)
        trace.addHandler(self._trace)
        runtime = baresip.Runtime()
        config = baresip.Config(net_interface=host, audio_driver="aumem", expose_headers=CALLER_ID_HEADERS,
                                sip_trace=True, max_concurrent_calls=self._max_calls,
                                rtp_timeout=self._rtp_timeout, extra_config_text=f"sip_listen {s.listen}\n")
        try:
            await runtime.start(config)
        except baresip.BaresipError as exc:
            trace.removeHandler(self._trace)
            raise SipError(f"the SIP stack could not start on {s.listen} (sip.listen): {exc}",
                           "sip-start-failed") from exc
        self._runtime = runtime
        runtime.on_dead = self._on_runtime_dead
        account = baresip.Account(user=s.extension, domain=s.registrar or host, password=password,
                                  reg_interval=self._interval if s.registrar else 0,
                                  audio_codecs=tuple(CODECS[c] for c in s.codecs))
        # A peer's REFER would make the box place a call wherever it says: refused (toll fraud).
        self._ua = await baresip.UserAgent.create(runtime, account, transfer_policy="reject")
        self._ua.on_incoming(self._on_incoming)
        self._ua.on(self._on_ua_event)
        if s.registrar:
            self._registration = self._spawn(self._keep_registered())
        else:
            log.info("no sip.registrar: taking direct calls on %s as extension %s", s.listen, s.extension)

    async def stop(self) -> None:
        """Hang up live calls, unregister (briefly), stop the stack."""
        if self._runtime is None:
            return
        if self._registration is not None:
            self._registration.cancel()
        try:
            for call in list(self._calls.values()):
                await call.hangup()
            if self._status.state == "registered":
                await self._ua.unregister(timeout=2)
        except baresip.BaresipError as exc:
            log.info("stopping the SIP agent: %s", exc)
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._runtime.close()
            logging.getLogger("baresip.native.sip").removeHandler(self._trace)
            self._runtime = self._ua = None
            self._set_status("unregistered", last_error="", attempts=0, retry_at=None)

    async def __aenter__(self) -> SipAgent:
        await self.start()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.stop()

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a telephony task failed", exc_info=task.exception())

    def _on_runtime_dead(self) -> None:
        self._set_status("failed", last_error="the SIP stack stopped unexpectedly; restart the appliance")
        for call in list(self._calls.values()):
            call._mark_ended("the SIP stack stopped")

    # -- registration -------------------------------------------------------------------------

    def _on_ua_event(self, event) -> None:
        if event.event is baresip.Event.REGISTER_OK:
            self._reg_events.put_nowait(("ok", event.text or ""))
        elif event.event is baresip.Event.REGISTER_FAIL:
            self._reg_events.put_nowait(("fail", event.text or ""))
        elif event.event is baresip.Event.CALL_OUTGOING:
            self._known.add(event.call)
        elif event.event is baresip.Event.CALL_CLOSED and event.call not in self._calls:
            if event.call not in self._known:
                # Refused by the stack before it rang (no common codec, over max_calls, ...).
                log.info("a call was refused before ringing: %s", event.text)
                return
            self._unclaimed[event.call] = event.text or "closed"
            while len(self._unclaimed) > 64:
                self._unclaimed.popitem(last=False)

    async def _keep_registered(self) -> None:
        """Register, retrying after 1, 2, 4 ... s (capped) until the PBX first accepts; then report refreshes.

        Once registered, the stack refreshes (at 90% of the expiry the PBX granted) and retries on its
        own; calling register() again would replace its registration client, whose parting un-REGISTER
        can reach a recovering PBX after the new REGISTER and delete the box's binding.
        """
        first, cap = self._backoff
        delay, attempts = first, 0
        registrar, extension = self.settings.registrar, self.settings.extension
        while True:
            self._set_status("registering", retry_at=None)
            try:
                await self._ua.register(timeout=self._register_timeout)
                break
            except baresip.BaresipError as exc:  # refused, unanswered, or the stack is in trouble
                attempts += 1
                status = getattr(exc, "status", None)
                hint = " (check the extension and its password)" if status in (401, 403, 407) else ""
                self._set_status("failed", attempts=attempts, retry_at=_in(delay),
                                 last_error=f"sip-register-failed: {registrar} did not register extension "
                                            f"{extension}: {exc}{hint}")
                log.warning("%s; retrying in %.1f s", self._status.last_error, delay)
                if await self._next_reg_event(delay, want="ok"):
                    break  # the stack's own retry got through first
                delay = min(delay * 2, cap)
        attempts = 0
        while True:
            if self._status.state != "registered":
                self._set_status("registered", last_error="", attempts=0, retry_at=None)
                log.info("registered as %s on %s", extension, registrar)
            # Silence well past the refresh time means the PBX is gone; the stack keeps retrying.
            while True:
                limit = (self._trace.granted_expiry or self._interval) * 1.5 + 1
                got = await self._next_reg_event(limit)
                if got and got[0] == "ok":
                    break
                attempts += 1
                reason = f"refresh refused: {got[1]}" if got else f"no answer to the refresh in {limit:.0f} s"
                if self._status.state != "failed":
                    log.warning("sip-register-failed: %s: %s; the SIP stack keeps retrying", registrar, reason)
                self._set_status("failed", attempts=attempts, retry_at=None,
                                 last_error=f"sip-register-failed: {registrar}: {reason}")
            attempts = 0

    async def _next_reg_event(self, timeout: float, want: str | None = None) -> tuple[str, str] | None:
        """The next REGISTER outcome (only `want` ones, if given) within `timeout` s, else None."""
        deadline = asyncio.get_running_loop().time() + timeout
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            try:
                async with asyncio.timeout(left):
                    got = await self._reg_events.get()
            except TimeoutError:
                return None
            if want is None or got[0] == want:
                return got
        return None

    # -- calls --------------------------------------------------------------------------------

    def on_call(self, handler: Callable[[IncomingCall], object]) -> None:
        """Give each admitted inbound call, still ringing, to `handler` (a function or coroutine function)."""
        self._call_handlers.append(handler)

    def _forget(self, call: SipCall) -> None:
        self._calls.pop(call._call.handle, None)
        self._known.discard(call._call.handle)

    def _on_incoming(self, call) -> None:
        self._known.add(call.handle)
        self._spawn(self._admit(call))

    async def _admit(self, call) -> None:
        source = await self._trace.source_of(call.call_id or "", timeout=2.0)
        party = caller_id(call.headers)
        incoming = IncomingCall(self, call, party, source or "", "inbound")
        if incoming.ended.is_set():
            return
        self._calls[call.handle] = incoming
        if source is None or not self._is_allowed(host_port(source)[0]):
            log.warning("refused a call from %s (caller %s): not in sip.allowed_peers",
                        source or "an unknown address", party.masked)
            await incoming.reject()
            return
        if not self._call_handlers:
            log.warning("refused a call from %s (caller %s): nothing takes calls yet", source, party.masked)
            await incoming.reject()
            return
        log.info("ringing: %s from %s", party.masked, source)
        for handler in list(self._call_handlers):
            try:
                result = handler(incoming)
                if inspect.isawaitable(result):
                    self._spawn(result)
            except Exception:
                log.exception("a call handler raised")

    def _is_allowed(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self._allowed)

    def _uri_for(self, target: str, via: str = "") -> str:
        """`sip:` URIs pass through; an extension or number goes to the PBX (or the peer that called)."""
        if target.startswith(("sip:", "sips:")):
            return target
        if not re.fullmatch(r"[0-9A-Za-z+*#._-]+", target):
            raise SipError(f"{mask_number(target)} is neither an extension, a number nor a sip: URI", "sip-dial-failed")
        host = self.settings.registrar or via
        if not host:
            raise SipError("no sip.registrar to route a number through: dial a full sip: URI", "sip-dial-failed")
        return f"sip:{target}@{host}"

    async def dial(self, target: str, *, timeout: float = 45.0) -> SipCall:
        """Call a number, extension or sip: URI; returns the call once answered, else SipError(sip-dial-failed)."""
        if self._ua is None:
            raise SipError("the SIP agent is not started", "sip-dial-failed")
        uri = self._uri_for(target)
        try:
            call = await self._ua.dial(uri)
        except baresip.BaresipError as exc:
            raise SipError(f"could not call {mask_number(target)}: {exc}", "sip-dial-failed") from exc
        party = CallerId(number=target.split(":", 1)[-1].split("@")[0], display_name="", header="", raw=uri)
        self._known.add(call.handle)
        outgoing = SipCall(self, call, party, self.settings.registrar or uri.split("@")[-1], "outbound")
        self._calls[call.handle] = outgoing
        early = self._unclaimed.pop(call.handle, None)
        try:
            if early is not None:
                raise baresip.CallFailed(early, reason=early)
            await call.wait_established(timeout=timeout)
        except baresip.CallFailed as exc:
            outgoing._mark_ended(exc.reason or str(exc))
            raise SipError(f"call to {party.masked} not answered: {exc.reason or exc}", "sip-dial-failed") from exc
        log.info("outbound call to %s answered", party.masked)
        return outgoing


def _in(seconds: float) -> datetime:
    return datetime.fromtimestamp(datetime.now(UTC).timestamp() + seconds, UTC)


def _resolve_peers(peers: tuple[str, ...]) -> list:
    """allowed_peers as networks: addresses, CIDR blocks, or host names (resolved once, at start)."""
    networks = []
    for peer in peers:
        try:
            networks.append(ipaddress.ip_network(peer, strict=False))
            continue
        except ValueError:
            pass
        try:
            infos = socket.getaddrinfo(peer, None, type=socket.SOCK_DGRAM)
        except OSError as exc:
            log.warning("sip.allowed_peers: cannot resolve %r (%s); calls from it will be refused", peer, exc)
            continue
        networks += [ipaddress.ip_network(info[4][0]) for info in infos]
    return networks
