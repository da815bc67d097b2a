"""GnuSpeech, the articulatory synthesizer: found where setup puts it, repeatable from the voice
drawn, its vocal tract length heard in the spectrum, its speech heard as the wake word by a real
wake-word model, and its failures typed."""

from __future__ import annotations

import numpy as np
import pytest

from wake_word_audio import peak_score

from audiosift.keywords import gnuspeech, synth
from audiosift.keywords.driver import SynthesizerProcess
from audiosift.keywords.train import _engines

SENTENCE = "the quick brown fox jumps over the lazy dog"


def _centroid(audio: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(audio))
    return float((spectrum * np.fft.rfftfreq(len(audio), 1 / 16000)).sum() / spectrum.sum())


def test_setup_installs_it_and_training_offers_it():
    assert gnuspeech.installed()  # scripts/setup.sh puts the npm package under .venv/node
    assert "gnuspeech" in synth.engines_available() and "gnuspeech" in _engines(None)
    assert {gnuspeech.tract_length(p) for p in gnuspeech.PRESETS} == {17.5, 15.0, 12.5}


def test_the_same_voice_says_the_same_and_the_voices_differ():
    voices = synth.random_voices("gnuspeech", 3, np.random.default_rng(1))
    clips = [synth.synthesize("hey jarvis", voice) for voice in voices]
    assert np.array_equal(clips[0], synth.synthesize("hey jarvis", voices[0]))  # no clock-seeded intonation
    assert len({len(clip) for clip in clips}) == 3  # tempo, pitch and tract are drawn per voice
    assert all(0.3 < len(clip) / 16000 < 2.5 and np.abs(clip).max() > 0.1 for clip in clips)


def test_a_longer_vocal_tract_lowers_the_spectrum():
    short, long = (synth.synthesize(SENTENCE, synth.Voice("gnuspeech", "male", 1.0, gnuspeech.DEFAULT_PITCH, t))
                   for t in (0.85, 1.15))
    assert abs(len(short) - len(long)) / len(long) < 0.05  # the same tempo: the same duration
    assert _centroid(short) > 1.1 * _centroid(long)  # formants scale as 1 / length: 1.35x if alone


@pytest.mark.parametrize("preset", gnuspeech.PRESETS)
def test_openwakeword_hears_the_wake_word_in_gnuspeechs_voices(wake_words, preset):
    # Measured at tempo 1.1: 1.00 / 0.99 / 0.95 (male / female / large_child); at tempo 1.0 the
    # female and child voices score 0.4-0.5, at 0.9 0.2-0.5: not every drawn voice is heard as well.
    voice = synth.Voice("gnuspeech", preset, 1.1, gnuspeech.DEFAULT_PITCH, 1.0)
    assert peak_score(wake_words, synth.synthesize("hey jarvis", voice), "hey jarvis") > 0.8
    assert peak_score(wake_words, synth.synthesize("good morning to all of you", voice), "hey jarvis") < 0.1


def test_an_unknown_preset_is_a_typed_error_and_the_driver_goes_on():
    with pytest.raises(synth.SynthesisError, match="no GnuSpeech voice 'nobody' .expected one of male, female"):
        synth.synthesize("hello", synth.Voice("gnuspeech", "nobody", 1.0, -4.0, 1.0))
    driver = gnuspeech._driver()
    with pytest.raises(synth.SynthesisError, match="unknown voice nobody"):  # the driver's own check
        driver.ask({"text": "hello", "voice": "nobody", "output": "/dev/null"})
    assert driver.process is None  # after a failure the next request gets a fresh driver
    assert len(synth.synthesize("hello there", synth.Voice("gnuspeech", "female", 1.0, -4.0, 1.0))) > 4000


@pytest.mark.parametrize("text", [",", "--", "?", ": :"])
def test_punctuation_alone_is_silence_not_a_failure(text):
    # GnuSpeech throws on these (a training run stopped on a "," snippet); there is nothing to say.
    assert len(synth.synthesize(text, synth.Voice("gnuspeech", "male", 1.0, -4.0, 1.0))) == 0


def test_a_driver_that_dies_is_a_typed_error_naming_why(monkeypatch, tmp_path):
    fake = tmp_path / "package"
    (fake / "wasm").mkdir(parents=True)
    (fake / "wasm" / "gnuspeech.js").write_text("console.error('broken build'); process.exit(3)\n")
    monkeypatch.setenv(gnuspeech.FOLDER_VARIABLE, str(fake))
    driver = SynthesizerProcess("GnuSpeech", gnuspeech._command)
    with pytest.raises(synth.SynthesisError, match="driver exited: .*broken build"):
        driver.ask({"text": "hello", "voice": "male", "output": str(tmp_path / "x.wav")})
    assert driver.process is None  # started afresh next time


def test_without_the_package_it_is_not_offered_and_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv(gnuspeech.FOLDER_VARIABLE, str(tmp_path / "absent"))
    assert not gnuspeech.installed() and "gnuspeech" not in synth.engines_available()
    with pytest.raises(synth.SynthesisError, match="npm install --prefix .* @echogarden/gnuspeech-wasm@0.3.0"):
        SynthesizerProcess("GnuSpeech", gnuspeech._command).ask({"text": "hello", "voice": "male", "output": str(tmp_path / "x.wav")})
