""""Take the call" on a real SIP call: kamailio as the PBX, a caller (ext 200), the receptionist's desk phone
(ext 102) and the box (ext 250). The page's command travels through the store to the box, which REFERs the
caller to the desk. The speech engines are stand-ins (the caller stays silent): this is about the call path.
"""

from __future__ import annotations

import asyncio

from appliance import events
from appliance.brain.understanding import Understander
from appliance.clock import Clock
from appliance.store import Store, call_commands
from appliance.telephony.answering import AnsweringService
from appliance.telephony.sip import SipAgent
from appliance.voice.turns import VoiceStages
from tests.conftest import DEMO_NOW
from tests.telephony.lab import box_settings, run
from tests.telephony.test_commands import FakeSpeaker, FakeTranscriber
from tests.telephony.voice_caller import prepare_clinic


def test_take_the_call_rings_the_receptionists_desk_phone(config, tmp_path, pbx, peers, sip_password):
    clinic = prepare_clinic(config, tmp_path / "data")

    async def body():
        async with SipAgent(box_settings(pbx)) as agent:
            await agent.wait_status("registered", timeout=15)
            service = AnsweringService(config, clinic, None, VoiceStages(FakeTranscriber(), FakeSpeaker()),
                                       Understander(config), clock=Clock(config.tz, fixed=DEMO_NOW))
            agent.on_call(service.handle)
            desk = await asyncio.to_thread(peers, "102", registrar=pbx, auto_answer=True)
            caller = await asyncio.to_thread(peers, "200", registrar=pbx, interactive=True)
            caller.send("dial", uri=f"sip:250@{pbx.address}")
            await caller.wait("established", timeout=20)
            while not service.runs:
                await asyncio.sleep(0.05)
            [call_id] = service.runs
            with Store.open(clinic, migrate=False) as web:  # what the page's button writes
                call_commands.request(web, call_id, "take", "102", "anna", "192.168.1.20")
            await caller.wait("transfer-call", timeout=30, peer=f"sip:102@{pbx.address}")
            await desk.wait("established", timeout=20)
            for _ in range(100):
                with Store.open(clinic, migrate=False) as web:
                    command = call_commands.latest(web, call_id)
                if command.done_at:
                    break
                await asyncio.sleep(0.1)
            return call_id, command

    call_id, command = run(body(), timeout=120)
    with Store.open(clinic) as store:
        call = store.conn.execute("SELECT outcome FROM calls WHERE call_id = ?", (call_id,)).fetchone()
        said = [(e.type, e.payload) for e in events.for_call(store, call_id)]
    assert command.result == "transferred" and call["outcome"] == "transferred"
    assert ("call-transferred", {"to": "102", "by": "anna", "command": "take"}) in said
