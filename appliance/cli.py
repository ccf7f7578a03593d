"""The `dentra` command: set up a store, inspect it, maintain keys, and run the appliance (cli_web: the page).

Errors reach the admin as one line on stderr (`dentra: <what, where, what to do>`); bad arguments
and configuration errors exit 2, other failures 1.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import signal
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

from appliance import defaults, phones
from appliance.config import Config, field_docs, load_config
from appliance.errors import AppError, UsageError
from appliance.runner import init_store, run
from appliance.store import Store, appointments, audit, keys, patients
from appliance.store.db import default_key_file, peek_meta

log = logging.getLogger("dentra")


def _actor() -> str:
    return "cli:" + (os.environ.get("SUDO_USER") or getpass.getuser())


# ---- resolving config, data dir and key file ----


def _config(args, data_dir: Path | None = None) -> Config:
    explicit = args.config or os.environ.get("DENTRA_CONFIG")
    if not explicit and data_dir is not None:
        explicit = peek_meta(data_dir, "config_path")
    return load_config(defaults.config_path(explicit))


def _data_dir(args, config: Config | None = None) -> Path:
    if args.data_dir:
        return Path(args.data_dir)
    if os.environ.get("DENTRA_DATA_DIR"):
        return Path(os.environ["DENTRA_DATA_DIR"])
    if config is None:
        config = _config(args)
    return Path(config.store.data_dir)


def _key_file(args, data_dir: Path, config: Config | None = None) -> Path:
    if getattr(args, "key_file", None):
        return Path(args.key_file)
    if config is not None and config.store.key_file:
        return Path(config.store.key_file)
    recorded = peek_meta(data_dir, "key_file")
    return Path(recorded) if recorded else default_key_file(data_dir)


def _open(args) -> Store:
    data_dir = _data_dir(args)
    return Store.open(data_dir, _key_file(args, data_dir))


# ---- commands ----


def cmd_init(args) -> int:
    config = _config(args)
    data_dir = _data_dir(args, config)
    key_file = _key_file(args, data_dir, config) if args.key_file or config.store.key_file else None
    demo_dir = Path(args.demo_dir) if args.demo_dir else (defaults.DEMO_DIR if args.demo else None)
    store, code = init_store(config, data_dir, key_file, demo_dir)
    with store:
        n_patients = store.conn.execute("SELECT COUNT(*) FROM patients").fetchone()[0]
        n_appts = store.conn.execute("SELECT COUNT(*) FROM appointments").fetchone()[0]
        print(f"Created the store in {data_dir} for {config.clinic.name}"
              f" ({n_patients} patients, {n_appts} appointments).")
        print(f"Key file: {store.key_file} (mode 0600). Without it the store cannot be opened.")
        print(f"Recovery code (write it down and keep it off the box; it recreates the key file):\n  {code}")
    from appliance.cli_web import ensure_certificate

    ensure_certificate(config, data_dir)
    return 0


def _day(text: str | None, option: str) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.combine(date.fromisoformat(text), datetime.min.time())
    except ValueError:
        raise UsageError(f"{option} must be a date like 2026-12-01, got {text!r}") from None


def cmd_appointments(args) -> int:
    with _open(args) as store:
        start_from = _day(args.start_from, "--from")
        until = _day(args.until, "--to") + timedelta(days=1) if args.until else None
        rows = appointments.listing(store, patient_id=args.patient, provider=args.provider, start_from=start_from,
                                    until=until, statuses=tuple(args.status) if args.status else None)
    if args.json:
        print(json.dumps([a.as_json() for a in rows], indent=1))
    else:
        for a in rows:
            print(f"{a.appointment_id:7} {a.start:%a %Y-%m-%d %H:%M}-{a.end:%H:%M} {a.service:12} "
                  f"{a.provider:11} {a.location:10} {a.patient_id:6} {a.status}")
        print(f"{len(rows)} appointments")
    return 0


def cmd_patients_find(args) -> int:
    store = _open(args)
    with store:
        config = _config(args, store.data_dir)
        region = phones.clinic_region(config)
        if args.phone:
            e164 = phones.normalize(args.phone, region)
            if e164 is None:
                print(f"{args.phone!r} is not a valid phone number for region {region}; no patient matched.",
                      file=sys.stderr)
                return 1
            ids = patients.ids_by_phone(store, e164)
        else:
            ids = patients.ids_by_name(store, args.name)
        found = patients.get_many(store, ids)
        with store.write():
            for p in found:
                audit.record(store, _actor(), "patient-viewed", p.patient_id, None, via="patients-find")
    if args.json:
        print(json.dumps([_patient_json(p) for p in found], indent=1))
    else:
        for p in found:
            numbers = ", ".join(f"{ph.kind} {ph.number}" for ph in p.phones)
            print(f"{p.patient_id}  {p.full_name}  born {p.date_of_birth}  {numbers}")
        print(f"{len(found)} patient(s) matched")
    return 0


def _patient_json(p: patients.Patient) -> dict:
    return {"patient_id": p.patient_id, "first_name": p.first_name, "last_name": p.last_name,
            "date_of_birth": p.date_of_birth.isoformat() if p.date_of_birth else None,
            "phones": [{"number": ph.number, "kind": ph.kind} for ph in p.phones],
            "language": p.language, "preferred_provider": p.preferred_provider}


def cmd_audit_verify(args) -> int:
    with _open(args) as store:
        report = audit.verify(store)
    if report.ok:
        print(f"audit chain ok: {report.rows} rows verified")
        return 0
    print(f"audit chain BROKEN at row {report.first_bad_seq}: {report.problem} "
          f"({report.rows} rows read). Restore the store from a backup taken before that row and "
          "investigate who had write access to the database file.", file=sys.stderr)
    return 1


def cmd_keys_rotate(args) -> int:
    with _open(args) as store:
        result = keys.rotate(store, _actor())
    print(f"rotated: {result.cells} encrypted values now use key {result.new_kid} "
          f"(retired: {', '.join(result.old_kids)})")
    return 0


def cmd_keys_recover(args) -> int:
    data_dir = _data_dir(args)
    key_file = Path(args.key_file) if args.key_file else default_key_file(data_dir)
    keys.recover_key_file(data_dir, key_file, args.code)
    print(f"key file written to {key_file} (mode 0600); the store opens again")
    return 0


def cmd_config_check(args) -> int:
    config = _config(args)
    print(f"{config.source}: ok ({len(config.locations)} locations, {len(config.providers)} providers, "
          f"{len(config.services)} services)")
    return 0


def cmd_config_keys(args) -> int:
    for key, doc in field_docs().items():
        print(f"{key:34} {doc}")
    return 0


def cmd_simulate(args) -> int:
    from appliance.simulate import simulate

    if not args.config:
        raise UsageError("simulate needs --config FILE (the clinic whose brain answers)")
    config = _config(args)
    data_dir = _data_dir(args, config)
    with Store.open(data_dir, _key_file(args, data_dir, config)) as store:
        return simulate(config, store, args.caller, args.now)


def cmd_run(args) -> int:
    config = _config(args)
    demo = Path(config.source) == defaults.EXAMPLE_CONFIG.resolve()
    data_dir = Path(args.data_dir) if args.data_dir else (
        defaults.DEMO_DATA_DIR if demo and not os.environ.get("DENTRA_DATA_DIR") else _data_dir(args, config))
    return run(config, data_dir, demo=demo, voice_only=args.voice_only)


def cmd_jobs(args) -> int:
    import threading

    from appliance import jobs, service

    config = _config(args)
    data_dir = _data_dir(args, config)
    stop = threading.Event()
    # systemd stops the service with SIGTERM: finish the loop's tick instead of dying mid-write of jobs.json
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def ready(summary: str) -> None:
        print(f"Scheduled jobs: {summary}", flush=True)
        service.ready(summary)

    return jobs.serve(jobs.standard_jobs(config, data_dir), data_dir, stop, ready)


def _models_context(args):
    """The clinic config, the models dir (<data dir>/<[models] dir>) and the manifest for `dentra models`."""
    from appliance import models

    config = _config(args, Path(args.data_dir) if args.data_dir else None)
    manifest = models.Manifest.load(args.manifest) if args.manifest else models.Manifest.load()
    return config, models.models_dir(config, _data_dir(args, config)), manifest


def cmd_models_fetch(args) -> int:
    from appliance import models

    config, folder, manifest = _models_context(args)
    entries = models.selected(manifest, args.names) if args.names else (
        models.configured(manifest, config) or manifest.defaults())
    for entry in entries:
        n = models.fetch(entry, folder, progress_for=models.progress_bars(), log=lambda m: print(m, file=sys.stderr))
        print(f"{entry.name}: verified in {entry.folder(folder)} ({n} file(s) downloaded; license: {entry.license})")
    return 0


def cmd_models_verify(args) -> int:
    from appliance import models

    config, folder, manifest = _models_context(args)
    entries = models.selected(manifest, args.names) if args.names else list(dict.fromkeys(
        models.configured(manifest, config) + [m for m in manifest.models if models.installed_any(m, folder)]))
    if not entries:
        print(f"no models installed in {folder}; run `dentra models fetch` or `dentra models import DIR`",
              file=sys.stderr)
        return 1
    bad = 0
    for entry in entries:
        problems = models.verify(entry, folder)
        bad += len(problems)
        for problem in problems:
            print(f"dentra: {problem}", file=sys.stderr)
        if not problems:
            print(f"{entry.name}: ok ({len(entry.files)} file(s) in {entry.folder(folder)} match the manifest)")
    return 1 if bad else 0


def cmd_models_import(args) -> int:
    from appliance import models

    _, folder, manifest = _models_context(args)
    source = Path(args.source)
    if not source.is_dir():
        raise UsageError(f"{source}: not a folder (give the folder on the USB stick that holds the model files)")
    entries = models.selected(manifest, args.names) if args.names else models.importable(manifest, source)
    if not entries:
        raise UsageError(f"{source}: none of the files listed in {manifest.path} are there")
    for entry in entries:
        n = models.import_from(entry, source, folder, progress_for=models.progress_bars(),
                               log=lambda m: print(m, file=sys.stderr))
        print(f"{entry.name}: verified in {entry.folder(folder)} ({n} file(s) copied from {source})")
    return 0


# ---- argument parsing ----


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dentra", description="Dentra Edge: on-premise AI receptionist for dental clinics")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name, fn, help_text, parent=sub):
        cp = parent.add_parser(name, help=help_text, description=help_text)
        cp.set_defaults(fn=fn)
        cp.add_argument("--config", help="clinic TOML file (default: $DENTRA_CONFIG, /etc/dentra/clinic.toml, "
                                         "else the example demo clinic)")
        cp.add_argument("--data-dir", help="store folder (default: $DENTRA_DATA_DIR, else store.data_dir)")
        cp.add_argument("--key-file", help="key file (default: the one recorded at init, else <data-dir>/dentra.key)")
        return cp

    cp = command("init", cmd_init, "create a new encrypted store (and key file) for a clinic")
    cp.add_argument("--demo", action="store_true", help="import the demo clinic's patients and appointments")
    cp.add_argument("--demo-dir", help="folder with patients.csv and appointments.csv to import")

    cp = command("run", cmd_run, "run the appliance (with no arguments: the demo clinic in ./demo-data)")
    cp.add_argument("--voice-only", action="store_true",
                    help="SIP and calls only; the receptionist page runs as its own service (dentra-web)")

    command("jobs", cmd_jobs, "run scheduled work (the weekly restore drill) until stopped; dentra-jobs runs this")

    from appliance.ops.commands import register as register_ops  # replicate, restore, backup, status, migrate

    register_ops(sub, command)

    cp = command("simulate", cmd_simulate, "hold a text call with the brain: caller lines on stdin, JSON lines out")
    cp.add_argument("--caller", default="anonymous", help="the caller's number as the PBX would send it")
    cp.add_argument("--now", help="clinic-local time of the call, e.g. 2026-12-01T09:00 (default: now)")

    cp = command("appointments", cmd_appointments, "list appointments")
    cp.add_argument("--json", action="store_true", help="print a JSON array")
    cp.add_argument("--from", dest="start_from", help="first day, YYYY-MM-DD")
    cp.add_argument("--to", dest="until", help="last day, YYYY-MM-DD")
    cp.add_argument("--patient", help="only this patient id")
    cp.add_argument("--provider", help="only this provider id")
    cp.add_argument("--status", action="append", help="only this status (repeatable)")

    pp = sub.add_parser("patients", help="find patients").add_subparsers(dest="action", metavar="ACTION", required=True)
    cp = command("find", cmd_patients_find, "find patients by phone number or name (the lookup is audited)", pp)
    who = cp.add_mutually_exclusive_group(required=True)
    who.add_argument("--phone", help="any form: +1 (217) 555-0125, 2175550125, sip:+12175550125@pbx")
    who.add_argument("--name", help="one or more name words")
    cp.add_argument("--json", action="store_true", help="print a JSON array")

    ap = sub.add_parser("audit", help="audit log").add_subparsers(dest="action", metavar="ACTION", required=True)
    command("verify", cmd_audit_verify, "check the audit log's hash chain", ap)

    kp = sub.add_parser("keys", help="encryption keys").add_subparsers(dest="action", metavar="ACTION", required=True)
    command("rotate", cmd_keys_rotate, "re-encrypt every PHI value with a new data key", kp)
    cp = command("recover", cmd_keys_recover, "recreate a lost key file from the recovery code", kp)
    cp.add_argument("--code", required=True, help="the recovery code printed by `dentra init`")

    cfp = sub.add_parser("config", help="clinic configuration").add_subparsers(dest="action", metavar="ACTION",
                                                                              required=True)
    command("check", cmd_config_check, "load and check a clinic TOML file", cfp)
    command("keys", cmd_config_keys, "list every configuration key with its note and unit", cfp)

    from appliance.cli_web import add_commands  # here: cli_web imports this module's helpers

    add_commands(sub, command)

    mp = sub.add_parser("models", help="speech and language models").add_subparsers(dest="action", metavar="ACTION",
                                                                                    required=True)
    for name, fn, text, default in (
            ("fetch", cmd_models_fetch, "download models listed in models/manifest.toml, verifying size and sha256",
             "the ones [models] names, else the manifest's defaults"),
            ("verify", cmd_models_verify, "re-hash installed model files against the manifest; exit 1 on a problem",
             "the ones [models] names and every installed one"),
            ("import", cmd_models_import, "install model files from a folder (a USB stick), verifying checksums",
             "every model with files in DIR")):
        cp = command(name, fn, text, mp)
        if name == "import":
            cp.add_argument("source", metavar="DIR", help="folder holding the model files")
        cp.add_argument("names", nargs="*", metavar="NAME", help=f"manifest model names (default: {default})")
        cp.add_argument("--manifest", help="manifest file (default: models/manifest.toml of this install)")
    return p


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `dentra ... | head` ends quietly
    logging.basicConfig(level=os.environ.get("DENTRA_LOG_LEVEL", "INFO"), format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except AppError as err:
        print(f"dentra: {err.message}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130
