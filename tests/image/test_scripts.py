"""image/: the build, boot-test and first-boot scripts parse, and agree with the units on paths and names.

Building and booting the image takes minutes under emulation, so CI does not; `make image && make
image-test` does it for real (see image/README.md).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = [ROOT / "image/build.sh", ROOT / "image/test.sh", ROOT / "image/rootfs/usr/local/sbin/dentra-firstboot"]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_parse_and_stop_on_errors(script):
    subprocess.run(["bash", "-n", str(script)], check=True)
    assert "set -euo pipefail" in script.read_text()
    assert script.stat().st_mode & 0o111, f"{script} is not executable"


def test_first_boot_unit_runs_the_script_the_image_installs():
    unit = (ROOT / "systemd/dentra-firstboot.service").read_text()
    assert "ExecStart=/usr/local/sbin/dentra-firstboot\n" in unit
    assert "ConditionPathExists=!/etc/dentra/firstboot.done" in unit
    assert "DONE=/etc/dentra/firstboot.done" in SCRIPTS[2].read_text()


def test_the_test_waits_for_the_marker_the_units_print():
    assert 'dentra-ready: $unit' in SCRIPTS[1].read_text()
    for unit in ("dentra-voice", "dentra-web", "dentra-jobs", "dentra-replicate"):
        assert '"<5>dentra-ready: %N"' in (ROOT / f"systemd/{unit}.service").read_text()


def test_the_image_config_moves_models_to_the_root_partition():
    # build.sh rewrites this line of the example config; if it changes, the image would look for
    # its models on the (encrypted, first-boot) data partition
    example = (ROOT / "config/clinic.example.toml").read_text()
    assert re.search(r'^dir = "models" ', example, re.M)
    assert '/opt/dentra/models' in SCRIPTS[0].read_text()
