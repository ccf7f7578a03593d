"""Column encryption, blind indexes, key file and recovery code."""

from __future__ import annotations

import os

import pytest

from appliance.errors import KeyFileError
from appliance.store.crypto import (
    Vault,
    master_from_recovery_code,
    new_master,
    read_key_file,
    recovery_code,
    write_key_file,
)


@pytest.fixture
def vault() -> Vault:
    v = Vault(new_master())
    v.new_data_key()
    return v


def test_round_trip_and_key_id_prefix(vault):
    blob = vault.encrypt("Maria Lopez", "patients", "first_name", "P1001")
    assert b"Maria" not in blob
    assert Vault.kid_of(blob) == vault.active_kid
    assert vault.decrypt(blob, "patients", "first_name", "P1001") == "Maria Lopez"
    assert vault.encrypt(None, "patients", "notes", "P1001") is None


def test_same_value_encrypts_differently(vault):
    a = vault.encrypt("1980-08-02", "patients", "date_of_birth", "P1001")
    b = vault.encrypt("1980-08-02", "patients", "date_of_birth", "P1001")
    assert a != b


@pytest.mark.parametrize("table, column, row_id", [
    ("patients", "first_name", "P1002"),  # moved to another patient
    ("patients", "last_name", "P1001"),  # moved to another column
    ("calls", "first_name", "P1001"),  # moved to another table
])
def test_ciphertext_is_bound_to_its_cell(vault, table, column, row_id):
    blob = vault.encrypt("Maria", "patients", "first_name", "P1001")
    with pytest.raises(KeyFileError, match="integrity check"):
        vault.decrypt(blob, table, column, row_id)


def test_tampered_ciphertext_is_refused(vault):
    blob = bytearray(vault.encrypt("Maria", "patients", "first_name", "P1001"))
    blob[-1] ^= 1
    with pytest.raises(KeyFileError, match="integrity check"):
        vault.decrypt(bytes(blob), "patients", "first_name", "P1001")


def test_old_key_still_decrypts_after_a_new_one_is_active(vault):
    old = vault.encrypt("Maria", "patients", "first_name", "P1001")
    old_kid = vault.active_kid
    vault.new_data_key()
    assert vault.active_kid != old_kid
    assert vault.decrypt(old, "patients", "first_name", "P1001") == "Maria"
    vault.forget_data_key(old_kid)
    with pytest.raises(KeyFileError, match=f"uses key {old_kid}"):
        vault.decrypt(old, "patients", "first_name", "P1001")


def test_wrapped_data_key_needs_the_same_master():
    master = new_master()
    a = Vault(master)
    wrapped = a.new_data_key()
    b = Vault(master)
    b.load_data_key(wrapped.kid, wrapped.wrapped, active=True)
    blob = a.encrypt("x", "t", "c", "1")
    assert b.decrypt(blob, "t", "c", "1") == "x"
    with pytest.raises(KeyFileError, match="does not open"):
        Vault(new_master()).load_data_key(wrapped.kid, wrapped.wrapped, active=True)


def test_blind_index_is_deterministic_and_keyed(vault):
    assert vault.blind_index("phone", "+12175550100") == vault.blind_index("phone", "+12175550100")
    assert vault.blind_index("phone", "+12175550100") != vault.blind_index("phone", "+12175550101")
    assert vault.blind_index("phone", "+12175550100") != vault.blind_index("name", "+12175550100")
    assert Vault(new_master()).blind_index("phone", "+12175550100") != vault.blind_index("phone", "+12175550100")


def test_recovery_code_round_trip_and_typos():
    master = new_master()
    code = recovery_code(master)
    assert len(code.split("-")) == 11
    assert master_from_recovery_code(code) == master
    assert master_from_recovery_code(code.lower().replace("-", " ")) == master
    typo = ("A" if code[0] != "A" else "B") + code[1:]
    with pytest.raises(KeyFileError, match="not valid"):
        master_from_recovery_code(typo)
    with pytest.raises(KeyFileError):
        master_from_recovery_code("1!-not-a-code")


def test_key_file_is_0600_and_not_overwritten(tmp_path):
    path = tmp_path / "k" / "dentra.key"
    master = new_master()
    write_key_file(path, master)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert read_key_file(path) == master
    with pytest.raises(KeyFileError, match="already exists"):
        write_key_file(path, new_master())
    assert read_key_file(path) == master


def test_key_file_problems_name_the_file(tmp_path):
    path = tmp_path / "dentra.key"
    with pytest.raises(KeyFileError, match=f"key file {path} is missing"):
        read_key_file(path)
    write_key_file(path, new_master())
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match=r"readable by other users \(mode 644\); run `chmod 600"):
        read_key_file(path)
    os.chmod(path, 0o600)
    path.write_text("{not json")
    with pytest.raises(KeyFileError, match="is not a Dentra key file"):
        read_key_file(path)
