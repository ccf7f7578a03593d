"""`dentra web` for real: gunicorn over TLS on loopback, a browser-like sign-in, and the supervisor."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

from appliance import defaults
from appliance.runner import init_store
from appliance.store import Store, users
from appliance.web import certs, second_factor, server
from appliance.web.supervisor import WebProcess, web_command

DENTRA = str(Path(sys.executable).parent / "dentra")
PASSWORD = "correct horse battery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_page(port: int, proc: subprocess.Popen | None = None, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"dentra web exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port} after {seconds} s")


@pytest.fixture
def data_dir(tmp_path, config):
    store, _code = init_store(config, tmp_path / "data", None, None)
    with store:
        users.add(store, "anna", "manager", PASSWORD, "test", datetime.now(UTC))
    return tmp_path / "data"


@pytest.fixture
def running(data_dir):
    """`dentra web` on a free loopback port; yields (port, process)."""
    port = free_port()
    proc = subprocess.Popen([DENTRA, "web", "--config", str(defaults.EXAMPLE_CONFIG), "--data-dir", str(data_dir),
                             "--listen", f"127.0.0.1:{port}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        wait_for_page(port, proc)
        yield port, proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        finally:
            proc.kill()
            proc.stdout.close()


def browser(data_dir) -> urllib.request.OpenerDirector:
    """An HTTPS client that trusts only the page's own certificate and keeps cookies."""
    tls = ssl.create_default_context(cafile=str(certs.paths(data_dir)[0]))
    return urllib.request.build_opener(urllib.request.HTTPSHandler(context=tls),
                                       urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))


def form_post(opener, url: str, page: str, **fields) -> tuple[str, str]:
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page).group(1)
    body = urllib.parse.urlencode({"csrf_token": token, **fields}).encode()
    with opener.open(urllib.request.Request(url, data=body), timeout=10) as response:
        return response.geturl(), response.read().decode()


def test_dentra_web_serves_the_sign_in_page_over_https(running, data_dir):
    port, proc = running
    opener = browser(data_dir)
    base = f"https://127.0.0.1:{port}"
    with opener.open(base + "/login", timeout=10) as response:
        page = response.read().decode()
        assert response.status == 200 and "<h1>Sign in</h1>" in page
        assert response.headers["X-Frame-Options"] == "DENY" and response.headers["Cache-Control"] == "no-store"
        assert "Secure" in response.headers["Set-Cookie"]
    # the whole sign-in over real TLS: password, enrolment with the QR page, code, home
    url, page = form_post(opener, base + "/login", page, username="anna", password=PASSWORD)
    assert url.endswith("/login/enrol?next=/") and "<svg" in page
    with Store.open(data_dir) as store:
        secret = users.totp_secret(store, users.get(store, "anna"))
    url, page = form_post(opener, base + "/login/enrol", page, code=second_factor.code_at(secret, datetime.now(UTC)))
    assert url == base + "/" and "Signed in as <strong>anna</strong>" in page


def test_plain_http_and_untrusted_clients_get_nothing(running):
    port, _proc = running
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5).read()
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(f"https://127.0.0.1:{port}/login", timeout=5)  # system CAs do not know it


def test_a_busy_port_is_one_clear_line(data_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run([DENTRA, "web", "--config", str(defaults.EXAMPLE_CONFIG), "--data-dir", str(data_dir),
                              "--listen", f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert run.stderr == (f"dentra: cannot serve the receptionist page on 127.0.0.1:{port}: Address already in use; "
                          f"change [web] listen in {defaults.EXAMPLE_CONFIG} or stop the program using that port\n")


def test_gunicorn_settings():
    from appliance.config import load_config

    opts = server.options(load_config(defaults.EXAMPLE_CONFIG), "127.0.0.1:8443", Path("/var/lib/dentra"))
    assert (opts["workers"], opts["worker_class"], opts["threads"]) == (1, "gthread", 32)
    assert opts["accesslog"] is None  # URLs may carry patient ids or searched names
    assert opts["certfile"] == "/var/lib/dentra/web-cert.pem" and opts["keyfile"] == "/var/lib/dentra/web-key.pem"


def test_the_supervisor_restarts_a_dead_page_and_stops_it(data_dir):
    port = free_port()
    argv = web_command(str(defaults.EXAMPLE_CONFIG), data_dir, None) + ["--listen", f"127.0.0.1:{port}"]
    web = WebProcess(argv).start()
    try:
        wait_for_page(port)
        first = web.process.pid
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while web.starts < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert web.starts == 2 and web.process.pid != first
        wait_for_page(port)
    finally:
        code = web.stop()
    assert code == 0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_the_page_stops_when_the_agent_that_started_it_dies(data_dir):
    """A `dentra run` killed with SIGKILL leaves no web server behind holding the port."""
    port = free_port()
    argv = web_command(str(defaults.EXAMPLE_CONFIG), data_dir, None) + ["--listen", f"127.0.0.1:{port}"]
    agent = subprocess.Popen([sys.executable, "-c", (
        "import os, subprocess, sys, time\n"
        f"child = subprocess.Popen({argv!r}, env={{**os.environ, '{server.PARENT_ENV}': str(os.getpid())}})\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(120)\n")], stdout=subprocess.PIPE, text=True)
    child = int(agent.stdout.readline())
    try:
        wait_for_page(port)
        agent.kill()
        agent.wait()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                os.kill(child, 0)
            except ProcessLookupError:
                break
            try:  # reap it if it became ours; otherwise init does
                os.waitpid(child, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.2)
        else:
            raise AssertionError("dentra web outlived the agent that started it")
    finally:
        agent.stdout.close()
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass
