"""train-keyword's threshold: chosen on held-out audio of the kinds an hour of listening holds; the
near-miss clips (pure confusers) are reported beside it instead of pinning it to its top."""

from __future__ import annotations

import numpy as np

from audiosift.keywords.dataset import Windows
from audiosift.keywords.recipe import Collected
from audiosift.keywords.train import choose_threshold

FRAMES = 30


def _clip(peak: float, at: int = 20) -> np.ndarray:
    scores = np.full((FRAMES, 1), 0.01, np.float16)
    scores[at] = peak
    return scores


def test_near_misses_do_not_pin_the_threshold_and_are_counted():
    positives = [(_clip(0.95), (1.0, 1.6), FRAMES * 0.08, "positive") for _ in range(10)]
    speech = [(_clip(0.5), None, 1800.0, "speech")]  # half an hour of running speech, peak 0.5
    misses = [(_clip(0.99), None, FRAMES * 0.08, "near-miss") for _ in range(4)] + \
             [(_clip(0.3), None, FRAMES * 0.08, "near-miss")]
    data = Collected(Windows(), positives + speech + misses, {})
    point, threshold = choose_threshold(lambda windows: windows[:, 0], data, max_fa_per_hour=1.0)
    assert 0.5 < threshold < 0.99 and point["recall"] == 1.0 and point["false_accepts"] == 0
    assert (point["near_misses_fired"], point["near_misses"]) == (4, 5)
    # Were the near-misses counted per hour (5 clips are 12 s of audio), every threshold under 0.99
    # would fail, and the recall at the chosen one would be 0.
