"""A receptionist's real browser: `dentra web` (gunicorn over TLS) on a demo store, and Debian's headless
Chromium driven by Playwright (no browser download). Shared by tests/web/test_browser.py and the bench.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from appliance import defaults
from appliance.config import Config
from appliance.runner import init_store
from appliance.store import Store, users
from appliance.web import second_factor
from tests.web.test_server import free_port, wait_for_page

CHROMIUM = "/usr/bin/chromium"
# what a headless Chromium needs as root on a machine without a network beyond loopback
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
DENTRA = str(Path(sys.executable).parent / "dentra")
USERNAME, PASSWORD, EXTENSION = "anna", "correct horse battery", "102"
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def demo_clinic(config: Config, data_dir: Path) -> Path:
    """A demo store with one enrolled manager at desk extension 102 (her authenticator holds TOTP_SECRET)."""
    store, _code = init_store(config, data_dir, None, defaults.DEMO_DIR)
    with store:
        user = users.add(store, USERNAME, "manager", PASSWORD, "test", datetime.now(UTC), extension=EXTENSION)
        users.start_enrolment(store, user, TOTP_SECRET)
        users.second_factor_passed(store, user, 0, "127.0.0.1", datetime.now(UTC))
    return data_dir


class PageServer:
    """`dentra web` on a free loopback port, stopped with SIGTERM like the supervisor does."""

    def __init__(self, data_dir: Path):
        self.port = free_port()
        self.base = f"https://127.0.0.1:{self.port}"
        self.log = Path(data_dir).parent / f"dentra-web-{self.port}.log"  # gunicorn's own lines; no PHI
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([DENTRA, "web", "--config", str(defaults.EXAMPLE_CONFIG), "--data-dir",
                                          str(data_dir), "--listen", f"127.0.0.1:{self.port}"],
                                         stdout=log, stderr=subprocess.STDOUT)
        wait_for_page(self.port, self.proc)

    def stop(self) -> float:
        """Stop the server; returns how long it took (open live sockets must not hold it up)."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        return time.monotonic() - started


class Browser:
    """Headless Debian Chromium under Playwright; `page` is one tab that trusts the self-signed certificate."""

    def __init__(self, width: int = 1280, height: int = 860):
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        self.chromium = self._playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        self.context = self.chromium.new_context(ignore_https_errors=True, viewport={"width": width, "height": height})
        self.page = self.context.new_page()
        self.dialogs: list[str] = []  # any alert() is a script that ran: an XSS
        self.page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))
        self.console_errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))

    def sign_in(self, base: str, page=None) -> None:
        """Password, then the code an authenticator app would show now."""
        page = page or self.page
        page.goto(base + "/login")
        page.fill("input[name=username]", USERNAME)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/login/code**")
        page.fill("input[name=code]", second_factor.code_at(TOTP_SECRET, datetime.now(UTC)))
        page.click("button[type=submit]")
        page.wait_for_url(base + "/")

    def wait_live(self, page=None) -> None:
        """Until the page's /live socket is open (the server sent `ready`)."""
        (page or self.page).wait_for_function("() => document.body.dataset.live === 'ready'", timeout=10000)

    def close(self) -> None:
        self.context.close()
        self.chromium.close()
        self._playwright.stop()


def open_store(data_dir: Path) -> Store:
    """The voice side's own connection to the same store."""
    return Store.open(data_dir, migrate=False)


@contextmanager
def front_desk(data_dir: Path) -> Iterator[tuple[PageServer, Browser, Store]]:
    """`dentra web` on the store, a browser signed in to it, and the voice side's store; all closed after."""
    server = PageServer(data_dir)
    browser = store = None
    try:
        browser = Browser()
        browser.sign_in(server.base)
        store = open_store(data_dir)
        yield server, browser, store
    finally:
        if store is not None:
            store.close()
        if browser is not None:
            browser.close()
        server.stop()
