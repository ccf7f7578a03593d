"""The receptionist page's TLS certificate: self-signed at init, replaceable by the clinic's own.

The certificate and key live in the data dir (`web-cert.pem`, `web-key.pem`, the key 0600). A
certificate to install is checked before anything is replaced: readable PEM, key matches,
currently valid, and accepted by Python's TLS stack, each failure naming the file and what to do.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from appliance.errors import CertificateError

CERT_NAME = "web-cert.pem"
KEY_NAME = "web-key.pem"
SELF_SIGNED_DAYS = 825  # the longest validity Apple devices accept for any TLS certificate


@dataclass(frozen=True)
class CertInfo:
    subject: str
    not_after: datetime
    fingerprint: str  # SHA-256, as browsers show it, so staff can compare before trusting

    def describe(self) -> str:
        return f"{self.subject}, valid until {self.not_after:%Y-%m-%d}, SHA-256 {self.fingerprint}"


def paths(data_dir: Path) -> tuple[Path, Path]:
    return Path(data_dir) / CERT_NAME, Path(data_dir) / KEY_NAME


def info(cert: x509.Certificate) -> CertInfo:
    digest = cert.fingerprint(hashes.SHA256()).hex().upper()
    return CertInfo(cert.subject.rfc4514_string(), cert.not_valid_after_utc,
                    ":".join(digest[i : i + 2] for i in range(0, len(digest), 2)))


def host_names(listen: str) -> list[str]:
    """Names the page is reached by: this host's names, localhost, and the listen address."""
    host = listen.rpartition(":")[0].strip("[]")
    names = ["localhost", socket.gethostname(), "127.0.0.1", "::1"]
    if host and host not in ("0.0.0.0", "::"):
        names.append(host)
    return list(dict.fromkeys(n for n in names if n))


def _san(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def ensure_self_signed(data_dir: Path, names: list[str], now: datetime | None = None) -> CertInfo | None:
    """Make a self-signed certificate and key when there is none; returns its info, or None if one exists."""
    cert_path, key_path = paths(data_dir)
    if cert_path.exists() and key_path.exists():
        return None
    now = now or datetime.now(UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    host = next((n for n in names if n != "localhost"), "localhost")
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Dentra Edge on {host}"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Dentra Edge (self-signed)")])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=SELF_SIGNED_DAYS))
            .add_extension(x509.SubjectAlternativeName([_san(n) for n in names]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    _write(key_path, key_pem, 0o600)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return info(cert)


def _write(path: Path, data: bytes, mode: int) -> None:
    """Replace a file atomically, created with its final mode (a key is never briefly world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".new")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise CertificateError(f"{path}: file not found; give the path of the {what}") from None
    except OSError as err:
        raise CertificateError(f"{path}: cannot be read ({err.strerror}); check the file's permissions") from None


def check_pair(cert_path: Path, key_path: Path, now: datetime | None = None) -> CertInfo:
    """Validate a certificate (PEM, chain allowed) and its key; CertificateError names the file and the fix."""
    now = now or datetime.now(UTC)
    cert_pem, key_pem = _read(cert_path, "certificate (PEM)"), _read(key_path, "private key (PEM)")
    try:
        cert = x509.load_pem_x509_certificates(cert_pem)[0]
    except ValueError:
        raise CertificateError(f"{cert_path}: not a PEM certificate (it should start with "
                               "-----BEGIN CERTIFICATE-----); convert it with `openssl x509 -in FILE -out cert.pem`"
                               ) from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise CertificateError(f"{key_path}: the key is protected by a passphrase, which the box cannot type at "
                               "boot; remove it with `openssl pkey -in KEY -out plain-key.pem`") from None
    except (ValueError, UnsupportedAlgorithm):
        raise CertificateError(f"{key_path}: not a PEM private key (it should start with -----BEGIN ... PRIVATE "
                               "KEY-----)") from None
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if (key.public_key().public_bytes(serialization.Encoding.DER, spki)
            != cert.public_key().public_bytes(serialization.Encoding.DER, spki)):
        raise CertificateError(f"{key_path}: this key does not belong to the certificate {cert_path}; "
                               "use the key that was made with that certificate's request")
    if cert.not_valid_after_utc <= now:
        raise CertificateError(f"{cert_path}: the certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}; "
                               "ask for a renewed certificate")
    if cert.not_valid_before_utc > now:
        raise CertificateError(f"{cert_path}: the certificate is not valid before "
                               f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC; check the box's clock")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert_path, key_path)
    except ssl.SSLError as err:
        raise CertificateError(f"{cert_path}: refused by the TLS library ({err.reason}); "
                               "use an RSA (2048+ bits) or ECDSA certificate") from None
    return info(cert)


def install(data_dir: Path, cert_path: Path, key_path: Path, now: datetime | None = None) -> CertInfo:
    """Check a certificate and key, then replace the page's own with them (key stored 0600)."""
    found = check_pair(Path(cert_path), Path(key_path), now)
    target_cert, target_key = paths(data_dir)
    _write(target_key, Path(key_path).read_bytes(), 0o600)
    _write(target_cert, Path(cert_path).read_bytes(), 0o644)
    return found
