"""The numpy metrics against hand-worked numbers and a plain-Python reference implementation."""

from __future__ import annotations

import random

import pytest

from audiosift.evaluation.metrics import (
    classification_metrics,
    confusion_matrix,
    scored_arrays,
    top_k_accuracy,
    worst_confusions,
)


def test_hand_worked_example():
    # truth -> top-1: a->a, a->b, b->b, b->b, c->a ; "c" is never predicted, "d" only in top-2
    pairs = [("a", ["a", "d"]), ("a", ["b", "a"]), ("b", ["b", "a"]), ("b", ["b", "c"]), ("c", ["a", "d"])]
    scored = scored_arrays(pairs, ["c", "b", "a", "d"])
    assert scored.classes == ["c", "b", "a"]  # model order; "d" appears only below top-1
    metrics = classification_metrics(scored)
    assert metrics["accuracy"] == pytest.approx(3 / 5)
    assert top_k_accuracy(scored, 2) == pytest.approx(4 / 5)  # c's top-2 has no c
    per = metrics["per_class"]
    assert per["a"] == pytest.approx({"precision": 1 / 2, "recall": 1 / 2, "f1": 1 / 2, "support": 2})
    assert per["b"] == pytest.approx({"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2})
    assert per["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert metrics["macro_f1"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert confusion_matrix(scored).tolist() == [[0, 0, 1], [0, 2, 0], [0, 1, 1]]
    assert worst_confusions(scored)[:2] == [
        {"true": "a", "predicted": "b", "count": 1, "share_of_true": 0.5},
        {"true": "c", "predicted": "a", "count": 1, "share_of_true": 1.0},
    ]


def test_a_class_only_predicted_counts_in_macro_f1():
    scored = scored_arrays([("a", ["a"]), ("a", ["z"])], ["a", "z"])
    metrics = classification_metrics(scored)
    assert metrics["per_class"]["z"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 0.0) / 2)


def test_nothing_scored():
    metrics = classification_metrics(scored_arrays([], ["a"]))
    assert metrics["accuracy"] is None and metrics["macro_f1"] is None and metrics["per_class"] == {}


def reference_metrics(pairs):
    """Plain-Python definitions, written independently of the numpy code."""
    classes = sorted({t for t, _ in pairs} | {p[0] for _, p in pairs})
    out = {}
    for c in classes:
        tp = sum(1 for t, p in pairs if t == c and p[0] == c)
        fp = sum(1 for t, p in pairs if t != c and p[0] == c)
        fn = sum(1 for t, p in pairs if t == c and p[0] != c)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[c] = (precision, recall, f1, tp + fn)
    accuracy = sum(t == p[0] for t, p in pairs) / len(pairs)
    top5 = sum(t in p[:5] for t, p in pairs) / len(pairs)
    return out, accuracy, top5, sum(v[2] for v in out.values()) / len(out)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_a_plain_python_reference_on_random_data(seed):
    rng = random.Random(seed)
    labels = [f"class_{i}" for i in range(37)]
    pairs = []
    for _ in range(500):
        truth = rng.choice(labels)
        ranked = rng.sample(labels, 5)
        if rng.random() < 0.5:
            ranked = [truth] + [label for label in ranked if label != truth][:4]
        pairs.append((truth, ranked))
    metrics = classification_metrics(scored_arrays(pairs, labels))
    per, accuracy, top5, macro = reference_metrics(pairs)
    assert metrics["accuracy"] == pytest.approx(accuracy)
    assert metrics["top5_accuracy"] == pytest.approx(top5)
    assert metrics["macro_f1"] == pytest.approx(macro)
    for label, (precision, recall, f1, support) in per.items():
        assert metrics["per_class"][label] == pytest.approx(
            {"precision": precision, "recall": recall, "f1": f1, "support": support})
