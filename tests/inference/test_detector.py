"""WakeWordDetector on the real wake-word models, with synthetic speech made at test time."""

from __future__ import annotations

import numpy as np
import pytest
from wake_word_audio import PAD_SECONDS, phrase, speech_end

import audiosift
from audiosift.errors import UsageError
from audiosift.inference.detector import WakeWordDetector
from audiosift.models.wakeword.microwakeword import MicroWakeWordBackend
from audiosift.models.wakeword.openwakeword import OpenWakeWordBackend

# (text, voice, synthesizer, label) per engine, each voice one the engine was measured to hear.
OPENWAKEWORD_CASES = [("alexa", "en", "espeak", "alexa"), ("alexa", "slt", "flite", "alexa"),
                      ("hey jarvis", "en-us", "espeak", "hey jarvis"), ("hey jarvis", "kal16", "flite", "hey jarvis")]
MICROWAKEWORD_CASES = [("alexa", "en+f2", "espeak", "alexa"), ("hey jarvis", "kal16", "flite", "hey jarvis"),
                       ("hey mycroft", "en", "espeak", "hey mycroft")]
NEGATIVES = [("turn on the lights", "en", "espeak"), ("what time is it", "en-us", "espeak"),
             ("turn on the lights", "slt", "flite"), ("what time is it", "kal16", "flite")]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("detector-audio")


@pytest.fixture(scope="module")
def oww():
    return OpenWakeWordBackend()


@pytest.fixture(scope="module")
def mww():
    return MicroWakeWordBackend()


@pytest.fixture(scope="module")
def alexa(folder):
    return phrase("alexa", folder)


def check_one_event(events, label, samples):
    """One event, of ``label``, ending after the phrase began and at most 0.3 s after it ended, and
    starting before it began (the event spans the model's window ending at the firing frame)."""
    assert [event.label for event in events] == [label], events
    event = events[0]
    assert PAD_SECONDS + 0.3 < event.end <= speech_end(samples) + 0.3
    assert event.start <= PAD_SECONDS + 0.1 and event.end - event.start <= 1.28 + 1e-9
    return event


@pytest.mark.parametrize("text,voice,engine,label", OPENWAKEWORD_CASES)
def test_openwakeword_fires_on_its_words(oww, folder, text, voice, engine, label):
    samples = phrase(text, folder, voice, engine)
    event = check_one_event(WakeWordDetector(oww).detect(samples), label, samples)
    assert event.score > 0.5


@pytest.mark.parametrize("text,voice,engine,label", MICROWAKEWORD_CASES)
def test_microwakeword_fires_on_its_words(mww, folder, text, voice, engine, label):
    samples = phrase(text, folder, voice, engine)
    event = check_one_event(WakeWordDetector(mww).detect(samples), label, samples)
    assert event.score > mww.thresholds[label]


@pytest.mark.parametrize("text,voice,engine", NEGATIVES)
def test_other_sentences_do_not_fire(oww, mww, folder, text, voice, engine):
    samples = phrase(text, folder, voice, engine)
    assert WakeWordDetector(oww).detect(samples) == []
    assert WakeWordDetector(mww).detect(samples) == []


@pytest.mark.parametrize("chunk", [160, 512, 1280, 4000])
def test_events_do_not_depend_on_chunk_size(oww, mww, alexa, chunk):
    signal = np.concatenate([alexa, np.zeros(8000, np.float32), alexa])
    for backend in (oww, mww):
        detector = WakeWordDetector(backend)
        whole = detector.detect(signal)
        detector.reset()
        events = [event for i in range(0, len(signal), chunk) for event in detector(signal[i: i + chunk])]
        assert events + detector.flush() == whole and len(whole) == 2


def test_refractory_period_merges_close_detections(oww, alexa):
    signal = np.concatenate([alexa, alexa])  # the second "alexa" starts 1 s after the first ends
    assert [e.label for e in WakeWordDetector(oww).detect(signal)] == ["alexa", "alexa"]
    assert len(WakeWordDetector(oww, refractory_s=5.0).detect(signal)) == 1


def test_frame_scores_when_asked(oww, alexa):
    detector = WakeWordDetector(oww, labels=["alexa", "hey jarvis"], return_scores=True)
    events, frames = detector(alexa)
    assert frames.labels == ["alexa", "hey jarvis"]
    np.testing.assert_array_equal(frames.scores, oww.frame_scores(alexa)[:, :2])
    np.testing.assert_allclose(frames.times, 0.08 * np.arange(1, len(frames.times) + 1))
    # The event fires on the first frame above the threshold, at that frame's end.
    first = int(np.flatnonzero(frames.scores[:, 0] > 0.5)[0])
    assert events[0].end == pytest.approx(frames.times[first]) and events[0].score == frames.scores[first, 0]


def test_thresholds_labels_and_reset(oww, mww, alexa):
    assert WakeWordDetector(oww, threshold=0.999).detect(alexa) == []
    assert WakeWordDetector(oww, labels=["hey jarvis"]).detect(alexa) == []
    assert list(WakeWordDetector(mww).thresholds) == [0.9, 0.97, 0.95, 0.85]  # each model's json cutoff
    assert list(WakeWordDetector(mww, threshold={"alexa": 0.5}).thresholds) == [0.5, 0.97, 0.95, 0.85]
    detector = WakeWordDetector(oww)
    first = detector.detect(alexa)
    detector.reset()
    assert detector(alexa) + detector.flush() == first  # times start again from 0


def test_loaded_presets_classify_and_detect(alexa):
    for preset in ("wake-word", "wake-word-micro"):
        classifier = audiosift.load(preset)
        assert classifier(alexa, sampling_rate=16000)[0]["label"] == "alexa"
        assert [event.label for event in WakeWordDetector(classifier).detect(alexa)] == ["alexa"]


def test_bad_arguments_are_usage_errors(oww):
    with pytest.raises(UsageError, match="labels must be some of"):
        WakeWordDetector(oww, labels=["hey siri"])
    with pytest.raises(UsageError, match=r"\[0, 1\]"):
        WakeWordDetector(oww, threshold=1.5)
    with pytest.raises(UsageError, match="cannot fire"):
        WakeWordDetector(oww, labels=["alexa"], threshold={"ok nabu": 0.3})
    with pytest.raises(UsageError, match="streaming frame model"):
        WakeWordDetector(object())


def test_vad_gating_keeps_wake_words_in_speech_and_drops_them_elsewhere(tmp_path):
    """With vad=True a detection fires only if its window held speech; a spoken wake word still fires,
    the same events whatever the chunk size; an always-firing threshold fires only where speech is."""
    import audiosift
    from audiosift.inference.detector import WakeWordDetector
    from wake_word_audio import phrase

    rng = np.random.default_rng(0)
    noise = (0.05 * rng.standard_normal(3 * 16000)).astype(np.float32)
    spoken = phrase("alexa", tmp_path)
    audio = np.concatenate([noise, spoken, np.zeros(16000, np.float32)])
    model = audiosift.load("wake-word")
    plain = WakeWordDetector(model, labels=["alexa"])
    gated = WakeWordDetector(model, labels=["alexa"], vad=True)
    assert [e.label for e in plain.detect(audio)] == [e.label for e in gated.detect(audio)] == ["alexa"]
    chunked = []
    gated.reset()
    for start in range(0, len(audio), 777):
        chunked += gated(audio[start : start + 777])
    chunked += gated.flush()
    assert chunked == gated.detect(audio)
    # A threshold every frame passes: ungated it fires during the noise too, gated only around the word.
    eager_plain = WakeWordDetector(model, labels=["alexa"], threshold=0.0, refractory_s=0.0)
    eager_gated = WakeWordDetector(model, labels=["alexa"], threshold=0.0, refractory_s=0.0, vad=True)
    noise_end = len(noise) / 16000
    assert any(e.end < noise_end for e in eager_plain.detect(audio))
    fired = eager_gated.detect(audio)
    assert fired and all(e.end > noise_end for e in fired)
