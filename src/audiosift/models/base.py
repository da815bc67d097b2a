"""What every classification backend provides, so transformers, Silero (and later ONNX or wake-word
models) plug into the same engine.

The engine (``audiosift.inference.engine``) does the rest: decoding, ordering, length grouping,
batching and top-k. A backend only turns one waveform into model inputs (``featurize``), groups
inputs into batches (``collate``) and runs one batch (``forward``).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

import numpy as np


class ClassifierBackend(abc.ABC):
    model_id: str
    labels: list[str]
    sampling_rate: int
    multi_label: bool = False
    min_samples: int = 1  # shortest clip (at sampling_rate) the model accepts
    window_seconds: float | None = None  # the input length the model was trained on, if fixed
    device: Any = "cpu"
    thread_safe: bool = False  # forward() may run in several threads at once (no state between calls)
    featurize_ahead: bool = False  # on a GPU, featurize on CPU threads ahead of use (costly features)

    @abc.abstractmethod
    def featurize(self, waveform: np.ndarray) -> Any:
        """Model inputs for one mono float32 clip at ``sampling_rate``. Runs on the CPU."""

    @abc.abstractmethod
    def collate(self, features: Sequence[Any]) -> list[tuple[list[int], Any]]:
        """Split ``features`` into batches the model can run together: ``[(positions, batch)]``.

        Positions index into ``features``; every position appears exactly once.
        """

    @abc.abstractmethod
    def forward(self, batch: Any) -> np.ndarray:
        """Scores ``(batch, len(labels))``: probabilities (softmax, or sigmoid if multi-label)."""

    def encoder_positions(self, num_samples: int) -> int | None:
        """Sequence positions the model's encoder runs for a clip of ``num_samples`` (the cost the
        engine batches by on a CPU); None when unknown or negligible."""
        return None

    def describe(self) -> dict:
        return {
            "model_id": self.model_id,
            "sampling_rate": self.sampling_rate,
            "labels": list(self.labels),
            "multi_label": self.multi_label,
        }
