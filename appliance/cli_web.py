"""The `dentra` commands of the receptionist page: `web`, `users ...` and `cert install`.

Every change to an account or the certificate is audited with the admin's login name as actor.
"""

from __future__ import annotations

import getpass
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from appliance.cli import _actor, _config, _data_dir, _key_file, _open
from appliance.errors import UsageError, UserError
from appliance.store import audit, users


def _now() -> datetime:
    return datetime.now(UTC)


def cmd_web(args) -> int:
    from appliance.web import server

    data_dir = _data_dir(args)
    config = _config(args, data_dir)
    return server.serve(config, data_dir, _key_file(args, data_dir, config), args.listen)


def _new_password(args) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        users.check_new_password(password)
        return password
    if not sys.stdin.isatty():
        raise UsageError("no terminal to ask for the password; pipe it in with --password-stdin")
    password = getpass.getpass(f"Password for {args.username} (at least {users.MIN_PASSWORD_CHARS} characters): ")
    users.check_new_password(password)
    if getpass.getpass("The same password again: ") != password:
        raise UserError("the two passwords differ; nothing was changed")
    return password


def cmd_users_add(args) -> int:
    password = _new_password(args)
    with _open(args) as store:
        user = users.add(store, args.username, args.role, password, _actor(), _now(), extension=args.extension)
    desk = f", desk extension {user.extension}" if user.extension else ""
    print(f"added {user.username} ({user.role}{desk}); at the first sign-in they scan a QR code with an authenticator "
          "app for their sign-in codes")
    return 0


def cmd_users_set_extension(args) -> int:
    with _open(args) as store:
        user = users.set_extension(store, args.username, args.extension, _actor())
    print(f"{user.username}: " + (f"\"Take the call\" rings extension {user.extension}" if user.extension else
                                  "no desk extension (\"Take the call\" is unavailable)"))
    return 0


def _status(user: users.User, now: datetime) -> str:
    if user.disabled:
        return "disabled"
    if user.locked_at(now):
        return f"locked until {user.locked_until}"
    return "active"


def cmd_users_list(args) -> int:
    now = _now()
    with _open(args) as store:
        found = users.listing(store)
    if args.json:
        print(json.dumps([{"username": u.username, "role": u.role, "status": _status(u, now).split(" ")[0],
                           "totp_enrolled": u.totp_enrolled, "extension": u.extension, "created_at": u.created_at,
                           "last_login_at": u.last_login_at} for u in found], indent=1))
        return 0
    for u in found:
        print(f"{u.username:20} {u.role:11} ext {u.extension or '-':8} {_status(u, now):36} "
              f"{'code set up' if u.totp_enrolled else 'code not set up':16} last sign-in {u.last_login_at or 'never'}")
    print(f"{len(found)} user(s)")
    return 0


def _admin_action(action, done: str):
    def command(args) -> int:
        with _open(args) as store:
            user = action(store, args.username, _actor())
        print(f"{user.username}: {done}")
        return 0

    return command


def cmd_cert_install(args) -> int:
    from appliance.web import certs

    data_dir = _data_dir(args)
    with _open(args) as store:
        found = certs.install(data_dir, Path(args.cert), Path(args.key))
        with store.write():
            audit.record(store, _actor(), "certificate-installed", None, found.fingerprint,
                         not_after=found.not_after.isoformat())
    print(f"installed: {found.describe()}")
    print("Restart the appliance (or `dentra web`) for the receptionist page to use it.")
    return 0


def ensure_certificate(config, data_dir: Path) -> None:
    """At init: a self-signed certificate for the page, unless the data dir has one."""
    from appliance.web import certs

    made = certs.ensure_self_signed(data_dir, certs.host_names(config.web.listen))
    if made:
        print(f"Receptionist page certificate (self-signed; replace with `dentra cert install`): {made.describe()}")


def add_commands(sub, command) -> None:
    """Register `web`, `users` and `cert` on the main parser (`command` adds the common options)."""
    cp = command("web", cmd_web, "serve the receptionist page over HTTPS ([web] listen) until stopped")
    cp.add_argument("--listen", help="host:port instead of [web] listen")

    up = sub.add_parser("users", help="receptionist page accounts").add_subparsers(dest="action", metavar="ACTION",
                                                                                 required=True)
    cp = command("add", cmd_users_add, "add an account (TOTP is set up at its first sign-in)", up)
    cp.add_argument("username", metavar="USERNAME", help="2-32 lower-case letters, digits, '.', '_' or '-'")
    cp.add_argument("--role", required=True, choices=users.ROLES, help="what the account may see and do")
    cp.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    cp.add_argument("--extension", help="their desk phone's extension (\"Take the call\" transfers callers there)")
    cp = command("set-extension", cmd_users_set_extension, "set the desk extension \"Take the call\" rings", up)
    cp.add_argument("username", metavar="USERNAME", help="the account")
    cp.add_argument("extension", metavar="EXTENSION", nargs="?", help="e.g. 102; leave out to clear it")
    cp = command("list", cmd_users_list, "list accounts with role, status and last sign-in", up)
    cp.add_argument("--json", action="store_true", help="print a JSON array")
    for name, action, done, text in (
            ("reset-totp", users.reset_totp, "sign-in code reset; a new one is set up at the next sign-in",
             "forget an account's authenticator (lost phone); signs it out everywhere"),
            ("unlock", users.unlock, "unlocked", "unlock an account locked by failed sign-ins"),
            ("disable", users.disable, "disabled and signed out everywhere", "refuse all further sign-ins")):
        cp = command(name, _admin_action(action, done), text, up)
        cp.add_argument("username", metavar="USERNAME", help="the account")

    cep = sub.add_parser("cert", help="the receptionist page's TLS certificate").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    cp = command("install", cmd_cert_install, "check a certificate and key (PEM) and use them for the page", cep)
    cp.add_argument("cert", metavar="CERT", help="certificate file, PEM (a chain with the certificate first is fine)")
    cp.add_argument("key", metavar="KEY", help="its private key, PEM, without a passphrase")
