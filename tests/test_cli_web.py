"""`dentra users ...`, `dentra cert install` and the certificate `dentra init` makes, as an admin uses them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from appliance import defaults
from appliance.web import certs
from tests.test_cli import dentra
from tests.web.test_certs import make_pair

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("users") / "data"
    run = dentra("init", "--config", str(defaults.EXAMPLE_CONFIG), "--data-dir", str(data_dir))
    assert "Receptionist page certificate (self-signed; replace with `dentra cert install`): " in run.stdout
    assert "SHA-256 " in run.stdout
    return data_dir


def users_cmd(data_dir, *args, password=None, check=True):
    return dentra("users", *args, "--data-dir", str(data_dir), check=check, input=password)


def test_init_makes_the_page_certificate(data_dir):
    cert, key = certs.paths(data_dir)
    assert key.stat().st_mode & 0o777 == 0o600
    assert certs.check_pair(cert, key).subject.startswith("O=Dentra Edge (self-signed),CN=Dentra Edge on ")


def test_add_list_and_admin_actions(data_dir):
    out = users_cmd(data_dir, "add", "rita", "--role", "front_desk", "--password-stdin", password=PASSWORD + "\n")
    assert out.stdout.startswith("added rita (front_desk); at the first sign-in they scan a QR code")
    listed = json.loads(users_cmd(data_dir, "list", "--json").stdout)
    rita = next(u for u in listed if u["username"] == "rita")
    assert (rita["role"], rita["status"], rita["totp_enrolled"], rita["last_login_at"]) == \
        ("front_desk", "active", False, None)
    table = users_cmd(data_dir, "list").stdout
    assert "rita" in table and "code not set up" in table and "last sign-in never" in table
    assert users_cmd(data_dir, "unlock", "rita").stdout == "rita: unlocked\n"
    assert "new one is set up at the next sign-in" in users_cmd(data_dir, "reset-totp", "rita").stdout
    assert users_cmd(data_dir, "disable", "rita").stdout == "rita: disabled and signed out everywhere\n"
    assert "disabled" in users_cmd(data_dir, "list").stdout
    assert dentra("audit", "verify", "--data-dir", str(data_dir)).stdout.startswith("audit chain ok")


def test_a_desk_extension_for_take_the_call(data_dir):
    out = users_cmd(data_dir, "add", "tom", "--role", "front_desk", "--extension", "103", "--password-stdin",
                    password=PASSWORD + "\n")
    assert out.stdout.startswith("added tom (front_desk, desk extension 103); at the first sign-in")
    assert users_cmd(data_dir, "set-extension", "tom", "104").stdout == 'tom: "Take the call" rings extension 104\n'
    tom = next(u for u in json.loads(users_cmd(data_dir, "list", "--json").stdout) if u["username"] == "tom")
    assert tom["extension"] == "104" and "ext 104" in users_cmd(data_dir, "list").stdout
    assert "no desk extension" in users_cmd(data_dir, "set-extension", "tom").stdout
    bad = users_cmd(data_dir, "set-extension", "tom", "10 2", check=False)
    assert bad.returncode == 1 and bad.stderr.startswith("dentra: extension '10 2' must be 1-32 letters")
    refused = users_cmd(data_dir, "add", "una", "--role", "front_desk", "--extension", "<1>", "--password-stdin",
                        password=PASSWORD + "\n", check=False)
    assert refused.returncode == 1 and "una" not in users_cmd(data_dir, "list").stdout  # nothing half-made


@pytest.mark.parametrize("args, password, code, message", [
    (("add", "sam", "--role", "manager", "--password-stdin"), "too short\n", 1,
     "dentra: the password must have at least 12 characters (a short sentence is easy to remember); got 9\n"),
    (("add", "Sam Smith", "--role", "manager", "--password-stdin"), PASSWORD + "\n", 1,
     "dentra: username 'sam smith' must be 2-32 lower-case letters, digits, '.', '_' or '-'\n"),
    (("add", "sam", "--role", "manager"), None, 2,
     "dentra: no terminal to ask for the password; pipe it in with --password-stdin\n"),
    (("unlock", "nobody"), None, 1, "dentra: no user 'nobody'; `dentra users list` shows who exists\n"),
])
def test_mistakes_are_one_line(data_dir, args, password, code, message):
    run = users_cmd(data_dir, *args, password=password, check=False)
    assert (run.returncode, run.stderr) == (code, message)


def test_a_name_is_taken_once(data_dir):
    users_cmd(data_dir, "add", "tess", "--role", "admin", "--password-stdin", password=PASSWORD + "\n")
    again = users_cmd(data_dir, "add", "tess", "--role", "admin", "--password-stdin", password=PASSWORD + "\n",
                      check=False)
    assert again.returncode == 1 and again.stderr.startswith("dentra: user 'tess' exists already")


def test_a_role_outside_the_three_is_refused(data_dir):
    run = users_cmd(data_dir, "add", "uma", "--role", "boss", "--password-stdin", password=PASSWORD, check=False)
    assert run.returncode == 2 and "invalid choice: 'boss'" in run.stderr


def test_cert_install(data_dir, tmp_path):
    cert_path, key_path = make_pair(tmp_path, now=datetime.now(UTC))
    bad = dentra("cert", "install", str(cert_path), str(tmp_path / "missing.key"), "--data-dir", str(data_dir),
                 check=False)
    assert bad.returncode == 1
    assert bad.stderr == f"dentra: {tmp_path / 'missing.key'}: file not found; give the path of the private key (PEM)\n"
    run = dentra("cert", "install", str(cert_path), str(key_path), "--data-dir", str(data_dir))
    assert run.stdout.startswith("installed: CN=frontdesk.clinic.lan, valid until ")
    assert "Restart the appliance" in run.stdout
    assert certs.paths(data_dir)[0].read_bytes() == cert_path.read_bytes()
    assert dentra("audit", "verify", "--data-dir", str(data_dir)).returncode == 0
