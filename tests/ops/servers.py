"""Replica servers on loopback for the tests and the bench: sshd (SFTP), moto (S3), and a cable to unplug."""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

SSHD = "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    """End a server we started, with everything it forked (it runs in its own session)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@dataclass
class Sftp:
    port: int
    user: str
    root: Path  # replicas go under here
    host_key: str  # the server's public key line, as ssh-keyscan prints it
    client_key: Path
    proc: subprocess.Popen

    def url(self, name: str) -> str:
        return f"sftp://{self.user}@127.0.0.1:{self.port}{self.root / name}"


def start_sshd(base: Path) -> Sftp:
    """An sshd of our own on a free loopback port: its own host key, one authorized key, SFTP only."""
    base.mkdir(parents=True, exist_ok=True)
    for name in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(base / name)], check=True)
    shutil.copy(base / "client_key.pub", base / "authorized_keys")
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation dir
    port = free_port()
    (base / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {base / 'host_key'}\n"
        f"AuthorizedKeysFile {base / 'authorized_keys'}\nPidFile {base / 'sshd.pid'}\n"
        "StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\nLogLevel ERROR\n")
    with open(base / "sshd.log", "wb") as log:
        proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(base / "sshd_config")], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    wait_port(port)
    (base / "replicas").mkdir(exist_ok=True)
    host_key = " ".join((base / "host_key.pub").read_text().split()[:2])
    return Sftp(port, getpass.getuser(), base / "replicas", host_key, base / "client_key", proc)


@dataclass
class S3:
    port: int
    bucket: str
    proc: subprocess.Popen

    def url(self, name: str, port: int | None = None) -> str:
        return f"s3://{self.bucket}/{name}?endpoint=http://127.0.0.1:{port or self.port}&region=us-east-1"


S3_ENV = {"DENTRA_REPLICA_ACCESS_KEY_ID": "testing", "DENTRA_REPLICA_SECRET_ACCESS_KEY": "testing"}


def start_moto(bucket: str = "dentra-replicas") -> S3:
    """moto's S3 server on a free loopback port, with one bucket."""
    port = free_port()
    moto = Path(sys.executable).parent / "moto_server"
    proc = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    wait_port(port, 30)
    request = urllib.request.Request(f"http://127.0.0.1:{port}/{bucket}", method="PUT")
    urllib.request.urlopen(request, timeout=10).close()
    return S3(port, bucket, proc)


class Cable:
    """A TCP forwarder between the box and a replica server that a test can unplug and plug back in."""

    def __init__(self, target_port: int):
        self.target, self.port = target_port, free_port()
        self._conns: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self.plug()

    def plug(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def unplug(self) -> None:
        """Refuse new connections and cut the open ones, as a dead link would."""
        self._listener.close()
        for conn in self._conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            except OSError:
                pass
        self._conns.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
                server = socket.create_connection(("127.0.0.1", self.target), 5)
            except OSError:
                return
            self._conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.close()
            except OSError:
                pass
