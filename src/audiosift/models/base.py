"""The model layer's contract: what every backend provides, so transformers, CLAP, Silero (and ONNX
or wake-word models) plug into one engine.

Two kinds of backend:
- :class:`ClipBackend` scores whole clips. The engine (``audiosift.inference.engine``) does the rest:
  ordering, length grouping, batching, thread splitting. A backend only turns one waveform into
  model inputs (``featurize``), groups inputs into batches (``collate``) and runs one batch
  (``forward``). ``forward`` returns label scores, or (``output == "embeddings"``) vectors that the
  classifier scores against labels the user gives (zero-shot).
- :class:`FrameStreamBackend` runs a causal model over fixed frames (Silero VAD's 32 ms, a wake-word
  model's 80 ms): ``new_stream()`` gives a :class:`FrameStream` with ``reset()`` and ``push(samples)``
  that returns one score row per finished frame, whatever the chunking. It is also a clip backend:
  a clip runs through a fresh stream and its frame scores are pooled (:meth:`pool_frames`).

Facts about the model (rate, labels, window, hop, task, minimum length) live on the backend, so they
travel with the loaded model whatever name it was loaded by. Threads are a backend hook
(:class:`ThreadControl`): the engine splits cores among batches through it, whatever the runtime.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

import numpy as np


class ThreadControl(abc.ABC):
    """How a runtime's intra-op threads are read and set for the calling OS thread."""

    name: str = "none"

    @abc.abstractmethod
    def get(self) -> int:
        """Threads the calling thread's runtime would use now."""

    @abc.abstractmethod
    def set(self, count: int) -> None:
        """Make the calling thread's runtime use ``count`` threads."""


class SingleThread(ThreadControl):
    """A runtime with no thread setting of its own (pure numpy, ctypes): always one thread."""

    name = "single"

    def get(self) -> int:
        return 1

    def set(self, count: int) -> None:
        pass


class ClipBackend(abc.ABC):
    model_id: str
    labels: list[str] | None  # None: labels come from the user (zero-shot, output == "embeddings")
    sampling_rate: int
    task: str = "audio classification"
    output: str = "scores"  # "scores" (n, labels) or "embeddings" (n, d)
    multi_label: bool = False
    min_samples: int = 1  # shortest clip (at sampling_rate) the model accepts
    window_seconds: float | None = None  # the input length the model sees, if fixed (longer clips are cut)
    default_window_seconds: float | None = None  # long recordings' window for a model of any input length
    hop_seconds: float | None = None  # default hop for long recordings (None: half the window)
    max_seconds: float | None = None  # longest clip decoded for a variable-length model (None: audio default)
    device: Any = "cpu"
    thread_safe: bool = False  # forward() may run in several threads at once (no state between calls)
    featurize_ahead: bool = False  # on an accelerator, featurize on CPU threads ahead of use (costly features)
    cpu_max_batch: int | None = None  # most clips in one CPU batch, where measured (None: the engine's rules)
    threads: ThreadControl = SingleThread()

    @property
    def on_cpu(self) -> bool:
        return str(self.device).startswith("cpu")

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
        """``(batch, len(labels))`` probabilities (softmax, or sigmoid if multi-label), or
        ``(batch, d)`` unit-length embeddings when ``output == "embeddings"``."""

    def encoder_positions(self, num_samples: int) -> int | None:
        """Sequence positions the model's encoder runs for a clip of ``num_samples`` (the cost the
        engine batches by on a CPU); None when unknown or negligible."""
        return None

    def identity(self) -> dict:
        """What identifies the loaded model for reports and caches (no local paths)."""
        return {"model_id": self.model_id, "backend": type(self).__name__}

    def describe(self) -> dict:
        return {
            "model_id": self.model_id,
            "task": self.task,
            "sampling_rate": self.sampling_rate,
            "labels": list(self.labels) if self.labels is not None else None,
            "multi_label": self.multi_label,
            "window_seconds": self.window_seconds,
        }


class FrameStream(abc.ABC):
    """One stream's state: samples in, in chunks of any size; one score row per finished frame."""

    @abc.abstractmethod
    def reset(self) -> None:
        """Forget everything: the next push starts a new stream."""

    @abc.abstractmethod
    def push(self, samples: np.ndarray) -> np.ndarray:
        """Scores ``(frames, len(labels))`` of the frames ``samples`` completes (possibly none)."""

    def flush(self) -> np.ndarray:
        """Scores ``(frames, len(labels))`` of a last partial frame, if the model scores one (none by
        default); then nothing is pending."""
        return np.zeros((0, getattr(self, "label_count", 0)), dtype=np.float32)


class FrameStreamBackend(ClipBackend):
    """A causal frame model (see module docstring). Subclasses give ``frame_samples``, ``labels``,
    ``sampling_rate`` and ``new_stream``; clip scoring comes for free (one fresh stream per clip)."""

    frame_samples: int  # samples per frame at sampling_rate
    # Detectors: where a score crosses this, an event fires (None: not a detector); ``thresholds``
    # overrides it per label (microWakeWord's models each ship their own cutoff).
    default_threshold: float | None = None
    thresholds: dict[str, float] | None = None

    @property
    def frame_seconds(self) -> float:
        return self.frame_samples / self.sampling_rate

    def frame_end_seconds(self, index: int) -> float:
        """Where frame ``index`` (0-based, counted from a stream's start) ends, in seconds."""
        return (index + 1) * self.frame_seconds

    @abc.abstractmethod
    def new_stream(self) -> FrameStream:
        """A new, independent stream (its own model state)."""

    def pool_frames(self, frame_scores: np.ndarray) -> np.ndarray:
        """One clip's score row from its frames' ``(frames, labels)`` scores: the best frame per label."""
        if len(frame_scores) == 0:
            return np.zeros(len(self.labels), dtype=np.float32)
        return frame_scores.max(axis=0)

    def frame_scores(self, waveform: np.ndarray) -> np.ndarray:
        """Every frame's scores for one whole clip, through a fresh stream."""
        stream = self.new_stream()
        parts = [stream.push(waveform), stream.flush()]
        parts = [p for p in parts if p.size]
        if not parts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return np.concatenate(parts)

    def featurize(self, waveform: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(waveform, dtype=np.float32)

    def collate(self, features):
        return [([position], [item]) for position, item in enumerate(features)]

    def forward(self, batch: list[np.ndarray]) -> np.ndarray:
        return np.stack([self.pool_frames(self.frame_scores(waveform)) for waveform in batch]).astype(np.float32)
