"""Evaluation outputs besides the predictions: metrics.json, confusion.csv/.png and report.md."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from audiosift.evaluation.metrics import Scored, confusion_matrix
from audiosift.evaluation.provenance import provenance_lines
from audiosift.evaluation.store import write_atomically, write_text_atomically

# Above this many classes the confusion plot leaves counts out of the cells (they would be unreadable).
ANNOTATE_MAX_CLASSES = 40
CELL_INCHES = 0.3  # each class gets this much of the figure both ways, so 35-100 classes stay legible
MIN_FIGURE_INCHES = 6.0
REPORT_EXAMPLES = 10  # misclassified examples and failures listed in report.md


def write_metrics(path: Path, metrics: dict) -> None:
    write_text_atomically(path, json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")


def write_confusion_csv(path: Path, scored: Scored) -> None:
    """Rows: true label; columns: top-1 predicted label; cells: counts."""
    confusion = confusion_matrix(scored)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["true \\ predicted", *scored.classes])
    for label, row in zip(scored.classes, confusion):
        writer.writerow([label, *map(int, row)])
    write_text_atomically(path, buffer.getvalue())


def plot_confusion(path: Path, scored: Scored, title: str) -> None:
    """A row-normalised confusion heat map sized to the class count (Agg backend, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    confusion = confusion_matrix(scored)
    count = len(scored.classes)
    support = confusion.sum(axis=1, keepdims=True)
    recall = np.divide(confusion, support, out=np.zeros(confusion.shape), where=support > 0)
    side = max(MIN_FIGURE_INCHES, CELL_INCHES * count + 2.5)
    tick_size = 9 if count <= 20 else 7
    figure, axes = plt.subplots(figsize=(side + 1.2, side), dpi=110)
    colours = matplotlib.colormaps["Blues"].with_extremes(bad="white")  # empty cells white: strays stand out
    image = axes.imshow(np.ma.masked_where(confusion == 0, recall), cmap=colours, vmin=0.0, vmax=1.0,
                        interpolation="nearest")
    axes.set_xticks(range(count), scored.classes, rotation=90, fontsize=tick_size)
    axes.set_yticks(range(count), scored.classes, fontsize=tick_size)
    axes.set_xlabel("predicted label (top 1)")
    axes.set_ylabel("true label")
    axes.set_title(title, fontsize=10)
    # light grid between cells so a row can be followed across many classes
    axes.set_xticks(np.arange(-0.5, count, 1), minor=True)
    axes.set_yticks(np.arange(-0.5, count, 1), minor=True)
    axes.grid(which="minor", color="#dddddd", linewidth=0.5)
    axes.tick_params(which="minor", length=0)
    if count <= ANNOTATE_MAX_CLASSES:
        for row, col in zip(*np.nonzero(confusion)):
            axes.text(col, row, str(confusion[row, col]), ha="center", va="center", fontsize=tick_size - 1,
                      color="white" if recall[row, col] > 0.6 else "black")
    colorbar = figure.colorbar(image, ax=axes, fraction=0.04, pad=0.02)
    colorbar.set_label("share of the true class (recall on the diagonal)")
    figure.tight_layout()
    try:
        write_atomically(path, lambda handle: figure.savefig(handle, format="png"))
    finally:
        plt.close(figure)


def write_report(path: Path, metrics: dict, confusions: list[dict], misclassified: list[dict],
                 failures: list[dict], confusion_image: str | None = None) -> None:
    """report.md. ``misclassified``: in the order to list them (the runner puts the most confident
    errors first); ``confusion_image``: the plot's file name beside the report, embedded if given."""
    lines = [f"# Evaluation: {metrics['model']} on {metrics['dataset']}", ""]
    lines += _summary_table(metrics)
    lines += ["", "## Per class", "", "| label | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
    for label, row in sorted(metrics["per_class"].items(), key=lambda item: (item[1]["f1"], item[0])):
        lines.append(f"| {_cell(label)} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} | "
                     f"{row['support']} |")
    lines += ["", "## Most confused pairs", ""]
    if confusions:
        lines += ["| true | predicted | count | share of true |", "|---|---|---:|---:|"]
        lines += [f"| {_cell(c['true'])} | {_cell(c['predicted'])} | {c['count']} | {c['share_of_true']:.1%} |"
                  for c in confusions]
    else:
        lines.append("None: every scored example was predicted correctly.")
    if confusion_image:
        lines += ["", "## Confusion matrix", "", f"![confusion matrix: true label by predicted label]"
                  f"({confusion_image})", "", "Counts: `confusion.csv`."]
    lines += ["", "## Misclassified examples", ""]
    if misclassified:
        lines += [f"The {min(len(misclassified), REPORT_EXAMPLES)} most confident errors of {len(misclassified)} "
                  f"(all: `predictions.jsonl`).", "",
                  "| id | file | true | predicted (score) |", "|---|---|---|---|"]
        for record in misclassified[:REPORT_EXAMPLES]:
            best = record["predictions"][0]
            lines.append(f"| {_cell(record['id'])} | {_cell(record.get('path') or '')} | {_cell(record['target'])} "
                         f"| {_cell(best['label'])} ({best['score']:.3f}) |")
    else:
        lines.append("None.")
    if failures:
        lines += ["", "## Failures (not scored)", "", "| id | error |", "|---|---|"]
        lines += [f"| {_cell(r['id'])} | {_cell(r['error'])} |" for r in failures[:REPORT_EXAMPLES]]
    lines += _mapping_notes(metrics["label_mapping"])
    if metrics.get("provenance"):
        lines += provenance_lines(metrics["provenance"])
    lines += ["", "Files: `predictions.jsonl` (one record per example), `metrics.json`, `confusion.csv`, "
              "`confusion.png`.", ""]
    write_text_atomically(path, "\n".join(lines))


def _summary_table(metrics: dict) -> list[str]:
    def share(value):
        return "n/a" if value is None else f"{value:.2%}"

    def decimal(value):
        return "n/a" if value is None else f"{value:.4f}"

    rate = metrics.get("throughput_clips_per_s")
    return [
        "| metric | value |", "|---|---:|",
        *([f"| subset (--where) | {_cell(' '.join(metrics['where']))} |"] if metrics.get("where") else []),
        f"| examples | {metrics['n']} |",
        f"| scored | {metrics['scored']} |",
        f"| failures (not scored) | {metrics['failures']} |",
        f"| unmapped labels (not scored) | {metrics['unmapped']} |",
        f"| accuracy | {share(metrics['accuracy'])} |",
        f"| balanced accuracy (mean recall) | {share(metrics.get('balanced_accuracy'))} |",
        # with 5 labels or fewer the true label is always in the top 5: no information
        *([f"| top-5 accuracy | {share(metrics['top5_accuracy'])} |"] if metrics.get("top5_accuracy") is not None
          else []),
        f"| macro-F1 | {decimal(metrics['macro_f1'])} |",
        f"| weighted F1 | {decimal(metrics.get('weighted_f1'))} |",
        f"| throughput (this run) | {'n/a' if rate is None else format(rate, '.2f') + ' clips/s'} |",
        f"| classification time (this run) | {metrics['classify_time_s']:.1f} s |",
        f"| wall time (this run, loading included) | {metrics['wall_time_s']:.1f} s |",
        f"| engine | {metrics['engine']} |",
    ]


def _mapping_notes(mapping: dict) -> list[str]:
    notes = []
    for label, target in mapping.get("normalised", {}).items():
        notes.append(f"- `{label}` matched the model label `{target}` after normalising case and `_`/`-`/spaces")
    for label, target in mapping.get("label_map", {}).items():
        notes.append(f"- `{label}` -> `{target}` (label map)")
    if mapping.get("excluded"):
        notes.append("- left out by the label map: " + ", ".join(f"`{x}`" for x in mapping["excluded"]))
    if mapping.get("unmapped"):
        notes.append("- no model label (counted as unmapped): " + ", ".join(f"`{x}`" for x in mapping["unmapped"]))
    return (["", "## Label mapping", ""] + notes) if notes else []


def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")
