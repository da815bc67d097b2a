"""The wake-word backends on the real models from their wheels, with synthetic speech.

Parity: our openWakeWord pipeline against openWakeWord's own ``Model.predict`` over the same files,
and our microWakeWord stream against pymicro_wakeword's ``process_streaming``; frame by frame.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from wake_word_audio import as_int16, openwakeword_reference, phrase

from audiosift.errors import ModelUnavailableError, UnknownModelError
from audiosift.models import registry
from audiosift.models.presets import require_preset
from audiosift.models.wakeword import catalog, openwakeword
from audiosift.models.wakeword.microwakeword import MicroWakeWordBackend
from audiosift.models.wakeword.openwakeword import STARTUP_FRAMES, OpenWakeWordBackend

# openWakeWord starts its embedding history with embeddings of random noise; from the 16th frame the
# 16 embeddings a head sees all come from the audio (frames 0-15), so frames from index 15 compare.
FIRST_COMPARABLE_FRAME = 15


@pytest.fixture(scope="module")
def audio(tmp_path_factory):
    """One signal with an espeak "alexa" then a flite "hey jarvis" and an espeak "hey mycroft"."""
    folder = tmp_path_factory.mktemp("wake-words")
    parts = [phrase("alexa", folder), phrase("hey jarvis", folder, "slt", "flite"), phrase("hey mycroft", folder)]
    return as_int16(np.concatenate(parts)).astype(np.float32) / 32768.0  # exactly representable as int16


@pytest.fixture(scope="module")
def oww():
    return OpenWakeWordBackend()


@pytest.fixture(scope="module")
def mww():
    return MicroWakeWordBackend()


@pytest.fixture(scope="module")
def oww_scores(oww, audio):
    return oww.frame_scores(audio)


@pytest.fixture(scope="module")
def mww_scores(mww, audio):
    return mww.frame_scores(audio)


def test_openwakeword_matches_its_reference_frame_by_frame(oww, audio, oww_scores):
    reference = openwakeword_reference(oww.words)
    samples = as_int16(audio)
    rows = [list(reference.predict(samples[i: i + 1280]).values()) for i in range(0, len(samples) - 1279, 1280)]
    expected = np.asarray(rows, dtype=np.float32)
    assert oww_scores.shape == expected.shape == (len(audio) // 1280, 5)
    comparable = slice(FIRST_COMPARABLE_FRAME, None)
    np.testing.assert_allclose(oww_scores[comparable], expected[comparable], atol=1e-4, rtol=0)
    assert not oww_scores[:STARTUP_FRAMES].any() and not expected[:STARTUP_FRAMES].any()
    # Not a vacuous match: the words spoken score high, and where the reference does.
    best = oww_scores.max(axis=0)
    assert best[oww.labels.index("alexa")] > 0.9 and best[oww.labels.index("hey jarvis")] > 0.9
    assert oww_scores[:, 0].argmax() == expected[:, 0].argmax()


def test_onnx_front_end_scores_like_the_tflite_one(audio, oww_scores):
    onnx = OpenWakeWordBackend(frontend="onnx")
    assert onnx.model_id.startswith("builtin:openwakeword-onnx")
    # The ONNX melspectrogram differs from the TFLite one by ~2e-4; the heads' scores by < 1e-4.
    np.testing.assert_allclose(onnx.frame_scores(audio), oww_scores, atol=1e-4, rtol=0)


def test_a_run_of_frames_embeds_in_one_call_exactly_as_window_by_window(oww, audio, oww_scores, monkeypatch):
    assert oww.sequence_embedding  # LiteRT resizes the embedding model's time axis
    monkeypatch.setattr(openwakeword, "EMBED_BLOCK", 7)  # blocks that end mid-clip
    np.testing.assert_array_equal(oww.frame_scores(audio), oww_scores)
    monkeypatch.setattr(oww, "sequence_embedding", False)  # a batch of 76-row windows, as ONNX runs
    np.testing.assert_array_equal(oww.frame_scores(audio), oww_scores)
    assert not OpenWakeWordBackend(frontend="onnx").sequence_embedding  # its graph fixes 76 rows


def test_microwakeword_matches_process_streaming(mww, audio, mww_scores):
    from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures, Model

    samples = as_int16(audio)
    for column, word in enumerate(mww.words):
        probabilities, detections = MicroWakeWord.from_builtin(Model(word)), MicroWakeWord.from_builtin(Model(word))
        features = MicroWakeWordFeatures()
        expected, fired, rows = [], [], 0
        for start in range(0, len(samples), 1280):
            for row in features.process_streaming(samples[start: start + 1280].tobytes()):
                rows += 1
                probability, detected = probabilities.process_streaming_prob(row), detections.process_streaming(row)
                if rows % 3 == 0:  # a model step: 3 feature rows
                    expected.append(probability)
                    fired.append(bool(detected))
        np.testing.assert_allclose(mww_scores[:, column], expected, atol=1e-4, rtol=0)
        assert list(mww_scores[:, column] > mww.thresholds[mww.labels[column]]) == fired
    best = dict(zip(mww.labels, mww_scores.max(axis=0)))
    assert best["alexa"] > mww.thresholds["alexa"] and best["hey mycroft"] > mww.thresholds["hey mycroft"]


@pytest.mark.parametrize("chunk", [160, 512, 1280, 4000])
@pytest.mark.parametrize("engine", ["oww", "mww"])
def test_scores_do_not_depend_on_chunk_size(engine, chunk, request, audio):
    backend, whole = request.getfixturevalue(engine), request.getfixturevalue(f"{engine}_scores")
    stream = backend.new_stream()
    pushed = [stream.push(audio[i: i + chunk]) for i in range(0, len(audio), chunk)] + [stream.flush()]
    np.testing.assert_array_equal(np.concatenate([p.reshape(-1, len(backend.labels)) for p in pushed]), whole)


@pytest.mark.parametrize("engine", ["oww", "mww"])
def test_reset_starts_the_stream_again(engine, request, audio):
    backend, whole = request.getfixturevalue(engine), request.getfixturevalue(f"{engine}_scores")
    stream = backend.new_stream()
    stream.push(audio[: len(audio) // 3])
    stream.reset()
    np.testing.assert_array_equal(stream.push(audio), whole)


def test_int16_chunks_score_like_float_ones(oww, audio, oww_scores):
    np.testing.assert_array_equal(oww.new_stream().push(as_int16(audio)), oww_scores)


def test_frame_facts(oww, mww, oww_scores, mww_scores, audio):
    assert (oww.frame_samples, oww.sampling_rate, oww.default_threshold) == (1280, 16000, 0.5)
    assert oww.window_seconds == pytest.approx(1.28) and "CC BY-NC-SA 4.0" in oww.licence
    assert oww.labels == ["alexa", "hey jarvis", "hey mycroft", "hey rhasspy", "ok nabu"]
    assert mww.labels == ["alexa", "hey jarvis", "hey mycroft", "okay nabu"]
    assert mww.thresholds == {"alexa": 0.9, "hey jarvis": 0.97, "hey mycroft": 0.95, "okay nabu": 0.85}
    assert mww.frame_samples == 480 and "Apache-2.0" in mww.licence
    # microWakeWord's step j has heard 800 + 480 j samples: a 30 ms window, then 3 rows of 10 ms.
    assert len(mww_scores) == (len(audio) - 800) // 480 + 1
    assert mww.frame_end_seconds(0) == pytest.approx(0.05) and oww.frame_end_seconds(0) == pytest.approx(0.08)
    assert oww.threads.get() == 1


def test_threads_rebuild_the_runtimes(audio, oww_scores):
    backend = OpenWakeWordBackend()
    backend.threads.set(2)
    assert backend.threads.get() == 2 and backend.melspectrogram is not None
    np.testing.assert_allclose(backend.frame_scores(audio), oww_scores, atol=1e-5, rtol=0)


def test_clip_scoring_pools_the_best_frame(oww, audio, oww_scores):
    clip = oww.forward([oww.featurize(audio)])
    np.testing.assert_array_equal(clip[0], oww_scores.max(axis=0))


def test_registry_builds_the_words_asked_for():
    kind = registry.kind_for_builtin("builtin:openwakeword/alexa,hey_jarvis")
    backend = kind.create(registry.ModelRequest("builtin:openwakeword/alexa,hey_jarvis", None, None))
    assert (kind.name, kind.extra) == ("openwakeword", "wake-word")
    assert backend.labels == ["alexa", "hey jarvis"] and len(backend.heads) == 2
    micro = registry.kind_for_builtin("builtin:microwakeword/okay_nabu")
    assert micro.create(registry.ModelRequest("builtin:microwakeword/okay_nabu", None, None)).labels == ["okay nabu"]
    with pytest.raises(UnknownModelError, match="no model for 'hey_siri'"):
        kind.create(registry.ModelRequest("builtin:openwakeword/hey_siri", None, None))


def test_presets_name_the_engines_and_licences():
    wake, micro = require_preset("wake-word"), require_preset("wake-word-micro")
    assert registry.kind_for_builtin(wake.model_id).name == wake.backend == "openwakeword"
    assert registry.kind_for_builtin(micro.model_id).name == micro.backend == "microwakeword"
    assert "CC BY-NC-SA 4.0" in wake.licence and micro.licence == "Apache-2.0"


def test_a_missing_wheel_says_what_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "wyoming_openwakeword" else real(name, *a))
    with pytest.raises(ModelUnavailableError, match="pip install --no-deps 'wyoming-openwakeword==1.8.2'"):
        OpenWakeWordBackend(["alexa"])
    assert catalog.microwakeword_dir().is_dir()
