"""CUDA: scores on a GPU match transformers.pipeline on the same GPU, and half precision stays close.

CI has no GPU, so ``make test`` leaves these out (``-m "not gpu"``); ``make test-gpu`` runs them and
fails, rather than skips, where torch sees no CUDA device. The clips are synthetic (tones, chirps and
noise at several lengths), so no espeak-ng or ffmpeg is needed on the GPU machine.
"""

from __future__ import annotations

import numpy as np
import pytest

import audiosift

pytestmark = pytest.mark.gpu

ARCHITECTURES = ["ast_model", "wav2vec2_model", "hubert_model", "whisper_model"]
RATE = 16000


@pytest.fixture(scope="module", autouse=True)
def cuda():
    import torch

    if not torch.cuda.is_available():
        pytest.fail("the gpu tests need a CUDA device that torch can see (torch.cuda.is_available() is False)")
    return torch.device("cuda")


@pytest.fixture(scope="module")
def clips():
    """Mixed-length clips at 16 kHz: a tone, a chirp, noise, a short burst and a 3 s mixture."""
    rng = np.random.default_rng(7)
    t = np.arange(int(1.5 * RATE)) / RATE
    tone = 0.3 * np.sin(2 * np.pi * 440 * t)
    chirp = 0.3 * np.sin(2 * np.pi * (200 + 800 * t) * t)
    noise = rng.normal(0, 0.1, RATE)
    burst = rng.normal(0, 0.3, RATE // 5)
    mixture = np.concatenate([tone, chirp]) + rng.normal(0, 0.02, 2 * len(t))
    return [clip.astype(np.float32) for clip in (tone, chirp, noise, burst, mixture)]


def pipeline_rows(pipe, clips, labels):
    rows = []
    for clip in clips:
        by_label = {item["label"]: item["score"] for item in pipe(clip, top_k=None)}
        rows.append([by_label[label] for label in labels])
    return np.array(rows)


@pytest.mark.parametrize("fixture", ARCHITECTURES)
def test_cuda_scores_match_pipeline_on_cuda(fixture, request, clips):
    from transformers import pipeline

    folder = str(request.getfixturevalue(fixture))
    pipe = pipeline("audio-classification", model=folder, device="cuda")
    clf = audiosift.load(folder, device="cuda", batch_size=4)
    assert next(clf.backend.model.parameters()).is_cuda
    expected = pipeline_rows(pipe, clips, clf.labels)
    np.testing.assert_allclose(clf.scores(clips), expected, atol=1e-4)  # padded, mixed-length batches
    np.testing.assert_allclose(np.stack([clf.scores([c])[0] for c in clips]), expected, atol=1e-4)


@pytest.mark.parametrize("fixture", ARCHITECTURES)
def test_cuda_scores_close_to_cpu(fixture, request, clips):
    """Only TF32 convolutions (cuDNN's default) separate the two."""
    folder = str(request.getfixturevalue(fixture))
    on_gpu = audiosift.load(folder, device="cuda").scores(clips)
    on_cpu = audiosift.load(folder, device="cpu").scores(clips)
    np.testing.assert_allclose(on_gpu, on_cpu, atol=1e-3)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("fixture", ARCHITECTURES)
def test_half_precision_close_to_float32(fixture, dtype, request, clips):
    import torch

    folder = str(request.getfixturevalue(fixture))
    clf = audiosift.load(folder, device="cuda", dtype=dtype)
    assert next(clf.backend.model.parameters()).dtype == getattr(torch, dtype)
    half = clf.scores(clips)
    full = audiosift.load(folder, device="cuda").scores(clips)
    assert np.isfinite(half).all()
    np.testing.assert_allclose(half.sum(axis=1), 1.0, atol=1e-2)
    np.testing.assert_allclose(half, full, atol=2e-2 if dtype == "float16" else 5e-2)


def test_auto_device_picks_cuda(ast_model):
    clf = audiosift.load(str(ast_model))
    assert next(clf.backend.model.parameters()).is_cuda


def test_zero_shot_on_cuda_matches_pipeline(clap_model):
    from transformers import pipeline

    rng = np.random.default_rng(3)
    clips = [rng.normal(0, 0.1, n).astype(np.float32) for n in (48000, 3 * 48000, 7 * 48000)]
    labels = ["dog", "vacuum cleaner", "rain"]
    pipe = pipeline("zero-shot-audio-classification", model=str(clap_model), device="cuda")
    zs = audiosift.load(str(clap_model), device="cuda")
    assert next(zs.towers.model.parameters()).is_cuda
    got = zs(clips, candidate_labels=labels, sampling_rate=48000)
    for clip, predictions in zip(clips, got):
        expected = {p["label"]: p["score"] for p in pipe(clip, candidate_labels=labels)}
        for prediction in predictions:
            assert prediction["score"] == pytest.approx(expected[prediction["label"]], abs=1e-4)


def test_windowed_classification_on_cuda_matches_cpu(ast_model, clips):
    from audiosift.inference.windows import WindowOptions, classify_windows

    long_clip = np.concatenate(clips * 2)
    options = WindowOptions(window_s=1.0, hop_s=0.5, top_k=None)
    runs = [list(classify_windows(audiosift.load(str(ast_model), device=device), long_clip, options,
                                  sampling_rate=RATE)) for device in ("cuda", "cpu")]
    assert len(runs[0]) == len(runs[1]) > 5
    for on_gpu, on_cpu in zip(*runs):
        assert (on_gpu["start"], on_gpu["end"]) == (on_cpu["start"], on_cpu["end"])
        gpu_scores = {p["label"]: p["score"] for p in on_gpu["predictions"]}
        cpu_scores = {p["label"]: p["score"] for p in on_cpu["predictions"]}
        np.testing.assert_allclose([gpu_scores[k] for k in cpu_scores], list(cpu_scores.values()), atol=1e-3)
