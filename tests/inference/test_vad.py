"""Speech segments from the real Silero VAD on recordings with known content, checked against
silero-vad's own ``get_speech_timestamps``; and speech-gated classification (language ID on long
audio): only speech is classified; how the votes are combined."""

from __future__ import annotations

import math

import numpy as np
import pytest

import recordings
import stand_in
from audiosift.audio import load_audio
from audiosift.inference.speech_gated import LogProbAverage, classify_speech
from audiosift.inference.vad import (FRAME_SECONDS, FrameVad, SegmentTracker, SpeechSegment, StreamingSegmenter,
                                     VadOptions, speech_segments)

TOLERANCE_S = 0.25
PARTS = [
    ("silence", 1.3), ("speech", "turn on the lights in the kitchen please"), ("noise", 2.0),
    ("speech", "yes"), ("tone", 1.5), ("silence", 0.7), ("speech", "the quick brown fox jumps over the lazy dog"),
    ("silence", 1.2), ("speech", "stop"), ("noise", 1.0), ("tone", 0.8), ("speech", ("bonjour tout le monde", "fr")),
    ("silence", 2.0),
]


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vad")
    samples, placed = recordings.compose(PARTS, folder)
    return recordings.write(folder / "recording.wav", samples), samples, placed


def speech_truth(placed):
    return [p for p in placed if p.kind == "speech"]


def test_segments_fall_within_a_quarter_second_of_the_placed_speech(recording):
    path, _, placed = recording
    segments = speech_segments(path)
    truth = speech_truth(placed)
    for part in truth:
        overlapping = [s for s in segments if s.end > part.start and s.start < part.end]
        assert overlapping, f"no segment for {part.text!r} at {part.start:.2f}-{part.end:.2f} s"
        assert abs(overlapping[0].start - part.start) <= TOLERANCE_S, (part, overlapping)
        assert abs(overlapping[-1].end - part.end) <= TOLERANCE_S, (part, overlapping)
    # Noise, tones and silence give no segment of their own.
    for segment in segments:
        assert any(segment.end > p.start and segment.start < p.end for p in truth), segment
    assert all(0.5 < s.score <= 1.0 for s in segments)


def test_segments_are_ordered_disjoint_and_inside_the_audio(recording):
    _, samples, _ = recording
    segments = speech_segments(samples, sampling_rate=16000, pad_s=0.3, min_silence_s=0.05)
    assert segments
    for before, after in zip(segments, segments[1:]):
        assert before.end <= after.start
    assert segments[0].start >= 0 and segments[-1].end <= len(samples) / 16000


@pytest.mark.parametrize("chunk", [160, 512, 4000])
def test_streaming_segments_do_not_depend_on_chunk_size(recording, chunk):
    _, samples, _ = recording
    whole = StreamingSegmenter()
    expected = whole.push(samples) + whole.finish()
    streamed = StreamingSegmenter()
    got = []
    for start in range(0, len(samples), chunk):
        got += streamed.push(samples[start : start + chunk])
    got += streamed.finish()
    assert got == expected and len(got) == 5


def frames(*runs):
    """Frame probabilities from (probability, seconds) runs."""
    return np.concatenate([np.full(round(seconds / FRAME_SECONDS), p, np.float32) for p, seconds in runs])


def track(probs, **options):
    tracker = SegmentTracker(VadOptions(**options))
    return tracker.push(probs) + tracker.finish(len(probs) * FRAME_SECONDS)


def test_tracker_hysteresis_min_durations_and_padding():
    probs = frames((0.1, 0.64), (0.9, 0.96), (0.1, 0.064), (0.9, 0.32), (0.1, 0.64), (0.95, 0.128), (0.1, 0.64))
    # The 64 ms dip is shorter than min_silence (0.1 s): bridged. The 128 ms blip is shorter than
    # min_speech (0.25 s): dropped.
    segments = track(probs, pad_s=0.0)
    assert [(s.start, s.end) for s in segments] == [(0.64, 1.984)]
    # Between the thresholds (0.35..0.5) speech goes on; below neg_threshold it ends.
    assert len(track(frames((0.9, 0.64), (0.4, 0.64), (0.9, 0.64)), pad_s=0.0)) == 1
    padded = track(probs, pad_s=0.1)
    assert [(s.start, s.end) for s in padded] == [(0.54, 2.084)]


def test_tracker_padding_never_overlaps_and_max_speech_splits():
    probs = frames((0.9, 0.64), (0.1, 0.16), (0.9, 0.64))
    segments = track(probs, pad_s=0.2)
    assert len(segments) == 2 and segments[0].start == 0.0  # clamped at the start of the audio
    assert segments[0].end <= segments[1].start
    long = track(frames((0.9, 3.5)), pad_s=0.0, max_speech_s=1.0)  # 109 frames: 32 + 32 + 32 + 13
    assert [round(s.end - s.start, 3) for s in long] == [1.024, 1.024, 1.024, 0.416]
    short_tail = track(frames((0.9, 3.2)), pad_s=0.0, max_speech_s=1.0)  # the last 4 frames: < min_speech
    assert [round(s.end - s.start, 3) for s in short_tail] == [1.024, 1.024, 1.024]


def test_vad_options_are_checked():
    for bad in [dict(threshold=0.0), dict(threshold=0.5, neg_threshold=0.6), dict(min_speech_s=-1),
                dict(max_speech_s=0.01)]:
        with pytest.raises(ValueError):
            VadOptions(**bad)
    assert VadOptions(threshold=0.5).end_threshold == pytest.approx(0.35)


def SpyClassifier():
    """Two labels; remembers what it was asked to classify. p(loud) grows with the clip's RMS."""

    def score_row(w):
        loud = min(0.99, 0.2 + 4 * float(np.sqrt(np.mean(w**2))))
        return [loud, 1 - loud]

    return stand_in.SpyClassifier(["loud", "soft"], score_row, 16000, batch_size=2, min_samples=400,
                                  window_seconds=30.0)


def test_only_speech_is_classified(recording):
    path, _, placed = recording
    samples = load_audio(path, 16000)  # the 16-bit file, as decoded
    spy = SpyClassifier()
    result = classify_speech(spy, path, top_k=None)
    truth = speech_truth(placed)
    assert len(spy.heard) == len(result.segments) == len(truth)
    for part, segment, heard in zip(truth, result.segments, spy.heard):
        assert abs(segment["start"] - part.start) <= TOLERANCE_S and abs(segment["end"] - part.end) <= TOLERANCE_S
        start, end = round(segment["start"] * 16000), round(segment["end"] * 16000)
        np.testing.assert_array_equal(heard, samples[start:end])  # exactly the segment's audio
    assert result.speech_seconds == pytest.approx(sum(s["end"] - s["start"] for s in result.segments))
    assert result.duration_seconds == pytest.approx(len(samples) / 16000, abs=1e-3)


def test_overall_scores_are_the_duration_weighted_mean_log_probability(recording):
    path, _, _ = recording
    spy = SpyClassifier()
    result = classify_speech(spy, path, top_k=None)
    durations = np.array([s["end"] - s["start"] for s in result.segments])
    probs = np.array([[{p["label"]: p["score"] for p in s["predictions"]}[label] for label in spy.labels]
                      for s in result.segments])
    mean_log = (durations[:, None] * np.log(probs)).sum(axis=0) / durations.sum()
    expected = np.exp(mean_log) / np.exp(mean_log).sum()
    got = {p["label"]: p["score"] for p in result.predictions}
    np.testing.assert_allclose([got[label] for label in spy.labels], expected, rtol=1e-5)
    assert result.label == spy.labels[int(np.argmax(expected))]


def test_silence_and_music_do_not_vote(tmp_path):
    """Adding long tones and noise between the same speech changes nothing in the answer."""
    speech_only = [("silence", 0.5), ("speech", "good morning everyone"), ("silence", 1.0), ("speech", "stop"),
                   ("silence", 0.5)]
    with_music = [("silence", 0.5), ("speech", "good morning everyone"), ("silence", 0.5), ("tone", 3.0),
                  ("noise", 3.0), ("silence", 0.5), ("speech", "stop"), ("silence", 0.5)]
    answers = []
    for parts in (speech_only, with_music):
        samples, _ = recordings.compose(parts, tmp_path)
        result = classify_speech(SpyClassifier(), samples, sampling_rate=16000, top_k=None,
                                 vad_options=VadOptions(pad_s=0.0))
        answers.append((len(result.segments), result.predictions))
    assert answers[0][0] == answers[1][0] == 2
    (_, quiet), (_, noisy) = answers
    for a, b in zip(quiet, noisy):
        assert a["label"] == b["label"] and a["score"] == pytest.approx(b["score"], abs=0.02)


def test_no_speech_gives_no_answer():
    result = classify_speech(SpyClassifier(), np.zeros(16000 * 3, np.float32), sampling_rate=16000)
    assert result.predictions is None and result.segments == [] and result.label is None


def test_log_prob_average():
    average = LogProbAverage(2)
    assert average.scores() is None
    average.add(np.array([0.9, 0.1]), 3.0)
    average.add(np.array([0.2, 0.8]), 1.0)
    mean = (3 * np.log([0.9, 0.1]) + np.log([0.2, 0.8])) / 4
    np.testing.assert_allclose(average.scores(), np.exp(mean) / np.exp(mean).sum(), rtol=1e-6)
    average.add(np.array([1.0, 0.0]), 1.0)  # an exact zero must not give -inf / NaN
    assert np.isfinite(average.scores()).all()


def test_segments_as_dicts():
    assert SpeechSegment(1.0, 2.0, 0.9).as_dict() == {"start": 1.0, "end": 2.0, "score": 0.9}


# --- Against silero-vad's own get_speech_timestamps ------------------------------------------------
# The real Silero model from the wheel, the same audio (the 16-bit file read with soundfile), our
# options mapped to silero's (seconds -> ms; its timestamps are in 16 kHz samples). Known differences
# in the definitions, each kept out of the exact comparisons below and checked on its own:
# - min_silence: counted as silero counts it, from the first silent frame's start to the start of the
#   frame judged ((k - 1) x 32 ms >= min_silence); the segmenter once waited one frame less.
# - gaps shorter than 2 x pad: silero splits the gap halfway; we give the earlier segment its whole pad
#   (it is emitted before the next one is known) and start the next where it ends.
# - audio ending inside a not-yet-long-enough silence: we end the segment where the silence began,
#   silero at the end of the audio.
# - min_speech_s a whole number of frames (e.g. 0.256 s = 8 frames): we keep a segment that long,
#   silero keeps only longer ones (its test is strict). The option sets avoid such values.
# - max_speech_s: silero cuts at the longest pause inside, we cut at the limit: not compared.
SILERO_SILENCE_OFFSET_MS = 0  # the segmenter counts silence as silero does (it waited one frame less)
SILERO_OPTION_SETS = [
    {}, dict(threshold=0.6, neg_threshold=0.3, min_silence_s=0.3, min_speech_s=0.5, pad_s=0.1),
    dict(pad_s=0.0, min_silence_s=0.05), dict(pad_s=0.2, min_silence_s=0.2), dict(threshold=0.3),
    dict(threshold=0.8, neg_threshold=0.7, min_speech_s=0.1, min_silence_s=0.032, pad_s=0.05),
]


def silero_kwargs(options: VadOptions) -> dict:
    return dict(threshold=options.threshold, neg_threshold=options.neg_threshold,
                min_speech_duration_ms=options.min_speech_s * 1000, speech_pad_ms=options.pad_s * 1000,
                min_silence_duration_ms=max(0.0, options.min_silence_s * 1000 - SILERO_SILENCE_OFFSET_MS))


def in_samples(segments) -> list[tuple[int, int]]:
    return [(round(s.start * 16000), round(s.end * 16000)) for s in segments]


def assert_same_segments(got: list[tuple[int, int]], expected: list[tuple[int, int]], pad_s: float) -> int:
    """Equal (in samples) except a boundary where a gap shorter than 2 x pad joined two segments:
    both sides then touch there, at most one pad apart. Returns the number of such boundaries."""
    assert len(got) == len(expected), (got, expected)
    pad, joined = round(pad_s * 16000), 0
    for i, ((start, end), (ref_start, ref_end)) in enumerate(zip(got, expected)):
        joined_before = i > 0 and got[i - 1][1] == start and expected[i - 1][1] == ref_start
        joined_after = i + 1 < len(got) and got[i + 1][0] == end and expected[i + 1][0] == ref_end
        joined += joined_after
        assert start == ref_start or (joined_before and abs(start - ref_start) <= pad), (got, expected)
        assert end == ref_end or (joined_after and abs(end - ref_end) <= pad), (got, expected)
    return joined


@pytest.fixture(scope="module")
def silero():
    import silero_vad

    return silero_vad.load_silero_vad()


@pytest.fixture(scope="module")
def recording_as_read(recording):
    import soundfile as sf

    path, _, placed = recording
    audio, rate = sf.read(path, dtype="float32")
    assert rate == 16000 and audio.ndim == 1
    return path, audio, placed


def test_frame_probabilities_are_silero_audio_forward(recording_as_read, silero):
    import torch

    _, audio, _ = recording_as_read
    vad = FrameVad()
    ours = np.concatenate([vad.push(audio[:12345]), vad.push(audio[12345:]), vad.flush()])
    with torch.inference_mode():
        silero.reset_states()
        expected = silero.audio_forward(torch.from_numpy(audio)[None], 16000)[0].numpy()
    assert ours.shape == expected.shape == (math.ceil(len(audio) / 512),)
    # audiosift runs the wheel's silero_vad.onnx where onnxruntime is installed (faster; its frames are
    # within 1e-5 of the TorchScript model's here), TorchScript otherwise (then identical).
    np.testing.assert_allclose(ours, expected, atol=1e-4)
    assert expected.max() > 0.9 and expected.min() < 0.1  # speech and non-speech both in the recording


@pytest.mark.parametrize("options", SILERO_OPTION_SETS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "defaults")
def test_segments_match_silero_get_speech_timestamps(recording_as_read, silero, options):
    import silero_vad
    import torch

    path, audio, placed = recording_as_read
    options = VadOptions(**options)
    expected = silero_vad.get_speech_timestamps(torch.from_numpy(audio), silero, sampling_rate=16000,
                                                **silero_kwargs(options))
    segments = speech_segments(path, options)
    assert len(segments) >= 3
    assert_same_segments(in_samples(segments), [(e["start"], e["end"]) for e in expected], options.pad_s)
    # the score is the mean probability of the segment's own frames: silero's unpadded segment
    with torch.inference_mode():
        silero.reset_states()
        probs = silero.audio_forward(torch.from_numpy(audio)[None], 16000)[0].numpy()
    unpadded = silero_vad.get_speech_timestamps(torch.from_numpy(audio), silero, sampling_rate=16000,
                                                **dict(silero_kwargs(options), speech_pad_ms=0))
    assert len(unpadded) == len(segments)
    for segment, frames_of in zip(segments, unpadded):
        mean = float(probs[frames_of["start"] // 512 : math.ceil(frames_of["end"] / 512)].mean())
        assert segment.score == pytest.approx(mean, abs=1e-4)  # the score is rounded to 4 decimals


def test_min_silence_is_counted_as_silero_counts_it(silero):
    """At the defaults a 4-frame (128 ms) pause is bridged ((4 - 1) x 32 ms < 100 ms), as silero's own
    count bridges it; a 5-frame pause ends the segment in both."""
    from silero_vad.utils_vad import get_speech_timestamps_from_probs

    def theirs(probs):
        return [(s["start"], s["end"]) for s in get_speech_timestamps_from_probs(
            list(map(float, probs)), min_silence_duration_ms=100, speech_pad_ms=0)]

    bridged = frames((0.02, 0.32), (0.9, 0.64), (0.02, 0.128), (0.9, 0.64), (0.02, 0.64))
    assert in_samples(track(bridged, pad_s=0.0)) == theirs(bridged) == [(5120, 27648)]
    split = frames((0.02, 0.32), (0.9, 0.64), (0.02, 0.16), (0.9, 0.64), (0.02, 0.64))
    assert in_samples(track(split, pad_s=0.0)) == theirs(split) and len(theirs(split)) == 2


def random_probabilities(rng) -> np.ndarray:
    """Runs of frames at levels below, between and above the thresholds; the audio ends in clear
    silence or in speech (never inside a short silence: a known difference, see above)."""
    levels = [0.02, 0.2, 0.4, 0.45, 0.55, 0.7, 0.95]
    runs = [np.full(int(rng.integers(1, 25)), rng.choice(levels)) for _ in range(int(rng.integers(2, 14)))]
    runs.append(np.full(12, 0.01) if rng.random() < 0.5 else np.full(int(rng.integers(1, 4)), 0.9))
    return np.concatenate(runs).astype(np.float32)


@pytest.mark.parametrize("seed", range(4))
def test_tracker_matches_silero_on_random_probabilities(seed):
    """SegmentTracker against silero's get_speech_timestamps_from_probs on the same frame
    probabilities: exact without padding; with padding, equal except where a gap shorter than two
    pads separates two segments (both then touch, at boundaries at most one pad apart)."""
    from silero_vad.utils_vad import get_speech_timestamps_from_probs

    rng = np.random.default_rng(seed)
    compared = touching = 0
    for _ in range(150):
        probs = random_probabilities(rng)
        options = VadOptions(threshold=float(rng.choice([0.5, 0.6])), min_speech_s=float(rng.choice([0.1, 0.25])),
                             min_silence_s=float(rng.choice([0.05, 0.1, 0.2])), pad_s=float(rng.choice([0.0, 0.03, 0.1])))
        expected = [(s["start"], s["end"]) for s in get_speech_timestamps_from_probs(
            list(map(float, probs)), audio_length_samples=len(probs) * 512, **silero_kwargs(options))]
        got = in_samples(track(probs, **{k: getattr(options, k) for k in
                                         ("threshold", "min_speech_s", "min_silence_s", "pad_s")}))
        compared += len(expected)
        touching += assert_same_segments(got, expected, options.pad_s)
    assert compared > 100 and touching > 0  # the random runs do exercise both cases


def test_speech_only_scoring_takes_label_sets_like_every_path(clap_model, audio_dir):
    """Zero-shot models score only the speech too: their labels go through the same label set."""
    import audiosift

    zero_shot = audiosift.load(str(clap_model), device="cpu")
    clip = load_audio(audio_dir / "sentence.wav", 16000)
    samples = np.concatenate([np.zeros(16000, np.float32), clip, np.zeros(16000, np.float32)])
    result = classify_speech(zero_shot, samples, sampling_rate=16000, top_k=None, candidate_labels=["speech", "dog"])
    assert result.segments and {p["label"] for p in result.predictions} == {"speech", "dog"}
    with pytest.raises(audiosift.UsageError, match="needs the labels"):
        classify_speech(zero_shot, samples, sampling_rate=16000)
