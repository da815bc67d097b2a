"""SVOX Pico (py-nanotts): installed by setup and offered to training, its pitch and vocal tract
length drawn apart and each heard where it should be (the f0, the spectrum), its speech heard as the
wake word by a real wake-word model, and a text's own markup not obeyed."""

from __future__ import annotations

import numpy as np
import pytest

from wake_word_audio import peak_score

from audiosift.keywords import pico, synth
from audiosift.errors import UsageError
from audiosift.keywords.train import _engines

SENTENCE = "the quick brown fox jumps over the lazy dog"


def _centroid(audio: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(audio))
    return float((spectrum * np.fft.rfftfreq(len(audio), 1 / 16000)).sum() / spectrum.sum())


def _median_f0(audio: np.ndarray, rate: int = 16000) -> float:
    """The median f0 of the voiced 40 ms frames (autocorrelation peak at 60-400 Hz)."""
    size, found = 640, []
    for start in range(0, len(audio) - size, size // 2):
        frame = audio[start: start + size] - audio[start: start + size].mean()
        if np.sqrt((frame ** 2).mean()) < 0.03:
            continue
        correlation = np.correlate(frame, frame, "full")[size - 1:]
        lag = rate // 400 + int(np.argmax(correlation[rate // 400: rate // 60]))
        if correlation[lag] > 0.4 * correlation[0]:
            found.append(rate / lag)
    return float(np.median(found))


def _say(text: str, name: str = "en-US", stretch: float = 1.0, pitch: float = 1.0, tract: float = 1.0) -> np.ndarray:
    return synth.synthesize(text, synth.Voice("pico", name, stretch, pitch, tract))


def test_setup_installs_it_and_training_offers_it():
    assert pico.installed()  # the keyword-voices extra, which scripts/setup.sh installs
    assert "pico" in synth.engines_available() and _engines(["pico"]) == ["pico"]
    voices = synth.random_voices("pico", 20, np.random.default_rng(0))
    assert {voice.name for voice in voices} == set(pico.VOICES)
    assert all(pico.PITCH[0] <= v.pitch <= pico.PITCH[1] and pico.TRACT[0] <= v.tract <= pico.TRACT[1] for v in voices)


@pytest.mark.parametrize("name", pico.VOICES)
def test_pitch_moves_the_f0_and_the_tract_the_spectrum_each_alone(name):
    low, high = _say(SENTENCE, name, pitch=0.6), _say(SENTENCE, name, pitch=1.2)
    assert 1.7 < _median_f0(high) / _median_f0(low) < 2.3  # asked for 2x
    assert abs(_centroid(high) / _centroid(low) - 1) < 0.15  # the envelope kept (measured 1.5-8.5%)
    short, long = _say(SENTENCE, name, tract=0.9), _say(SENTENCE, name, tract=1.15)
    assert _centroid(short) > 1.15 * _centroid(long)  # formants scale as 1 / length: 1.28x
    assert abs(_median_f0(short) / _median_f0(long) - 1) < 0.1  # the f0 kept (measured equal)
    assert abs(len(short) - len(long)) / len(long) < 0.05  # and the duration
    slow = _say(SENTENCE, name, stretch=1.3)
    assert 1.15 < len(slow) / len(_say(SENTENCE, name)) < 1.45


@pytest.mark.parametrize("name,pitch,tract", [("en-US", 1.0, 1.0), ("en-GB", 0.55, 1.2), ("en-US", 1.3, 0.9)])
def test_openwakeword_hears_the_wake_word_in_picos_voices(wake_words, name, pitch, tract):
    # Measured: openWakeWord's hey jarvis fired on 12 of 12 random Pico voices.
    assert peak_score(wake_words, _say("hey jarvis", name, 1.0, pitch, tract), "hey jarvis") > 0.5
    assert peak_score(wake_words, _say("good morning to all of you", name, 1.0, pitch, tract), "hey jarvis") < 0.1


def test_a_texts_own_markup_is_spoken_as_text_not_obeyed():
    plain = _say("hello there my friend")
    # Obeyed, the tag would play the rest at 5x speed: shorter than the plain text; read, it is longer.
    tagged = _say('hello <speed level="500"> there my friend')
    assert len(tagged) > 1.1 * len(plain)
    assert len(_say("<>")) == 0  # nothing speakable: no audio, no failure
    assert len(_say("-Mozilla Public License")) > 8000


def test_an_unknown_voice_is_a_typed_error():
    with pytest.raises(synth.SynthesisError, match="no Pico voice 'en-AU' .expected one of en-US, en-GB"):
        _say("hello", "en-AU")


def test_a_clip_does_not_depend_on_what_was_said_before():
    # Pico reads working memory it has not written: without fresh pages a clip carried traces of
    # the one before (up to -51 dB), and the same seed made different training data.
    first = _say("hey jarvis turn on the lights please")
    _say("the quick brown fox jumps over the lazy dog", "en-GB", 0.8, 0.7, 1.1)
    np.testing.assert_array_equal(_say("hey jarvis turn on the lights please"), first)


def test_a_failure_in_the_worker_is_a_typed_error_and_the_next_clip_gets_a_fresh_worker(tmp_path):
    worker = pico._worker()
    with pytest.raises(synth.SynthesisError, match="Pico failed on 'hello': ValueError: Unsupported voice"):
        worker.ask({"text": "hello", "voice": "xx-XX", "speed": 1.0, "pitch": 1.0, "output": str(tmp_path / "x.wav")})
    assert worker.process is None
    assert len(_say("hello there")) > 4000


def test_without_py_nanotts_it_is_not_offered_and_says_how_to_install(monkeypatch):
    absent = synth.Synthesizer(lambda: False, synth._draw_pico, synth._speak_pico)
    monkeypatch.setitem(synth.SYNTHESIZERS, "pico", absent)  # as the registry sees a venv without it
    assert "pico" not in synth.engines_available()
    with pytest.raises(UsageError, match=r"not installed: pico \(pip install 'audiosift\[keyword-voices\]'"):
        _engines(["pico"])
    monkeypatch.setattr(pico, "installed", lambda: False)
    with pytest.raises(synth.SynthesisError, match="SVOX Pico is not installed: pip install"):
        pico._command()
