"""The model layer's contract: backends plug in through the registry, every model speaks one
protocol, and model facts travel with the loaded model whatever name it was loaded by."""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pytest

import audiosift
from audiosift.inference.classifier import Classifier, LabelSet
from audiosift.models import registry
from audiosift.models.silero import SileroSpeechBackend


@pytest.fixture
def stand_in_kind():
    kind = registry.BackendKind("stand-in", "stand_in:build", lambda folder: (folder / "stand-in.json").is_file(),
                                download_patterns=("stand-in.json",))
    registry.register(kind)
    yield kind
    registry._KINDS.remove(kind)


def test_a_new_backend_kind_plugs_in_through_the_registry_alone(stand_in_kind, tmp_path):
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "stand-in.json").write_text(json.dumps({"rate": 8000}))
    clf = audiosift.load(str(folder))
    assert isinstance(clf, Classifier) and clf.sampling_rate == 8000 and clf.labels == ["loud", "quiet"]
    loud, quiet = np.full(8000, 0.5, np.float32), np.full(8000, 0.01, np.float32)
    assert clf(loud, sampling_rate=8000)[0]["label"] == "loud"
    assert clf(quiet, sampling_rate=8000)[0]["label"] == "quiet"
    results = list(clf.classify_many([loud, tmp_path / "missing.wav"], sampling_rate=8000))
    assert results[0].ok and not results[1].ok and "missing.wav" in results[1].error


def test_folders_of_no_known_kind_and_typed_paths_fail_at_once(tmp_path):
    (tmp_path / "empty").mkdir()
    started = time.monotonic()
    for name in [str(tmp_path / "empty"), "./no-such-model", "../typo/model", str(tmp_path / "a" / "b")]:
        with pytest.raises(audiosift.UnknownModelError):
            audiosift.load(name)
    assert time.monotonic() - started < 5  # no hub retries for something that is plainly a path


def test_every_model_speaks_one_protocol(ast_model, clap_model):
    fixed, zero_shot = audiosift.load(str(ast_model), device="cpu"), audiosift.load(str(clap_model), device="cpu")
    assert not fixed.takes_labels and zero_shot.takes_labels and zero_shot.labels is None
    assert fixed.label_set() == LabelSet(tuple(fixed.labels), tuple(range(len(fixed.labels))))
    with pytest.raises(audiosift.UsageError, match="needs the labels"):
        zero_shot.label_set()
    with pytest.raises(audiosift.UsageError, match="templates apply only"):
        fixed.label_set(None, "a sound of {}")
    clip = np.random.default_rng(0).uniform(-0.3, 0.3, 16000).astype(np.float32)
    # "dog" and "siren": the tiny test tokenizer reads "dog" and "rain" alike (their scores tie exactly).
    for clf, labels in [(fixed, None), (zero_shot, ["dog", "siren"])]:
        label_set = clf.label_set(labels)
        scores = clf.scores([clf.prepare(clip, 16000), clf.prepare(clip[::-1].copy(), 16000)], label_set)
        assert scores.shape == (2, len(label_set.names))
        one = clf(clip, candidate_labels=labels, top_k=None, sampling_rate=16000)
        assert len(set(np.round(scores[0], 6))) == len(scores[0])  # no ties: the order is the scores'
        assert [p["label"] for p in one] == [label_set.names[i] for i in np.argsort(-scores[0], kind="stable")]


def test_model_facts_travel_with_the_model_not_the_name(ast_model, tmp_path):
    copy = shutil.copytree(ast_model, tmp_path / "renamed")
    a, b = audiosift.load(str(ast_model), device="cpu"), audiosift.load(str(copy), device="cpu")
    facts = lambda clf: (clf.window_seconds, clf.backend.hop_seconds, clf.min_samples, clf.sampling_rate)  # noqa: E731
    assert facts(a) == facts(b) and a.window_seconds == pytest.approx(1.295)
    speech = audiosift.load("speech")
    assert audiosift.load("builtin:silero-vad").describe() == speech.describe()


def test_the_vad_is_a_frame_stream_whose_clip_score_pools_its_frames(audio_dir):
    from audiosift.audio import load_audio

    backend = SileroSpeechBackend()
    clip = load_audio(audio_dir / "sentence.wav", 16000)
    whole = backend.frame_scores(clip)
    stream = backend.new_stream()
    chunked = np.concatenate([stream.push(clip[i : i + 700]) for i in range(0, len(clip), 700)] + [stream.flush()])
    np.testing.assert_allclose(chunked, whole, atol=1e-6)  # chunk size does not matter
    assert whole.shape[1] == 2 and np.allclose(whole.sum(axis=1), 1.0)
    assert whole[:, 0].max() > 0.9 and whole[:, 0].min() < 0.1  # speech and the pauses around it
    # The batched clip path (one audio_forward for all clips) pools the same frames.
    batched = backend.forward([clip, np.zeros(16000, np.float32)])
    np.testing.assert_allclose(batched[0], backend.pool_frames(whole), atol=1e-5)
    assert batched[1][0] < 0.2 < 0.8 < batched[0][0]


def test_runtime_options_are_checked_in_one_place():
    with pytest.raises(audiosift.UsageError, match="device"):
        audiosift.load("speech", device="gpu")
    with pytest.raises(audiosift.UsageError, match="dtype"):
        audiosift.load("speech", dtype="int4")
    with pytest.raises(audiosift.UsageError, match="batch_size"):
        audiosift.load("speech", batch_size=True)
    with pytest.raises(audiosift.UsageError, match="no CUDA"):
        audiosift.inference.options.RuntimeOptions(device="cuda").check_device()


def test_detectors_are_known_by_their_kind_and_their_backend():
    """Wake-word models fire events (classify reports detections); the VAD streams frames but is no
    detector: it classifies windows like any model."""
    from audiosift.inference.detector import is_detector

    assert registry.names_a_detector("wake-word") and registry.names_a_detector("builtin:microwakeword")
    assert not registry.names_a_detector("speech") and not registry.names_a_detector("keywords")
    assert is_detector(audiosift.load("wake-word")) and not is_detector(audiosift.load("speech"))
