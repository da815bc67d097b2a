"""A custom keyword trained on the spot (the tiny budget: espeak-ng voices only, a few hundred steps),
then loaded like any model: it must find its phrase better than other phrases, stream the same
whatever the chunking, and say in its manifest how it was made."""

from __future__ import annotations

import json

import numpy as np
import pytest

import audiosift
from audiosift.errors import OutputError, UsageError
from audiosift.inference.detector import WakeWordDetector, is_detector
from audiosift.keywords import dataset, synth
from audiosift.keywords.train import _to_numpy, train_keyword
from audiosift.models import registry

PHRASE = "hey computer"
OTHERS = ["turn on the lights", "what time is it", "good morning", "open the window"]
# Voices that training's random draws are unlikely to repeat exactly (rate and pitch differ).
TEST_VOICES = [synth.Voice("espeak", name, 160.0, 50.0) for name in ("en-us+m3", "en-gb+f2", "en-us+m7", "en+f4")]


@pytest.fixture(scope="module")
def trained(trained_keyword):
    """The session's keyword (tests/conftest.py: PHRASE on the tiny budget, shared with the server tests)."""
    assert trained_keyword[1].manifest["phrase"] == PHRASE
    return trained_keyword


def best_scores(backend, texts):
    """The best frame score of each text spoken by each test voice (padded with silence)."""
    pad = np.zeros(8000, np.float32)
    return np.asarray([[backend.frame_scores(np.concatenate([pad, synth.synthesize(text, voice), pad])).max()
                        for voice in TEST_VOICES] for text in texts])


def test_folder_loads_as_a_detector(trained):
    folder, result, messages = trained
    assert registry.kind_for_folder(folder).name == "keyword"
    assert registry.names_a_detector(str(folder))
    classifier = audiosift.load(str(folder))
    assert is_detector(classifier)
    backend = classifier.backend
    assert backend.labels == [PHRASE]
    assert backend.default_threshold == result.manifest["threshold"]
    assert any("held out: recall" in message for message in messages)  # progress reached the caller


def test_manifest_says_what_was_trained(trained):
    folder, result, _ = trained
    manifest = json.loads((folder / "keyword.json").read_text())
    assert manifest == result.manifest
    assert sorted(p.name for p in folder.iterdir()) == ["head.npz", "keyword.json"]
    assert manifest["phrase"] == PHRASE and manifest["format"] == "audiosift-keyword/2"
    assert 0.0 < manifest["threshold"] < 1.0
    assert manifest["recipe"]["engines"] == ["espeak"] and manifest["recipe"]["name"] == "tiny"
    assert manifest["head"] == {"type": "mean of mlps", "count": 2, "sizes": [1536, 32, 1]}
    assert manifest["smoothing_frames"] == 3
    held = manifest["heldout"]
    assert held["occurrences"] == 10 and 0 <= held["found"] <= 10 and held["hours"] > 0
    assert manifest["recipe"]["clips"]["train_positive"] == 30
    with np.load(folder / "head.npz", allow_pickle=False) as arrays:  # plain arrays, no pickles
        assert sorted(arrays.files) == ["h0_b0", "h0_b1", "h0_w0", "h0_w1", "h1_b0", "h1_b1", "h1_w0", "h1_w1"]
        assert np.abs(arrays["h0_w0"] - arrays["h1_w0"]).max() > 1e-3  # two heads, not one twice


def test_detector_scores_are_those_training_chose_the_threshold_on(trained):
    """The stream's score (the heads' mean over the last ``smoothing_frames``) equals what training's held-out
    scoring computes from the clip's windows: the threshold was chosen on the detector's own scores."""
    from audiosift.models.wakeword import keyword as keyword_model

    backend = audiosift.load(str(trained[0])).backend
    audio = np.concatenate([np.zeros(6000, np.float32), synth.synthesize(PHRASE, TEST_VOICES[2]),
                            np.zeros(4000, np.float32)])
    extractor = keyword_model.window_extractor("tflite")
    with np.load(trained[0] / "head.npz") as arrays:
        head = keyword_model.MeanHead.from_arrays(dict(arrays), 2, trained[0] / "head.npz")
    frames = backend.smoothing_frames
    assert frames == 3
    expected = keyword_model.clip_scores(head, extractor.frame_scores(audio), frames, extractor.initial_history())
    expected[: backend.startup_frames] = 0.0
    streamed = backend.frame_scores(audio)[:, 0]
    np.testing.assert_allclose(streamed, expected, atol=1e-6)
    raw = head(extractor.frame_scores(audio))
    raw[: backend.startup_frames] = 0.0
    assert streamed.max() > 0.3 and np.abs(streamed - raw).max() > 1e-3  # smoothing changed the scores


def test_a_format_1_folder_still_loads(trained, tmp_path):
    """Folders from before the heads were averaged (one MLP, w0/b0/..., no smoothing) score as before."""
    import shutil

    from audiosift.models.wakeword import keyword as keyword_model

    folder = tmp_path / "old"
    shutil.copytree(trained[0], folder)
    manifest = json.loads((folder / "keyword.json").read_text())
    manifest["format"] = "audiosift-keyword/1"
    del manifest["smoothing_frames"]
    (folder / "keyword.json").write_text(json.dumps(manifest))
    with np.load(folder / "head.npz") as arrays:
        first = {name[3:]: arrays[name] for name in arrays.files if name.startswith("h0_")}
    np.savez(folder / "head.npz", **first)
    audio = np.concatenate([np.zeros(6000, np.float32), synth.synthesize(PHRASE, TEST_VOICES[2]),
                            np.zeros(8000, np.float32)])
    extractor = keyword_model.window_extractor("tflite")
    expected = keyword_model.MlpHead(first)(extractor.frame_scores(audio))
    expected[:5] = 0.0
    scores = audiosift.load(str(folder)).backend.frame_scores(audio)[:, 0]
    np.testing.assert_allclose(scores, expected, atol=1e-6)
    assert scores.max() > 0.1


def test_heads_trained_side_by_side_are_repeatable():
    """Two heads train at once on two threads; each draws from its own seed, so the result is the
    same run to run, and another seed gives other heads."""
    from audiosift.keywords.recipe import BUDGETS
    from audiosift.keywords.train import fit_heads

    rng = np.random.default_rng(0)
    x = rng.standard_normal((600, 1536)).astype(np.float16)
    y = (rng.random(600) < 0.3).astype(np.int8)
    x[y == 1, :50] += 1.5
    groups = np.where(y == 1, "positive", "speech")
    recipe = BUDGETS["tiny"]

    def weights(seed):
        return [head.arrays()["w0"] for head in fit_heads(x, y, groups, recipe, seed, lambda m: None)]

    first, again, other = weights(3), weights(3), weights(4)
    assert len(first) == recipe.heads == 2
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert np.abs(first[0] - first[1]).max() > 1e-3 and np.abs(first[0] - other[0]).max() > 1e-3


def test_finds_its_phrase_better_than_other_phrases(trained):
    backend = audiosift.load(str(trained[0])).backend
    positives = best_scores(backend, [PHRASE]).ravel()
    negatives = best_scores(backend, OTHERS).ravel()
    # Ranking: most (positive, negative) pairs in order; a model that ignored the phrase would sit near 0.5.
    ranking = (positives[:, None] > negatives[None, :]).mean()
    assert ranking >= 0.85, (positives, negatives)
    assert np.median(positives) > 0.5 > np.median(negatives)


def test_stream_is_chunk_size_invariant(trained):
    backend = audiosift.load(str(trained[0])).backend
    audio = np.concatenate([np.zeros(4000, np.float32), synth.synthesize(PHRASE, TEST_VOICES[0]),
                            synth.synthesize("good morning", TEST_VOICES[1]), np.zeros(4000, np.float32)])
    whole = backend.frame_scores(audio)
    for chunk in (1280, 777, 5000):
        stream = backend.new_stream()
        parts = [stream.push(audio[i: i + chunk]) for i in range(0, len(audio), chunk)]
        assert np.allclose(np.concatenate([p for p in parts if len(p)]), whole, atol=1e-6)
    events = WakeWordDetector(backend).detect(audio)
    assert all(event.label == PHRASE for event in events)


def test_frame_labels_follow_the_phrase():
    # keyword from 1.0 s to 1.8 s; frames end at 0.08, 0.16, ...
    labels = dataset.frame_labels(40, (1.0, 1.8))
    ends = (np.arange(40) + 1) * 0.08
    assert (labels[(ends >= 1.8) & (ends <= 1.8 + dataset.POSITIVE_AFTER_S)] == 1).all()
    assert (labels[ends > 1.8 + dataset.POSITIVE_AFTER_S + 0.08] != 1).all()
    assert (labels[(ends < 1.5) & (np.arange(40) >= 5)] == 0).all()
    assert (labels[(ends > 1.5) & (ends < 1.8)] == -1).all() and (labels[:5] == -1).all()
    assert (labels[ends > 1.0 + dataset.CONTEXT_S] == 0).all()
    assert (dataset.frame_labels(10, None)[5:] == 0).all()


def test_numpy_head_matches_the_trained_network():
    import torch

    from audiosift.keywords.torch_mlp import DropoutMlp

    model = DropoutMlp([1536, 8, 4, 1], seed=0, dropout=0.5)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 1536)).astype(np.float32)
    mean, std = rng.standard_normal(1536).astype(np.float32), rng.uniform(0.5, 2, 1536).astype(np.float32)
    with torch.no_grad():
        expected = torch.sigmoid(model(torch.from_numpy((x - mean) / std))).numpy().ravel()
    assert np.allclose(_to_numpy(model, mean, std)(x.reshape(5, 16, 96)), expected, atol=1e-5)


def test_bad_requests_say_what_was_expected(tmp_path):
    with pytest.raises(UsageError, match="English words"):
        train_keyword("hey <computer>", tmp_path / "a", budget="tiny")
    with pytest.raises(UsageError, match="budget"):
        train_keyword("hey computer", tmp_path / "b", budget="huge")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="already holds other files"):
        train_keyword("hey computer", tmp_path / "full", budget="tiny")
    with pytest.raises(UsageError, match="synthesizer"):
        train_keyword("hey computer", tmp_path / "c", budget="tiny", engines=["festival"])


def test_a_damaged_folder_is_a_model_error(trained, tmp_path):
    import shutil

    from audiosift.errors import ModelError

    folder = tmp_path / "damaged"
    shutil.copytree(trained[0], folder)
    manifest = json.loads((folder / "keyword.json").read_text())
    del manifest["threshold"]
    (folder / "keyword.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="threshold"):
        audiosift.load(str(folder))
    (folder / "keyword.json").write_text("{not json")
    with pytest.raises(ModelError, match="not a readable keyword manifest"):
        audiosift.load(str(folder))
    good = json.loads((trained[0] / "keyword.json").read_text())
    (folder / "keyword.json").write_text(json.dumps({k: v for k, v in good.items() if k != "smoothing_frames"}))
    with pytest.raises(ModelError, match="smoothing_frames"):
        audiosift.load(str(folder))
    (folder / "keyword.json").write_text(json.dumps(good))
    with np.load(folder / "head.npz") as arrays:  # one head's weights where the manifest says two
        np.savez(folder / "head.npz", **{name: arrays[name] for name in arrays.files if name.startswith("h0_")})
    with pytest.raises(ModelError, match="says 2 heads"):
        audiosift.load(str(folder))


def test_the_data_is_the_same_for_the_same_seed():
    """Clips are embedded on a second thread while the next is synthesized: the windows must still
    come out the same, in the same order, for a seed (Piper's sampling, GnuSpeech and Pico included), and
    differ for another."""
    from audiosift.keywords.recipe import BUDGETS, collect
    from audiosift.models.wakeword import keyword as keyword_model

    extractor = keyword_model.window_extractor("tflite")

    def windows(seed):
        synth.reseed(seed)
        data = collect(PHRASE, BUDGETS["tiny"], ["espeak", "piper", "gnuspeech", "pico"], np.random.default_rng(seed),
                       extractor, lambda message: None)
        return data.train.arrays(), data.counts

    (x1, y1, g1), counts1 = windows(5)
    (x2, y2, g2), counts2 = windows(5)
    (x3, _, _), _ = windows(6)
    assert counts1 == counts2 and (y1 == 1).sum() > 0
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(g1, g2)
    assert x1.shape != x3.shape or np.abs(x1.astype(np.float32) - x3.astype(np.float32)).max() > 1.0


def test_a_text_a_synthesizer_fails_on_is_reported_and_left_out(monkeypatch):
    """One odd fragment must not end a ten-minute run (a "," snippet once did); a synthesizer that
    fails on everything must still stop it, saying why."""
    from audiosift.keywords.recipe import BUDGETS, MAX_SYNTHESIS_FAILURES, collect
    from audiosift.models.wakeword import keyword as keyword_model

    real = synth.synthesize
    extractor = keyword_model.window_extractor("tflite")

    def failing_on_and(text, voice):
        if " and " in f" {text.lower()} ":
            raise synth.SynthesisError(f"espeak-ng failed on {text[:20]!r}")
        return real(text, voice)

    messages = []
    monkeypatch.setattr(synth, "synthesize", failing_on_and)
    data = collect(PHRASE, BUDGETS["tiny"], ["espeak"], np.random.default_rng(3), extractor, messages.append)
    skipped = [m for m in messages if m.startswith("skipped a clip: espeak-ng failed on")]
    assert 1 <= len(skipped) <= MAX_SYNTHESIS_FAILURES and (data.train.arrays()[1] == 1).sum() > 0
    assert data.counts["skipped_texts"] == len(skipped)  # what the manifest's clip counts keep

    monkeypatch.setattr(synth, "synthesize", lambda text, voice: (_ for _ in ()).throw(synth.SynthesisError("broken")))
    with pytest.raises(synth.SynthesisError, match=f"{MAX_SYNTHESIS_FAILURES + 1} texts failed to synthesize"):
        collect(PHRASE, BUDGETS["tiny"], ["espeak"], np.random.default_rng(3), extractor, messages.append)
