"""`dentra keys rotate` re-encrypts every PHI value; the recovery code recreates a lost key file."""

from __future__ import annotations

import pytest

from appliance.errors import KeyFileError
from appliance.runner import init_store
from appliance.store import Store, audit, keys, patients
from appliance.store.crypto import Vault, recovery_code
from appliance.store.migrations import ENCRYPTED_COLUMNS


def kids_in_use(store) -> set[str]:
    found = set()
    for table, (_row_id, columns) in ENCRYPTED_COLUMNS.items():
        for col in columns:
            for (blob,) in store.conn.execute(f"SELECT {col} FROM {table} WHERE {col} IS NOT NULL"):
                found.add(Vault.kid_of(blob))
    return found


def test_rotate_moves_every_cell_to_the_new_key(demo_store):
    old_kid = demo_store.vault.active_kid
    assert kids_in_use(demo_store) == {old_kid}
    result = keys.rotate(demo_store, "test")
    assert result.old_kids == (old_kid,) and result.new_kid != old_kid
    assert result.cells > 30 * 4  # names, birth dates, e-mails, phones at least
    assert kids_in_use(demo_store) == {result.new_kid}
    assert [r[0] for r in demo_store.conn.execute("SELECT kid FROM data_keys")] == [result.new_kid]
    assert patients.get(demo_store, "P1016").full_name == "Grace Kim"
    assert patients.ids_by_phone(demo_store, "+12175550125") == ["P1016"]
    assert audit.verify(demo_store).ok
    last = demo_store.conn.execute("SELECT action FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()[0]
    assert last == "keys-rotated"


def test_rotated_store_reopens_with_the_same_key_file(demo_store):
    keys.rotate(demo_store, "test")
    keys.rotate(demo_store, "test")
    data_dir, key_file = demo_store.data_dir, demo_store.key_file
    demo_store.close()
    with Store.open(data_dir, key_file) as again:
        assert patients.get(again, "P1001").date_of_birth.isoformat() == "1980-08-02"


def test_failed_rotation_changes_nothing(demo_store, monkeypatch):
    old_kid = demo_store.vault.active_kid
    real = demo_store.vault.encrypt
    calls = {"n": 0}

    def failing(*args):
        calls["n"] += 1
        if calls["n"] > 50:
            raise OSError("disk full")
        return real(*args)

    monkeypatch.setattr(demo_store.vault, "encrypt", failing)
    with pytest.raises(OSError, match="disk full"):
        keys.rotate(demo_store, "test")
    monkeypatch.undo()
    assert demo_store.vault.active_kid == old_kid
    assert kids_in_use(demo_store) == {old_kid}
    assert patients.get(demo_store, "P1001").first_name == "Maria"


def test_recover_key_file_from_the_code(tmp_path, config):
    store, code = init_store(config, tmp_path / "data", None, None)
    data_dir, key_file = store.data_dir, store.key_file
    store.close()
    key_file.unlink()
    with pytest.raises(KeyFileError, match="does not belong"):
        keys.recover_key_file(data_dir, key_file, recovery_code(b"\x01" * 32))
    assert not key_file.exists()
    keys.recover_key_file(data_dir, key_file, code)
    assert key_file.stat().st_mode & 0o777 == 0o600
    Store.open(data_dir, key_file).close()
