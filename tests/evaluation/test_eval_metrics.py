"""The numpy metrics against hand-worked numbers, a plain-Python reference implementation and
scikit-learn (a test-only dependency: the dev extra)."""

from __future__ import annotations

import random

import numpy as np
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
    assert metrics["weighted_f1"] == pytest.approx((2 * 0.5 + 2 * 0.8 + 1 * 0.0) / 5)
    assert metrics["balanced_accuracy"] == pytest.approx((1 / 2 + 1.0 + 0.0) / 3)
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
    assert metrics["weighted_f1"] is None and metrics["balanced_accuracy"] is None


def test_top5_only_for_models_with_more_than_five_labels():
    scored = scored_arrays([("a", ["b", "c", "a"]), ("b", ["b"])], ["a", "b", "c"])
    assert classification_metrics(scored, label_count=5)["top5_accuracy"] is None  # always 100%: no news
    assert classification_metrics(scored, label_count=6)["top5_accuracy"] == 1.0
    assert classification_metrics(scored)["top5_accuracy"] == 1.0  # count unknown: reported


def test_balanced_accuracy_ignores_classes_only_predicted():
    # "z" is predicted but never true: it has no recall to average (scikit-learn's definition too)
    scored = scored_arrays([("a", ["a"]), ("a", ["z"]), ("a", ["a"]), ("b", ["b"])], ["a", "b", "z"])
    assert classification_metrics(scored)["balanced_accuracy"] == pytest.approx((2 / 3 + 1.0) / 2)


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


def random_pairs(seed: int, n: int = 400):
    """Random truth and ranked predictions over 24 labels, where some labels are only true, some only
    predicted (top-1), some only ranked below top-1 and some never appear at all."""
    rng = np.random.default_rng(seed)
    labels = [f"label_{i:02d}" for i in range(24)]
    true_pool, predicted_pool = labels[:14], labels[6:18]  # 0-5 never predicted, 14-17 never true
    below_only = labels[18:21]  # ranked, never top-1; 21-23 never appear anywhere
    pairs = []
    for _ in range(n):
        truth = str(rng.choice(true_pool))
        top1 = truth if rng.random() < 0.4 and truth in predicted_pool else str(rng.choice(predicted_pool))
        rest = [str(x) for x in rng.permutation(predicted_pool + below_only) if x != top1][:4]
        pairs.append((truth, [top1] + rest))
    return pairs, labels


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_matches_scikit_learn_on_random_labels(seed):
    from sklearn import metrics as sklearn_metrics  # test-only reference, in the dev extra
    pairs, labels = random_pairs(seed)
    scored = scored_arrays(pairs, labels)
    metrics = classification_metrics(scored)
    y_true = [t for t, _ in pairs]
    y_pred = [ranked[0] for _, ranked in pairs]
    # scikit-learn's default label set: every label that is true or predicted, sorted.
    assert sorted(scored.classes) == sorted(set(y_true) | set(y_pred))
    assert not set(scored.classes) & set(labels[18:])  # below-top-1 and absent labels are no classes
    assert metrics["scored"] == len(pairs)
    assert metrics["accuracy"] == pytest.approx(sklearn_metrics.accuracy_score(y_true, y_pred), abs=1e-12)
    assert metrics["macro_f1"] == pytest.approx(
        sklearn_metrics.f1_score(y_true, y_pred, average="macro", zero_division=0), abs=1e-12)
    assert metrics["weighted_f1"] == pytest.approx(
        sklearn_metrics.f1_score(y_true, y_pred, average="weighted", zero_division=0), abs=1e-12)
    import warnings

    with warnings.catch_warnings():  # "y_pred contains classes not in y_true": expected here
        warnings.simplefilter("ignore")
        balanced = sklearn_metrics.balanced_accuracy_score(y_true, y_pred)
    assert metrics["balanced_accuracy"] == pytest.approx(balanced, abs=1e-12)
    assert metrics["balanced_accuracy"] != pytest.approx(metrics["accuracy"])  # unbalanced data: they differ
    precision, recall, f1, support = sklearn_metrics.precision_recall_fscore_support(
        y_true, y_pred, labels=scored.classes, zero_division=0)
    for i, label in enumerate(scored.classes):
        assert metrics["per_class"][label] == pytest.approx(
            {"precision": precision[i], "recall": recall[i], "f1": f1[i], "support": support[i]}, abs=1e-12)
    # never predicted: precision 0 (and recall 0); never true: recall 0 and support 0
    assert all(metrics["per_class"][label]["precision"] == 0.0 for label in labels[:6])
    assert all(metrics["per_class"][label]["support"] == 0 for label in labels[14:18])
    assert 0.0 < metrics["macro_f1"] < 1.0
    expected_confusion = sklearn_metrics.confusion_matrix(y_true, y_pred, labels=scored.classes)
    np.testing.assert_array_equal(confusion_matrix(scored), expected_confusion)
    # top-k from a score matrix that ranks each example's predictions first, in their order
    columns = {label: i for i, label in enumerate(labels)}
    y_score = np.zeros((len(pairs), len(labels)))
    for row, (_, ranked) in enumerate(pairs):
        for rank, label in enumerate(ranked):
            y_score[row, columns[label]] = len(ranked) - rank
    for k in (1, 2, 5):
        expected = sklearn_metrics.top_k_accuracy_score(y_true, y_score, k=k, labels=labels)
        assert top_k_accuracy(scored, k) == pytest.approx(expected, abs=1e-12)
    assert metrics["top5_accuracy"] == pytest.approx(top_k_accuracy(scored, 5))
    # worst confusions are the largest off-diagonal cells of the same matrix, as shares of the true class
    off = expected_confusion.copy()
    np.fill_diagonal(off, 0)
    worst = worst_confusions(scored, count=5)
    assert [w["count"] for w in worst] == sorted(off.ravel(), reverse=True)[:5]
    for cell in worst:
        r, c = scored.classes.index(cell["true"]), scored.classes.index(cell["predicted"])
        assert cell["count"] == expected_confusion[r, c] and r != c
        assert cell["share_of_true"] == pytest.approx(expected_confusion[r, c] / expected_confusion[r].sum())
