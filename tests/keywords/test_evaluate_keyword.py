"""evaluate-keyword's metrics on a detector whose scores we write ourselves: every count is known."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from audiosift.errors import UsageError
from audiosift.inference.detector import WakeWordDetector
from audiosift.keywords import evaluate
from audiosift.keywords.recordings import Item, evaluate_items, gather, read_times_csv
from audiosift.models.base import FrameStream, FrameStreamBackend

RATE = 16000
FRAME = 1600  # 0.1 s frames: frame i ends at (i + 1) / 10 s


class ScoreIsAudio(FrameStreamBackend):
    """A fake detector: a frame's score is its first sample, so a recording spells out its scores."""

    model_id = "fake"
    labels = ["kw"]
    sampling_rate = RATE
    frame_samples = FRAME
    default_threshold = 0.5
    window_seconds = 1.0

    def new_stream(self):
        return _Stream()


class _Stream(FrameStream):
    label_count = 1

    def reset(self):
        self.pending = np.zeros(0, np.float32)

    def __init__(self):
        self.reset()

    def push(self, samples):
        audio = np.concatenate([self.pending, np.asarray(samples, np.float32)])
        count = len(audio) // FRAME
        self.pending = audio[count * FRAME:]
        return audio[: count * FRAME: FRAME].reshape(-1, 1).copy()


def spelled(seconds: float, peaks: dict[float, float]) -> np.ndarray:
    """Scores 0, except ``{frame end time: score}``, as audio for :class:`ScoreIsAudio`."""
    scores = np.zeros(int(round(seconds * 10)), np.float32)
    for time, score in peaks.items():
        scores[int(round(time * 10)) - 1] = score
    return np.repeat(scores, FRAME)


# Recording A (360 s), keywords at 10-11 s and 50-51 s: an event at 11.2 s finds the first (inside
# the 1 s tolerance), nothing finds the second; false accepts at 100 s (0.8), 200 s (0.6) and a pair
# at 300.0 / 300.5 s (0.55) that the 1 s refractory makes one. Recording B (360 s): one at 30 s (0.7).
A = spelled(360, {11.2: 0.9, 100.0: 0.8, 200.0: 0.6, 300.0: 0.55, 300.5: 0.55})
B = spelled(360, {30.0: 0.7})
A_TIMES = [(10.0, 11.0), (50.0, 51.0)]
EXPECTED = {  # threshold: (found, false accepts); 0.2 h of audio in all
    0.5: (1, 4), 0.65: (1, 2), 0.85: (1, 0), 0.95: (0, 0),
}


def recordings():
    backend = ScoreIsAudio()
    return [evaluate.score_recording(backend, 0, "a", A, A_TIMES), evaluate.score_recording(backend, 0, "b", B, [])]


@pytest.mark.parametrize("threshold", sorted(EXPECTED))
def test_recall_and_false_accepts_per_hour_come_out_exactly(threshold):
    found, false_accepts = EXPECTED[threshold]
    metrics = evaluate.metrics_at(recordings(), threshold)
    assert metrics["hours"] == pytest.approx(0.2)
    assert (metrics["found"], metrics["occurrences"], metrics["false_accepts"]) == (found, 2, false_accepts)
    assert metrics["recall"] == found / 2
    assert metrics["false_accepts_per_hour"] == pytest.approx(false_accepts / 0.2)


def test_event_rules_are_the_detectors_own():
    """event_times fires exactly where WakeWordDetector does, on random scores and thresholds."""
    rng = np.random.default_rng(3)
    backend = ScoreIsAudio()
    audio = np.repeat(rng.random(3000).astype(np.float32) ** 4, FRAME)
    recording = evaluate.score_recording(backend, 0, "r", audio)
    for threshold in (0.3, 0.6, 0.9):
        for refractory in (0.0, 0.5, 2.0):
            detector = WakeWordDetector(backend, threshold=threshold, refractory_s=refractory)
            expected = [event.end for event in detector.detect(audio)]
            got = evaluate.event_times(recording.times, recording.scores, threshold, refractory)
            assert np.allclose(got, expected), (threshold, refractory)
            assert len(got) > 0 or threshold == 0.9


def test_curve_and_threshold_choice():
    curve = evaluate.det_curve(recordings())
    by_threshold = {round(p["threshold"], 2): p for p in curve}
    assert by_threshold[0.5]["false_accepts"] == 4 and by_threshold[0.9]["false_accepts"] == 0
    # miss rate falls and false accepts rise as the threshold falls
    assert all(a["false_accepts"] >= b["false_accepts"] for a, b in zip(curve, curve[1:]))
    # at most 1 FA/h over 0.2 h allows none: recall 0.5 is possible (0.8 < t < 0.9); the highest
    # threshold keeping it is the last below 0.9
    point = evaluate.pick_threshold(curve, 1.0)
    assert point["false_accepts"] == 0 and point["recall"] == 0.5 and 0.8 <= point["threshold"] < 0.9
    assert point["target_met"]
    assert evaluate.recall_at_fa(curve, 10.0)["recall"] == 0.5
    # A false accept scoring 1.0 survives every threshold: the highest is returned, flagged.
    loud = [evaluate.score_recording(ScoreIsAudio(), 0, "c", spelled(60, {30.0: 1.0}), [])]
    point = evaluate.pick_threshold(evaluate.det_curve(loud), 1.0)
    assert not point["target_met"] and point["threshold"] == evaluate.CURVE_THRESHOLDS[-1]


def test_files_and_times_csv_through_evaluate_items(tmp_path):
    sf.write(tmp_path / "a.wav", A, RATE, subtype="FLOAT")
    sf.write(tmp_path / "b.wav", B, RATE, subtype="FLOAT")
    (tmp_path / "broken.wav").write_bytes(b"not audio")
    (tmp_path / "times.csv").write_text("file,start,end\na.wav,10,11\na.wav,50,51\n")
    assert read_times_csv(tmp_path / "times.csv") == {"a.wav": A_TIMES}
    items = gather([tmp_path / "a.wav", tmp_path / "b.wav", tmp_path / "broken.wav"], tmp_path / "times.csv")
    result = evaluate_items(ScoreIsAudio(), items, threshold=0.65)
    at = result.report["at_threshold"]
    assert (at["found"], at["false_accepts"]) == (1, 2) and at["hours"] == pytest.approx(0.2)
    assert [error["file"] for error in result.errors] == [str(tmp_path / "broken.wav")]  # reported, not fatal
    json.dumps(result.report, default=float)
    evaluate.plot_det(result.report["curve"], tmp_path / "det.png", "fake", 0.65)
    assert (tmp_path / "det.png").read_bytes()[:4] == b"\x89PNG"


def test_positive_clips_count_once_each():
    clip = spelled(3, {2.0: 0.9})
    items = [Item("p1", clip, None, "positive"), Item("p2", spelled(3, {}), None, "positive")]
    at = evaluate_items(ScoreIsAudio(), items).report["at_threshold"]
    assert (at["found"], at["occurrences"], at["false_accepts"]) == (1, 2, 0)


def test_bad_inputs_are_usage_errors(tmp_path):
    (tmp_path / "t.csv").write_text("file,begin\nx.wav,1\n")
    with pytest.raises(UsageError, match="file,start,end"):
        read_times_csv(tmp_path / "t.csv")
    for text in ("not audio\n", ""):  # not this CSV at all (or empty): refused, not read as "no keywords"
        (tmp_path / "t.csv").write_text(text)
        with pytest.raises(UsageError, match="first line is file,start,end"):
            read_times_csv(tmp_path / "t.csv")
    (tmp_path / "t.csv").write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(UsageError, match="cannot read it as text"):
        read_times_csv(tmp_path / "t.csv")
    (tmp_path / "t.csv").write_text("file,start,end\n")  # a header alone: recordings without the keyword
    assert read_times_csv(tmp_path / "t.csv") == {}
    with pytest.raises(UsageError, match="--times"):
        gather([tmp_path], None)
    (tmp_path / "t.csv").write_text("file,start,end\nmissing.wav,1,2\n")
    sf.write(tmp_path / "a.wav", A[:RATE], RATE)
    with pytest.raises(UsageError, match="not among --recordings"):
        gather([tmp_path / "a.wav"], tmp_path / "t.csv")
    with pytest.raises(UsageError, match="--label"):
        evaluate_items(ScoreIsAudio(), [Item("a", A[:RATE], [])], label="other")
