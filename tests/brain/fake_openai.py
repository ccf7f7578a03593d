"""A local HTTPS server speaking the OpenAI chat-completions wire format, recording what it received.

It runs on 127.0.0.1 (random port) in a thread, with a certificate from a CA made at test time, so
the client under test does real TLS verification. Knobs script the answer, a delay (for timeouts),
an HTTP error status, or content that is not JSON.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 and localhost; returns (ca, cert, key) files."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dentra test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return ca_file, cert_file, key_file


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeOpenAI

    def finish_request(self, request, client_address):
        # the TLS handshake happens in the request thread, so a client that rejects us cannot stall the server
        request.settimeout(10)
        try:
            tls = self.fake.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            self.fake.handshake_failures += 1
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            tls.close()

    def handle_error(self, request, client_address):
        pass  # a client that gave up (timeout tests) is expected, not a failure of the fake


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def do_POST(self):
        fake = self.server.fake
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with fake.lock:
            fake.requests.append(Received(self.path, dict(self.headers.items()), body))
        if fake.delay:
            fake.stopping.wait(fake.delay)
        if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
            return self._send(401, _error("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"))
        if not self.path.endswith("/chat/completions"):
            return self._send(404, _error(f"Unknown request URL: POST {self.path}.", "invalid_request_error"))
        if fake.raw_response is not None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(fake.raw_response)))
            self.end_headers()
            self.wfile.write(fake.raw_response)
            return None
        if fake.status != 200:
            return self._send(fake.status, _error("The server had an error processing your request.", "server_error"))
        try:
            request = json.loads(body)
        except ValueError:
            return self._send(400, _error("We could not parse the JSON body of your request.", "invalid_request_error"))
        answer = fake.answer(request) if callable(fake.answer) else fake.answer
        content = answer if isinstance(answer, str) else json.dumps(answer)
        fake.counter += 1
        self._send(200, {
            "id": f"chatcmpl-fake{fake.counter:06d}", "object": "chat.completion", "created": int(time.time()),
            "model": request.get("model", ""), "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": None},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": len(body) // 4, "completion_tokens": len(content) // 4,
                      "total_tokens": len(body) // 4 + len(content) // 4},
        })

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _error(message: str, kind: str, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class FakeOpenAI:
    """`with FakeOpenAI(tmp_path) as fake:` serves `fake.url`; `fake.requests` holds every body received."""

    def __init__(self, folder: Path, api_key: str = "sk-test-fake"):
        self.api_key = api_key
        self.ca_file, cert_file, key_file = make_certificates(Path(folder))
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(cert_file, key_file)
        # knobs
        self.answer: dict | str | object = {"intent": "other", "slots": {}}
        self.delay = 0.0
        self.status = 200
        self.raw_response: bytes | None = None  # a whole HTTP body that is not the API's JSON (a captive proxy)
        # what happened
        self.requests: list[Received] = []
        self.handshake_failures = 0
        self.counter = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-openai", daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
