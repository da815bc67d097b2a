"""Measure a detector on recordings with known keyword times: recall, false accepts per hour, and
the DET curve (miss rate against false accepts per hour, over thresholds), the way wake-word
benchmarks report them.

Rules (documented in docs/wake-words.md, checked by tests on a detector whose scores are given):
- events are those :class:`~audiosift.inference.detector.WakeWordDetector` fires: a frame whose
  score is above the threshold, the label armed (its previous frame was at or below the threshold)
  and ``refractory_s`` passed since its last event; each recording is its own stream;
- an event *finds* an occurrence ``(start, end)`` when the event's time (the end of the frame that
  fired) lies in ``[start, end + tolerance_s]``: a detector fires once it has heard the word;
- recall = occurrences found / occurrences; every event that finds no occurrence is a false accept;
  false accepts per hour = false accepts / the hours of all recordings scored.
The model runs once per recording; every threshold then costs only a pass over its frame scores.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from audiosift.errors import UsageError

DEFAULT_TOLERANCE_S = 1.0  # the detector fires within a few frames after the word's end
# Thresholds of a DET curve: a linear grid, then ever closer to 1 where sigmoid heads saturate.
CURVE_THRESHOLDS = np.unique(np.concatenate([np.linspace(0.01, 0.99, 99), 1 - np.logspace(-2.2, -6, 20)]))


@dataclass
class ScoredRecording:
    """One recording's frame scores for one label and where its keyword really is."""

    name: str
    duration_s: float
    times: np.ndarray  # (frames,) frame end times, seconds
    scores: np.ndarray  # (frames,) the label's score per frame
    occurrences: list[tuple[float, float]] = field(default_factory=list)


def event_times(times: np.ndarray, scores: np.ndarray, threshold: float, refractory_s: float) -> np.ndarray:
    """When the detector fires on one stream (its rules, see the module docstring)."""
    above = np.asarray(scores) > threshold
    if not above.any():
        return np.zeros(0)
    rising = np.flatnonzero(above & ~np.concatenate([[False], above[:-1]]))
    kept, last = [], -math.inf
    for index in rising:
        if times[index] - last >= refractory_s:
            kept.append(times[index])
            last = times[index]
    return np.asarray(kept, dtype=np.float64)


def match(events: np.ndarray, occurrences: list[tuple[float, float]], tolerance_s: float) -> tuple[int, int]:
    """``(occurrences found, false accepts)`` of one recording's events."""
    found = {i for time in events for i, (start, end) in enumerate(occurrences) if start <= time <= end + tolerance_s}
    return len(found), len(false_accept_times(events, occurrences, tolerance_s))


def false_accept_times(events: np.ndarray, occurrences: list[tuple[float, float]], tolerance_s: float) -> list[float]:
    """The events that find no occurrence."""
    return [float(time) for time in events
            if not any(start <= time <= end + tolerance_s for start, end in occurrences)]


def metrics_at(recordings: list[ScoredRecording], threshold: float, refractory_s: float = 1.0,
               tolerance_s: float = DEFAULT_TOLERANCE_S) -> dict:
    found = false_accepts = 0
    occurrences = sum(len(r.occurrences) for r in recordings)
    hours = sum(r.duration_s for r in recordings) / 3600.0
    for recording in recordings:
        hit, false = match(event_times(recording.times, recording.scores, threshold, refractory_s),
                           recording.occurrences, tolerance_s)
        found += hit
        false_accepts += false
    return {"threshold": float(threshold), "occurrences": occurrences, "found": found,
            "recall": found / occurrences if occurrences else None,
            "miss_rate": 1 - found / occurrences if occurrences else None,
            "false_accepts": false_accepts, "hours": hours,
            "false_accepts_per_hour": false_accepts / hours if hours else None}


def det_curve(recordings: list[ScoredRecording], thresholds=CURVE_THRESHOLDS, refractory_s: float = 1.0,
              tolerance_s: float = DEFAULT_TOLERANCE_S) -> list[dict]:
    return [metrics_at(recordings, float(t), refractory_s, tolerance_s) for t in thresholds]


def pick_threshold(curve: list[dict], max_fa_per_hour: float, recall_slack: float = 0.02) -> dict:
    """The operating point: among thresholds whose false accepts stay within ``max_fa_per_hour``
    (at most ``floor(max_fa_per_hour x hours)`` false accepts: with little held-out audio that is
    none), the best recall; then the highest threshold whose recall is within ``recall_slack`` of
    it, for a margin against false accepts on new audio at almost no cost in recall."""
    if not curve:
        raise UsageError("no thresholds to choose from")
    hours = curve[0]["hours"]
    allowed = math.floor(max_fa_per_hour * hours + 1e-9)
    admissible = [point for point in curve if point["false_accepts"] <= allowed]
    if not admissible:  # even the highest threshold accepts too much: report it, flagged
        return {**curve[-1], "target_met": False}
    best = max(point["recall"] or 0.0 for point in admissible)
    chosen = max((p for p in admissible if (p["recall"] or 0.0) >= best - recall_slack), key=lambda p: p["threshold"])
    return {**chosen, "target_met": True}


def recall_at_fa(curve: list[dict], max_fa_per_hour: float) -> dict:
    """The best recall among thresholds at or under ``max_fa_per_hour`` (measured, not interpolated)."""
    admissible = [p for p in curve if p["false_accepts_per_hour"] is not None
                  and p["false_accepts_per_hour"] <= max_fa_per_hour]
    if not admissible:
        return {"threshold": None, "recall": 0.0, "false_accepts_per_hour": None}
    return max(admissible, key=lambda p: (p["recall"] or 0.0, -p["false_accepts_per_hour"]))


def score_recording(backend, column: int, name: str, source, occurrences=None,
                    block_s: float = 10.0) -> ScoredRecording:
    """Run ``backend`` (a :class:`FrameStreamBackend`) over one recording (a path, or an array at
    the backend's rate) block by block, keeping label ``column``'s score and each frame's end time."""
    stream = backend.new_stream()
    if isinstance(source, np.ndarray):
        block = max(1, int(block_s * backend.sampling_rate))
        blocks = (source[start: start + block] for start in range(0, len(source), block))
    else:
        from audiosift.audio.stream import open_stream

        blocks = open_stream(source, backend.sampling_rate, None, block_s)
    parts, samples = [], 0
    for chunk in blocks:
        parts.append(stream.push(chunk))
        samples += len(chunk)
    parts.append(stream.flush())
    rows = np.concatenate([p.reshape(-1, len(backend.labels)) for p in parts])
    times = np.asarray([backend.frame_end_seconds(i) for i in range(len(rows))])
    return ScoredRecording(name, samples / backend.sampling_rate, times, rows[:, column].astype(np.float64),
                           list(occurrences or []))


def summary(recordings: list[ScoredRecording], threshold: float, refractory_s: float = 1.0,
            tolerance_s: float = DEFAULT_TOLERANCE_S, target_fa_per_hour: float = 1.0) -> dict:
    """The report: metrics at ``threshold``, the best recall at ``target_fa_per_hour``, the curve."""
    curve = det_curve(recordings, refractory_s=refractory_s, tolerance_s=tolerance_s)
    return {"at_threshold": metrics_at(recordings, threshold, refractory_s, tolerance_s),
            f"best_recall_at_{target_fa_per_hour:g}_fa_per_hour": recall_at_fa(curve, target_fa_per_hour),
            "refractory_s": refractory_s, "tolerance_s": tolerance_s, "recordings": len(recordings),
            "curve": curve}


def plot_det(curve: list[dict], path: str | Path, title: str, threshold: float | None = None) -> None:
    """Miss rate (%) against false accepts per hour, log x; a zero rate is drawn at 1/hours/2 (under
    the smallest measurable rate: one false accept in all the audio)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hours = curve[0]["hours"] or 1.0
    floor = 0.5 / hours
    xs = [max(p["false_accepts_per_hour"] or 0.0, floor) for p in curve]
    ys = [100 * (p["miss_rate"] or 0.0) for p in curve]
    figure, axis = plt.subplots(figsize=(6, 4.5))
    axis.plot(xs, ys, marker=".", linewidth=1)
    if threshold is not None:
        nearest = min(curve, key=lambda p: abs(p["threshold"] - threshold))
        axis.plot([max(nearest["false_accepts_per_hour"] or 0.0, floor)], [100 * (nearest["miss_rate"] or 0.0)],
                  "o", color="red", label=f"threshold {threshold:.4g}")
        axis.legend()
    axis.set_xscale("log")
    axis.set_xlabel(f"false accepts per hour ({hours:.2f} h of audio; 0 drawn at {floor:.2g})")
    axis.set_ylabel("miss rate (%)")
    axis.set_title(title)
    axis.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write_report(report: dict, path: str | Path) -> None:
    Path(path).write_text(json.dumps(report, indent=2, default=float) + "\n")
