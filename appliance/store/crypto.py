"""All key handling: the key file, column encryption (AES-256-GCM), blind indexes and the audit MAC.

Nothing outside this module sees a key. The key file holds one master secret; from it we derive
the key-encryption key, the blind-index keys and the audit-chain key (HKDF). Column data keys are
random, stored in the database wrapped by the key-encryption key, and carry a key id in every
ciphertext so `dentra keys rotate` can move rows to a new key. The master secret is also the
recovery code, so a replica plus the code is enough to restore on a new box.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from appliance.errors import KeyFileError

KEY_FILE_FORMAT = "dentra-key/1"
CIPHER_VERSION = 1
NONCE_BYTES = 12


def _derive(master: bytes, label: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label.encode()).derive(master)


def _aad(table: str, column: str, row_id: str) -> bytes:
    # Binding ciphertext to its cell stops a thief with write access from swapping two patients' values.
    return f"{table}/{column}/{row_id}".encode()


# ---- key file and recovery code ----


def recovery_code(master: bytes) -> str:
    """The master secret as 11 groups of 5 base32 characters (with a 2-byte checksum)."""
    raw = master + hashlib.sha256(master).digest()[:2]
    text = base64.b32encode(raw).decode().rstrip("=")
    return "-".join(text[i : i + 5] for i in range(0, len(text), 5))


def master_from_recovery_code(code: str) -> bytes:
    """Inverse of recovery_code; raises KeyFileError on a typo."""
    text = "".join(ch for ch in code.upper() if ch.isalnum())
    try:
        raw = base64.b32decode(text + "=" * (-len(text) % 8))
    except ValueError:
        raise KeyFileError("the recovery code has characters that are not in it; check each group") from None
    master, check = raw[:32], raw[32:]
    if len(master) != 32 or hashlib.sha256(master).digest()[:2] != check:
        raise KeyFileError("the recovery code is not valid (checksum mismatch); check each group")
    return master


def write_key_file(path: Path, master: bytes) -> None:
    """Create the key file with mode 0600; refuses to overwrite an existing one."""
    body = json.dumps({
        "format": KEY_FILE_FORMAT,
        "master": base64.b64encode(master).decode(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"key file {path} already exists; refusing to overwrite it") from None
    with os.fdopen(fd, "w") as f:
        f.write(body + "\n")


def read_key_file(path: Path) -> bytes:
    """The master secret from a key file; KeyFileError names the file and what is wrong."""
    try:
        mode = path.stat().st_mode
        text = path.read_text()
    except FileNotFoundError:
        raise KeyFileError(
            f"key file {path} is missing; restore it from backup or recreate it with "
            "`dentra keys recover --code ...`") from None
    except OSError as err:
        raise KeyFileError(f"key file {path} cannot be read: {err.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"key file {path} is readable by other users (mode {stat.S_IMODE(mode):o}); "
                           f"run `chmod 600 {path}`")
    try:
        data = json.loads(text)
        if data.get("format") != KEY_FILE_FORMAT:
            raise ValueError
        master = base64.b64decode(data["master"], validate=True)
        if len(master) != 32:
            raise ValueError
    except (ValueError, KeyError, TypeError, AttributeError):
        raise KeyFileError(f"key file {path} is not a Dentra key file (damaged or wrong file)") from None
    return master


def new_master() -> bytes:
    return secrets.token_bytes(32)


# ---- the vault: what the store uses ----


@dataclass
class WrappedKey:
    kid: str
    wrapped: bytes


class Vault:
    """Encrypts and decrypts cells, computes blind indexes and audit MACs from one master secret."""

    def __init__(self, master: bytes):
        self._kek = AESGCM(_derive(master, "dentra/key-encryption"))
        self._index_key = _derive(master, "dentra/blind-index")
        self._audit_key = _derive(master, "dentra/audit-chain")
        self._check = hmac.new(_derive(master, "dentra/key-check"), b"dentra", "sha256").hexdigest()
        self._data_keys: dict[str, AESGCM] = {}
        self.active_kid = ""

    @property
    def key_check(self) -> str:
        """A value stored in the database that proves this master belongs to it."""
        return self._check

    def new_data_key(self) -> WrappedKey:
        """Make a fresh column key, make it active, and return it wrapped for storage."""
        kid = secrets.token_hex(4)
        key = AESGCM.generate_key(bit_length=256)
        nonce = secrets.token_bytes(NONCE_BYTES)
        wrapped = nonce + self._kek.encrypt(nonce, key, f"data-key/{kid}".encode())
        self._data_keys[kid] = AESGCM(key)
        self.active_kid = kid
        return WrappedKey(kid, wrapped)

    def load_data_key(self, kid: str, wrapped: bytes, active: bool) -> None:
        try:
            key = self._kek.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], f"data-key/{kid}".encode())
        except InvalidTag:
            raise KeyFileError(f"data key {kid} does not open with this key file") from None
        self._data_keys[kid] = AESGCM(key)
        if active:
            self.active_kid = kid

    def forget_data_key(self, kid: str) -> None:
        self._data_keys.pop(kid, None)

    def encrypt(self, value: str | None, table: str, column: str, row_id: str) -> bytes | None:
        """Ciphertext = version | kid length | kid | nonce | AES-GCM(value); None stays None."""
        if value is None:
            return None
        kid = self.active_kid
        nonce = secrets.token_bytes(NONCE_BYTES)
        body = self._data_keys[kid].encrypt(nonce, value.encode(), _aad(table, column, row_id))
        return bytes([CIPHER_VERSION, len(kid)]) + kid.encode() + nonce + body

    def decrypt(self, blob: bytes | None, table: str, column: str, row_id: str) -> str | None:
        if blob is None:
            return None
        kid = self.kid_of(blob)
        start = 2 + blob[1]
        nonce, body = blob[start : start + NONCE_BYTES], blob[start + NONCE_BYTES :]
        try:
            return self._data_keys[kid].decrypt(nonce, body, _aad(table, column, row_id)).decode()
        except KeyError:
            raise KeyFileError(f"{table}.{column} of {row_id} uses key {kid}, which this store does not have") from None
        except InvalidTag:
            raise KeyFileError(f"{table}.{column} of {row_id} fails its integrity check (altered or moved)") from None

    @staticmethod
    def kid_of(blob: bytes) -> str:
        if not blob or blob[0] != CIPHER_VERSION:
            raise KeyFileError("a stored value is not in Dentra's cipher format")
        return blob[2 : 2 + blob[1]].decode()

    def blind_index(self, kind: str, value: str) -> bytes:
        """HMAC-SHA256 of a normalized value (e.g. an E.164 number); equal inputs give equal outputs."""
        return hmac.new(self._index_key, f"{kind}:{value}".encode(), "sha256").digest()

    def audit_mac(self, prev_hash: str, body: str) -> str:
        """The audit chain link: HMAC-SHA256(prev_hash || row), hex."""
        return hmac.new(self._audit_key, (prev_hash + "\n" + body).encode(), "sha256").hexdigest()
