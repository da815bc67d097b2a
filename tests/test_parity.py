"""Scores match transformers.pipeline("audio-classification") on the same model and 16 kHz audio."""

from __future__ import annotations

import numpy as np
import pytest

import audiosift
from audiosift.audio import load_audio

ARCHITECTURES = ["ast_model", "wav2vec2_model", "hubert_model", "whisper_model"]


@pytest.fixture(scope="module")
def clips(audio_dir):
    """Mixed-length 16 kHz mono float32 clips: speech, tone, noise and a sentence."""
    names = ["yes.wav", "tone.wav", "noise.wav", "sentence.wav", "yes_8k.wav"]
    clips = [load_audio(audio_dir / name, 16000) for name in names]
    clips.append(clips[0][:3000])  # a short clip: 0.19 s
    return clips


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

    singles = np.stack([clf.scores([clip]) for clip in clips])[:, 0]
    batched = clf.scores(clips)
    np.testing.assert_allclose(singles, expected, atol=1e-4)
    np.testing.assert_allclose(batched, expected, atol=1e-4)
    # The public call returns the same scores, best first.
    top = clf(clips, sampling_rate=16000, top_k=None)
    for row, predictions in zip(expected, top):
        assert [p["label"] for p in predictions][0] == clf.labels[int(np.argmax(row))]
        got = {p["label"]: p["score"] for p in predictions}
        np.testing.assert_allclose([got[label] for label in clf.labels], row, atol=1e-4)


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
    np.testing.assert_allclose(got, expected, atol=1e-4)
