"""The page's TLS certificate: self-signed at init, and `cert install` refusing what would not work."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from appliance.errors import CertificateError
from appliance.web import certs

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def make_pair(folder, name="clinic", days=365, starts=-1, passphrase=None, now=NOW):
    """A certificate + key as an IT provider would hand them over (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "frontdesk.clinic.lan")])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now + timedelta(days=starts)).not_valid_after(now + timedelta(days=starts + days))
            .sign(key, hashes.SHA256()))
    encryption = (serialization.BestAvailableEncryption(passphrase) if passphrase
                  else serialization.NoEncryption())
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption))
    return cert_path, key_path


def test_self_signed_certificate_made_once_with_a_private_key(tmp_path):
    made = certs.ensure_self_signed(tmp_path, certs.host_names("192.168.1.5:8443"), NOW)
    cert_path, key_path = certs.paths(tmp_path)
    assert key_path.stat().st_mode & 0o777 == 0o600 and cert_path.stat().st_mode & 0o777 == 0o644
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("192.168.1.5")} <= \
        set(names.get_values_for_type(x509.IPAddress))
    assert made.not_after == NOW + timedelta(days=certs.SELF_SIGNED_DAYS) and len(made.fingerprint) == 95
    assert certs.check_pair(cert_path, key_path, NOW) == made
    assert certs.ensure_self_signed(tmp_path, ["localhost"], NOW) is None  # an existing one is kept
    assert "0.0.0.0" not in certs.host_names("0.0.0.0:8443")


def test_install_replaces_the_pair(tmp_path):
    certs.ensure_self_signed(tmp_path / "data", ["localhost"], NOW)
    cert_path, key_path = make_pair(tmp_path)
    found = certs.install(tmp_path / "data", cert_path, key_path, NOW)
    assert found.subject == "CN=frontdesk.clinic.lan"
    own_cert, own_key = certs.paths(tmp_path / "data")
    assert own_cert.read_bytes() == cert_path.read_bytes() and own_key.read_bytes() == key_path.read_bytes()
    assert own_key.stat().st_mode & 0o777 == 0o600


def refusal(tmp_path, cert_path, key_path) -> str:
    certs.ensure_self_signed(tmp_path / "data", ["localhost"], NOW)
    before = certs.paths(tmp_path / "data")[0].read_bytes()
    with pytest.raises(CertificateError) as info:
        certs.install(tmp_path / "data", cert_path, key_path, NOW)
    assert certs.paths(tmp_path / "data")[0].read_bytes() == before  # nothing replaced
    return str(info.value)


def test_a_missing_file_is_named(tmp_path):
    _cert, key_path = make_pair(tmp_path)
    assert refusal(tmp_path, tmp_path / "nope.crt", key_path) == \
        f"{tmp_path / 'nope.crt'}: file not found; give the path of the certificate (PEM)"


def test_not_pem(tmp_path):
    cert_path, key_path = make_pair(tmp_path)
    cert_path.write_bytes(b"\x30\x82\x01\x0a not pem")
    assert refusal(tmp_path, cert_path, key_path).startswith(f"{cert_path}: not a PEM certificate")
    cert_path, key_path = make_pair(tmp_path, "other")
    key_path.write_text("hello")
    assert refusal(tmp_path, cert_path, key_path).startswith(f"{key_path}: not a PEM private key")


def test_key_of_another_certificate(tmp_path):
    cert_path, _key = make_pair(tmp_path, "one")
    _cert, other_key = make_pair(tmp_path, "two")
    assert refusal(tmp_path, cert_path, other_key) == \
        f"{other_key}: this key does not belong to the certificate {cert_path}; use the key that was made with " \
        "that certificate's request"


def test_expired_and_not_yet_valid(tmp_path):
    old_cert, old_key = make_pair(tmp_path, "old", days=30, starts=-40)
    assert refusal(tmp_path, old_cert, old_key) == \
        f"{old_cert}: the certificate expired on 2026-11-21; ask for a renewed certificate"
    future_cert, future_key = make_pair(tmp_path, "future", starts=3)
    assert "is not valid before 2026-12-04 15:00 UTC; check the box's clock" in \
        refusal(tmp_path, future_cert, future_key)


def test_a_key_with_a_passphrase(tmp_path):
    cert_path, key_path = make_pair(tmp_path, passphrase=b"secret")
    assert "protected by a passphrase" in refusal(tmp_path, cert_path, key_path)
