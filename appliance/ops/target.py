"""Where the offsite replica lives: the [replication] url and its credentials as a Litestream replica section."""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from appliance.errors import ReplicationError

S3_PARAMS = ("endpoint", "region", "force-path-style")
KEYSCAN_HINT = "pin the server's key: put one line of `ssh-keyscan -t ed25519 HOST` in replication.sftp_host_key"


class TargetInvalid(ReplicationError):
    """A [replication] key is wrong; `key` names it so config checks can point at it."""

    code = "replication-config-invalid"

    def __init__(self, key: str, problem: str):
        super().__init__(f"replication.{key}: {problem}")
        self.key, self.problem = f"replication.{key}", problem


@dataclass(frozen=True)
class ReplicaTarget:
    """One replica: Litestream's `replica` section, the variables its process needs, and a name safe to show."""

    kind: str  # s3, sftp or file
    display: str  # scheme://host/path: no user name, query or secret
    replica: dict
    env: dict = field(default_factory=dict, repr=False)

    @property
    def expands_env(self) -> bool:
        """Only a password is passed as ${VAR}; otherwise Litestream must not expand `$` in paths."""
        return "password" in self.replica


def parse_target(settings, url: str | None = None, environ: Mapping[str, str] | None = None,
                 need_secrets: bool = True) -> ReplicaTarget:
    """Read the replica URL (default: replication.url) and, when `need_secrets`, its credentials."""
    url = settings.url if url is None else url
    env = os.environ if environ is None else environ
    if not url:
        raise ReplicationError("replication is off: replication.url is empty; set it to s3://bucket/path, "
                               "sftp://user@host:port/path or file:///path", "replication-off")
    if "$" in url:
        raise TargetInvalid("url", f"must not contain '$', got {url!r}")
    parts = urlsplit(url)
    path = unquote(parts.path)
    if parts.scheme == "file":
        if parts.netloc or not path.startswith("/") or path == "/":
            raise TargetInvalid("url", f"a file replica needs an absolute folder, like file:///mnt/backup/dentra, "
                                       f"got {url!r}")
        return ReplicaTarget("file", f"file://{path}", {"type": "file", "path": path})
    if parts.scheme == "s3":
        return _s3(settings, parts, path, env, need_secrets)
    if parts.scheme == "sftp":
        return _sftp(settings, parts, path, env, need_secrets)
    raise TargetInvalid("url", f"must start with s3://, sftp:// or file://, got {url!r}")


def _s3(settings, parts, path: str, env, need_secrets: bool) -> ReplicaTarget:
    if not parts.hostname or parts.username:
        raise TargetInvalid("url", "must look like s3://bucket/path?endpoint=https://host&region=..., "
                                   "with no user name (keys come from the environment)")
    params = dict(parse_qsl(parts.query))
    unknown = sorted(set(params) - set(S3_PARAMS))
    if unknown:
        raise TargetInvalid("url", f"unknown parameter {unknown[0]!r}; known: {', '.join(S3_PARAMS)}")
    replica = {"type": "s3", "bucket": parts.netloc, "path": path.strip("/") or "dentra",
               "region": params.get("region") or "us-east-1"}
    if params.get("endpoint"):
        replica["endpoint"] = params["endpoint"]
        # S3-compatible servers (MinIO, Ceph, moto) rarely serve bucket subdomains
        replica["force-path-style"] = params.get("force-path-style", "true").lower() != "false"
    creds = {}
    if need_secrets:
        key_id = _secret(settings, settings.access_key_env, env)
        secret = _secret(settings, settings.secret_key_env, env)
        if not key_id or not secret:
            raise ReplicationError(f"no S3 credentials for {parts.netloc}: set ${settings.access_key_env} and "
                                   f"${settings.secret_key_env} (or put them in replication.secrets_file)",
                                   "replication-credentials-missing")
        creds = {"LITESTREAM_ACCESS_KEY_ID": key_id, "LITESTREAM_SECRET_ACCESS_KEY": secret}
    return ReplicaTarget("s3", f"s3://{parts.netloc}/{replica['path']}", replica, creds)


def _sftp(settings, parts, path: str, env, need_secrets: bool) -> ReplicaTarget:
    if not parts.username or not parts.hostname or not path.startswith("/") or path == "/":
        raise TargetInvalid("url", "must look like sftp://user@host:22/absolute/folder")
    host_key = host_key_line(settings.sftp_host_key)
    host = f"{parts.hostname}:{parts.port or 22}"
    replica = {"type": "sftp", "host": host, "user": unquote(parts.username), "path": path, "host-key": host_key}
    creds = {}
    if settings.sftp_key_file:
        private_key = Path(settings.sftp_key_file)
        if need_secrets:
            _check_private(private_key, "replication.sftp_key_file")
        replica["key-path"] = str(private_key)
    elif need_secrets:
        password = _secret(settings, settings.password_env, env)
        if not password:
            raise ReplicationError(f"no SFTP login for {host}: set replication.sftp_key_file, or the password in "
                                   f"${settings.password_env}", "replication-credentials-missing")
        replica["password"] = "${LITESTREAM_SFTP_PASSWORD}"
        creds = {"LITESTREAM_SFTP_PASSWORD": password}
    return ReplicaTarget("sftp", f"sftp://{host}{path}", replica, creds)


def host_key_line(text: str) -> str:
    """`type base64` from a known_hosts or .pub line; refuses anything that does not hold a public key."""
    if not text.strip():
        raise TargetInvalid("sftp_host_key", f"is required for an sftp:// replica; {KEYSCAN_HINT}")
    for line in text.strip().splitlines():
        words = line.split()
        for i, word in enumerate(words[:-1]):
            if word.startswith(("ssh-", "ecdsa-", "sk-")) and _key_blob_type(words[i + 1]) == word:
                return f"{word} {words[i + 1]}"
    raise TargetInvalid("sftp_host_key", f"holds no SSH public key; {KEYSCAN_HINT}")


def _key_blob_type(b64: str) -> str | None:
    try:
        blob = base64.b64decode(b64, validate=True)
    except ValueError:
        return None
    n = int.from_bytes(blob[:4], "big")
    return blob[4:4 + n].decode("ascii", "replace") if 0 < n < 64 else None


def _check_private(path: Path, key: str) -> None:
    try:
        mode = path.stat().st_mode
    except OSError as err:
        raise ReplicationError(f"{key}: cannot read {path}: {err.strerror}", "replication-credentials-missing") \
            from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ReplicationError(f"{key}: {path} is readable by others; run `chmod 600 {path}`",
                               "replication-credentials-missing")


def _secret(settings, name: str, env) -> str:
    """The variable `name` from the environment, else from the 0600 secrets file's NAME=value lines."""
    if env.get(name):
        return env[name]
    if not settings.secrets_file:
        return ""
    path = Path(settings.secrets_file)
    _check_private(path, "replication.secrets_file")
    for line in path.read_text().splitlines():
        left, sep, right = line.strip().partition("=")
        if sep and left.strip().removeprefix("export ").strip() == name:
            return right.strip().strip("'\"")
    return ""
