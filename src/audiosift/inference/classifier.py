"""The object ``audiosift.load`` returns: audio in, top-k ``{"label", "score"}`` out.

One protocol for every model. How labels are given is the one difference between models, and it is
settled once, where input enters, by :meth:`Classifier.label_set`:
- a fixed-label model scores its own labels; ``candidate_labels`` may pick a subset of them (scores
  are the model's, not renormalised: labels left out simply are not reported);
- a zero-shot model (:class:`~audiosift.inference.zero_shot.ZeroShotClassifier`) requires
  ``candidate_labels`` and scores them through prompts.
Everything downstream (windows, streaming, the server, evaluation) passes the :class:`LabelSet` along
and calls :meth:`Classifier.scores`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from audiosift.audio import describe, load_clip
from audiosift.errors import AudiosiftError, AudioTooLongError, InvalidAudioError, UsageError
from audiosift.inference.engine import score_waveforms, top_k_predictions
from audiosift.inference.options import RuntimeOptions, check_top_k
from audiosift.models.base import ClipBackend

# How many inputs a batch job decodes ahead of the model: enough to fill batches that group
# similar lengths, few enough that memory stays bounded on long input lists.
DECODE_AHEAD_BATCHES = 4
# A clip this much longer than a fixed-window model's input is mostly unseen: say so. Decoding stops
# there too: the model's features of the first window need only the window's samples (AST's fbank
# frames and Whisper's padded 30 s are computed from the start), so the scores do not change.
LONG_CLIP_FACTOR = 1.5
DEFAULT = object()  # top_k not given: the classifier's own default (5; every label for zero-shot)


class LongClipWarning(UserWarning):
    """A clip is longer than the part of it a fixed-window model looks at."""


@dataclass(frozen=True)
class LabelSet:
    """The labels one call scores: ``names`` in output order. ``columns``: for a fixed-label model,
    each name's column in the model's output; ``templates``: for a zero-shot model, its prompts."""

    names: tuple[str, ...]
    columns: tuple[int, ...] | None = None
    templates: tuple[str, ...] | None = None


@dataclass
class ItemResult:
    """One input's outcome in a batch job: predictions (or an embedding), or the error that stopped it."""

    index: int
    source: Any
    predictions: list[dict] | None = None
    error: str | None = None
    duration_s: float | None = None
    embedding: np.ndarray | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def is_single_input(audio: Any) -> bool:
    """A list or tuple is a batch; anything else (path, bytes, array, dict, tensor) is one clip."""
    return not isinstance(audio, (list, tuple))


class Classifier:
    """Classify clips with any backend (see ``audiosift.load`` and the module docstring)."""

    default_top_k: int | None = 5

    def __init__(self, backend: ClipBackend, options: RuntimeOptions, name: str):
        self.backend = backend
        self.options = options
        self.name = name

    # -- facts of the loaded model ------------------------------------------------------------

    @property
    def labels(self) -> list[str] | None:
        """The model's labels; None for a zero-shot model (the caller gives them)."""
        return list(self.backend.labels) if self.backend.labels is not None else None

    @property
    def takes_labels(self) -> bool:
        """True when labels must be given (zero-shot)."""
        return self.backend.labels is None

    @property
    def sampling_rate(self) -> int:
        return self.backend.sampling_rate

    @property
    def model_id(self) -> str:
        return self.backend.model_id

    @property
    def window_seconds(self) -> float | None:
        return self.backend.window_seconds

    @property
    def min_samples(self) -> int:
        return int(self.backend.min_samples)

    def describe(self) -> dict:
        return {**self.backend.describe(), "zero_shot": self.takes_labels}

    def __repr__(self) -> str:
        labels = "user-given" if self.takes_labels else len(self.labels)
        return f"{type(self).__name__}(model_id={self.model_id!r}, labels={labels}, sampling_rate={self.sampling_rate})"

    # -- labels: checked once, where input enters -----------------------------------------------

    def label_set(self, candidate_labels: str | Sequence[str] | None = None,
                  hypothesis_template: str | Sequence[str] | None = None) -> LabelSet:
        """The labels a call scores. For this fixed-label model: all of them, or the subset named."""
        if hypothesis_template is not None:
            raise UsageError(f"{self.name!r} has a fixed label set: prompt templates apply only to zero-shot "
                             f"(CLAP) models")
        known = list(self.backend.labels)
        if candidate_labels is None:
            return LabelSet(tuple(known), tuple(range(len(known))))
        names = check_labels(candidate_labels)
        unknown = [label for label in names if label not in known]
        if unknown:
            shown = ", ".join(known[:40]) + (" ..." if len(known) > 40 else "")
            raise UsageError(f"labels {', '.join(unknown)} are not among this model's labels ({shown})")
        return LabelSet(tuple(names), tuple(known.index(label) for label in names))

    # -- scoring --------------------------------------------------------------------------------

    def __call__(self, audio: Any, *, candidate_labels: str | Sequence[str] | None = None,
                 hypothesis_template: str | Sequence[str] | None = None, top_k: Any = DEFAULT,
                 sampling_rate: int | None = None, batch_size: int | None = None):
        """Top-k predictions for one clip, or a list of them (same order) for a list of clips."""
        top_k = self._top_k(top_k)
        label_set = self.label_set(candidate_labels, hypothesis_template)
        clips = [audio] if is_single_input(audio) else list(audio)
        waveforms = [self.prepare(clip, sampling_rate) for clip in clips]
        scores = self.scores(waveforms, label_set, batch_size)
        predictions = [top_k_predictions(row, label_set.names, top_k) for row in scores]
        return predictions[0] if is_single_input(audio) else predictions

    def _top_k(self, top_k: Any) -> int | None:
        top_k = self.default_top_k if top_k is DEFAULT else top_k
        check_top_k(top_k)
        return top_k

    def prepare(self, audio: Any, sampling_rate: int | None = None) -> np.ndarray:
        """Decode one input to mono float32 at the model's rate and check it is long enough.

        Only what the model can use is decoded: a fixed-window model reads a little more than its
        window (and warns when the clip is much longer); a variable-length model reads up to its
        maximum duration and refuses longer clips; others up to the audio default (one hour).
        """
        window = self.backend.window_seconds
        fixed_window = bool(window) and not self.takes_labels  # zero-shot averages windows over a long clip
        try:
            clip = load_clip(audio, self.sampling_rate, sampling_rate,
                             max_seconds=LONG_CLIP_FACTOR * window if fixed_window else self.backend.max_seconds,
                             too_long="truncate" if fixed_window else "error")
        except AudioTooLongError as error:
            if self.backend.max_seconds is None:
                raise
            seen = getattr(error, "actual", "longer than that")
            raise AudioTooLongError(f"{describe(audio)}: audio is {seen}; this model takes clips of at most "
                                    f"{self.backend.max_seconds:g} s: classify longer recordings window by window "
                                    f"(audiosift classify --window SECONDS)") from None
        waveform = clip.samples
        if len(waveform) < self.min_samples:
            raise InvalidAudioError(
                f"{describe(audio)}: clip is {len(waveform) / self.sampling_rate:.3f} s long; this model "
                f"needs at least {self.min_samples / self.sampling_rate:.3f} s "
                f"({self.min_samples} samples at {self.sampling_rate} Hz)"
            )
        if clip.truncated:
            length = f"{clip.duration_s:.1f} s" if clip.duration_s else f"longer than {LONG_CLIP_FACTOR * window:g} s"
            warnings.warn(
                f"{describe(audio)}: clip is {length} but this model sees only its first {window:g} s; classify "
                f"long recordings window by window (audiosift classify --window SECONDS)", LongClipWarning,
                stacklevel=3)
        return waveform

    def outputs(self, waveforms: Sequence[np.ndarray], batch_size: int | None = None) -> np.ndarray:
        """The backend's raw outputs for prepared waveforms, in order (scores, or embeddings)."""
        return score_waveforms(self.backend, list(waveforms), batch_size or self.options.batch_size)

    def scores_from_outputs(self, outputs: np.ndarray, label_set: LabelSet) -> np.ndarray:
        """``(n, len(label_set.names))`` scores from the backend's outputs."""
        return outputs[:, list(label_set.columns)]

    def scores(self, waveforms: Sequence[np.ndarray], label_set: LabelSet | Sequence[str] | None = None,
               batch_size: int | None = None) -> np.ndarray:
        """Scores ``(n, len(labels))`` of prepared waveforms, in input order (``label_set``: from
        :meth:`label_set`; a list of labels is checked through it; None: the model's own labels)."""
        if not isinstance(label_set, LabelSet):
            label_set = self.label_set(label_set)
        if len(waveforms) == 0:
            return np.zeros((0, len(label_set.names)), dtype=np.float32)
        return self.scores_from_outputs(self.outputs(waveforms, batch_size), label_set)

    def classify_many(self, inputs: Iterable[Any], *, candidate_labels: str | Sequence[str] | None = None,
                      hypothesis_template: str | Sequence[str] | None = None, top_k: Any = DEFAULT,
                      sampling_rate: int | None = None, batch_size: int | None = None) -> Iterator[ItemResult]:
        """Classify a stream of inputs, yielding one :class:`ItemResult` per input, in order.

        A bad input yields a result with ``error`` set and never stops the others.
        """
        top_k = self._top_k(top_k)
        label_set = self.label_set(candidate_labels, hypothesis_template)
        self.prepare_labels(label_set)  # e.g. encode zero-shot prompts once, before any audio
        size = batch_size or self.options.batch_size
        for pending, waveforms in decoded_chunks(self, inputs, sampling_rate, size):
            positions = list(waveforms)
            scores = dict(zip(positions, self.scores([waveforms[p] for p in positions], label_set, size)))
            for result in pending:
                if result.index in scores:
                    result.predictions = top_k_predictions(scores[result.index], label_set.names, top_k)
                yield result

    def prepare_labels(self, label_set: LabelSet) -> None:
        """Work a label set needs once per job (nothing for a fixed-label model)."""


def check_labels(candidate_labels: str | Sequence[str] | None) -> list[str]:
    """A non-empty list of distinct labels; a string is split on commas ("dog, vacuum cleaner")."""
    if candidate_labels is None:
        raise UsageError("labels are required: the labels to score, e.g. ['dog', 'vacuum cleaner']")
    if isinstance(candidate_labels, str):
        candidate_labels = candidate_labels.split(",")
    labels = [label.strip() if isinstance(label, str) else label for label in candidate_labels]
    if not labels or any(not isinstance(label, str) or not label for label in labels):
        raise UsageError(f"labels must be non-empty strings, got {list(candidate_labels)!r}")
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise UsageError(f"labels have duplicates ({', '.join(duplicates)}): each label is scored once")
    return labels


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
