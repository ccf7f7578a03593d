#!/usr/bin/env python3
"""Screenshots of the receptionist pages on the demo clinic, for a person to look at.

Seeds a fresh demo store with scripted calls (the real brain, as in tests/scenarios), serves it
with `dentra web`, signs in as a manager (password + TOTP) and has headless Chromium (Debian's
/usr/bin/chromium, driven over the DevTools protocol: nothing is downloaded) capture each page.
    .venv/bin/python scripts/page_screenshots.py [--out docs/screenshots] [--keep DIR]
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import requests
import simple_websocket
import urllib3

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from appliance import defaults  # noqa: E402
from appliance.config import load_config  # noqa: E402
from appliance.runner import init_store  # noqa: E402
from appliance.store import Store, users  # noqa: E402
from appliance.web import second_factor  # noqa: E402
from tests.brain.scripted_caller import play  # noqa: E402

SCENARIOS = ("book-exact-time", "angry-caller", "emergency-mid-booking", "cancel-keep-it", "reschedule-to-a-day",
             "asks-for-spanish")
PAGES = {  # file name -> path (the demo clinic's appointments start on 2026-12-01)
    "today": "/today?day=2026-12-01",
    "calls": "/calls",
    "call": "/calls/{call_id}",
    "patients-search": "/patients?q=lopez",
    "patient": "/patients/P1001",
    "escalations": "/escalations",
    "status": "/status",
    "audit": "/audit?user=morgan",  # the pages above, as the log recorded them
}
PASSWORD = "screenshots only 1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(data_dir: Path) -> str:
    """A demo store with a few real calls; returns the id of the first (a booking)."""
    config = load_config(defaults.EXAMPLE_CONFIG)
    store, _ = init_store(config, data_dir, None, defaults.DEMO_DIR)
    with store:
        ids = [play(config, store, json.loads((ROOT / "tests/scenarios" / f"{name}.json").read_text()))[2]
               for name in SCENARIOS]
        users.add(store, "morgan", "manager", PASSWORD, "screenshots", datetime.now(UTC))
    return ids[0]


def wait_for(port: int, proc: subprocess.Popen) -> None:
    for _ in range(100):
        if proc.poll() is not None:
            raise SystemExit(f"dentra web exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit("dentra web did not start listening")


def sign_in(base: str, data_dir: Path) -> str:
    """Password, then the enrolment code; returns the session cookie's value."""
    urllib3.disable_warnings()
    web = requests.Session()
    web.verify, web.trust_env = False, False  # self-signed; a CA bundle in the environment would override

    def csrf(path: str) -> str:
        return re.search(r'name="csrf_token" value="([0-9a-f]+)"', web.get(base + path).text).group(1)

    web.post(base + "/login", data={"username": "morgan", "password": PASSWORD, "csrf_token": csrf("/login")})
    token = csrf("/login/enrol")
    with Store.open(data_dir) as store:
        secret = users.totp_secret(store, users.get(store, "morgan"))
    done = web.post(base + "/login/enrol", data={"code": second_factor.code_at(secret, datetime.now(UTC)),
                                                 "csrf_token": token}, allow_redirects=False)
    assert done.status_code == 302, done.text
    return web.cookies["__Host-dentra-session"]


class Chromium:
    """A headless Chromium page driven over the DevTools protocol."""

    def __init__(self, profile: Path, width: int):
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--ignore-certificate-errors",
             f"--remote-debugging-port={self.port}", f"--user-data-dir={profile}", f"--window-size={width},900",
             "--hide-scrollbars", "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list") as r:
                    page = next(t for t in json.load(r) if t["type"] == "page")
                break
            except (OSError, StopIteration):
                time.sleep(0.1)
        self.ws = simple_websocket.Client.connect(page["webSocketDebuggerUrl"], max_message_size=64 << 20)
        self.ids = itertools.count(1)
        self.width = width

    def call(self, method: str, **params) -> dict:
        sent = next(self.ids)
        self.ws.send(json.dumps({"id": sent, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.receive(timeout=30))
            if message.get("id") == sent:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def shoot(self, url: str, out: Path) -> None:
        # measure each page at a normal window height, then grow the window to the whole page
        self.call("Emulation.setDeviceMetricsOverride", width=self.width, height=900, deviceScaleFactor=1, mobile=False)
        self.call("Page.navigate", url=url)
        for _ in range(100):  # until the page and its stylesheet have loaded
            state = self.call("Runtime.evaluate", expression="document.readyState")["result"]["value"]
            if state == "complete":
                break
            time.sleep(0.05)
        # the body's own height, so a short page is not padded out to the window
        height = self.call("Runtime.evaluate", expression="document.body.scrollHeight")["result"]["value"]
        self.call("Emulation.setDeviceMetricsOverride", width=self.width, height=min(int(height) + 16, 2400),
                  deviceScaleFactor=1, mobile=False)
        shot = self.call("Page.captureScreenshot", format="png")
        out.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        self.ws.close()
        self.proc.terminate()
        self.proc.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--keep", help="use (and keep) this folder for the store instead of a temporary one")
    args = parser.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="dentra-shots-"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    call_id = seed(work / "data")
    port = free_port()
    base = f"https://127.0.0.1:{port}"
    server = subprocess.Popen([str(ROOT / ".venv/bin/dentra"), "web", "--data-dir", str(work / "data"),
                               "--listen", f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    browser = None
    try:
        wait_for(port, server)
        cookie = sign_in(base, work / "data")
        browser = Chromium(work / "chromium", args.width)
        browser.call("Network.enable")
        browser.call("Network.setCookie", name="__Host-dentra-session", value=cookie, url=base + "/",
                     secure=True, httpOnly=True, sameSite="Strict", path="/")
        for name, path in PAGES.items():
            target = out / f"{name}.png"
            browser.shoot(base + path.format(call_id=call_id), target)
            print(f"{target} ({target.stat().st_size // 1024} KB)")
    finally:
        if browser:
            browser.close()
        server.terminate()
        server.wait(10)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
