"""appliance/service.py: the sd_notify datagrams systemd reads, and silence outside systemd."""

from __future__ import annotations

import socket
import uuid

from appliance import service


def receive(sock: socket.socket) -> dict[str, str]:
    return dict(line.split("=", 1) for line in sock.recv(4096).decode().splitlines())


def test_ready_sends_ready_and_status_to_a_path_socket(tmp_path, monkeypatch):
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        assert service.ready("answering calls as extension 250")
        assert receive(sock) == {"READY": "1", "STATUS": "answering calls as extension 250"}


def test_abstract_socket_names_start_with_at(monkeypatch):
    name = f"dentra-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert service.status("drill passed")
        assert receive(sock) == {"STATUS": "drill passed"}


def test_outside_systemd_nothing_is_sent(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert service.ready("ready") is False


def test_a_vanished_socket_is_a_warning_not_a_crash(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone"))
    assert service.stopping() is False
    assert "could not notify systemd" in caplog.text
