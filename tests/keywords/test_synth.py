"""The synthesizers train-keyword speaks with, Piper's neural voice above all: our thin layer over its
voice file must say what Piper itself would, and what it says must be heard as speech by a real
wake-word model."""

from __future__ import annotations

import numpy as np
import pytest

from wake_word_audio import peak_score

from audiosift.keywords import piper_voices, synth
from audiosift.keywords.train import _engines
from audiosift.errors import UsageError

JOE = "en_US-joe-medium"
# Piper 1.8.0's own phonemizer and phonemes_to_ids on en_US-joe-medium (run once by hand; Piper is
# GPL-3.0 and not a dependency): "^_" start, each phoneme followed by the pad, "$" end; the comma kept.
PIPER_IDS = {
    "Hey Jarvis, turn on the lights.": [
        1, 0, 20, 0, 120, 0, 18, 0, 74, 0, 3, 0, 17, 0, 108, 0, 120, 0, 51, 0, 122, 0, 88, 0, 34, 0, 74, 0, 31, 0,
        8, 0, 3, 0, 32, 0, 120, 0, 62, 0, 122, 0, 26, 0, 3, 0, 54, 0, 26, 0, 41, 0, 59, 0, 3, 0, 24, 0, 120, 0, 14,
        0, 74, 0, 32, 0, 31, 0, 10, 0, 2],
    "hey computer": [1, 0, 20, 0, 120, 0, 18, 0, 74, 0, 3, 0, 23, 0, 59, 0, 25, 0, 28, 0, 22, 0, 120, 0, 33, 0, 122,
                     0, 92, 0, 60, 0, 2],
}


def test_the_bundled_piper_voice_is_found_and_offered():
    assert JOE in piper_voices.installed()
    assert "piper" in synth.engines_available()
    assert "piper" in _engines(None) and _engines(["piper"]) == ["piper"]


@pytest.mark.parametrize("text", sorted(PIPER_IDS))
def test_phoneme_ids_are_pipers_own(text):
    voice = piper_voices.installed()[JOE]
    assert piper_voices.phoneme_ids(text, voice, synth._run) == PIPER_IDS[text]


@pytest.mark.parametrize("rate,pitch", [(1.0, 0.0), (0.85, 3.5), (1.25, -3.5)])
def test_openwakeword_hears_the_wake_word_in_pipers_voice(wake_words, rate, pitch):
    # VITS samples its prosody: unseeded, about one sampling in six of the fast low voice scored
    # ~0.36 (a flaky test); seeded, and most of five samplings must be heard.
    synth.reseed(7)
    voice = synth.Voice("piper", JOE, rate, pitch)
    scores = [peak_score(wake_words, synth.synthesize("hey jarvis", voice), "hey jarvis") for _ in range(5)]
    assert sorted(scores)[2] > 0.9, scores
    assert peak_score(wake_words, synth.synthesize("good morning to all of you", voice), "hey jarvis") < 0.1


def test_the_pitch_shift_moves_the_spectrum_and_keeps_the_duration():
    low, high = (synth.synthesize("the quick brown fox jumps over the lazy dog", synth.Voice("piper", JOE, 1.0, p))
                 for p in (-4.0, 4.0))

    def centroid(audio):
        spectrum = np.abs(np.fft.rfft(audio))
        return float((spectrum * np.fft.rfftfreq(len(audio), 1 / 16000)).sum() / spectrum.sum())

    assert abs(len(low) - len(high)) / len(low) < 0.2  # VITS durations vary a little from run to run
    assert centroid(high) > 1.2 * centroid(low)  # 8 semitones apart: 1.59x if nothing else changed


def test_a_missing_voice_or_synthesizer_says_how_to_install_it():
    with pytest.raises(synth.SynthesisError, match="keyword-voices"):
        synth.synthesize("hello", synth.Voice("piper", "en_GB-nobody-low", 1.0, 0.0))
    with pytest.raises(UsageError, match="expected some of espeak, flite, piper"):
        _engines(["festival"])


def test_a_synthesizer_that_writes_nothing_is_a_typed_error(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(synth, "_run", lambda command: calls.append(command) or b"")  # "succeeds", writes nothing
    with pytest.raises(synth.SynthesisError, match="espeak-ng wrote no readable audio for 'hello'"):
        synth.synthesize("hello", synth.Voice("espeak", "en-us", 160.0, 50.0))
    assert len(calls) == 1


@pytest.mark.parametrize("engine,name", [("espeak", "en-us"), ("flite", "slt"), ("piper", JOE), ("gnuspeech", "male")])
def test_a_text_starting_with_a_dash_is_spoken_not_read_as_an_option(engine, name):
    # The licence texts hold "-Mozilla" and "---------------": espeak-ng took them for options,
    # exited 0 and wrote nothing (a training run stopped on it).
    assert len(synth.synthesize("-Mozilla Public License", synth.Voice(engine, name, 1.0 if engine != "espeak" else 160.0,
                                                                       0.0 if engine != "espeak" else 50.0))) > 8000


def test_an_unusable_voice_config_is_skipped_with_a_warning(monkeypatch, tmp_path):
    (tmp_path / "broken.onnx").write_bytes(b"")
    (tmp_path / "broken.onnx.json").write_text('{"audio": {}}')
    (tmp_path / "de_DE-x-low.onnx").write_bytes(b"")
    (tmp_path / "de_DE-x-low.onnx.json").write_text(
        '{"audio": {"sample_rate": 16000}, "espeak": {"voice": "de"}, "phoneme_id_map": {"^": [1], "$": [2], "_": [0]}}')
    monkeypatch.setenv(piper_voices.FOLDER_VARIABLE, str(tmp_path))
    piper_voices.installed.cache_clear()
    try:
        with pytest.warns(UserWarning) as caught:
            voices = piper_voices.installed()
        messages = " | ".join(str(warning.message) for warning in caught)
        assert "broken.onnx.json: skipped, not a usable Piper voice" in messages
        assert "de_DE-x-low.onnx.json: skipped, not a usable Piper voice (not an English voice" in messages
        assert "broken" not in voices and "de_DE-x-low" not in voices and JOE in voices
    finally:
        monkeypatch.delenv(piper_voices.FOLDER_VARIABLE)
        piper_voices.installed.cache_clear()


def test_reseeding_makes_the_neural_voice_repeatable():
    voice = synth.Voice("piper", JOE, 1.0, 0.0)

    def say_twice(seed):
        synth.reseed(seed)
        return np.concatenate([synth.synthesize("hey computer", voice) for _ in range(2)])

    first, again, other = say_twice(3), say_twice(3), say_twice(4)
    assert np.array_equal(first, again)
    assert len(first) != len(other) or not np.allclose(first, other, atol=1e-3)  # VITS really samples


def test_every_synthesizer_registered_has_its_install_hint_and_no_other():
    # synth.SYNTHESIZERS is the one registry; engines.ENGINES (light, for the CLI's choices) says how
    # to install each: the two must name the same engines.
    from audiosift.keywords.engines import ENGINES

    assert list(synth.SYNTHESIZERS) == list(ENGINES)
    with pytest.raises(UsageError, match="unknown synthesizer 'festival': expected one of espeak, flite"):
        synth.random_voices("festival", 1, np.random.default_rng(0))
