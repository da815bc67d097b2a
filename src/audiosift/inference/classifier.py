"""The object ``audiosift.load`` returns: audio in, top-k ``{"label", "score"}`` out."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from audiosift.audio import describe, load_audio
from audiosift.errors import AudiosiftError, InvalidAudioError
from audiosift.inference.engine import score_waveforms, top_k_predictions
from audiosift.inference.options import LoadOptions, check_top_k
from audiosift.models.base import ClassifierBackend

# How many inputs a batch job decodes ahead of the model: enough to fill batches that group
# similar lengths, few enough that memory stays bounded on long input lists.
DECODE_AHEAD_BATCHES = 4
# A clip this much longer than a fixed-window model's input is mostly unseen: say so.
LONG_CLIP_FACTOR = 1.5


class LongClipWarning(UserWarning):
    """A clip is longer than the part of it a fixed-window model looks at."""


@dataclass
class ItemResult:
    """One input's outcome in a batch job: predictions, or the error that stopped it."""

    index: int
    source: Any
    predictions: list[dict] | None = None
    error: str | None = None
    duration_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def is_single_input(audio: Any) -> bool:
    """A list or tuple is a batch; anything else (path, bytes, array, dict, tensor) is one clip."""
    return not isinstance(audio, (list, tuple))


class Classifier:
    """Classify clips with a fixed label set (see ``audiosift.load``)."""

    def __init__(self, backend: ClassifierBackend, options: LoadOptions, name: str):
        self.backend = backend
        self.options = options
        self.name = name

    @property
    def labels(self) -> list[str]:
        return list(self.backend.labels)

    @property
    def sampling_rate(self) -> int:
        return self.backend.sampling_rate

    @property
    def model_id(self) -> str:
        return self.backend.model_id

    @property
    def window_seconds(self) -> float | None:
        return self.backend.window_seconds

    def __repr__(self) -> str:
        return f"Classifier(model_id={self.model_id!r}, labels={len(self.labels)}, sampling_rate={self.sampling_rate})"

    def __call__(self, audio: Any, *, sampling_rate: int | None = None, top_k: int | None = 5,
                 batch_size: int | None = None):
        """Top-k predictions for one clip, or a list of them (same order) for a list of clips."""
        check_top_k(top_k)
        clips = [audio] if is_single_input(audio) else list(audio)
        waveforms = [self.prepare(clip, sampling_rate) for clip in clips]
        scores = self.scores(waveforms, batch_size)
        predictions = [top_k_predictions(row, self.backend.labels, top_k) for row in scores]
        return predictions[0] if is_single_input(audio) else predictions

    def prepare(self, audio: Any, sampling_rate: int | None = None) -> np.ndarray:
        """Decode one input to mono float32 at the model's rate and check it is long enough."""
        waveform = load_audio(audio, self.sampling_rate, sampling_rate)
        if len(waveform) < self.backend.min_samples:
            raise InvalidAudioError(
                f"{describe(audio)}: clip is {len(waveform) / self.sampling_rate:.3f} s long; this model "
                f"needs at least {self.backend.min_samples / self.sampling_rate:.3f} s "
                f"({self.backend.min_samples} samples at {self.sampling_rate} Hz)"
            )
        window = self.backend.window_seconds
        if window and len(waveform) > LONG_CLIP_FACTOR * window * self.sampling_rate:
            warnings.warn(
                f"{describe(audio)}: clip is {len(waveform) / self.sampling_rate:.1f} s but this model sees only "
                f"its first {window:g} s; classify long recordings window by window "
                f"(audiosift classify --window SECONDS)", LongClipWarning, stacklevel=3)
        return waveform

    def scores(self, waveforms: list[np.ndarray], batch_size: int | None = None) -> np.ndarray:
        """Scores for every label ``(n, len(labels))`` of prepared waveforms, in input order."""
        if not waveforms:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return score_waveforms(self.backend, waveforms, batch_size or self.options.batch_size)

    def classify_many(self, inputs: Iterable[Any], *, sampling_rate: int | None = None,
                      top_k: int | None = 5, batch_size: int | None = None) -> Iterator[ItemResult]:
        """Classify a stream of inputs, yielding one :class:`ItemResult` per input, in order.

        A bad input yields a result with ``error`` set and never stops the others.
        """
        check_top_k(top_k)
        size = batch_size or self.options.batch_size
        for pending, waveforms in decoded_chunks(self, inputs, sampling_rate, size):
            positions = list(waveforms)
            scores = dict(zip(positions, self.scores([waveforms[p] for p in positions], size)))
            for result in pending:
                if result.index in scores:
                    result.predictions = top_k_predictions(scores[result.index], self.backend.labels, top_k)
                yield result


def decoded_chunks(classifier, inputs: Iterable[Any], sampling_rate: int | None,
                   batch_size: int) -> Iterator[tuple[list[ItemResult], dict[int, np.ndarray]]]:
    """``(results, {index: waveform})`` chunks of a batch job: a few batches decoded ahead with
    ``classifier.prepare``; an input that fails to decode gets ``error`` set and no waveform."""
    pending: list[ItemResult] = []
    waveforms: dict[int, np.ndarray] = {}
    for index, source in enumerate(inputs):
        result = ItemResult(index, source)
        try:
            waveforms[index] = classifier.prepare(source, sampling_rate)
            result.duration_s = len(waveforms[index]) / classifier.sampling_rate
        except AudiosiftError as error:
            result.error = str(error)
        pending.append(result)
        if len(waveforms) >= batch_size * DECODE_AHEAD_BATCHES:
            yield pending, waveforms
            pending, waveforms = [], {}
    if pending:
        yield pending, waveforms


def source_name(source: Any) -> str:
    """The path (or a short description) of an input, for records and reports."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, Mapping) and source.get("path"):
        return str(source["path"])
    return describe(source)
