"""Classify only the speech in a long recording (the VAD decides), e.g. spoken language ID.

Silence, music and noise do not vote: the recording is streamed at 16 kHz through Silero VAD
(:mod:`audiosift.inference.vad`) and each speech segment, as soon as it is complete, is classified
on its own (cut into pieces of at most the model's window, e.g. 30 s for Whisper). Only the audio of
segments not yet classified is held, so memory stays bounded on any length of recording.

Aggregation (:class:`LogProbAverage`): the overall score of label ``c`` is the duration-weighted
mean log-probability over all speech segments, ``L_c = sum_i d_i log p_ic / sum_i d_i``, and the
reported overall scores are ``softmax(L)`` (a normalised, duration-weighted geometric mean of the
segments' probabilities). A long segment counts more than a short one; one confident short segment
cannot outvote many consistent ones, and a language must be plausible across segments to win.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from audiosift.audio.decode import AudioInput, resample
from audiosift.audio.stream import DEFAULT_BLOCK_SECONDS, open_stream
from audiosift.inference.engine import top_k_predictions
from audiosift.inference.options import check_top_k
from audiosift.inference.vad import StreamingSegmenter, VadOptions
from audiosift.inference.windows import ProgressCallback, default_window
from audiosift.models.silero import FRAME_SAMPLES, SAMPLING_RATE as VAD_RATE

# Probabilities are clipped here before the log: a softmax can underflow to exactly 0 in float32.
MIN_PROBABILITY = 1e-30


class LogProbAverage:
    """Duration-weighted mean of log-probabilities over segments (see module docstring)."""

    def __init__(self, n_labels: int):
        self.weighted_sum = np.zeros(n_labels, dtype=np.float64)
        self.total_weight = 0.0

    def add(self, probabilities: np.ndarray, duration_s: float) -> None:
        log_p = np.log(np.clip(np.asarray(probabilities, dtype=np.float64), MIN_PROBABILITY, None))
        self.weighted_sum += duration_s * log_p
        self.total_weight += duration_s

    def scores(self) -> np.ndarray | None:
        """``softmax(mean log p)``, or None when nothing was added (no speech)."""
        if self.total_weight <= 0:
            return None
        mean = self.weighted_sum / self.total_weight
        exp = np.exp(mean - mean.max())
        return (exp / exp.sum()).astype(np.float32)


@dataclass
class SpeechResult:
    """What speech-gated classification found in one recording."""

    predictions: list[dict] | None  # overall, best first; None when there was no speech
    segments: list[dict] = field(default_factory=list)  # {"start", "end", "predictions"} per segment
    speech_seconds: float = 0.0
    duration_seconds: float = 0.0

    @property
    def label(self) -> str | None:
        return self.predictions[0]["label"] if self.predictions else None


class _SegmentAudio:
    """The 16 kHz samples that a segment still to be finished may need, and nothing older."""

    def __init__(self):
        self.samples = np.zeros(0, dtype=np.float32)
        self.start = 0  # absolute index of samples[0]

    @property
    def end(self) -> int:
        return self.start + len(self.samples)

    def append(self, block: np.ndarray) -> None:
        self.samples = np.concatenate([self.samples, block])

    def cut(self, start_s: float, end_s: float) -> np.ndarray:
        first, last = round(start_s * VAD_RATE) - self.start, round(end_s * VAD_RATE) - self.start
        return self.samples[max(first, 0) : max(last, 0)].copy()

    def forget_before(self, absolute_index: int) -> None:
        drop = absolute_index - self.start
        if drop > 0:
            self.samples, self.start = self.samples[drop:], self.start + drop


def iter_speech_predictions(classifier, audio: AudioInput, *, vad_options: VadOptions | None = None,
                            max_segment_s: float | None = None, sampling_rate: int | None = None,
                            progress: ProgressCallback | None = None, block_seconds: float = DEFAULT_BLOCK_SECONDS,
                            label_set=None) -> Iterator[tuple[float, float, np.ndarray]]:
    """``(start, end, scores)`` for each speech segment of ``audio``, in order, as they are scored
    (``label_set``: from ``classifier.label_set(...)``; default the model's own labels).

    Segments longer than ``max_segment_s`` (default: the model's window, 30 s for Whisper) are cut
    into pieces, each classified on its own.
    """
    max_segment_s = max_segment_s or default_window(classifier)[0]
    label_set = label_set or classifier.label_set()
    base = vad_options or VadOptions()
    pad = base.pad_s
    options = VadOptions(base.threshold, base.neg_threshold, base.min_speech_s, base.min_silence_s, pad,
                         min(base.max_speech_s or max_segment_s, max(max_segment_s - 2 * pad, 0.064)))
    stream = open_stream(audio, VAD_RATE, sampling_rate, block_seconds)
    segmenter = StreamingSegmenter(options)
    held = _SegmentAudio()
    pad_samples = round(pad * VAD_RATE)
    waiting: list = []  # finished segments whose padded end has not arrived yet
    pending: list[tuple[float, float, np.ndarray]] = []  # cut, waiting for a full batch
    for block in stream:
        held.append(block)
        waiting += segmenter.push(block)
        while waiting and round(waiting[0].end * VAD_RATE) <= held.end:
            segment = waiting.pop(0)
            pending.append((segment.start, segment.end, held.cut(segment.start, segment.end)))
        tracker = segmenter.tracker
        first_needed = (tracker.speech_start if tracker.in_speech else tracker.frame) * FRAME_SAMPLES - pad_samples
        if waiting:
            first_needed = min(first_needed, round(waiting[0].start * VAD_RATE))
        held.forget_before(first_needed)
        if len(pending) >= classifier.options.batch_size:
            yield from _score(classifier, pending, label_set)
            pending = []
        if progress:
            progress(segmenter.samples_seen / VAD_RATE, stream.duration_s)
    for segment in waiting + segmenter.finish():
        pending.append((segment.start, segment.end, held.cut(segment.start, segment.end)))
    yield from _score(classifier, pending, label_set)


def _score(classifier, pending, label_set=None) -> Iterator[tuple[float, float, np.ndarray]]:
    if not pending:
        return
    min_samples = classifier.min_samples
    waveforms = []
    for _, _, samples in pending:
        waveform = resample(samples, VAD_RATE, classifier.sampling_rate)
        if len(waveform) < min_samples:
            waveform = np.pad(waveform, (0, min_samples - len(waveform)))
        waveforms.append(waveform)
    for (start, end, _), row in zip(pending, classifier.scores(waveforms, label_set)):
        yield start, end, row


def classify_speech(classifier, audio: AudioInput, *, top_k: int | None = 5, vad_options: VadOptions | None = None,
                    max_segment_s: float | None = None, sampling_rate: int | None = None,
                    progress: ProgressCallback | None = None, candidate_labels=None,
                    hypothesis_template=None) -> SpeechResult:
    """Classify only the speech in ``audio`` and aggregate (see module docstring).

    For ``audiosift.load("language")`` this is spoken language ID of a long recording: the overall
    language plus the language of every speech segment.
    """
    check_top_k(top_k)
    label_set = classifier.label_set(candidate_labels, hypothesis_template)
    labels: Sequence[str] = label_set.names
    average = LogProbAverage(len(labels))
    result = SpeechResult(None)

    def track(done_s: float, total_s: float | None) -> None:
        result.duration_seconds = round(done_s, 4)
        if progress:
            progress(done_s, total_s)

    for start, end, row in iter_speech_predictions(classifier, audio, vad_options=vad_options,
                                                   max_segment_s=max_segment_s, sampling_rate=sampling_rate,
                                                   progress=track, label_set=label_set):
        average.add(row, end - start)
        result.segments.append({"start": start, "end": end, "predictions": top_k_predictions(row, labels, top_k)})
        result.speech_seconds += end - start
    overall = average.scores()
    if overall is not None:
        result.predictions = top_k_predictions(overall, labels, top_k)
    result.speech_seconds = round(result.speech_seconds, 4)
    return result
