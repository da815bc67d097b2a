"""A stand-in classifier over a scoring function, so a test measures audiosift's pipeline (windows,
streaming, VAD gating), not a model's. It is a real :class:`Classifier` over a real backend, so it
speaks the same protocol as every loaded model, and it remembers every clip it scored."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from audiosift.inference.classifier import Classifier
from audiosift.inference.options import RuntimeOptions
from audiosift.models.base import ClipBackend


class FunctionBackend(ClipBackend):
    def __init__(self, labels: Sequence[str], score_row: Callable[[np.ndarray], Sequence[float]], rate: int,
                 min_samples: int = 1, window_seconds: float | None = None):
        self.model_id, self.labels, self.sampling_rate = "stand-in", list(labels), rate
        self.min_samples, self.window_seconds = min_samples, window_seconds
        self.score_row, self.heard = score_row, []

    def featurize(self, waveform):
        return waveform

    def collate(self, features):
        return [([position], [item]) for position, item in enumerate(features)]

    def forward(self, batch):
        return np.array([self.score_row(w) for w in batch], dtype=np.float32)


class SpyClassifier(Classifier):
    def __init__(self, labels, score_row, rate, *, batch_size=1, **facts):
        super().__init__(FunctionBackend(labels, score_row, rate, **facts), RuntimeOptions(batch_size=batch_size), "spy")

    def outputs(self, waveforms, batch_size=None):
        self.backend.heard += list(waveforms)  # in input order (the engine runs them length-sorted)
        return super().outputs(waveforms, batch_size)

    @property
    def heard(self) -> list[np.ndarray]:
        return self.backend.heard


def build(request):
    """A registry builder (``"stand_in:build"``): a two-label loudness model from a folder whose
    ``stand-in.json`` names its rate, so a test can plug a new backend kind in through ``load()``."""
    import json
    from pathlib import Path

    rate = json.loads((Path(request.location) / "stand-in.json").read_text())["rate"]

    def loudness(waveform):
        loud = min(1.0, 5 * float(np.sqrt(np.mean(waveform**2))))
        return [loud, 1 - loud]

    backend = FunctionBackend(["loud", "quiet"], loudness, rate)
    backend.model_id = request.model_id
    return backend
