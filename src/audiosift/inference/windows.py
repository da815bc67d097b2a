"""Classify a long recording window by window: predictions with ``start``/``end`` seconds.

Windows sit on a fixed grid: window ``k`` covers ``[k * hop, k * hop + window)`` in samples at the
model's rate. Windows keep coming until one reaches the end of the audio, so the last ones may be
shorter than ``window`` (the model pads them as it pads any short clip; ``end`` is where the audio
ended). Audio is decoded block by block (:mod:`audiosift.audio.stream`) and only the samples of
windows not yet classified are held, so memory is bounded whatever the file's length.

Default window and hop are facts of the loaded model (its backend), whatever name it was loaded by:
the model's own input length (``window_seconds``: AST's ``max_length`` frames, 1.295 s for Speech
Commands; Whisper's 30 s; CLAP's 10 s), else a window natural for a model of any input length
(``default_window_seconds``: 1 s for the Silero VAD), else :data:`FALLBACK_WINDOW_SECONDS`; the hop
is the backend's ``hop_seconds`` (Whisper: its whole window, as it is costly), else half the window.

Works with the fixed-label :class:`~audiosift.inference.classifier.Classifier` and with the CLAP
zero-shot classifier (pass ``candidate_labels``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from audiosift.audio.decode import AudioInput, describe
from audiosift.audio.stream import DEFAULT_BLOCK_SECONDS, open_stream
from audiosift.errors import InvalidAudioError, UsageError
from audiosift.inference.engine import top_k_predictions
from audiosift.inference.options import check_top_k

# For models with no natural input length (wav2vec2-style encoders take any length): long enough
# for a spoken sentence, short enough for timestamps to mean something.
FALLBACK_WINDOW_SECONDS = 5.0
ProgressCallback = Callable[[float, "float | None"], None]


@dataclass(frozen=True)
class WindowOptions:
    window_s: float
    hop_s: float
    top_k: int | None = 5  # labels per window; None for all
    batch_size: int | None = None  # windows per forward pass; default: the classifier's

    def __post_init__(self):
        if not self.window_s > 0:
            raise UsageError(f"window must be a positive number of seconds, got {self.window_s}")
        if not self.hop_s > 0:
            raise UsageError(f"hop must be a positive number of seconds, got {self.hop_s}")
        if self.hop_s > self.window_s:
            raise UsageError(f"hop ({self.hop_s} s) is longer than the window ({self.window_s} s): the "
                             f"audio between windows would never be classified; use hop <= window")
        check_top_k(self.top_k)


def default_window(classifier) -> tuple[float, float]:
    """``(window_s, hop_s)`` for ``classifier``: facts of the loaded model (module docstring)."""
    backend = classifier.backend
    window = backend.window_seconds or backend.default_window_seconds or FALLBACK_WINDOW_SECONDS
    return float(window), float(backend.hop_seconds or window / 2)


def window_options(classifier, window_s: float | None = None, hop_s: float | None = None,
                   **others) -> WindowOptions:
    """Options with the model's defaults filling what is not given (a given window alone: half-window hop)."""
    default_w, default_h = default_window(classifier)
    if window_s is None:
        window_s = default_w
        hop_s = hop_s if hop_s is not None else default_h
    elif hop_s is None:
        hop_s = window_s / 2
    return WindowOptions(float(window_s), float(hop_s), **others)


class WindowCutter:
    """Cut a stream of samples, pushed in blocks of any size, into the windows of the grid.

    Holds only the samples of windows not yet complete (at most one window plus one block).
    """

    def __init__(self, window: int, hop: int):
        if window < 1 or hop < 1:
            raise UsageError(f"window and hop must be at least one sample, got {window} and {hop}")
        self.window, self.hop = window, hop
        self.held = np.zeros(0, dtype=np.float32)
        self.held_start = 0  # absolute sample index of held[0]
        self.next_start = 0  # absolute start of the next window
        self.total = 0  # samples pushed so far

    def push(self, block: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """``(start_sample, samples)`` of the windows that ``block`` completes (copies)."""
        block = np.asarray(block, dtype=np.float32)
        self.held = np.concatenate([self.held, block]) if len(self.held) else block
        self.total += len(block)
        done = []
        while self.next_start + self.window <= self.total:
            offset = self.next_start - self.held_start
            done.append((self.next_start, self.held[offset : offset + self.window].copy()))
            self.next_start += self.hop
        drop = min(self.next_start, self.total) - self.held_start
        if drop > 0:
            self.held, self.held_start = self.held[drop:], self.held_start + drop
        return done

    def finish(self) -> list[tuple[int, np.ndarray]]:
        """The tail: windows starting before the end, until one has reached it (shorter than ``window``)."""
        done = []
        while self.next_start < self.total and (
                self.next_start == 0 or self.next_start - self.hop + self.window < self.total):
            done.append((self.next_start, self.held[self.next_start - self.held_start :].copy()))
            self.next_start += self.hop
        return done


def window_grid(blocks: Iterable[np.ndarray], window: int, hop: int) -> Iterator[tuple[int, np.ndarray]]:
    """``(start_sample, samples)`` for every window of the grid (see module docstring), from blocks."""
    cutter = WindowCutter(window, hop)
    for block in blocks:
        yield from cutter.push(block)
    yield from cutter.finish()


def _warn_if_window_too_long(classifier, window_s: float) -> None:
    from audiosift.inference.classifier import LONG_CLIP_FACTOR, LongClipWarning

    seen = classifier.window_seconds
    if seen and window_s > LONG_CLIP_FACTOR * seen and not classifier.takes_labels:
        warnings.warn(f"windows of {window_s:g} s are longer than the {seen:g} s this model sees: it classifies "
                      f"only the first {seen:g} s of each; use --window {seen:g} or less", LongClipWarning,
                      stacklevel=3)


class WindowScorer:
    """``scorer(windows) -> (n, len(label_set.names))``: windows shorter than the model's minimum are
    zero-padded up to it (the last window of a recording may be a few samples long)."""

    def __init__(self, classifier, label_set, batch_size: int | None):
        self.classifier, self.label_set, self.batch_size = classifier, label_set, batch_size
        self.labels = list(label_set.names)
        self.min_samples = classifier.min_samples

    def __call__(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        padded = [w if len(w) >= self.min_samples else np.pad(w, (0, self.min_samples - len(w)))
                  for w in waveforms]
        return self.classifier.scores(padded, self.label_set, self.batch_size)


def classify_windows(classifier, audio: AudioInput, options: WindowOptions | None = None, *,
                     candidate_labels: Sequence[str] | str | None = None,
                     hypothesis_template: str | Sequence[str] | None = None,
                     sampling_rate: int | None = None, progress: ProgressCallback | None = None,
                     block_seconds: float = DEFAULT_BLOCK_SECONDS) -> Iterator[dict]:
    """``{"start", "end", "predictions"}`` for each window of ``audio``, in order, as they are scored.

    ``progress(done_s, total_s)`` is called after each batch (``total_s`` None when the container
    does not say). Raises :class:`~audiosift.errors.AudiosiftError` for unreadable audio.
    """
    label_set = classifier.label_set(candidate_labels, hypothesis_template)  # fail before decoding
    options = options or window_options(classifier)
    _warn_if_window_too_long(classifier, options.window_s)
    rate = classifier.sampling_rate
    size = options.batch_size or classifier.options.batch_size
    scorer = WindowScorer(classifier, label_set, size)
    stream = open_stream(audio, rate, sampling_rate, block_seconds)
    window, hop = round(options.window_s * rate), round(options.hop_s * rate)
    batch: list[tuple[int, np.ndarray]] = []

    def finish(items):
        rows = scorer([samples for _, samples in items])
        for (start, samples), row in zip(items, rows):
            yield {"start": round(start / rate, 6), "end": round((start + len(samples)) / rate, 6),
                   "predictions": top_k_predictions(row, scorer.labels, options.top_k)}
        if progress:
            last_start, last = items[-1]
            progress((last_start + len(last)) / rate, stream.duration_s)

    for start, samples in window_grid(stream, window, hop):
        batch.append((start, samples))
        if len(batch) >= size:
            yield from finish(batch)
            batch = []
    if batch:
        if batch[0][0] == 0 and len(batch[0][1]) < scorer.min_samples:
            raise InvalidAudioError(f"{describe(audio)}: audio is {len(batch[0][1]) / rate:.3f} s long; this "
                                    f"model needs at least {scorer.min_samples / rate:.3f} s")
        yield from finish(batch)
