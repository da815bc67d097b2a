"""The streaming classifier: chunking never changes the events, VAD gating, debouncing, files fed live."""

from __future__ import annotations


import numpy as np
import pytest

import audiosift
import recordings
import stand_in
from audiosift.inference.events import Event
from audiosift.inference.streaming import StreamingClassifier, StreamingOptions, detect_in_file

RATE = 16000
PARTS = [("silence", 0.8), ("speech", "yes"), ("noise", 1.5), ("speech", "turn on the lights"), ("tone", 1.2),
         ("silence", 0.6), ("speech", "stop"), ("silence", 1.0)]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    folder = tmp_path_factory.mktemp("live")
    samples, placed = recordings.compose(PARTS, folder)
    return samples, placed


@pytest.fixture(scope="module")
def ast(ast_model):
    return audiosift.load(str(ast_model), device="cpu")


def run_chunked(detector, samples, chunk):
    detector.reset()
    events = []
    for start in range(0, len(samples), chunk):
        events += detector(samples[start : start + chunk])
    return events + detector.flush()


# A threshold just above uniform (1/35 labels) makes the tiny random model fire often.
LOW_THRESHOLD = 0.034


@pytest.mark.parametrize("vad", [True, False])
def test_events_do_not_depend_on_chunk_size(ast, live, vad):
    samples, _ = live
    detector = StreamingClassifier(ast, threshold=LOW_THRESHOLD, vad=vad, window_s=1.0, hop_s=0.5)
    whole = run_chunked(detector, samples, len(samples))
    assert len(whole) >= 2
    for chunk in (160, 512, 4000):
        assert run_chunked(detector, samples, chunk) == whole


def test_vad_gating_classifies_only_windows_with_speech(ast, live):
    samples, placed = live
    gated = StreamingClassifier(ast, threshold=LOW_THRESHOLD, window_s=1.0, hop_s=0.5)
    run_chunked(gated, samples, 512)
    ungated = StreamingClassifier(ast, threshold=LOW_THRESHOLD, window_s=1.0, hop_s=0.5, vad=False)
    run_chunked(ungated, samples, 512)
    assert gated.windows_seen == ungated.windows_seen == ungated.windows_classified
    assert 0 < gated.windows_classified < gated.windows_seen
    # Every window the model heard overlaps placed speech; every word was heard.
    speech = [p for p in placed if p.kind == "speech"]
    spy = SpyClassifier(lambda w: 0.0)
    run_chunked(StreamingClassifier(spy, window_s=1.0, hop_s=0.5), samples, 4000)
    assert len(spy.heard) == gated.windows_classified
    spans = [window_span(samples, heard, hop=RATE // 2) for heard in spy.heard]
    for start, end in spans:
        assert any(end > p.start and start < p.end for p in speech), (start, end)
    for word in speech:
        assert any(end > word.start and start < word.end for start, end in spans), word


def window_span(samples, heard, hop):
    """Where on the hop grid a window the model heard came from, in seconds."""
    for start in range(0, len(samples), hop):
        if np.array_equal(samples[start : start + len(heard)], heard):
            return start / RATE, (start + len(heard)) / RATE
    raise AssertionError("the model heard audio that is not on the window grid")


def test_no_speech_means_the_model_never_runs(ast, tmp_path):
    samples, _ = recordings.compose([("noise", 2.0), ("tone", 2.0), ("silence", 1.0)], tmp_path)
    detector = StreamingClassifier(ast, threshold=LOW_THRESHOLD)
    assert run_chunked(detector, samples, 1600) == []
    assert detector.windows_seen > 5 and detector.windows_classified == 0


def SpyClassifier(score_of):
    """Labels "word" and "other"; "word" scored by a function of the window; remembers what it heard."""
    return stand_in.SpyClassifier(["word", "other"], lambda w: [score_of(w), 1 - score_of(w)], RATE)


def loudness(waveform) -> float:
    return 1.0 if np.sqrt(np.mean(waveform**2)) > 0.02 else 0.0


def test_one_event_per_utterance_then_again_after_the_refractory_time(tmp_path):
    # Two words 2.5 s apart; each is heard by several overlapping 1 s windows, and no window hears
    # both: the last window hearing the first word ends >= 0.5 s before the first hearing the second.
    samples, placed = recordings.compose([("silence", 0.5), ("speech", "hello"), ("silence", 2.5),
                                          ("speech", "again"), ("silence", 1.0)], tmp_path)
    spy = SpyClassifier(loudness)
    detector = StreamingClassifier(spy, labels=["word"], window_s=1.0, hop_s=0.25, refractory_s=0.3, vad=False)
    events = run_chunked(detector, samples, 800)
    assert [e.label for e in events] == ["word", "word"]
    words = [p for p in placed if p.kind == "speech"]
    for event, word in zip(events, words):
        assert event.start <= word.start < event.end  # the first window that hears the word fires
    # A long refractory time joins the two words into one utterance.
    joined = StreamingClassifier(spy, labels=["word"], window_s=1.0, hop_s=0.25, refractory_s=2.0, vad=False)
    assert len(run_chunked(joined, samples, 800)) == 1


def test_labels_filter_and_threshold(ast, live):
    samples, _ = live
    everything = run_chunked(StreamingClassifier(ast, threshold=LOW_THRESHOLD, vad=False), samples, 4000)
    label = everything[0].label
    only = run_chunked(StreamingClassifier(ast, threshold=LOW_THRESHOLD, vad=False, labels=[label]), samples, 4000)
    assert only and {e.label for e in only} == {label}
    assert [e for e in everything if e.label == label] == only
    assert run_chunked(StreamingClassifier(ast, threshold=0.9, vad=False), samples, 4000) == []
    with pytest.raises(ValueError, match="not among"):
        StreamingClassifier(ast, labels=["not-a-keyword"])
    with pytest.raises(ValueError, match="threshold"):
        StreamingOptions(threshold=0.0)


def test_chunks_of_any_shape_and_type(ast, live):
    samples, _ = live
    detector = StreamingClassifier(ast, threshold=LOW_THRESHOLD, vad=False)
    pcm = np.round(samples * 32767).astype(np.int16)[:, None]  # (frames, 1) int16, as a sound card gives
    # The same audio as float32 (int16 full scale is 32768): the tiny model hears the quantization.
    expected = run_chunked(detector, (pcm[:, 0] / 32768).astype(np.float32), 4000)
    assert len(expected) >= 2
    detector.reset()
    got = []
    for start in range(0, len(pcm), 1000):
        got += detector(pcm[start : start + 1000])
    got += detector.flush()
    assert [(e.label, e.start) for e in got] == [(e.label, e.start) for e in expected]
    assert detector([]) == []


def test_zero_shot_streaming_at_48_khz_with_vad(clap_model, live):
    """CLAP runs at 48 kHz; the VAD hears the same audio resampled to 16 kHz on the fly."""
    from audiosift.audio import resample

    samples, _ = live
    audio48 = np.concatenate([resample(samples, RATE, 48000), np.zeros(4 * 48000, np.float32)])
    zero_shot = audiosift.load(str(clap_model), device="cpu")
    detector = StreamingClassifier(zero_shot, labels=["speech", "dog", "siren"], threshold=0.3, window_s=2.0,
                                   hop_s=1.0)
    whole = run_chunked(detector, audio48, len(audio48))
    assert 0 < detector.windows_classified < detector.windows_seen
    assert all(e.label in {"speech", "dog", "siren"} for e in whole) and whole
    assert run_chunked(detector, audio48, 4000) == whole
    assert run_chunked(detector, audio48, 480) == whole


def test_a_file_fed_in_real_time_waits_for_the_clock(ast, tmp_path):
    samples, _ = recordings.compose([("speech", "yes"), ("silence", 1.0)], tmp_path)
    path = recordings.write(tmp_path / "clip.wav", samples)
    now = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    detector = StreamingClassifier(ast, threshold=LOW_THRESHOLD, vad=False)
    paced = list(detect_in_file(detector, path, realtime=True, clock=lambda: now[0], sleep=sleep))
    assert now[0] == pytest.approx(len(samples) / RATE, abs=1e-3)  # slept until each chunk was "recorded"
    assert len(slept) == int(np.ceil(len(samples) / (0.1 * RATE)))
    fast = list(detect_in_file(detector, path))
    assert paced == fast and all(isinstance(e, Event) for e in fast)
