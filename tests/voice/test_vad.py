"""The endpointer on generated audio: turn starts and ends, pauses, noise, no-input, max-length, barge-in."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.voice.audio import FRAME_MS, FRAME_SAMPLES, to_frames
from appliance.voice.vad import (
    DEFAULT_PAUSE_MS,
    DEFAULT_PROBE_MS,
    Endpointer,
    MaxLength,
    NoInput,
    SpeechEnd,
    SpeechPause,
    SpeechStart,
    pause_for,
    probe_for,
)
from tests.voice.sounds import click, mix, noise, silence

BOOK = "I'd like to book a cleaning"
LINE_DBFS = -70.0  # a phone line is never digitally silent: a faint noise bed lies under everything


def on_line(*parts: np.ndarray, line_dbfs: float = LINE_DBFS) -> np.ndarray:
    """Return the parts one after another over a faint line-noise bed."""
    x = np.concatenate(parts)
    return mix(x, noise(len(x) * 1000 / 16000, line_dbfs, seed=11))


def feed(ep: Endpointer, x: np.ndarray | list[bytes]) -> list:
    """Return every event the endpointer gives for this audio (samples or frames)."""
    frames = to_frames(x) if isinstance(x, np.ndarray) else x
    return [event for frame in frames for event in ep.feed(frame)]


def last_frame_of(lead_ms: int, speech: np.ndarray) -> int:
    """Return the index of the last frame holding speech that starts after `lead_ms`."""
    return (lead_ms * 16 + len(speech) - 1) // FRAME_SAMPLES


def types(events: list) -> list[str]:
    return [e.type for e in events]


@pytest.mark.parametrize("line_dbfs", [LINE_DBFS, None])
def test_silence_gives_nothing_then_no_input_after_no_input_ms(line_dbfs):
    ep = Endpointer()
    ep.listen()
    x = silence(12000) if line_dbfs is None else on_line(silence(12000), line_dbfs=line_dbfs)
    # 8000 ms is 400 frames: the 400th frame (index 399) completes the wait; it fires once.
    assert feed(ep, x) == [NoInput(frame=399, waited_ms=8000)]


def test_no_input_waits_only_after_listen():
    ep = Endpointer(no_input_ms=3000)
    assert feed(ep, on_line(silence(5000))) == []
    ep.listen()
    assert feed(ep, on_line(silence(5000))) == [NoInput(frame=250 + 149, waited_ms=3000)]


@pytest.mark.parametrize("text", [BOOK, "hello", "five five five", "Can I come in on Tuesday afternoon?"])
def test_speech_is_one_turn_with_prompt_start_preroll_and_end_after_the_pause(speaker, text):
    speech = speaker.say(text)
    frames = to_frames(on_line(silence(1000), speech, silence(9000)))
    ep = Endpointer()
    ep.listen()
    start, end = feed(ep, frames)  # exactly two events: the caller spoke, so no no-input
    assert isinstance(start, SpeechStart) and isinstance(end, SpeechEnd)
    assert start.onset_frame == 50  # the voice starts at 1000 ms
    assert (start.frame + 1) * FRAME_MS - 1000 <= 100  # decided within 100 ms of voice onset
    assert abs(end.last_voiced_frame - last_frame_of(1000, speech)) <= 2
    assert end.frame == end.last_voiced_frame + DEFAULT_PAUSE_MS // FRAME_MS
    assert end.reason == "pause" and end.pause_ms == 700
    assert abs(end.speech_ms - len(speech) / 16) <= 60  # close to espeak's voiced length
    # The audio is the caller's own frames: 200 ms of preroll, the speech, 200 ms of tail.
    assert end.start_frame == start.onset_frame - 10
    assert end.audio == b"".join(frames[end.start_frame : end.last_voiced_frame + 11])
    assert end.duration_ms == len(end.audio) // 32 == 200 + end.speech_ms + 200


def test_speech_over_moderate_line_noise_is_still_one_turn(speaker):
    speech = speaker.say(BOOK)
    x = mix(np.concatenate([silence(2000), speech, silence(1500)]), noise(5000, -40.0, "pink", seed=4))
    events = feed(Endpointer(), x)
    assert types(events) == ["speech-start", "speech-end"]
    assert events[0].onset_frame == 100
    assert abs(events[1].last_voiced_frame - last_frame_of(2000, speech)) <= 2


def test_speech_at_the_very_first_frame_of_a_silent_stream_is_kept_whole(speaker):
    # With no line noise before it, the caller's first frame is taken as the noise floor, so the
    # start is decided late (here at 200 ms); the 200 ms preroll still brings the first syllable back.
    speech = speaker.say(BOOK)
    start, end = feed(Endpointer(), np.concatenate([speech, silence(1500)]))
    assert start.onset_frame == 10 and start.frame == 12
    assert end.start_frame == 0
    assert abs(end.last_voiced_frame - last_frame_of(0, speech)) <= 2


def test_distant_talk_below_the_level_gate_never_starts_a_turn(speaker):
    # Someone talking across the caller's room reaches the line near -55 dBFS; it is not the caller.
    ep = Endpointer()
    assert feed(ep, on_line(silence(1000), speaker.say(BOOK, dbfs=-55.0), silence(1000))) == []


@pytest.mark.parametrize("color", ["white", "pink"])
def test_quiet_line_noise_never_starts_a_turn(color):
    ep = Endpointer()
    ep.listen()
    assert types(feed(ep, noise(10000, -55.0, color))) == ["no-input"]


@pytest.mark.parametrize("color", ["white", "pink"])
@pytest.mark.parametrize("dbfs", [-35.0, -25.0, -20.0])
def test_loud_steady_noise_from_the_start_is_taken_as_the_line_floor(color, dbfs):
    # webrtcvad alone calls steady noise above about -28 dBFS speech without end; the floor gate
    # (8 dB over the quietest recent frame) sees it is steady and ignores it.
    assert feed(Endpointer(), noise(10000, dbfs, color)) == []


@pytest.mark.parametrize("color", ["white", "pink"])
def test_a_step_up_in_noise_gives_one_short_false_turn_then_is_ignored(color):
    x = np.concatenate([noise(2000, -65.0, color), noise(8000, -30.0, color, seed=3)])
    events = feed(Endpointer(), x)
    # Until the 1.5 s floor window has filled with the new noise, the step looks like speech.
    assert types(events) == ["speech-start", "speech-end"]
    assert events[0].onset_frame == 100
    assert events[1].speech_ms <= 1520
    assert events[1].frame < 100 + 75 + 35 + 1


def test_a_caller_louder_than_steady_noise_is_heard_after_the_floor_adapts(speaker):
    speech = speaker.say(BOOK, dbfs=-15.0)
    x = mix(np.concatenate([silence(4000), speech, silence(1500)]), noise(7000, -30.0, "pink", seed=5))
    events = feed(Endpointer(), x)
    assert types(events) == ["speech-start", "speech-end"]
    assert events[0].onset_frame == 200
    assert abs(events[1].speech_ms - len(speech) / 16) <= 80


def test_clicks_do_not_start_a_turn():
    x = on_line(silence(500), click(), silence(300), click(0.9), silence(40), click(0.9), silence(1000))
    ep = Endpointer()
    assert feed(ep, x) == []
    assert not ep.in_speech


def test_a_600_ms_pause_mid_sentence_stays_one_turn_at_700_and_splits_at_400(speaker):
    first, second = speaker.say("my number is two one seven"), speaker.say("five five five")
    pair = speaker.with_pause("my number is two one seven", "five five five", 600)
    x = on_line(silence(500), pair, silence(1500))

    one = feed(Endpointer(end_pause_ms=700), x)
    assert types(one) == ["speech-start", "speech-end"]
    assert abs(one[1].speech_ms - len(pair) / 16) <= 60

    two = feed(Endpointer(end_pause_ms=400), x)
    assert types(two) == ["speech-start", "speech-end", "speech-start", "speech-end"]
    assert abs(two[1].last_voiced_frame - last_frame_of(500, first)) <= 2
    assert abs(two[2].onset_frame - (500 + len(first) / 16 + 600) / FRAME_MS) <= 2
    assert abs(two[3].speech_ms - len(second) / 16) <= 60


def test_a_probe_gives_one_speech_pause_per_silence_with_the_audio_a_pause_end_would_give(speaker):
    pair = speaker.with_pause("my number is two one seven", "five five five", 600)
    x = on_line(silence(500), pair, silence(1500))
    ep = Endpointer(end_pause_ms=700, probe_ms=200)
    events = feed(ep, x)
    # one probe in the 600 ms mid-sentence pause, one after the end; then the full pause ends the turn
    assert types(events) == ["speech-start", "speech-pause", "speech-pause", "speech-end"]
    mid, last, end = events[1:]
    assert mid.frame == mid.last_voiced_frame + 10 and last.frame == last.last_voiced_frame + 10
    assert mid.last_voiced_frame < last.last_voiced_frame == end.last_voiced_frame
    assert last.audio == end.audio and len(mid.audio) < len(end.audio)
    assert types(feed(Endpointer(end_pause_ms=700), x)) == ["speech-start", "speech-end"]  # no probe unless asked


def test_end_turn_ends_at_the_probe_unless_the_caller_spoke_again(speaker):
    pair = speaker.with_pause("my number is two one seven", "five five five", 600)
    frames = to_frames(on_line(silence(500), pair, silence(1500)))
    ep = Endpointer(end_pause_ms=700, probe_ms=200)
    pauses, ended, stale = [], None, "not asked"
    for frame in frames:
        for event in ep.feed(frame):
            if isinstance(event, SpeechPause):
                pauses.append(event)
                if len(pauses) == 2:
                    ended = ep.end_turn(event.last_voiced_frame)
        if len(pauses) == 1 and ep.frame_index == pauses[0].frame + 30:  # "five five five" has begun
            stale = ep.end_turn(pauses[0].last_voiced_frame)
        if ended:
            break
    assert stale is None  # a late verdict on the mid-sentence pause cannot cut the caller off
    full = next(e for e in feed(Endpointer(end_pause_ms=700), frames) if isinstance(e, SpeechEnd))
    assert ended.reason == "turn-model" and ended.audio == full.audio
    assert ended.frame == pauses[1].frame == full.frame - 25  # 200 ms after the last voiced frame, not 700
    assert ep.end_turn(ended.last_voiced_frame) is None and not ep.in_speech


def test_the_probe_follows_what_the_box_asked_for_that_turn_only(speaker):
    x = on_line(silence(500), speaker.say("April eighteenth"), silence(1500))
    ep = Endpointer(probe_ms=DEFAULT_PROBE_MS)
    ep.listen(pause_for("date_of_birth"), probe_for("date_of_birth"))
    start, pause, end = feed(ep, x)
    assert pause.frame - pause.last_voiced_frame == 600 // FRAME_MS == probe_for("date_of_birth") // FRAME_MS
    assert end.pause_ms == 1200
    ep.listen()
    _start, pause, _end = feed(ep, x)
    assert pause.frame - pause.last_voiced_frame == DEFAULT_PROBE_MS // FRAME_MS
    assert probe_for("yes_no") == DEFAULT_PROBE_MS < min(probe_for(e) for e in ("phone", "name", "date_of_birth"))
    quiet = Endpointer()
    quiet.listen(1200, 600)  # probing was not turned on: a probe length alone does not start it
    assert types(feed(quiet, x)) == ["speech-start", "speech-end"]


def test_pause_for_what_the_box_asked():
    assert pause_for("phone") == 1400
    assert pause_for("date_of_birth") == 1200
    assert pause_for("name") == 1000
    assert pause_for("intent") == pause_for("no-such-question") == DEFAULT_PAUSE_MS == 700


def test_listen_with_the_phone_pause_keeps_a_one_second_pause_in_one_turn_for_that_turn_only(speaker):
    pair = speaker.with_pause("my number is two one seven", "five five five", 1000)
    x = on_line(silence(500), pair, silence(2000))
    ep = Endpointer()
    ep.listen(pause_for("phone"))
    ends = [e for e in feed(ep, x) if e.type == "speech-end"]
    assert [(e.pause_ms, e.frame - e.last_voiced_frame) for e in ends] == [(1400, 70)]
    # The next turn is back to the default pause, so the same answer now splits in two.
    ends = [e for e in feed(ep, x) if e.type == "speech-end"]
    assert [e.pause_ms for e in ends] == [700, 700]


def test_a_turn_longer_than_max_utterance_is_cut_and_the_caller_goes_on_in_a_new_turn(speaker):
    speech = speaker.say("Hello, I would like to book a cleaning for my daughter next Tuesday afternoon")
    events = feed(Endpointer(max_utterance_ms=1000), on_line(silence(1000), speech, silence(1000)))
    start, cut, end, again = events[:4]
    assert (start.type, cut.type, end.type, again.type) == ("speech-start", "max-length", "speech-end", "speech-start")
    assert cut == MaxLength(frame=50 + 49, utterance_ms=1000)
    assert (end.frame, end.reason, end.duration_ms) == (99, "max-length", 200 + 1000)
    assert again.onset_frame > end.frame and types(events[4:]).count("speech-end") >= 1


def test_default_max_utterance_is_30_seconds(speaker):
    phrase = speaker.say("Hello, I would like to book a cleaning for my daughter next Tuesday afternoon")
    events = feed(Endpointer(), on_line(silence(1000), *[phrase] * 7))
    cut = next(e for e in events if e.type == "max-length")
    assert cut == MaxLength(frame=50 + 1499, utterance_ms=30000)


def test_barge_in_speech_start_fires_within_100_ms_of_voice(speaker):
    ep = Endpointer()
    ep.barge_in = True  # the box is speaking
    events = feed(ep, on_line(silence(1000), speaker.say("no wait, Thursday", dbfs=-24.0), silence(1000)))
    start = events[0]
    assert isinstance(start, SpeechStart) and start.barge_in
    # A frame is usable once it has fully arrived, so the delay runs to the end of the deciding frame.
    assert start.onset_frame == 50 and (start.frame + 1) * FRAME_MS - 1000 <= 100


def test_barge_in_ignores_quiet_echo_of_the_box_that_a_listening_turn_would_take(speaker):
    echo = on_line(silence(1000), speaker.say(BOOK, dbfs=-46.0), silence(1000))
    talking = Endpointer()
    talking.barge_in = True
    assert feed(talking, echo) == []
    assert types(feed(Endpointer(), echo)) == ["speech-start", "speech-end"]


def test_listen_after_a_barge_in_sets_the_pause_of_the_turn_in_progress(speaker):
    frames = to_frames(on_line(silence(1000), speaker.say("my date of birth is"), silence(10000)))
    ep = Endpointer()
    ep.barge_in = True
    events = []
    for frame in frames:
        for event in ep.feed(frame):
            events.append(event)
            if event.type == "speech-start":
                ep.listen(pause_for("date_of_birth"))  # playback stopped; the box waits for the answer
    assert types(events) == ["speech-start", "speech-end"]  # no no-input: the caller was already talking
    assert events[1].pause_ms == 1200 and not ep.barge_in


def test_reset_drops_a_turn_in_progress(speaker):
    ep = Endpointer()
    feed(ep, on_line(silence(500), speaker.say(BOOK)[:8000]))
    assert ep.in_speech
    ep.reset()
    assert not ep.in_speech and feed(ep, on_line(silence(2000))) == []


def test_frames_of_the_wrong_size_are_refused():
    with pytest.raises(ValueError, match="640 bytes"):
        Endpointer().feed(bytes(320))
