"""The operations commands of `dentra`: replicate, restore, backup drill, status, migrate."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import threading
from pathlib import Path


def _cli():
    from appliance import cli  # cli registers these commands, so import it lazily

    return cli


def _context(args):
    cli = _cli()
    config = cli._config(args, Path(args.data_dir) if args.data_dir else None)
    data_dir = cli._data_dir(args, config)
    return config, data_dir, cli._key_file(args, data_dir, config)


def cmd_replicate(args) -> int:
    from appliance.ops.replication import Supervisor

    config, data_dir, _ = _context(args)
    if not config.replication.url:
        print(f"replication is off: [replication] url is empty in {config.source}; nothing to do", file=sys.stderr)
        return 0
    stop = threading.Event()
    # systemd stops us with SIGTERM: Litestream then ships what it has before exiting
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    supervisor = Supervisor(config, data_dir, stop, probe_s=args.probe_seconds)
    print(f"Replicating {data_dir} to {supervisor.target.display}", flush=True)
    return supervisor.run()


def cmd_restore(args) -> int:
    from appliance.ops.restore import restore_to
    from appliance.ops.target import parse_target

    cli = _cli()
    config = cli._config(args)
    settings = config.replication
    if args.sftp_host_key:
        settings = dataclasses.replace(settings, sftp_host_key=args.sftp_host_key)
    target = parse_target(settings, url=args.source or settings.url)
    code = sys.stdin.readline().strip() if args.recovery_code == "-" else args.recovery_code
    checks = restore_to(target, Path(args.dest), Path(args.key_file) if args.key_file else None, code)
    counts = ", ".join(f"{checks.counts.get(t, 0)} {t}" for t in ("patients", "appointments", "calls", "audit_log"))
    print(f"Restored {target.display} into {args.dest}: {counts}; integrity {checks.integrity}; "
          f"audit chain {'ok' if not checks.audit_problem else 'BROKEN at ' + checks.audit_problem} "
          f"({checks.audit_rows} rows); newest write {checks.newest_write_at}.")
    print(f"Key file: {Path(args.dest) / 'dentra.key'} (mode 0600). Start the appliance with --data-dir {args.dest} "
          "or move the folder to store.data_dir.")
    if os.geteuid() == 0:  # the services run as the dentra user and could not open root's files
        print(f"Before starting the services: chown -R dentra:dentra {args.dest}")
    return 0 if checks.ok else 1


def cmd_backup_drill(args) -> int:
    from appliance.ops.drill import run_drill

    config, data_dir, key_file = _context(args)
    record = run_drill(config, data_dir, key_file)
    if args.json:
        print(json.dumps(record, indent=1))
    elif record["result"] == "ok":
        print(f"restore drill ok: {record['target']} restored and opened in {record['duration_s']} s; integrity ok, "
              f"audit chain ok ({record['audit_rows']} rows), row counts match the live store, "
              f"replication lag {record['lag_s']} s")
    for error in record["errors"]:
        print(f"dentra: restore drill failed: {error}", file=sys.stderr)
    return 0 if record["result"] == "ok" else 1


def cmd_status(args) -> int:
    from appliance.ops.status import gather
    from appliance.ops.status_text import render

    config, data_dir, _ = _context(args)
    status = gather(config, data_dir)
    print(json.dumps(status, indent=1) if args.json else render(status))
    return 1 if status["problems"] else 0


def cmd_migrate(args) -> int:
    from appliance.ops.migrate import migrate_store

    _, data_dir, key_file = _context(args)
    upgrade = migrate_store(data_dir, key_file)
    if not upgrade.applied:
        print(f"the store in {data_dir} is up to date; nothing to migrate")
    else:
        print(f"applied migrations {', '.join(map(str, upgrade.applied))}; the store before them is backed up "
              f"at {upgrade.backup}")
    return 0


def register(sub, command) -> None:
    """Add the operations commands to the `dentra` parser (`command` is cli.build_parser's helper)."""
    cp = command("replicate", cmd_replicate, "replicate the store offsite with Litestream until stopped "
                                             "(dentra-replicate runs this)")
    cp.add_argument("--probe-seconds", type=float, default=15.0, help="how often to measure the lag, seconds")

    cp = command("restore", cmd_restore, "restore the store from its replica into an empty folder")
    cp.add_argument("--from", dest="source", help="replica URL (default: [replication] url)")
    cp.add_argument("--to", dest="dest", required=True, help="empty folder to restore into")
    cp.add_argument("--recovery-code", help="the recovery code printed by `dentra init` ('-' reads it from stdin)")
    cp.add_argument("--sftp-host-key", help="the SFTP server's public host key line (default: "
                                            "[replication] sftp_host_key)")

    bp = sub.add_parser("backup", help="offsite backup").add_subparsers(dest="action", metavar="ACTION", required=True)
    cp = command("drill", cmd_backup_drill, "restore the newest replica into a scratch folder and check it", bp)
    cp.add_argument("--json", action="store_true", help="print the drill record as JSON")

    cp = command("status", cmd_status, "show SIP, models, disk, store, replication and the last drill; "
                                       "exit 1 when something needs attention")
    cp.add_argument("--json", action="store_true", help="print one JSON object")

    command("migrate", cmd_migrate, "back the store up, then apply pending schema migrations (all or none)")

