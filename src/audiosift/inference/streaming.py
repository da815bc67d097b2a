"""Live detection on a stream of audio chunks, in the style of silero-vad's ``VADIterator``.

``detector = StreamingClassifier(audiosift.load("keywords"), labels=["yes", "no"])``, then
``detector(chunk)`` for each chunk as it arrives (any size, float32 mono at the model's rate), which
returns the new detections; ``detector.flush()`` at the end of a stream; ``detector.reset()`` to
start over.

Results do not depend on how the audio is chunked: everything runs on fixed grids counted from
the start of the stream. Windows (``window_s`` long, every ``hop_s``) start at multiples of the
hop; the VAD runs on Silero's 32 ms frames; each window is scored on its own (a batch of one, so
batching cannot change a score), and a window is judged once both its audio and its VAD frames
have arrived.

- VAD gating (default on): a window is classified only if at least ``min_speech_s`` of its frames
  have a speech probability >= ``vad_threshold``. Silence, noise and music cost only the VAD
  (~0.3 ms per 32 ms frame), not the classifier.
- Debouncing: label L fires when a window scores L >= ``threshold``; later windows scoring L that
  start less than ``refractory_s`` after the end of the last window that scored L belong to the
  same utterance and do not fire again (the overlapping windows that all hear one word give one
  event).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from audiosift.errors import UsageError

from audiosift.audio.decode import resample_stream, to_channels_first, to_mono
from audiosift.inference.events import Event, per_label_thresholds
from audiosift.inference.vad import FrameVad, frames_for
from audiosift.inference.windows import WindowCutter, WindowScorer, window_options
from audiosift.models.silero import FRAME_SAMPLES, SAMPLING_RATE as VAD_RATE


@dataclass(frozen=True)
class StreamingOptions:
    threshold: float | Mapping[str, float] = 0.5  # a label fires at or above this; {label: score}: per label
    labels: tuple[str, ...] | None = None  # fixed models: the labels that may fire (None: all); zero-shot: required
    window_s: float | None = None  # default: the model's (see audiosift.inference.windows)
    hop_s: float | None = None
    vad: bool = True  # classify only windows with speech
    vad_threshold: float = 0.5
    min_speech_s: float = 0.1  # speech a window must hold to be classified (0.1 s = 4 frames of 32 ms)
    refractory_s: float = 0.5
    hypothesis_template: str | tuple[str, ...] | None = None  # zero-shot prompt(s)

    def __post_init__(self):
        values = self.threshold.values() if isinstance(self.threshold, Mapping) else [self.threshold]
        if not all(isinstance(v, (int, float)) and 0.0 < v <= 1.0 for v in values):
            raise UsageError(f"threshold must be in (0, 1] (one number, or {{label: number}}), got {self.threshold}")
        if not 0.0 < self.vad_threshold < 1.0:
            raise UsageError(f"vad_threshold must be in (0, 1), got {self.vad_threshold}")
        if self.min_speech_s < 0 or self.refractory_s < 0:
            raise UsageError("min_speech_s and refractory_s must be >= 0 seconds")
        if self.labels is not None and not self.labels:
            raise UsageError("labels: give at least one label, or None for all of the model's labels")


class StreamingClassifier:
    """Feed chunks, get :class:`~audiosift.inference.events.Event` s (see module docstring)."""

    def __init__(self, classifier, options: StreamingOptions | None = None, **overrides):
        if options is not None and overrides:
            raise UsageError("pass StreamingOptions or keyword options, not both")
        if options is None:
            labels = overrides.get("labels")
            if isinstance(labels, str):
                overrides["labels"] = tuple(label.strip() for label in labels.split(","))
            elif labels is not None:
                overrides["labels"] = tuple(labels)
            options = StreamingOptions(**overrides)
        self.classifier, self.options = classifier, options
        self.rate = classifier.sampling_rate
        windowing = window_options(classifier, options.window_s, options.hop_s)
        self.window_s, self.hop_s = windowing.window_s, windowing.hop_s
        # The labels that may fire: a fixed model's subset (its own scores), or zero-shot candidates.
        self._scorer = WindowScorer(classifier, classifier.label_set(options.labels, options.hypothesis_template), 1)
        self._allowed = list(range(len(self._scorer.labels)))
        self._thresholds = per_label_thresholds(options.threshold, self._scorer.labels,
                                                lambda label: StreamingOptions.threshold)
        self._window, self._hop = round(self.window_s * self.rate), round(self.hop_s * self.rate)
        self._min_speech_frames = frames_for(options.min_speech_s)
        self._vad = FrameVad() if options.vad else None
        self.reset()

    @property
    def labels(self) -> list[str]:
        return [self._scorer.labels[i] for i in self._allowed]

    def reset(self) -> None:
        """Forget everything: the next chunk is time 0."""
        self._cutter = WindowCutter(self._window, self._hop)
        self._waiting: list[tuple[int, np.ndarray]] = []  # windows cut, waiting for their VAD frames
        self._last_heard: dict[int, float] = {}  # label position -> end of the last window that scored it
        self._resampler = None
        if self._vad is not None:
            self._vad.reset()
            self._frame_probs = np.zeros(0, dtype=np.float32)
            self._frames_start = 0  # frame index of _frame_probs[0]
            if self.rate != VAD_RATE:
                self._resampler = resample_stream(self.rate, VAD_RATE)
        self.windows_seen = 0
        self.windows_classified = 0

    def __call__(self, chunk) -> list[Event]:
        """New detections completed by ``chunk`` (mono float32 at the model's rate; ints are scaled)."""
        samples = _as_mono(chunk)
        if self._vad is not None:
            vad_samples = self._resampler.resample_chunk(samples) if self._resampler else samples
            self._add_frames(self._vad.push(vad_samples))
        self._waiting += self._cutter.push(samples)
        return self._judge_ready()

    def flush(self) -> list[Event]:
        """End of stream: judge the last (shorter) windows too."""
        if self._vad is not None:
            if self._resampler is not None:
                self._add_frames(self._vad.push(self._resampler.resample_chunk(np.zeros(0, np.float32), last=True)))
            self._add_frames(self._vad.flush())
        self._waiting += self._cutter.finish()
        return self._judge_ready(final=True)

    def _add_frames(self, probs: np.ndarray) -> None:
        if len(probs):
            self._frame_probs = np.concatenate([self._frame_probs, probs])

    def _frame_range(self, start: int, length: int) -> tuple[int, int]:
        """The VAD frames lying wholly inside a window (model samples ``[start, start + length)``)."""
        first = math.ceil(start / self.rate * VAD_RATE / FRAME_SAMPLES - 1e-9)
        last = math.floor((start + length) / self.rate * VAD_RATE / FRAME_SAMPLES + 1e-9)
        return first, max(first, last)

    def _judge_ready(self, final: bool = False) -> list[Event]:
        events = []
        while self._waiting:
            start, samples = self._waiting[0]
            if self._vad is not None:
                first, last = self._frame_range(start, len(samples))
                available = self._frames_start + len(self._frame_probs)
                if last > available and not final:
                    break  # its VAD frames have not all arrived
                frames = self._frame_probs[first - self._frames_start : last - self._frames_start]
                speech = int(np.count_nonzero(frames >= self.options.vad_threshold))
            self._waiting.pop(0)
            self.windows_seen += 1
            if self._vad is None or speech >= self._min_speech_frames:
                events += self._classify(start, samples)
        self._forget_old_frames()
        return events

    def _forget_old_frames(self) -> None:
        if self._vad is None:
            return
        next_start = self._waiting[0][0] if self._waiting else self._cutter.next_start
        keep_from = math.floor(next_start / self.rate * VAD_RATE / FRAME_SAMPLES)
        drop = keep_from - self._frames_start
        if drop > 0:
            self._frame_probs, self._frames_start = self._frame_probs[drop:], keep_from

    def _classify(self, start: int, samples: np.ndarray) -> list[Event]:
        self.windows_classified += 1
        scores = self._scorer([samples])[0]
        start_s, end_s = start / self.rate, (start + len(samples)) / self.rate
        events = []
        for position in self._allowed:
            score = float(scores[position])
            if score < self._thresholds[position]:
                continue
            last_end = self._last_heard.get(position)
            self._last_heard[position] = end_s
            if last_end is not None and start_s < last_end + self.options.refractory_s:
                continue  # the same utterance, still being heard
            events.append(Event(self._scorer.labels[position], round(start_s, 6), round(end_s, 6), score))
        return events


def _as_mono(chunk) -> np.ndarray:
    array = np.asarray(chunk)
    if array.size == 0:
        return np.zeros(0, dtype=np.float32)
    if array.ndim == 2 and 1 in array.shape:
        array = array.reshape(-1)  # sounddevice gives (frames, 1) for one channel
    return np.ascontiguousarray(to_mono(to_channels_first(array)), dtype=np.float32)


def detect_in_file(detector: StreamingClassifier, source, *, realtime: bool = False, chunk_s: float = 0.1,
                   sampling_rate: int | None = None, clock=None, sleep=None):
    """Feed a file (or array) through ``detector`` in ``chunk_s`` chunks, as a microphone would, and
    yield its events. ``realtime`` paces the chunks to the wall clock; otherwise as fast as possible.
    The detector is reset first and flushed at the end.
    """
    import time

    from audiosift.audio.stream import open_stream

    clock, sleep = clock or time.monotonic, sleep or time.sleep
    detector.reset()
    started, fed = clock(), 0
    for chunk in open_stream(source, detector.rate, sampling_rate, block_seconds=chunk_s):
        if realtime:  # a chunk is available only once it has been "recorded"
            wait = started + (fed + len(chunk)) / detector.rate - clock()
            if wait > 0:
                sleep(wait)
        fed += len(chunk)
        yield from detector(chunk)
    yield from detector.flush()
