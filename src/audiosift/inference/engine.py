"""Batched inference that keeps input order.

Clips are sorted by length so each batch holds clips of similar length (less padding for models
that pad), featurized with numpy's BLAS limited to one thread (on a small machine OpenBLAS threads
otherwise fight torch's intra-op threads for the same cores; measured ~30% slower for one clip),
and run under ``torch.inference_mode()``. Scores are written back at each clip's input position.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from audiosift.models.base import ClassifierBackend


@functools.lru_cache(maxsize=1)
def _threadpool_controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()  # inspects the loaded BLAS libraries once, not per call


def single_threaded_blas():
    """A context manager limiting numpy's BLAS to one thread; restores the setting on exit."""
    return _threadpool_controller().limit(limits=1, user_api="blas")


# On a CPU, batching pays only while one clip's sequence is too short to keep the cores busy.
# Measured here (2 cores, fp32): AST's 146 patches run ~1.7x faster 8 clips a batch; Whisper's
# 1500 encoder frames run ~5% slower 3-4 clips a batch than one by one. So a CPU batch holds at most
# this many encoder positions, padding included (AST: 8 clips; Whisper, long XLS-R clips: 1).
CPU_POSITIONS_PER_BATCH = 1200
# Padding is pure waste on a CPU: a clip joins a batch only if it needs at most this much more
# compute than the batch's shortest clip (XLS-R clips of 4 and 8 s would waste a third).
CPU_MAX_PADDING = 0.10


def length_sorted_batches(lengths: Sequence[int], batch_size: int,
                          positions: Sequence[int | None] | None = None) -> list[list[int]]:
    """Input positions grouped into batches of similar length (shortest first).

    ``positions``: each clip's encoder positions where known (given for CPU runs); a batch then
    stays within :data:`CPU_POSITIONS_PER_BATCH` and :data:`CPU_MAX_PADDING`.
    """
    order = sorted(range(len(lengths)), key=lambda position: lengths[position])
    batches: list[list[int]] = []
    for position in order:
        batch = batches[-1] if batches else None
        if batch and len(batch) < batch_size and _fits_cpu_batch(batch + [position], positions):
            batch.append(position)
        else:
            batches.append([position])
    return batches


def _fits_cpu_batch(batch: list[int], positions: Sequence[int | None] | None) -> bool:
    if positions is None or any(positions[p] is None for p in batch):
        return True
    sizes = [positions[p] for p in batch]
    return (len(batch) * max(sizes) <= CPU_POSITIONS_PER_BATCH
            and max(sizes) <= (1 + CPU_MAX_PADDING) * min(sizes))


def score_waveforms(backend: ClassifierBackend, waveforms: Sequence[np.ndarray], batch_size: int) -> np.ndarray:
    """Scores ``(len(waveforms), len(backend.labels))`` in input order."""
    import torch

    scores = np.zeros((len(waveforms), len(backend.labels)), dtype=np.float32)
    lengths = [len(w) for w in waveforms]
    on_cpu = str(backend.device).startswith("cpu")
    positions = [backend.encoder_positions(n) for n in lengths] if on_cpu else None
    for batch_positions in length_sorted_batches(lengths, batch_size, positions):
        with single_threaded_blas():
            features = [backend.featurize(waveforms[position]) for position in batch_positions]
        with torch.inference_mode():
            for sub_positions, batch in backend.collate(features):
                rows = [batch_positions[i] for i in sub_positions]
                scores[rows] = backend.forward(batch)
    return scores


def top_k_predictions(scores: np.ndarray, labels: Sequence[str], top_k: int | None) -> list[dict]:
    """``[{"label", "score"}]`` for one row of scores, best first (all labels when top_k is None)."""
    count = len(labels) if top_k is None else min(top_k, len(labels))
    best = np.argsort(-scores, kind="stable")[:count]
    return [{"label": labels[i], "score": float(scores[i])} for i in best]
