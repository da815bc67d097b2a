"""Speech segments with timestamps from Silero VAD (the ``speech`` preset), for files of any length.

Two streaming parts, both fed audio in chunks of any size and both giving the same results however
the audio is chunked:

- :class:`FrameVad` turns 16 kHz samples into one speech probability per 32 ms frame: the ``speech``
  column of the Silero backend's frame stream (a recurrent model, so each stream owns a model
  instance whose state carries from frame to frame as in Silero's ``audio_forward``).
- :class:`SegmentTracker` turns those probabilities into segments with hysteresis: speech starts
  at a frame ``>= threshold``, ends after ``min_silence_s`` of frames ``< neg_threshold``; segments
  shorter than ``min_speech_s`` are dropped, long ones split at ``max_speech_s``, and each is padded
  by ``pad_s`` on both sides (never into the previous segment, never past the ends of the audio).

:func:`speech_segments` runs both over a file decoded in blocks (memory bounded).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import numpy as np

from audiosift.errors import UsageError

from audiosift.audio.decode import AudioInput
from audiosift.audio.stream import DEFAULT_BLOCK_SECONDS, open_stream
from audiosift.models.silero import FRAME_SAMPLES, FRAME_SECONDS, SAMPLING_RATE, SileroStream

# Silero's own defaults (silero_vad.get_speech_timestamps): the end-of-speech threshold sits 0.15
# below the start threshold, so a probability wobbling around 0.5 does not flicker on and off.
NEGATIVE_THRESHOLD_GAP = 0.15
ProgressCallback = Callable[[float, "float | None"], None]


@dataclass(frozen=True)
class VadOptions:
    threshold: float = 0.5  # a frame at or above this starts speech
    neg_threshold: float | None = None  # speech ends below this; default threshold - 0.15
    min_speech_s: float = 0.25  # shorter segments are dropped (clicks, coughs)
    min_silence_s: float = 0.1  # silence needed to end a segment (shorter pauses are bridged)
    pad_s: float = 0.03  # added on both sides of each segment
    max_speech_s: float | None = None  # longer segments are cut into pieces of this length

    def __post_init__(self):
        if not 0.0 < self.threshold < 1.0:
            raise UsageError(f"VAD threshold must be between 0 and 1, got {self.threshold}")
        if self.neg_threshold is not None and not 0.0 <= self.neg_threshold <= self.threshold:
            raise UsageError(f"neg_threshold must be between 0 and threshold ({self.threshold}), "
                             f"got {self.neg_threshold}")
        for name in ("min_speech_s", "min_silence_s", "pad_s"):
            if getattr(self, name) < 0:
                raise UsageError(f"{name} must be >= 0 seconds, got {getattr(self, name)}")
        if self.max_speech_s is not None and self.max_speech_s < 2 * FRAME_SECONDS:
            raise UsageError(f"max_speech_s must be at least {2 * FRAME_SECONDS} s (two 32 ms frames), "
                             f"got {self.max_speech_s}")

    @property
    def end_threshold(self) -> float:
        if self.neg_threshold is not None:
            return self.neg_threshold
        return max(self.threshold - NEGATIVE_THRESHOLD_GAP, 0.01)


@dataclass(frozen=True)
class SpeechSegment:
    start: float  # seconds from the start of the audio, padding included
    end: float
    score: float  # mean speech probability of the segment's frames (padding excluded)

    def as_dict(self) -> dict:
        return asdict(self)


def frames_for(seconds: float) -> int:
    """Whole 32 ms frames covering ``seconds`` (the small epsilon keeps 0.096 s at 3 frames)."""
    return math.ceil(seconds / FRAME_SECONDS - 1e-9)


class FrameVad:
    """16 kHz mono samples, in chunks of any size -> speech probability per 32 ms frame.

    A view of the VAD backend's frame stream (:class:`~audiosift.models.silero.SileroStream`): its
    ``speech`` column, one value per frame.
    """

    def __init__(self, model=None):
        self.stream = SileroStream(model)

    def reset(self) -> None:
        self.stream.reset()

    @property
    def frames_done(self) -> int:
        return self.stream.frames_done

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Probabilities of the frames completed by ``samples`` (possibly none)."""
        return self.stream.speech_probabilities(samples)

    def flush(self) -> np.ndarray:
        """The last partial frame, zero-padded as Silero pads a signal's end; then nothing is pending."""
        return self.stream.flush_probabilities()


class SegmentTracker:
    """Frame probabilities, as they come -> finished :class:`SpeechSegment` s (see module docstring)."""

    def __init__(self, options: VadOptions = VadOptions()):
        self.options = options
        self._min_speech = frames_for(options.min_speech_s)
        # As silero's get_speech_timestamps counts: from the first silent frame's start to the start of
        # the frame being judged, so a segment ends on the frame after min_silence_s of silence.
        self._min_silence = frames_for(options.min_silence_s) + 1
        self._max_speech = frames_for(options.max_speech_s) if options.max_speech_s else None
        self.reset()

    def reset(self) -> None:
        self.frame = 0  # index of the next frame
        self.speech_start: int | None = None  # first frame of the segment in progress
        self._silence_start: int | None = None
        self._prob_sum = 0.0  # sum of the segment's frame probabilities so far
        self._sum_before_silence = 0.0  # the same sum when the current silence began
        self._last_end_s = 0.0  # padded end of the last segment given out

    @property
    def in_speech(self) -> bool:
        return self.speech_start is not None

    def push(self, probs: np.ndarray) -> list[SpeechSegment]:
        done = []
        threshold, end_threshold = self.options.threshold, self.options.end_threshold
        for prob in np.asarray(probs, dtype=np.float64):
            index, self.frame = self.frame, self.frame + 1
            if self.speech_start is None:
                if prob >= threshold:
                    self.speech_start, self._silence_start, self._prob_sum = index, None, 0.0
                else:
                    continue
            self._prob_sum += prob
            if prob >= threshold:
                self._silence_start = None
            elif prob < end_threshold:
                if self._silence_start is None:
                    self._silence_start, self._sum_before_silence = index, self._prob_sum - prob
                if self.frame - self._silence_start >= self._min_silence:
                    done += self._close(self._silence_start, None)
                    continue
            if self._max_speech and self.frame - self.speech_start >= self._max_speech:
                done += self._close(self.frame, None)
        return done

    def finish(self, total_seconds: float) -> list[SpeechSegment]:
        """End of audio: close the segment in progress (at its silence, if one had begun)."""
        if self.speech_start is None:
            return []
        end = self._silence_start if self._silence_start is not None else self.frame
        return self._close(end, total_seconds)

    def _close(self, end_frame: int, total_seconds: float | None) -> list[SpeechSegment]:
        start_frame = self.speech_start
        speech_sum = self._sum_before_silence if end_frame == self._silence_start else self._prob_sum
        mean_prob = speech_sum / max(1, end_frame - start_frame)
        self.speech_start, self._silence_start, self._prob_sum = None, None, 0.0
        if end_frame - start_frame < self._min_speech:
            return []
        pad = self.options.pad_s
        start = max(start_frame * FRAME_SECONDS - pad, self._last_end_s, 0.0)
        end = end_frame * FRAME_SECONDS + pad
        if total_seconds is not None:
            end = min(end, total_seconds)
        self._last_end_s = end
        return [SpeechSegment(round(start, 4), round(end, 4), round(float(mean_prob), 4))]


class StreamingSegmenter:
    """FrameVad + SegmentTracker: 16 kHz chunks of any size in, finished segments out."""

    def __init__(self, options: VadOptions = VadOptions(), model=None):
        self.vad = FrameVad(model)
        self.tracker = SegmentTracker(options)
        self.samples_seen = 0

    def reset(self) -> None:
        self.vad.reset()
        self.tracker.reset()
        self.samples_seen = 0

    def push(self, samples: np.ndarray) -> list[SpeechSegment]:
        self.samples_seen += len(samples)
        return self.tracker.push(self.vad.push(samples))

    def finish(self) -> list[SpeechSegment]:
        segments = self.tracker.push(self.vad.flush())
        return segments + self.tracker.finish(self.samples_seen / SAMPLING_RATE)


def iter_speech_segments(audio: AudioInput, options: VadOptions = VadOptions(), *, sampling_rate: int | None = None,
                         progress: ProgressCallback | None = None,
                         block_seconds: float = DEFAULT_BLOCK_SECONDS) -> Iterator[SpeechSegment]:
    """Speech segments of ``audio`` as they are found, decoding it block by block.

    ``progress(done_s, total_s)`` is called after each block (``total_s`` None when unknown).
    """
    stream = open_stream(audio, SAMPLING_RATE, sampling_rate, block_seconds)
    segmenter = StreamingSegmenter(options)
    for block in stream:
        yield from segmenter.push(block)
        if progress:
            progress(segmenter.samples_seen / SAMPLING_RATE, stream.duration_s)
    yield from segmenter.finish()


def speech_segments(audio: AudioInput, options: VadOptions | None = None, *, sampling_rate: int | None = None,
                    progress: ProgressCallback | None = None, **option_overrides) -> list[SpeechSegment]:
    """All speech segments of ``audio`` (path, bytes, array + ``sampling_rate``), in order.

    Options come as a :class:`VadOptions` or keywords, e.g. ``speech_segments(path, threshold=0.6,
    min_silence_s=0.3)``.
    """
    if options is not None and option_overrides:
        raise UsageError("pass VadOptions or keyword options, not both")
    options = options or VadOptions(**option_overrides)
    return list(iter_speech_segments(audio, options, sampling_rate=sampling_rate, progress=progress))
