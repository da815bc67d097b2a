"""Classification metrics with numpy: accuracy, top-k, per-class P/R/F1, macro-F1, confusion.

Definitions (the same as scikit-learn's defaults, without depending on it):
- accuracy and top-5 accuracy are over the *scored* examples: those with predictions and a label
  that maps to a model label. Failed clips and unmapped labels are counted, never scored as wrong.
- per-class precision = TP / (TP + FP), recall = TP / (TP + FN), F1 = 2PR / (P + R); 0 where a
  denominator is 0 (a class never predicted has precision 0).
- macro-F1 is the unweighted mean of F1 over every class that is a true label or a top-1
  prediction of some scored example (scikit-learn's ``f1_score(average="macro")`` label set);
  weighted F1 weighs each class's F1 by its support (``average="weighted"``).
- balanced accuracy is the mean recall over the classes that are true labels of some scored
  example (scikit-learn's ``balanced_accuracy_score``): a majority class cannot carry it.
- top-5 accuracy is None when the model has at most 5 labels (it would always be 100%).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

TOP_K = 5  # top-k accuracy reported (and predictions kept per example)


@dataclass
class Scored:
    """The scored examples as integer arrays over ``classes`` (true label, ranked predictions)."""

    classes: list[str]
    truth: np.ndarray  # (n,) class index
    ranked: np.ndarray  # (n, k) class index of predictions best first; -1 pads short rows


def scored_arrays(pairs: Sequence[tuple[str, Sequence[str]]], label_order: Sequence[str]) -> Scored:
    """``pairs`` of (true model label, predicted labels best first) -> :class:`Scored`.

    Classes are the true labels and top-1 predictions, in ``label_order`` (the model's order),
    then any others in order of appearance.
    """
    present = {truth for truth, _ in pairs} | {ranked[0] for _, ranked in pairs if ranked}
    order = {label: i for i, label in enumerate(label_order)}
    classes = sorted(present, key=lambda label: (order.get(label, len(order)), label))
    extra = sorted({label for _, ranked in pairs for label in ranked} - present)
    index = {label: i for i, label in enumerate(classes + extra)}
    k = max((len(ranked) for _, ranked in pairs), default=0)
    ranked = np.full((len(pairs), max(k, 1)), -1, dtype=np.int64)
    for row, (_, predictions) in enumerate(pairs):
        ranked[row, : len(predictions)] = [index[label] for label in predictions]
    truth = np.array([index[t] for t, _ in pairs], dtype=np.int64)
    return Scored(classes, truth, ranked)


def confusion_matrix(scored: Scored) -> np.ndarray:
    """Counts ``(c, c)``: rows are true classes, columns top-1 predictions, over ``scored.classes``."""
    c = len(scored.classes)
    top1 = scored.ranked[:, 0]
    return np.bincount(scored.truth * c + top1, minlength=c * c).reshape(c, c) if len(top1) else np.zeros((c, c), int)


def per_class_scores(confusion: np.ndarray) -> dict[str, np.ndarray]:
    tp = np.diag(confusion).astype(np.float64)
    predicted = confusion.sum(axis=0).astype(np.float64)
    support = confusion.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(tp), where=both > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def top_k_accuracy(scored: Scored, k: int) -> float | None:
    if len(scored.truth) == 0:
        return None
    hits = (scored.ranked[:, :k] == scored.truth[:, None]).any(axis=1)
    return float(hits.mean())


def classification_metrics(scored: Scored, label_count: int | None = None) -> dict:
    """accuracy, balanced accuracy, top-5 accuracy, macro- and weighted F1 and per-class
    P/R/F1/support of the scored examples. ``label_count``: the labels the model chooses among
    (top-5 accuracy is None for 5 or fewer); None: unknown, top-5 reported."""
    confusion = confusion_matrix(scored)
    scores = per_class_scores(confusion)
    n = len(scored.truth)
    support = scores["support"]
    present = support > 0
    per_class = {
        label: {"precision": float(scores["precision"][i]), "recall": float(scores["recall"][i]),
                "f1": float(scores["f1"][i]), "support": int(scores["support"][i])}
        for i, label in enumerate(scored.classes)
    }
    return {
        "accuracy": top_k_accuracy(scored, 1),
        "balanced_accuracy": float(scores["recall"][present].mean()) if n else None,
        f"top{TOP_K}_accuracy": top_k_accuracy(scored, TOP_K) if label_count is None or label_count > TOP_K else None,
        "macro_f1": float(scores["f1"].mean()) if n else None,
        "weighted_f1": float((scores["f1"] * support).sum() / support.sum()) if n else None,
        "per_class": per_class,
        "scored": n,
    }


def worst_confusions(scored: Scored, count: int = 10) -> list[dict]:
    """The largest off-diagonal cells: true -> predicted, how often, and the share of the true class."""
    confusion = confusion_matrix(scored)
    off = confusion.copy()
    np.fill_diagonal(off, 0)
    support = confusion.sum(axis=1)
    rows, cols = np.nonzero(off)
    cells = sorted(zip(rows, cols), key=lambda rc: (-off[rc], scored.classes[rc[0]], scored.classes[rc[1]]))
    return [{"true": scored.classes[r], "predicted": scored.classes[c], "count": int(off[r, c]),
             "share_of_true": float(off[r, c] / support[r])} for r, c in cells[:count]]
