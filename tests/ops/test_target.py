"""Replica URLs and credentials: three forms, a pinned SFTP host key, secrets from the environment or a 0600 file."""

from __future__ import annotations

import pytest

from appliance.config import ReplicationSettings, load_config
from appliance.errors import ConfigError, ReplicationError
from appliance.ops.target import host_key_line, parse_target
from tests.ops.conftest import write_clinic

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
S3_KEYS = {"DENTRA_REPLICA_ACCESS_KEY_ID": "AKIA1", "DENTRA_REPLICA_SECRET_ACCESS_KEY": "s3cret"}


def test_s3_url_with_an_endpoint():
    t = parse_target(ReplicationSettings(), "s3://backups/clinic-7?endpoint=https://minio.lan:9000&region=eu-1",
                     environ=S3_KEYS)
    assert t.replica == {"type": "s3", "bucket": "backups", "path": "clinic-7", "region": "eu-1",
                         "endpoint": "https://minio.lan:9000", "force-path-style": True}
    assert t.env == {"LITESTREAM_ACCESS_KEY_ID": "AKIA1", "LITESTREAM_SECRET_ACCESS_KEY": "s3cret"}
    assert t.display == "s3://backups/clinic-7" and "s3cret" not in repr(t)


def test_s3_without_keys_says_which_variables():
    with pytest.raises(ReplicationError, match=r"set \$DENTRA_REPLICA_ACCESS_KEY_ID and "
                                               r"\$DENTRA_REPLICA_SECRET_ACCESS_KEY"):
        parse_target(ReplicationSettings(), "s3://backups/x", environ={})
    with pytest.raises(ReplicationError, match="unknown parameter 'sse'"):
        parse_target(ReplicationSettings(), "s3://backups/x?sse=1", environ=S3_KEYS)


def test_secrets_file_must_be_private(tmp_path):
    secrets = tmp_path / "secrets.env"
    secrets.write_text("export DENTRA_REPLICA_ACCESS_KEY_ID=AKIA2\nDENTRA_REPLICA_SECRET_ACCESS_KEY='k2'\n")
    secrets.chmod(0o644)
    settings = ReplicationSettings(secrets_file=str(secrets))
    with pytest.raises(ReplicationError, match=f"readable by others; run `chmod 600 {secrets}`"):
        parse_target(settings, "s3://b/p", environ={})
    secrets.chmod(0o600)
    assert parse_target(settings, "s3://b/p", environ={}).env["LITESTREAM_SECRET_ACCESS_KEY"] == "k2"


def test_sftp_needs_a_pinned_host_key(tmp_path):
    with pytest.raises(ReplicationError, match="sftp_host_key: is required for an sftp:// replica; pin"):
        parse_target(ReplicationSettings(), "sftp://backup@nas.lan:2222/srv/dentra", environ={})
    clinic = write_clinic(tmp_path / "clinic.toml", url="sftp://backup@nas.lan:2222/srv/dentra")
    with pytest.raises(ConfigError) as err:
        load_config(clinic)
    assert err.value.key == "replication.sftp_host_key" and "ssh-keyscan -t ed25519" in err.value.problem


def test_sftp_with_key_file_or_password(tmp_path):
    private = tmp_path / "id"
    private.write_text("key")
    private.chmod(0o600)
    settings = ReplicationSettings(sftp_host_key=f"[nas.lan]:2222 {KEY}", sftp_key_file=str(private))
    t = parse_target(settings, "sftp://backup@nas.lan:2222/srv/dentra", environ={})
    assert t.replica == {"type": "sftp", "host": "nas.lan:2222", "user": "backup", "path": "/srv/dentra",
                         "host-key": KEY, "key-path": str(private)}
    assert not t.expands_env and t.display == "sftp://nas.lan:2222/srv/dentra"
    t = parse_target(ReplicationSettings(sftp_host_key=KEY), "sftp://backup@nas.lan/srv/dentra",
                     environ={"DENTRA_REPLICA_PASSWORD": "pw$1"})
    assert t.replica["password"] == "${LITESTREAM_SFTP_PASSWORD}" and t.env == {"LITESTREAM_SFTP_PASSWORD": "pw$1"}
    assert t.expands_env and t.replica["host"] == "nas.lan:22"


@pytest.mark.parametrize("text", ["", "nas.lan ssh-ed25519 not-base64!", "fingerprint SHA256:abc", KEY[:30]])
def test_host_key_that_is_not_a_key_is_refused(text):
    with pytest.raises(ReplicationError, match="sftp_host_key"):
        host_key_line(text)


def test_known_hosts_and_pub_lines_are_read():
    assert host_key_line(f"|1|abc=|def= {KEY}\n") == KEY
    assert host_key_line(f"{KEY} root@nas") == KEY


@pytest.mark.parametrize("url, problem", [
    ("ftp://nas/x", "must start with s3://, sftp:// or file://"),
    ("file://relative/path", "absolute folder"),
    ("sftp://nas.lan/srv", "sftp://user@host:22/absolute/folder"),
    ("file:///srv/$HOME", "must not contain '$'"),
])
def test_bad_urls(url, problem):
    with pytest.raises(ReplicationError, match=problem.replace("$", r"\$")):
        parse_target(ReplicationSettings(sftp_host_key=KEY), url, environ={})
