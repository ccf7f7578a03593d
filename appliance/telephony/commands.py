"""Carries out the receptionist page's commands on live calls: "take" and "end-ai" become transfers.

The page writes a row to `call_commands` (store/call_commands.py); while the box holds calls, this
poller reads the pending rows every POLL_S on a store connection of its own. For a call the box is
answering it silences the run (`CallRun.take_over`), transfers the caller (REFER) to the
receptionist's own extension ("take") or to the front desk, `[escalation] transfer_to` ("end-ai"),
then marks the command done and emits `call-transferred` in one transaction. If the transfer fails,
"take" tries the front desk next; when nobody can be reached the box carries on with the caller,
because a caller left in silence is worse than one still talking to the AI.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from appliance import events
from appliance.store import Store, call_commands, escalations
from appliance.store.call_commands import CallCommand

if TYPE_CHECKING:
    from appliance.telephony.answering import AnsweringService
    from appliance.voice.turns import CallRun

log = logging.getLogger("dentra.commands")

POLL_S = 0.1  # a click on "Take the call" should reach the caller well within a second


class CallCommands:
    """Follows `call_commands` while the answering service has live calls; `follow()` after each answer."""

    def __init__(self, service: AnsweringService, poll_s: float = POLL_S):
        self.service, self.poll_s = service, poll_s
        self._task: asyncio.Task | None = None
        self._busy: set[int] = set()  # commands being carried out (a transfer takes seconds)

    def follow(self) -> None:
        """Make sure the poller runs (it stops by itself once no call is live)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._follow(), name="call-commands")

    def _live(self) -> dict[str, CallRun]:
        return {call_id: run for call_id, run in self.service.runs.items() if not run.line.ended.is_set()}

    async def _follow(self) -> None:
        store = Store.open(self.service.data_dir, self.service.key_file, migrate=False)
        jobs: set[asyncio.Task] = set()
        try:
            while True:
                last_look = not self._live() and not jobs  # commands for calls that just ended get answered
                try:
                    jobs.update(self.poll(store))
                except Exception as err:  # a busy store: the next poll tries again
                    log.warning("reading call commands failed: %s", type(err).__name__)
                jobs = {job for job in jobs if not job.done()}
                if last_look:
                    return
                await asyncio.sleep(self.poll_s)
        finally:
            store.close()

    def poll(self, store: Store) -> list[asyncio.Task]:
        """Start every pending command the box can carry out; answer those it never will."""
        started, live = [], self._live()
        for command in call_commands.pending(store):
            if command.command_id in self._busy:
                continue
            run = live.get(command.call_id)
            if run is not None:
                self._busy.add(command.command_id)
                started.append(asyncio.get_running_loop().create_task(self.carry_out(store, run, command)))
            elif command.call_id in self.service.runs or _call_ended(store, command.call_id):
                self._done(store, command, "call-not-live")  # this box held the call, and it is over
            elif call_commands.expired(command):
                self._done(store, command, "expired")  # still ringing, or another box's call
        return started

    async def carry_out(self, store: Store, run: CallRun, command: CallCommand) -> str:
        """Transfer the caller as the command asks; returns the command's result."""
        front_desk = self.service.config.escalation.transfer_to
        targets = [command.extension] if command.command == "take" else []
        if front_desk and front_desk not in targets:
            targets.append(front_desk)
        conversation = run.conversation
        before = conversation.handoff
        run.take_over()
        conversation.handoff = "transferred"  # set first: the run records its outcome as soon as the line ends
        try:
            for target in targets:
                try:
                    await run.line.transfer(target)
                except Exception as err:
                    log.warning("call %s: %s to %s failed: %s", command.call_id, command.command, target,
                                getattr(err, "code", type(err).__name__))
                    with store.write():
                        events.emit(store, "error", command.call_id, code="transfer-failed",
                                    message=f"could not transfer the caller to {target}")
                    continue
                self._transferred(store, run, command, target)
                return "transferred"
            conversation.handoff, run.taken = before, False  # nobody answered: the box carries on
            self._done(store, command, "transfer-failed" if targets else "no-front-desk")
            return "transfer-failed" if targets else "no-front-desk"
        finally:
            self._busy.discard(command.command_id)

    def _transferred(self, store: Store, run: CallRun, command: CallCommand, target: str) -> None:
        conversation = run.conversation
        if command.command == "end-ai":  # the front desk picks it up like any hand-off from the brain
            patient = conversation.patient.patient_id if conversation.patient and conversation.verified else None
            escalations.open_escalation(store, command.call_id, patient, "AI handling ended from the page",
                                        kind="transfer")
        with store.write():
            call_commands.finish(store, command.command_id, "transferred")
            events.emit(store, "call-transferred", command.call_id, to=target, by=command.by_user,
                        command=command.command)
        log.info("call %s transferred to %s (%s from the page)", command.call_id, target, command.command)

    def _done(self, store: Store, command: CallCommand, result: str) -> None:
        with store.write():
            call_commands.finish(store, command.command_id, result)
            events.emit(store, "call-command-done", command.call_id, command=command.command, result=result,
                        by=command.by_user)


def _call_ended(store: Store, call_id: str) -> bool:
    row = store.conn.execute("SELECT ended_at FROM calls WHERE call_id = ?", (call_id,)).fetchone()
    return row is None or row["ended_at"] is not None
