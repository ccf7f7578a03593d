"""One small error tree: every error a clinic admin may read has a kebab-case code and a clear message."""


class AppError(Exception):
    """Base of every expected failure; `code` is stable, `message` says what, where and what to do."""

    code = "error"
    exit_code = 1

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code

    def __str__(self) -> str:
        return self.message


class UsageError(AppError):
    """A bad command-line argument."""

    code = "bad-argument"
    exit_code = 2


class ConfigError(AppError):
    """The clinic configuration file is wrong; the message names the file and the key."""

    code = "config-invalid"
    exit_code = 2

    def __init__(self, file: str, key: str, problem: str):
        where = f"{file}: {key}: " if key else f"{file}: "
        super().__init__(where + problem)
        self.file, self.key, self.problem = file, key, problem


class StoreError(AppError):
    """The encrypted store cannot be opened or written."""

    code = "store-error"


class KeyFileError(StoreError):
    """The key file is missing, unreadable, too open, or does not match the database."""

    code = "key-file-invalid"


class ImportDataError(StoreError):
    """A CSV import failed; the message names the file, line and field."""

    code = "import-invalid"

    def __init__(self, file: str, line: int, field: str, problem: str):
        super().__init__(f"{file}: line {line}: {field}: {problem}; nothing was imported")
        self.file, self.line, self.field = file, line, field


class AuditChainBroken(StoreError):
    """The audit log's hash chain does not verify."""

    code = "audit-chain-broken"


class UserError(AppError):
    """A receptionist-page account that cannot be added or changed as asked."""

    code = "user-invalid"


class CertificateError(AppError):
    """The web page's TLS certificate or key cannot be used; the message names the file."""

    code = "certificate-invalid"


class SchedulingError(AppError):
    """A booking request the schedule cannot honour."""

    code = "scheduling-error"


class SlotTaken(SchedulingError):
    """The slot was free when offered but is not any more (or never was)."""

    code = "slot-taken"


class NotFound(AppError):
    """A patient, appointment or call id that does not exist."""

    code = "not-found"


class ModelError(AppError):
    """The language model cannot be used."""

    code = "model-error"


class ModelMissing(ModelError):
    """The model file named in the configuration is not there."""

    code = "model-missing"


class ModelCorrupt(ModelError):
    """The model file is there but is truncated, damaged or not a GGUF file."""

    code = "model-corrupt"


class DiskFull(StoreError):
    """The disk holding the store is full; the change was not saved."""

    code = "disk-full"


class ReplicationError(AppError):
    """The offsite replica cannot be configured, reached, restored or checked."""

    code = "replication-error"
