"""The model store: the manifest, fetching over HTTP (a local server: never the internet), verify, import, CLI."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from appliance import models
from appliance.errors import ModelCorrupt, ModelError, ModelMissing

DENTRA = str(Path(sys.executable).parent / "dentra")
NO_PROXY = {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}

# What the fake model server holds: (name, content). "voice.onnx" is served shorter than the
# manifest says, "weights.bin" with a checksum that does not match.
FILES = {
    "model.bin": os.urandom(3 * models.CHUNK + 123),  # several read blocks, so progress moves
    "config.json": b'{"fake": true}',
    "voice.onnx": b"ONNX" * 1000,
    "voice.onnx.json": b'{"audio": {"sample_rate": 22050}}',
    "weights.bin": b"the pinned weights",
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def server():
    """A plain HTTP server on 127.0.0.1 serving FILES (and 404 for anything else)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            name = self.path.lstrip("/")
            data = FILES.get(name)
            if data is None:
                self.send_error(404)
                return
            declared = len(data)
            if name == "voice.onnx":
                data = data[:-10]  # the server sends a shorter file than the manifest pins
                declared = len(data)
            if self.headers.get("X-Drop"):
                data = data[: len(data) // 2]  # the connection drops halfway through
            self.send_response(200)
            self.send_header("Content-Length", str(declared))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    for key, value in NO_PROXY.items():
        monkeypatch.setenv(key, value)


def model_toml(name, kind, folder, files, base_url):
    lines = [f'[[model]]\nname = "{name}"\nkind = "{kind}"\ndir = "{folder}"\nlicense = "MIT"\n']
    for file, size, digest in files:
        lines.append(f'[[model.file]]\nfile = "{file}"\nurl = "{base_url}/{file}"\nsize = {size}\n'
                     f'sha256 = "{digest}"\n')
    return "\n".join(lines)


@pytest.fixture
def manifest_path(tmp_path, server):
    """A test manifest: `whisper-fake` (good, in its own folder), `voice-short` (server sends too few bytes),
    `weights-tampered` (wrong sha256), `gone` (404) and `llm-flat` (a good file right in the models dir)."""
    text = "\n".join([
        model_toml("whisper-fake", "stt", "whisper", [("model.bin", len(FILES["model.bin"]), sha(FILES["model.bin"])),
                                                       ("config.json", len(FILES["config.json"]),
                                                        sha(FILES["config.json"]))], server),
        model_toml("voice-short", "tts", "piper", [("voice.onnx", len(FILES["voice.onnx"]), sha(FILES["voice.onnx"]))],
                   server),
        model_toml("weights-tampered", "llm", "", [("weights.bin", len(FILES["weights.bin"]), "0" * 64)], server),
        model_toml("gone", "llm", "", [("nothing-here.gguf", 10, "1" * 64)], server),
        model_toml("llm-flat", "llm", "", [("config.json", len(FILES["config.json"]), sha(FILES["config.json"]))],
                   server),
    ])
    path = tmp_path / "manifest.toml"
    path.write_text(text)
    return path


@pytest.fixture
def manifest(manifest_path):
    return models.Manifest.load(manifest_path)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if ".partial" in p.name)


# ---- the manifest ----


def test_the_real_manifest_pins_every_file():
    manifest = models.Manifest.load()
    assert {m.kind for m in manifest.models} == {"llm", "stt", "tts", "turn"}
    for m in manifest.models:
        assert m.license and all(f.url.startswith("https://") and len(f.sha256) == 64 for f in m.files)
    assert {m.kind for m in manifest.defaults()} == {"llm", "stt", "tts", "turn"}
    base = manifest.get("whisper-base", "stt")
    assert base.load_path(Path("/m")) == Path("/m/faster-whisper-base")
    assert manifest.get("piper-en_US-joe-medium").load_path(Path("/m")) == Path("/m/piper/en_US-joe-medium.onnx")
    llm = manifest.get("llama-3.2-1b-instruct-q4_k_m", "llm")
    assert llm.load_path(Path("/m")) == Path("/m/Llama-3.2-1B-Instruct-Q4_K_M.gguf")


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ModelMissing) as err:
        models.Manifest.load().get("whisper-large", "stt")
    assert "whisper-large" in err.value.message and "whisper-base, whisper-tiny.en" in err.value.message


@pytest.mark.parametrize("body, problem", [
    ('[[model]]\nname = "x"\nkind = "vision"\n[[model.file]]\nfile = "a"\nsize = 1\nsha256 = ""\n', "kind must be"),
    ('[[model]]\nname = "x"\nkind = "llm"\n[[model.file]]\nfile = "a"\nsize = 1\nsha256 = "abc"\n', "64 hex"),
    ('[[model]]\nname = "x"\nkind = "llm"\n[[model.file]]\nfile = "a"\nsize = 0\nsha256 = ""\n', "size must"),
    ('[[model]]\nname = "x"\nkind = "llm"\n', "no [[model.file]]"),
    ('[[model]]\nname = "x"\nkind = "llm"\ndir = "../etc"\n[[model.file]]\nfile = "a"\nsize = 1\nsha256 = ""\n',
     "inside the models dir"),
    ('[[model]]\nname = "x"\nkind = "llm"\n[[model.file]]\nfile = "../a"\nsize = 1\nsha256 = ""\n', "plain file"),
    ("[[model]\n", "cannot read"),
])
def test_a_broken_manifest_names_the_problem(tmp_path, body, problem):
    path = tmp_path / "manifest.toml"
    path.write_text(body)
    with pytest.raises(ModelError) as err:
        models.Manifest.load(path)
    assert err.value.code == "manifest-invalid"
    assert str(path) in err.value.message and problem in err.value.message


def test_resolve(tmp_path):
    assert models.resolve("mine.gguf", "llm", tmp_path) == tmp_path / "mine.gguf"
    assert models.resolve("voice.onnx", "tts", tmp_path) == tmp_path / "voice.onnx"
    assert models.resolve("whisper-base", "stt", tmp_path) == tmp_path / "faster-whisper-base"
    (tmp_path / "my-whisper").mkdir()
    (tmp_path / "my-whisper" / "model.bin").write_bytes(b"x")
    assert models.resolve("my-whisper", "stt", tmp_path) == tmp_path / "my-whisper"
    with pytest.raises(ModelMissing):
        models.resolve("whisper-base", "llm", tmp_path)  # a name of another kind


# ---- fetch ----


def test_fetch_installs_verified_files(manifest, tmp_path):
    folder = tmp_path / "models"
    bars = io.StringIO()
    entry = manifest.get("whisper-fake")
    assert models.fetch(entry, folder, progress_for=models.progress_bars(bars)) == 2
    assert (folder / "whisper" / "model.bin").read_bytes() == FILES["model.bin"]
    assert (folder / "whisper" / "config.json").read_bytes() == FILES["config.json"]
    assert leftovers(folder) == []
    assert "whisper-fake/model.bin  100%" in bars.getvalue()
    assert models.verify(entry, folder) == []
    assert models.fetch(entry, folder) == 0  # already there and verified: nothing downloaded


def test_fetch_refuses_a_checksum_mismatch(manifest, tmp_path):
    folder = tmp_path / "models"
    with pytest.raises(ModelCorrupt) as err:
        models.fetch(manifest.get("weights-tampered"), folder)
    message = err.value.message
    assert "weights.bin" in message and "0" * 64 in message and sha(FILES["weights.bin"]) in message
    assert "deleted" in message and "dentra models import" in message
    assert not (folder / "weights.bin").exists() and leftovers(folder) == []


def test_fetch_refuses_a_short_download(manifest, tmp_path):
    folder = tmp_path / "models"
    with pytest.raises(ModelCorrupt) as err:
        models.fetch(manifest.get("voice-short"), folder)
    assert f"has {len(FILES['voice.onnx']) - 10} bytes, the manifest expects {len(FILES['voice.onnx'])}" \
        in err.value.message
    assert not (folder / "piper" / "voice.onnx").exists() and leftovers(folder) == []


def test_fetch_names_an_unreachable_url(manifest, tmp_path, server):
    with pytest.raises(ModelError) as err:
        models.fetch(manifest.get("gone"), tmp_path / "models")
    assert err.value.code == "model-download-failed"
    assert f"{server}/nothing-here.gguf" in err.value.message and "HTTP 404" in err.value.message


def test_a_dropped_connection_installs_nothing(manifest, tmp_path, monkeypatch):
    real = models.urllib.request.Request
    monkeypatch.setattr(models.urllib.request, "Request",
                        lambda url, headers: real(url, headers={**headers, "X-Drop": "1"}))
    folder = tmp_path / "models"
    with pytest.raises(ModelCorrupt) as err:
        models.fetch(manifest.get("whisper-fake"), folder)
    assert f"model.bin has {len(FILES['model.bin']) // 2} bytes, the manifest expects" in err.value.message
    assert "Try again" in err.value.message
    assert not (folder / "whisper" / "model.bin").exists() and leftovers(folder) == []


def test_fetch_replaces_a_damaged_file(manifest, tmp_path):
    folder = tmp_path / "models"
    entry = manifest.get("whisper-fake")
    models.fetch(entry, folder)
    damaged = folder / "whisper" / "model.bin"
    damaged.write_bytes(bytes([FILES["model.bin"][0] ^ 0xFF]) + FILES["model.bin"][1:])  # one byte flipped
    assert models.fetch(entry, folder) == 1
    assert damaged.read_bytes() == FILES["model.bin"]


def test_an_unpinned_file_is_not_installed(tmp_path, server):
    path = tmp_path / "manifest.toml"
    path.write_text(model_toml("loose", "llm", "", [("weights.bin", len(FILES["weights.bin"]), "")], server))
    with pytest.raises(ModelError) as err:
        models.fetch(models.Manifest.load(path).get("loose"), tmp_path / "models")
    assert err.value.code == "model-unpinned" and not (tmp_path / "models" / "weights.bin").exists()


# ---- verify ----


def test_verify_reports_missing_short_and_corrupt_files(manifest, tmp_path):
    folder = tmp_path / "models"
    entry = manifest.get("whisper-fake")
    assert [p.kind for p in models.verify(entry, folder)] == ["missing", "missing"]
    models.fetch(entry, folder)
    (folder / "whisper" / "config.json").write_bytes(b'{"fake": tru}!')  # same size, other bytes
    with (folder / "whisper" / "model.bin").open("ab") as f:
        f.write(b"x")
    problems = models.verify(entry, folder)
    assert [p.kind for p in problems] == ["size", "checksum"]
    text = str(problems[1])
    assert str(folder / "whisper" / "config.json") in text
    assert sha(FILES["config.json"]) in text and sha(b'{"fake": tru}!') in text
    assert "dentra models fetch whisper-fake" in text


# ---- import from a USB stick ----


@pytest.mark.parametrize("layout", ["flat", "models dir", "folder per model"])
def test_import_copies_and_verifies(manifest, tmp_path, layout):
    stick = tmp_path / "stick"
    where = {"flat": stick, "models dir": stick / "whisper", "folder per model": stick / "whisper-fake"}[layout]
    where.mkdir(parents=True)
    for name in ("model.bin", "config.json"):
        (where / name).write_bytes(FILES[name])
    folder = tmp_path / "models"
    assert [m.name for m in models.importable(manifest, stick)][:1] == ["whisper-fake"]
    assert models.import_from(manifest.get("whisper-fake"), stick, folder) == 2
    assert models.verify(manifest.get("whisper-fake"), folder) == []


def test_import_refuses_a_corrupt_copy(manifest, tmp_path):
    stick = tmp_path / "stick"
    stick.mkdir()
    (stick / "model.bin").write_bytes(FILES["model.bin"][:-1] + b"!")
    (stick / "config.json").write_bytes(FILES["config.json"])
    with pytest.raises(ModelCorrupt) as err:
        models.import_from(manifest.get("whisper-fake"), stick, tmp_path / "models")
    assert str(stick / "model.bin") in err.value.message and sha(FILES["model.bin"]) in err.value.message
    assert not (tmp_path / "models" / "whisper" / "model.bin").exists()
    assert leftovers(tmp_path / "models") == []


def test_import_names_a_file_missing_from_the_stick(manifest, tmp_path):
    stick = tmp_path / "stick"
    stick.mkdir()
    (stick / "model.bin").write_bytes(FILES["model.bin"])
    with pytest.raises(ModelMissing) as err:
        models.import_from(manifest.get("whisper-fake"), stick, tmp_path / "models")
    assert "config.json of model whisper-fake" in err.value.message


def test_progress_bar_without_a_terminal_prints_quarters():
    out = io.StringIO()
    bar = models.ProgressBar("m/model.bin", 4_000_000, out)
    for done in range(0, 4_000_001, 250_000):
        bar(done)
    lines = out.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["0%", "25%", "50%", "75%", "100%"]
    assert lines[-1].startswith("m/model.bin  100%  4.0/4.0 MB")


# ---- the CLI ----


def dentra(*args):
    return subprocess.run([DENTRA, "models", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **NO_PROXY, "DENTRA_CONFIG": ""})


def test_cli_fetch_verify_import(manifest_path, tmp_path):
    data = tmp_path / "data"
    common = ["--data-dir", str(data), "--manifest", str(manifest_path)]

    run = dentra("verify", *common)
    assert run.returncode == 1 and "no models installed" in run.stderr

    run = dentra("fetch", "whisper-fake", "llm-flat", *common)
    assert run.returncode == 0, run.stderr
    assert "whisper-fake: verified in" in run.stdout and "model.bin  100%" in run.stderr
    assert (data / "models" / "whisper" / "model.bin").read_bytes() == FILES["model.bin"]

    run = dentra("verify", *common)
    assert run.returncode == 0 and "whisper-fake: ok" in run.stdout and "llm-flat: ok" in run.stdout

    (data / "models" / "whisper" / "config.json").write_bytes(b"{}" + FILES["config.json"][2:])
    run = dentra("verify", *common)
    assert run.returncode == 1
    assert f"config.json: sha256 is {sha(b'{}' + FILES['config.json'][2:])}, the manifest expects" in run.stderr

    run = dentra("fetch", "weights-tampered", *common)
    errors = [line for line in run.stderr.splitlines() if line.startswith("dentra: ")]
    assert run.returncode == 1 and len(errors) == 1 and "0" * 64 in errors[0]  # one clear line

    stick = tmp_path / "stick"
    stick.mkdir()
    (stick / "model.bin").write_bytes(FILES["model.bin"])
    (stick / "config.json").write_bytes(FILES["config.json"])
    run = dentra("import", str(stick), "whisper-fake", *common)
    assert run.returncode == 0, run.stderr
    assert dentra("verify", *common).returncode == 0

    run = dentra("import", str(tmp_path / "no-stick"), *common)
    assert run.returncode == 2 and "not a folder" in run.stderr


def test_cli_unknown_model_name(manifest_path, tmp_path):
    run = dentra("fetch", "whisper-huge", "--data-dir", str(tmp_path), "--manifest", str(manifest_path))
    assert run.returncode == 1 and "'whisper-huge' is not a model" in run.stderr and "whisper-fake" in run.stderr
