"""Batched inference that keeps input order.

Clips are sorted by length so each batch holds clips of similar length (less padding for models
that pad), featurized with numpy's BLAS limited to one thread, and run by the backend (which owns its runtime:
torch, onnxruntime, ...); on a CPU, batches run side by side with the cores split among them
(:mod:`audiosift.inference.cpu_threads` says why). Scores are written back at each clip's input position.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from audiosift.inference.cpu_threads import featurize_batch, featurized_ahead, map_splitting_cores
from audiosift.models.base import ClipBackend


# On a CPU, batching pays only while one clip's sequence is too short to keep a core busy, and
# batches run side by side with the cores split among them (map_splitting_cores). Measured here
# (2 cores, fp32, bench_classify): AST's 146 patches ran ~1.7x faster 8 clips a batch on both cores
# than one by one, and 4 clips a batch, two batches at a time, was faster again (1.97x vs 1.66x the
# pipeline's one clip a call); Whisper's 1500 encoder frames ran ~5% slower 3-4 clips a batch than
# one by one. So a CPU batch holds at most this many encoder positions, padding included (AST: 4
# clips; Whisper, XLS-R clips over 0.4 s: 1).
CPU_POSITIONS_PER_BATCH = 600
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


def score_waveforms(backend: ClipBackend, waveforms: Sequence[np.ndarray], batch_size: int) -> np.ndarray:
    """The backend's outputs for every waveform, in input order: ``(n, len(labels))`` scores, or
    ``(n, d)`` embeddings for a backend whose ``output`` is ``"embeddings"``."""
    outputs: np.ndarray | None = None
    lengths = [len(w) for w in waveforms]
    positions = [backend.encoder_positions(n) for n in lengths] if backend.on_cpu else None
    lock = threading.Lock()

    def featurize(position: int):
        return backend.featurize(waveforms[position])

    def run_batch(batch_positions: list[int], features: list) -> None:
        nonlocal outputs
        for sub_positions, batch in backend.collate(features):
            rows = [batch_positions[i] for i in sub_positions]
            result = backend.forward(batch)
            with lock:  # the first batch to finish sizes the output (labels, or embedding width)
                if outputs is None:
                    outputs = np.zeros((len(waveforms), result.shape[1]), dtype=np.float32)
            outputs[rows] = result

    def featurize_and_run(batch_positions: list[int]) -> None:
        run_batch(batch_positions, featurize_batch(featurize, batch_positions))

    if backend.on_cpu and backend.cpu_max_batch:
        batch_size = min(batch_size, backend.cpu_max_batch)
    batches = length_sorted_batches(lengths, batch_size, positions)
    if not backend.on_cpu:  # an accelerator: CPU threads may featurize the next batches while it runs one
        ahead = featurized_ahead(featurize, batches, backend.threads, ahead=backend.featurize_ahead)
        for batch_positions, features in zip(batches, ahead):
            run_batch(batch_positions, features)
    elif backend.thread_safe:
        map_splitting_cores(featurize_and_run, batches, backend.threads)  # each batch writes its own rows
    else:
        for batch_positions in batches:
            featurize_and_run(batch_positions)
    if outputs is None:
        width = len(backend.labels) if backend.labels is not None else 0
        outputs = np.zeros((0, width), dtype=np.float32)
    return outputs


def top_k_predictions(scores: np.ndarray, labels: Sequence[str], top_k: int | None) -> list[dict]:
    """``[{"label", "score"}]`` for one row of scores, best first (all labels when top_k is None)."""
    count = len(labels) if top_k is None else min(top_k, len(labels))
    best = np.argsort(-scores, kind="stable")[:count]
    return [{"label": labels[i], "score": float(scores[i])} for i in best]
