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


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Input positions grouped into batches of similar length (shortest first)."""
    order = sorted(range(len(lengths)), key=lambda position: lengths[position])
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def score_waveforms(backend: ClassifierBackend, waveforms: Sequence[np.ndarray], batch_size: int) -> np.ndarray:
    """Scores ``(len(waveforms), len(backend.labels))`` in input order."""
    import torch

    scores = np.zeros((len(waveforms), len(backend.labels)), dtype=np.float32)
    for batch_positions in length_sorted_batches([len(w) for w in waveforms], batch_size):
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
