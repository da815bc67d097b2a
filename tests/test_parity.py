"""Scores match transformers.pipeline("audio-classification") on the same model and 16 kHz audio.

Parity with tiny random models proves something only if the model hears its input: each test also
asserts that clearly different clips (a word, the same word time-reversed, silence, noise, a tone, a
sentence) score at least ``HEARING`` = 100 x ``ATOL`` apart, so scores computed on the wrong audio, or
on none, cannot pass within ``ATOL``. Spreads measured (min over the pairs of max |difference| of
probabilities): AST 0.061, wav2vec2 0.022, HuBERT 0.034, Whisper 0.031; with transformers' default
init they were 9e-4, 1.5e-4, 1.4e-4 and 1.3e-7 (see tests/model_factory.py).
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

import audiosift
from audiosift.audio import load_audio

ARCHITECTURES = ["ast_model", "wav2vec2_model", "hubert_model", "whisper_model"]
ATOL = 1e-4
HEARING = 100 * ATOL
NAMES = ["yes", "tone", "noise", "sentence", "yes_8k", "short", "reversed", "silence"]
# The same word through an 8 kHz file is meant to score like the original: not a "different clip".
ALIKE = {frozenset({"yes", "yes_8k"})}


@pytest.fixture(scope="module")
def clips(audio_dir):
    """Mixed-length 16 kHz mono float32 clips: speech, tone, noise, a sentence, the word time-reversed
    and silence (see ``NAMES``)."""
    names = ["yes.wav", "tone.wav", "noise.wav", "sentence.wav", "yes_8k.wav"]
    clips = [load_audio(audio_dir / name, 16000) for name in names]
    clips.append(clips[0][:3000])  # a short clip: 0.19 s
    clips.append(np.ascontiguousarray(clips[0][::-1]))  # same spectrum and length, other order in time
    clips.append(np.zeros(16000, dtype=np.float32))
    return clips


def assert_hears_its_input(rows: np.ndarray) -> None:
    """Every pair of different clips scores >= HEARING apart, and no clip with sound scores uniform."""
    assert len(rows) == len(NAMES)
    for (i, a), (j, b) in combinations(enumerate(NAMES), 2):
        if frozenset({a, b}) not in ALIKE:
            spread = np.abs(rows[i] - rows[j]).max()
            assert spread >= HEARING, f"{a} and {b} score only {spread:.1e} apart: the model does not hear them"
    for name, row in zip(NAMES, rows):
        if name != "silence":  # HuBERT (no bias before the head) scores silence exactly uniform
            assert np.abs(row - 1 / len(row)).max() >= HEARING, name


def pipeline_scores(pipe, clip, labels):
    result = pipe(clip, top_k=None)
    by_label = {item["label"]: item["score"] for item in result}
    return np.array([by_label[label] for label in labels])


@pytest.mark.parametrize("fixture", ARCHITECTURES)
def test_scores_match_pipeline_single_and_batched(fixture, request, clips):
    from transformers import pipeline

    folder = str(request.getfixturevalue(fixture))
    pipe = pipeline("audio-classification", model=folder, device="cpu")
    clf = audiosift.load(folder, device="cpu", batch_size=4)
    expected = np.stack([pipeline_scores(pipe, clip, clf.labels) for clip in clips])
    assert_hears_its_input(expected)

    singles = np.stack([clf.scores([clip]) for clip in clips])[:, 0]
    batched = clf.scores(clips)
    np.testing.assert_allclose(singles, expected, atol=ATOL)
    np.testing.assert_allclose(batched, expected, atol=ATOL)
    # The public call returns the same scores, best first.
    top = clf(clips, sampling_rate=16000, top_k=None)
    for row, predictions in zip(expected, top):
        assert [p["label"] for p in predictions][0] == clf.labels[int(np.argmax(row))]
        got = {p["label"]: p["score"] for p in predictions}
        np.testing.assert_allclose([got[label] for label in clf.labels], row, atol=ATOL)


@pytest.mark.parametrize("fixture", ["wav2vec2_model", "hubert_model"])
def test_padded_mixed_length_batch_matches_pipeline(fixture, request, clips):
    """The padded path (taken on GPUs, where batches are not split by length) keeps the scores:
    clips padded together under an attention mask, or run in equal-shape groups without one."""
    import torch
    from transformers import pipeline

    folder = str(request.getfixturevalue(fixture))
    pipe = pipeline("audio-classification", model=folder, device="cpu")
    clf = audiosift.load(folder, device="cpu")
    expected = np.stack([pipeline_scores(pipe, clip, clf.labels) for clip in clips])
    assert_hears_its_input(expected)
    features = [clf.backend.featurize(clip) for clip in clips]
    groups = clf.backend.collate(features)
    if fixture == "wav2vec2_model":
        assert len(groups) == 1  # one padded batch with an attention mask
    else:
        assert len(groups) == len({len(c) for c in clips})  # no mask: equal shapes only
    got = np.zeros_like(expected)
    with torch.inference_mode():
        for positions, batch in groups:
            got[positions] = clf.backend.forward(batch)
    np.testing.assert_allclose(got, expected, atol=ATOL)
