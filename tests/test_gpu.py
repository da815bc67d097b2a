"""CUDA: scores on a GPU match transformers.pipeline on the same GPU, and half precision stays close.

CI has no GPU, so ``make test`` leaves these out (``-m "not gpu"``); ``make test-gpu`` runs them and
fails, rather than skips, where torch sees no CUDA device. The clips are synthetic (tones, chirps and
noise at several lengths), so no espeak-ng or ffmpeg is needed on the GPU machine.

Every comparison is only as good as the tiny random models' hearing: each test first asserts that
the reference scores of different clips lie further apart than its tolerance (and, for half
precision, that no clip scores near uniform), so scores of the wrong clip, or a constant, fail.
Measured on CPU with the tiny models (min over clip pairs of max |difference| of probabilities):
spread AST 0.039, wav2vec2 0.024, HuBERT 0.052, Whisper 0.019; distance from uniform >= 0.05; error
of the model cast to float16 <= 1.8e-3, to bfloat16 AST 1.3e-2, wav2vec2 5.2e-3, HuBERT 9.8e-3,
Whisper 3.6e-3 (``HALF_ATOL`` leaves about 2x for the GPU's kernels).
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

import audiosift

pytestmark = pytest.mark.gpu

ARCHITECTURES = ["ast_model", "wav2vec2_model", "hubert_model", "whisper_model"]
RATE = 16000
ATOL = 1e-4  # float32 on the GPU against the pipeline on the GPU
HEARING = 100 * ATOL
HALF_ATOL = {
    "float16": dict.fromkeys(ARCHITECTURES, 5e-3),
    "bfloat16": {"ast_model": 2e-2, "wav2vec2_model": 1e-2, "hubert_model": 2e-2, "whisper_model": 1e-2},
}


def min_spread(rows: np.ndarray) -> float:
    """The closest two clips' max |difference| of scores."""
    return min(float(np.abs(a - b).max()) for a, b in combinations(rows, 2))


def assert_hears(rows: np.ndarray, tolerance: float, factor: float = 1.0) -> None:
    spread = min_spread(rows)
    assert spread >= factor * tolerance, f"clips score only {spread:.1e} apart: no test at tolerance {tolerance}"


@pytest.fixture(scope="module", autouse=True)
def cuda():
    import torch

    if not torch.cuda.is_available():
        pytest.fail("the gpu tests need a CUDA device that torch can see (torch.cuda.is_available() is False)")
    return torch.device("cuda")


@pytest.fixture(scope="module")
def clips():
    """Mixed-length clips at 16 kHz: a tone, a chirp, noise, a short burst, a 3 s mixture and the
    chirp time-reversed (same spectrum, other order)."""
    rng = np.random.default_rng(7)
    t = np.arange(int(1.5 * RATE)) / RATE
    tone = 0.3 * np.sin(2 * np.pi * 440 * t)
    chirp = 0.3 * np.sin(2 * np.pi * (200 + 800 * t) * t)
    noise = rng.normal(0, 0.1, RATE)
    burst = rng.normal(0, 0.3, RATE // 5)
    mixture = np.concatenate([tone, chirp]) + rng.normal(0, 0.02, 2 * len(t))
    return [clip.astype(np.float32) for clip in (tone, chirp, noise, burst, mixture, chirp[::-1].copy())]


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
    assert_hears(expected, HEARING)
    np.testing.assert_allclose(clf.scores(clips), expected, atol=ATOL)  # padded, mixed-length batches
    np.testing.assert_allclose(np.stack([clf.scores([c])[0] for c in clips]), expected, atol=ATOL)


@pytest.mark.parametrize("fixture", ARCHITECTURES)
def test_cuda_scores_close_to_cpu(fixture, request, clips):
    """Only TF32 convolutions (cuDNN's default) separate the two."""
    folder = str(request.getfixturevalue(fixture))
    on_gpu = audiosift.load(folder, device="cuda").scores(clips)
    on_cpu = audiosift.load(folder, device="cpu").scores(clips)
    assert_hears(on_cpu, 1e-3, factor=10)
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
    tolerance = HALF_ATOL[dtype][fixture]
    # The tolerance is meaningful: below the spread between clips and each clip's distance from a
    # uniform output, so neither another clip's scores nor a constant could pass.
    assert_hears(full, tolerance, factor=1.5)
    assert (np.abs(full - 1 / full.shape[1]).max(axis=1) >= 2 * tolerance).all()
    assert np.isfinite(half).all()
    np.testing.assert_allclose(half.sum(axis=1), 1.0, atol=1e-2)
    np.testing.assert_allclose(half, full, atol=tolerance)
    # Each clip's half-precision scores are nearest to its own float32 scores: it heard the same thing.
    distances = np.abs(half[:, None, :] - full[None, :, :]).max(axis=2)
    assert (distances.argmin(axis=1) == np.arange(len(clips))).all(), distances


def test_auto_device_picks_cuda(ast_model):
    clf = audiosift.load(str(ast_model))
    assert next(clf.backend.model.parameters()).is_cuda


def test_zero_shot_on_cuda_matches_pipeline(clap_model):
    from transformers import pipeline

    rate = 48000
    rng = np.random.default_rng(3)
    t3, t2, t7 = (np.arange(n * rate) / rate for n in (3, 2, 7))
    chirp = 0.3 * np.sin(2 * np.pi * (200 + 1500 * t2) * t2)
    noise = rng.normal(0, 0.1, rate)
    bursts = rng.normal(0, 0.3, len(t7)) * (t7 % 1 < 0.3)  # 0.3 s of loud noise every second
    clips = [clip.astype(np.float32) for clip in (0.3 * np.sin(2 * np.pi * 440 * t3), chirp, noise, bursts,
                                                   chirp[::-1].copy())]
    labels = ["dog", "vacuum cleaner", "rain"]
    pipe = pipeline("zero-shot-audio-classification", model=str(clap_model), device="cuda")
    zs = audiosift.load(str(clap_model), device="cuda")
    assert next(zs.towers.model.parameters()).is_cuda
    expected = np.array([[{p["label"]: p["score"] for p in pipe(clip, candidate_labels=labels)}[label]
                          for label in labels] for clip in clips])
    assert_hears(expected, HEARING)  # measured on CPU: 0.054 at the closest pair (reversed chirp, bursts)
    got = zs(clips, candidate_labels=labels, sampling_rate=rate)
    for row, predictions in zip(expected, got):
        by_label = {p["label"]: p["score"] for p in predictions}
        np.testing.assert_allclose([by_label[label] for label in labels], row, atol=ATOL)


def test_windowed_classification_on_cuda_matches_cpu(ast_model, clips):
    from audiosift.inference.windows import WindowOptions, classify_windows

    long_clip = np.concatenate(clips * 2)
    options = WindowOptions(window_s=1.0, hop_s=0.5, top_k=None)
    runs = [list(classify_windows(audiosift.load(str(ast_model), device=device), long_clip, options,
                                  sampling_rate=RATE)) for device in ("cuda", "cpu")]
    assert len(runs[0]) == len(runs[1]) > 5
    per_window = np.array([[p["score"] for p in sorted(w["predictions"], key=lambda p: p["label"])] for w in runs[1]])
    assert np.ptp(per_window, axis=0).max() >= 10 * 1e-3  # the windows hear different audio
    for on_gpu, on_cpu in zip(*runs):
        assert (on_gpu["start"], on_gpu["end"]) == (on_cpu["start"], on_cpu["end"])
        gpu_scores = {p["label"]: p["score"] for p in on_gpu["predictions"]}
        cpu_scores = {p["label"]: p["score"] for p in on_cpu["predictions"]}
        np.testing.assert_allclose([gpu_scores[k] for k in cpu_scores], list(cpu_scores.values()), atol=1e-3)
