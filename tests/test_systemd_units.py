"""The units in systemd/: `systemd-analyze verify` passes on each, and the hardening the box relies on is there."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS_DIR = Path(__file__).resolve().parents[1] / "systemd"
SERVICES = ("dentra-voice.service", "dentra-web.service", "dentra-jobs.service", "dentra-replicate.service")
ALL_UNITS = sorted(p.name for p in UNITS_DIR.glob("*.service"))
# the install paths inside the image; verify checks that executables exist, so the copies checked here
# point at this checkout's venv instead
IMAGE_DENTRA = "/opt/dentra/venv/bin/dentra"
IMAGE_FIRSTBOOT = "/usr/local/sbin/dentra-firstboot"

HARDENING = {
    "User": "dentra",
    "Group": "dentra",
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ReadWritePaths": "/var/lib/dentra",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "CapabilityBoundingSet": "",
    "RestrictNamespaces": "yes",
    "RestrictSUIDSGID": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectControlGroups": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "SystemCallArchitectures": "native",
    "Restart": "on-failure",
}


def settings(name: str) -> dict[str, dict[str, list[str]]]:
    """Section -> key -> every value given (units may repeat a key)."""
    parsed: dict[str, dict[str, list[str]]] = {}
    section = ""
    for raw in (UNITS_DIR / name).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            parsed.setdefault(section, {})
            continue
        key, _, value = line.partition("=")
        parsed[section].setdefault(key, []).append(value)
    return parsed


@pytest.fixture(scope="module")
def checkable_units(tmp_path_factory) -> Path:
    if not shutil.which("systemd-analyze"):
        pytest.fail("systemd-analyze is missing; scripts/dev.sh install brings Debian's systemd package")
    folder = tmp_path_factory.mktemp("units")
    dentra = Path(sys.executable).with_name("dentra")
    for name in ALL_UNITS:
        text = (UNITS_DIR / name).read_text().replace(IMAGE_DENTRA, str(dentra)).replace(IMAGE_FIRSTBOOT, "/bin/true")
        (folder / name).write_text(text)
    return folder


@pytest.mark.parametrize("name", ALL_UNITS)
def test_systemd_analyze_verify_is_silent(checkable_units, name):
    done = subprocess.run(["systemd-analyze", "verify", str(checkable_units / name)], capture_output=True, text=True)
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stdout + done.stderr


@pytest.mark.parametrize("name", SERVICES)
def test_services_are_hardened(name):
    service = settings(name)["Service"]
    missing = {key: want for key, want in HARDENING.items() if want not in service.get(key, [])}
    assert not missing, f"{name} lacks {missing}"
    assert "@system-service" in service["SystemCallFilter"]
    assert set(service["RestrictAddressFamilies"][0].split()) <= {"AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"}


@pytest.mark.parametrize("name", SERVICES)
def test_services_never_pass_aws_ca_bundle(name):
    service = settings(name)["Service"]
    assert "AWS_CA_BUNDLE" in " ".join(service["UnsetEnvironment"]).split()
    assert not any("AWS_CA_BUNDLE" in value for value in service.get("Environment", []))


@pytest.mark.parametrize("name", SERVICES)
def test_services_start_after_network_and_first_boot_and_announce_readiness(name):
    unit, service = settings(name)["Unit"], settings(name)["Service"]
    after = " ".join(unit["After"]).split()
    assert {"network-online.target", "dentra-firstboot.service"} <= set(after)
    assert service["Type"][0] in ("notify", "exec")
    # the marker image/test.sh waits for on the serial console
    assert service["ExecStartPost"] == ['/usr/bin/echo "<5>dentra-ready: %N"']
    assert service["ExecStart"][0].startswith(IMAGE_DENTRA + " ")
    assert settings(name)["Install"]["WantedBy"] == ["multi-user.target"]


@pytest.mark.parametrize("name", SERVICES)
def test_exposure_score_stays_low(checkable_units, name):
    done = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", name],
                          cwd=checkable_units, capture_output=True, text=True)
    found = re.search(r"Overall exposure level for \S+: ([\d.]+)", done.stdout)
    assert found, done.stdout + done.stderr
    assert float(found.group(1)) <= 2.0, done.stdout

