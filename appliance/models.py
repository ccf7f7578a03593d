"""The model store: what models/manifest.toml promises, what is installed, and how files get there.

Files land in `<data dir>/<[models] dir>/<entry dir>/<file>` and are only ever moved into place
after their size and sha256 matched the manifest, so a half-written or tampered file never sits
where the appliance loads models from. Production boxes fetch over HTTPS (`dentra models fetch`)
or copy from a USB stick (`dentra models import DIR`); `dentra models verify` re-hashes them.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import os
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from appliance.errors import ModelCorrupt, ModelError, ModelMissing

MANIFEST = Path(__file__).resolve().parents[1] / "models" / "manifest.toml"
KINDS = ("llm", "stt", "tts", "turn")
CHUNK = 1 << 20
# A `[models] llm / tts` value with this ending names a file in the models dir directly, not a manifest entry.
FILE_SUFFIXES = {"llm": ".gguf", "tts": ".onnx", "turn": ".onnx"}

Progress = Callable[[int], None]  # called with the bytes done so far


@dataclass(frozen=True)
class ModelFile:
    """One file of a model: where it comes from and what it must hash to."""

    file: str
    url: str
    size: int
    sha256: str


@dataclass(frozen=True)
class ModelEntry:
    """One [[model]] of the manifest."""

    name: str
    kind: str
    files: tuple[ModelFile, ...]
    dir: str = ""
    default: bool = False
    description: str = ""
    license: str = ""
    license_url: str = ""

    def folder(self, models_dir: Path) -> Path:
        return Path(models_dir) / self.dir

    def target(self, models_dir: Path, f: ModelFile) -> Path:
        return self.folder(models_dir) / f.file

    def load_path(self, models_dir: Path) -> Path:
        """What the engine loads: the Whisper folder, the .gguf file, or the Piper / Smart Turn .onnx file."""
        if self.kind == "stt":
            return self.folder(models_dir)
        suffix = FILE_SUFFIXES[self.kind]
        main = next((f for f in self.files if f.file.endswith(suffix)), self.files[0])
        return self.target(models_dir, main)


@dataclass(frozen=True)
class Manifest:
    """The models the appliance knows, read from a manifest TOML file."""

    path: Path
    models: tuple[ModelEntry, ...]

    @classmethod
    def load(cls, path: str | Path = MANIFEST) -> Manifest:
        """Read and check a manifest; ModelError (`manifest-invalid`) names the file and the entry."""
        path = Path(path)
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelError(f"{path}: model manifest not found", code="manifest-invalid") from None
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            raise ModelError(f"{path}: cannot read the model manifest ({e})", code="manifest-invalid") from None
        models = tuple(_entry(path, i, m) for i, m in enumerate(raw.get("model", [])))
        names = [m.name for m in models]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ModelError(f"{path}: model name(s) listed twice: {', '.join(dupes)}", code="manifest-invalid")
        return cls(path, models)

    def get(self, name: str, kind: str | None = None) -> ModelEntry:
        """The entry called `name` (of `kind`, if given); ModelMissing lists the names that exist."""
        for m in self.models:
            if m.name == name and (kind is None or m.kind == kind):
                return m
        known = ", ".join(m.name for m in self.models if kind is None or m.kind == kind) or "none"
        what = f"a {KIND_WORDS[kind]}" if kind else "a model"
        raise ModelMissing(f"{name!r} is not {what} in {self.path} (known: {known})")

    def defaults(self) -> list[ModelEntry]:
        return [m for m in self.models if m.default]


KIND_WORDS = {"llm": "language model", "stt": "speech recognition model", "tts": "voice",
              "turn": "end-of-turn model"}


def _entry(path: Path, i: int, m: Any) -> ModelEntry:
    where = f"{path}: model[{i}]"

    def bad(problem: str) -> ModelError:
        return ModelError(f"{where}: {problem}", code="manifest-invalid")

    if not isinstance(m, dict):
        raise bad("must be a table")
    for key in ("name", "kind"):
        if not isinstance(m.get(key), str) or not m[key]:
            raise bad(f"{key} must be a non-empty string")
    where = f"{path}: model {m['name']!r}"
    if m["kind"] not in KINDS:
        raise bad(f"kind must be one of {', '.join(KINDS)}, got {m['kind']!r}")
    files = []
    for f in m.get("file", []):
        name = f.get("file") if isinstance(f, dict) else f
        if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
            raise bad(f"file entries need a plain file name, got {name!r}")
        if not isinstance(f.get("size"), int) or f["size"] <= 0:
            raise bad(f"{f['file']}: size must be a positive number of bytes")
        sha = f.get("sha256", "")
        if not isinstance(sha, str) or (sha and (len(sha) != 64 or set(sha.lower()) - set("0123456789abcdef"))):
            raise bad(f"{f['file']}: sha256 must be 64 hex digits (or \"\" when unconfirmed), got {sha!r}")
        files.append(ModelFile(f["file"], str(f.get("url", "")), f["size"], sha.lower()))
    if not files:
        raise bad("has no [[model.file]] entries")
    folder = str(m.get("dir", ""))
    if folder.startswith("/") or ".." in Path(folder).parts:
        raise bad(f"dir must be a folder inside the models dir, got {folder!r}")
    return ModelEntry(m["name"], m["kind"], tuple(files), folder, bool(m.get("default", False)),
                      str(m.get("description", "")), str(m.get("license", "")), str(m.get("license_url", "")))


# ---- where the models live ----


def models_dir(config: Any, data_dir: str | Path) -> Path:
    """`[models] dir`, relative to the data dir unless absolute."""
    folder = Path(config.models.dir)
    return folder if folder.is_absolute() else Path(data_dir) / folder


def resolve(name: str, kind: str, models_dir: str | Path, manifest: Manifest | None = None) -> Path:
    """What to load for a `[models] stt / llm / tts / turn` value: a manifest name, or a file/folder in the models dir.

    `x.gguf` (llm) and `x.onnx` (tts) name files directly; an stt name that is a folder holding
    `model.bin` names a Whisper folder directly. Anything else must be a manifest name of that kind.
    """
    models_dir = Path(models_dir)
    suffix = FILE_SUFFIXES.get(kind)
    if suffix and name.endswith(suffix):
        return models_dir / name
    if kind == "stt" and (models_dir / name / "model.bin").is_file():
        return models_dir / name
    manifest = manifest or Manifest.load()
    try:
        return manifest.get(name, kind).load_path(models_dir)
    except ModelMissing as e:
        raise ModelMissing(f"[models] {kind} = {e.message}") from None


# ---- checking files ----


@dataclass(frozen=True)
class Problem:
    """One installed file that is not what the manifest says: `missing`, `size` or `checksum`."""

    model: str
    path: Path
    kind: str
    expected: str
    actual: str

    def __str__(self) -> str:
        if self.kind == "missing":
            return f"{self.path}: missing (model {self.model}); run `dentra models fetch {self.model}`"
        what = "size" if self.kind == "size" else "sha256"
        return (f"{self.path}: {what} is {self.actual}, the manifest expects {self.expected} (model {self.model}); "
                f"the file is damaged or not the pinned version: run `dentra models fetch {self.model}` to replace it")


def sha256_file(path: Path, progress: Progress | None = None) -> str:
    digest, done = hashlib.sha256(), 0
    with Path(path).open("rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
            done += len(block)
            if progress:
                progress(done)
    return digest.hexdigest()


def check_file(entry: ModelEntry, f: ModelFile, path: Path, *, hash_it: bool = True,
               progress: Progress | None = None) -> Problem | None:
    """None when `path` has the manifest's size (and sha256, when `hash_it`)."""
    if not path.is_file():
        return Problem(entry.name, path, "missing", f"{f.size} bytes", "nothing")
    size = path.stat().st_size
    if size != f.size:
        return Problem(entry.name, path, "size", f"{f.size} bytes", f"{size} bytes")
    if hash_it and f.sha256:
        actual = sha256_file(path, progress)
        if actual != f.sha256:
            return Problem(entry.name, path, "checksum", f.sha256, actual)
    return None


def verify(entry: ModelEntry, models_dir: Path, progress_for: Callable[[str, int], Progress] | None = None
           ) -> list[Problem]:
    """Every problem with an installed model's files (empty = all present and matching)."""
    problems = []
    for f in entry.files:
        progress = progress_for(f"{entry.name}/{f.file}", f.size) if progress_for else None
        problem = check_file(entry, f, entry.target(models_dir, f), progress=progress)
        if problem:
            problems.append(problem)
    return problems


def installed_any(entry: ModelEntry, models_dir: Path) -> bool:
    return any(entry.target(models_dir, f).exists() for f in entry.files)


# ---- getting files into place ----


def _install(entry: ModelEntry, f: ModelFile, source: BinaryIO, dest: Path, origin: str,
             progress: Progress | None) -> None:
    """Stream `source` into a temporary file beside `dest`, check size and sha256, then rename it into place."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    digest, done = hashlib.sha256(), 0
    try:
        with partial.open("wb") as out:
            while block := _read(source, origin, f):
                done += len(block)
                if done > f.size:
                    break  # longer than promised: stop reading, the size check below refuses it
                digest.update(block)
                out.write(block)
                if progress:
                    progress(done)
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if done != f.size:
            got = f"more than {f.size}" if done > f.size else str(done)
            raise ModelCorrupt(f"{origin}: {f.file} has {got} bytes, the manifest expects {f.size} (model "
                               f"{entry.name}); the partial file was deleted and nothing was installed. "
                               f"{_retry_hint(origin)}")
        if actual != f.sha256:
            raise ModelCorrupt(f"{origin}: {f.file} has sha256 {actual}, the manifest expects {f.sha256} "
                               f"(model {entry.name}); the file was deleted and nothing was installed. "
                               f"{_retry_hint(origin)}")
        os.replace(partial, dest)
        _fsync_dir(dest.parent)
    except OSError as e:
        what = "the disk is full" if e.errno == errno.ENOSPC else (e.strerror or str(e))
        raise ModelError(f"{dest}: cannot write {f.file} ({what}); the partial file was deleted",
                         code="model-write-failed") from None
    finally:
        partial.unlink(missing_ok=True)


def _read(source: BinaryIO, origin: str, f: ModelFile) -> bytes:
    try:
        return source.read(CHUNK)
    except (OSError, http.client.HTTPException) as e:  # the connection dropped, the stick was pulled
        download = origin.startswith(("http://", "https://"))
        raise ModelError(f"{origin}: reading {f.file} failed ({e!r}); the partial file was deleted and nothing was "
                         f"installed. {_retry_hint(origin)}",
                         code="model-download-failed" if download else "model-import-failed") from None


def _retry_hint(origin: str) -> str:
    if origin.startswith(("http://", "https://")):
        return ("Try again; if it keeps failing, a proxy or mirror is serving a different file: fetch it on "
                "another machine and use `dentra models import DIR`.")
    return "Copy the file again from a good source, or use `dentra models fetch` on a box with internet."


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _refuse_unpinned(entry: ModelEntry, f: ModelFile) -> None:
    if not f.sha256:
        raise ModelError(f"{f.file} (model {entry.name}) has no sha256 in the manifest, so it cannot be verified "
                         "and is not installed; add the published checksum to models/manifest.toml first",
                         code="model-unpinned")


def _to_install(entry: ModelEntry, models_dir: Path, log: Callable[[str], None]):
    """(file, destination) for each of the entry's files that is missing or wrong; pinned ones only."""
    for f in entry.files:
        dest = entry.target(models_dir, f)
        if check_file(entry, f, dest) is None:
            log(f"{entry.name}/{f.file}: already installed and verified")
            continue
        _refuse_unpinned(entry, f)
        yield f, dest


def fetch(entry: ModelEntry, models_dir: Path, *, progress_for: Callable[[str, int], Progress] | None = None,
          timeout_s: float = 30.0, log: Callable[[str], None] = lambda _: None) -> int:
    """Download the entry's files that are missing or wrong; returns how many were downloaded."""
    downloaded = 0
    for f, dest in _to_install(entry, models_dir, log):
        if not f.url:
            raise ModelError(f"{f.file} (model {entry.name}) has no url in the manifest; "
                             "use `dentra models import DIR`", code="model-download-failed")
        progress = progress_for(f"{entry.name}/{f.file}", f.size) if progress_for else None
        try:
            request = urllib.request.Request(f.url, headers={"User-Agent": "dentra-edge"})
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                _install(entry, f, response, dest, f.url, progress)
        except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
            reason = getattr(e, "reason", e)
            if isinstance(e, urllib.error.HTTPError):
                reason = f"HTTP {e.code} {e.reason}"
                e.close()  # it holds the response's socket
            raise ModelError(f"{f.url}: download of {f.file} (model {entry.name}) failed ({reason}); nothing was "
                             "installed. Check the network, or fetch the files on another machine and use "
                             "`dentra models import DIR`", code="model-download-failed") from None
        downloaded += 1
    return downloaded


def candidates(entry: ModelEntry, f: ModelFile, source_dir: Path) -> list[Path]:
    """Where a copied model file may sit on a USB stick: a models-dir layout, a folder per model, or flat."""
    places = [source_dir / entry.dir / f.file, source_dir / entry.name / f.file, source_dir / f.file]
    return list(dict.fromkeys(p for p in places if p.is_file()))


def import_from(entry: ModelEntry, source_dir: Path, models_dir: Path, *,
                progress_for: Callable[[str, int], Progress] | None = None,
                log: Callable[[str], None] = lambda _: None) -> int:
    """Copy the entry's files from `source_dir`, verifying each; returns how many were copied."""
    copied = 0
    for f, dest in _to_install(entry, models_dir, log):
        found = candidates(entry, f, source_dir)
        if not found:
            raise ModelMissing(f"{source_dir}: {f.file} of model {entry.name} is not there (looked in "
                               f"{entry.dir or '.'}/, {entry.name}/ and the top folder); copy it onto the stick")
        # Whisper folders share file names (config.json...): take the copy whose size fits.
        source = next((p for p in found if p.stat().st_size == f.size), found[0])
        progress = progress_for(f"{entry.name}/{f.file}", f.size) if progress_for else None
        with source.open("rb") as src:
            _install(entry, f, src, dest, str(source), progress)
        copied += 1
    return copied


def importable(manifest: Manifest, source_dir: Path) -> list[ModelEntry]:
    """The manifest's models that have at least one file of the right size in `source_dir`."""
    return [m for m in manifest.models
            if any(p.stat().st_size == f.size for f in m.files for p in candidates(m, f, source_dir))]


# ---- a progress bar on stderr ----


class ProgressBar:
    """`name  42%  61.0/145.2 MB  9.8 MB/s` redrawn in place on a terminal, a line per quarter otherwise."""

    def __init__(self, label: str, total: int, stream=None):
        self.label, self.total = label, max(total, 1)
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.started = self.last = time.monotonic()
        self.quarter = -1

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        finished = done >= self.total
        if self.tty:
            if now - self.last < 0.1 and not finished:
                return
            self.stream.write("\r" + self._line(done, now) + ("\n" if finished else ""))
        else:
            quarter = min(4, done * 4 // self.total)
            if quarter == self.quarter:
                return
            self.quarter = quarter
            self.stream.write(self._line(done, now) + "\n")
        self.last = now
        self.stream.flush()

    def _line(self, done: int, now: float) -> str:
        rate = done / max(now - self.started, 1e-3) / 1e6
        return (f"{self.label}  {100 * done // self.total:3d}%  {done / 1e6:.1f}/{self.total / 1e6:.1f} MB  "
                f"{rate:.1f} MB/s")


def progress_bars(stream=None) -> Callable[[str, int], Progress]:
    return lambda label, total: ProgressBar(label, total, stream)


def selected(manifest: Manifest, names: Iterable[str]) -> list[ModelEntry]:
    return [manifest.get(n) for n in dict.fromkeys(names)]


def configured(manifest: Manifest, config: Any) -> list[ModelEntry]:
    """The manifest entries named by `[models] stt / llm / tts / turn` (plain file names are skipped)."""
    names = [config.models.stt, config.models.stt_wideband, config.models.llm, config.models.tts, config.models.turn]
    return [manifest.get(n) for n in names if n and any(m.name == n for m in manifest.models)]
