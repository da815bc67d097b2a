"""Streaming detection over a frame model: wake words (and any :class:`FrameStreamBackend` that
declares a threshold), audio in chunks of any size, events out as soon as they fire.

A label fires on the first frame whose score is above its threshold (the strict ``>`` that
microWakeWord's own ``process_streaming`` uses; openWakeWord's float scores never sit exactly on a
threshold). It then stays quiet until its score has fallen back to the threshold or below and
``refractory_s`` has passed since the event, so one utterance gives one event however long its
scores stay high. Labels are independent.

An event ends where the firing frame ends (the audio the model had heard) and starts one model
window (``window_seconds``) earlier, clamped at the stream's start: the wake word lies inside.
Times count from the first sample pushed since the last :meth:`WakeWordDetector.reset`.
Scores depend only on the frames, which the backend makes chunk-size invariant, so the events do too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from audiosift.errors import UsageError
from audiosift.inference.events import Event, per_label_thresholds
from audiosift.models.base import FrameStreamBackend

DEFAULT_REFRACTORY_S = 1.0  # a second wake word within a second of the first is the same utterance


@dataclass(frozen=True)
class FrameScores:
    """The frames one call completed: ``times`` (n,) frame end times in seconds, ``scores`` (n, labels)."""

    labels: list[str]
    times: np.ndarray
    scores: np.ndarray


def frame_backend(model) -> FrameStreamBackend:
    """The frame backend of a backend or of a loaded classifier (``audiosift.load``)."""
    backend = getattr(model, "backend", model)
    if not isinstance(backend, FrameStreamBackend):
        raise UsageError(f"a detector needs a streaming frame model (a wake-word model such as the "
                         f"'wake-word' preset), got {type(backend).__name__}")
    return backend


class WakeWordDetector:
    """``detector(chunk) -> [Event]`` over a stream; ``flush()`` at its end; ``reset()`` for a new one.

    ``labels`` picks the words to watch (default: all the model's); ``threshold`` is one number or
    ``{label: number}``; ``return_scores=True`` makes calls return ``(events, FrameScores)``.
    Chunks are mono float32 at the model's sampling rate (int16 arrays are taken as int16 audio).
    """

    def __init__(self, model, labels: list[str] | None = None, threshold: float | dict | None = None,
                 refractory_s: float = DEFAULT_REFRACTORY_S, return_scores: bool = False, vad: bool = False,
                 vad_threshold: float = 0.5, min_speech_s: float = 0.1):
        self.backend = frame_backend(model)
        known = list(self.backend.labels)
        self.labels = list(labels) if labels is not None else known
        missing = [label for label in self.labels if label not in known]
        if missing or not self.labels:
            raise UsageError(f"labels must be some of the model's: {', '.join(known)}; got {self.labels!r}")
        if refractory_s < 0:
            raise UsageError(f"refractory_s must be >= 0, got {refractory_s!r}")
        self.columns = np.asarray([known.index(label) for label in self.labels])
        # Unnamed labels: the backend's per-label thresholds (microWakeWord's cutoffs), else its default.
        declared = dict(self.backend.thresholds or {})
        self.thresholds = np.asarray(per_label_thresholds(
            threshold, self.labels, lambda label: declared.get(label, self.backend.default_threshold)))
        self.refractory_s = float(refractory_s)
        self.return_scores = return_scores
        self._stream = self.backend.new_stream()
        self._gate = SpeechGate(self.backend, vad_threshold, min_speech_s) if vad else None
        self.reset()

    @property
    def sampling_rate(self) -> int:
        return self.backend.sampling_rate

    rate = sampling_rate  # what detect_in_file and the microphone loop read, as for StreamingClassifier

    def reset(self) -> None:
        """Start a new stream: model state, times and refractory periods all begin again."""
        self._stream.reset()
        self.frames = 0
        self._armed = np.ones(len(self.labels), dtype=bool)
        self._last_event = np.full(len(self.labels), -np.inf)
        if self._gate is not None:
            self._gate.reset()

    def __call__(self, chunk: np.ndarray):
        if self._gate is not None:
            self._gate.push(chunk)
        return self._detect(self._stream.push(chunk))

    def flush(self):
        """Score what the model still holds (a last partial frame, if it scores one)."""
        if self._gate is not None:
            self._gate.flush()
        return self._detect(self._stream.flush())

    def frame_end(self, index: int) -> float:
        return float(self.backend.frame_end_seconds(index))

    def _detect(self, rows: np.ndarray):
        rows = np.asarray(rows, dtype=np.float32).reshape(-1, len(self.backend.labels))[:, self.columns]
        times = np.asarray([self.frame_end(self.frames + i) for i in range(len(rows))], dtype=np.float64)
        self.frames += len(rows)
        events = []
        window = float(self.backend.window_seconds or 0.0)
        for time, scores in zip(times, rows):
            above = scores > self.thresholds
            if self._gate is not None and above.any() and not self._gate.heard_speech(float(time) - window, float(time)):
                above[:] = False  # no speech in the audio the model heard: noise or music, not a wake word
            fire = above & self._armed & (time - self._last_event >= self.refractory_s)
            for column in np.flatnonzero(fire):
                events.append(Event(self.labels[column], round(max(0.0, float(time) - window), 6), round(float(time), 6),
                                    float(scores[column])))
                self._last_event[column] = time
            self._armed = ~above  # re-armed once a label's score is back at or below its threshold
        if self._gate is not None and len(times):
            self._gate.forget_before(float(times[-1]) - window)  # later windows start after this
        if self.return_scores:
            return events, FrameScores(list(self.labels), times, rows)
        return events

    def detect(self, waveform: np.ndarray) -> list[Event]:
        """Every event in one whole recording (the detector is reset first, and left at its end)."""
        self.reset()
        results = [self(waveform), self.flush()]
        return [event for result in results for event in (result[0] if self.return_scores else result)]


class SpeechGate:
    """Silero VAD beside a detector (``vad=True``): a wake word may fire only if the audio its model
    heard (the event's window) holds at least ``min_speech_s`` of frames at or above ``vad_threshold``.
    Both run on the same samples and the VAD decides from whole 32 ms frames inside the window, so
    the gate does not depend on chunk size either."""

    def __init__(self, backend: FrameStreamBackend, vad_threshold: float, min_speech_s: float):
        from audiosift.inference.vad import FrameVad, frames_for
        from audiosift.models.silero import SAMPLING_RATE

        if backend.sampling_rate != SAMPLING_RATE:
            raise UsageError(f"vad=True needs a {SAMPLING_RATE} Hz detector, got {backend.sampling_rate} Hz")
        if not 0.0 < vad_threshold < 1.0 or min_speech_s < 0:
            raise UsageError(f"vad_threshold must be in (0, 1) and min_speech_s >= 0, got {vad_threshold}, "
                             f"{min_speech_s}")
        self.vad, self.threshold, self.min_frames = FrameVad(), vad_threshold, frames_for(min_speech_s)
        self.reset()

    def reset(self) -> None:
        self.vad.reset()
        self.speech = np.zeros(0, dtype=bool)  # per VAD frame since first_frame: at or above the threshold
        self.first_frame = 0

    def push(self, chunk) -> None:
        samples = np.asarray(chunk)
        if samples.dtype == np.int16:  # detectors take int16 audio as it comes from a sound card
            samples = samples.astype(np.float32) / 32768.0
        self._add(self.vad.push(np.asarray(samples, dtype=np.float32).reshape(-1)))

    def flush(self) -> None:
        self._add(self.vad.flush())

    def _add(self, probs: np.ndarray) -> None:
        if len(probs):
            self.speech = np.concatenate([self.speech, probs >= self.threshold])

    def heard_speech(self, start_s: float, end_s: float) -> bool:
        from audiosift.models.silero import FRAME_SECONDS

        first = max(self.first_frame, math.ceil(start_s / FRAME_SECONDS - 1e-9))
        last = math.floor(end_s / FRAME_SECONDS + 1e-9)  # frames wholly inside [start, end]
        return int(np.count_nonzero(self.speech[first - self.first_frame : max(first, last) - self.first_frame])) \
            >= self.min_frames

    def forget_before(self, start_s: float) -> None:
        """Drop frames that start before ``start_s`` (no later window reaches back that far)."""
        from audiosift.models.silero import FRAME_SECONDS

        drop = min(len(self.speech), max(0, math.floor(start_s / FRAME_SECONDS) - self.first_frame))
        self.speech, self.first_frame = self.speech[drop:], self.first_frame + drop


def is_detector(classifier) -> bool:
    """A loaded model whose backend streams frames and declares when a label fires (wake words)."""
    backend = getattr(classifier, "backend", classifier)
    return isinstance(backend, FrameStreamBackend) and backend.default_threshold is not None


def detect_in_recording(classifier, source, *, labels=None, threshold=None, sampling_rate=None,
                        progress=None, block_seconds: float = 10.0):
    """The detections of a whole recording (path, bytes, array + rate), decoded block by block so a
    file of any length costs bounded memory. ``progress(done_s, total_s)`` after each block."""
    from audiosift.audio.stream import open_stream

    detector = WakeWordDetector(classifier, labels=labels, threshold=threshold)
    stream = open_stream(source, detector.rate, sampling_rate, block_seconds)
    done = 0
    for block in stream:
        yield from detector(block)
        done += len(block)
        if progress:
            progress(done / detector.rate, stream.duration_s)
    yield from detector.flush()


def live_detector(classifier, *, labels=None, threshold=None, vad: bool | None = None, vad_threshold: float = 0.5,
                  refractory_s: float | None = None, **window_options):
    """The streaming object (``reset()``, ``__call__(chunk) -> events``, ``flush()``, ``rate``, ``labels``)
    for any loaded model, chosen once here for the CLI and the server alike: a wake-word model
    streams its own frames (its family's thresholds; behind the VAD only when ``vad`` is True), any
    other classifier runs window by window behind the VAD unless ``vad`` is False.
    ``window_options`` (``window_s``, ``hop_s``, ``hypothesis_template``, ``return_scores`` for
    wake words) go to the chosen object."""
    if is_detector(classifier):
        return WakeWordDetector(classifier, labels=labels, threshold=threshold, vad=bool(vad),
                                vad_threshold=vad_threshold,
                                refractory_s=DEFAULT_REFRACTORY_S if refractory_s is None else refractory_s,
                                return_scores=bool(window_options.pop("return_scores", False)))
    from audiosift.inference.streaming import StreamingClassifier

    if window_options.pop("return_scores", False):
        raise UsageError("frame scores need a wake-word model (it scores every frame as it streams); "
                         "this model scores windows")
    return StreamingClassifier(classifier, labels=labels, threshold=0.5 if threshold is None else threshold,
                               vad=vad is not False, vad_threshold=vad_threshold,
                               refractory_s=0.5 if refractory_s is None else refractory_s, **window_options)
