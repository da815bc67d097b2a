"""``compare``: two ``evaluate`` output folders, example by example (e.g. float32 against int8).

Both runs' ``predictions.jsonl`` are read (read-only: the latest record of an id wins, as the
evaluation store reads it; a partial or corrupt line is skipped) and matched by example id. On the
examples both runs scored:
- ``agreement``: the share with the same top-1 label;
- each run's accuracy and macro-F1 on exactly those examples, and B minus A (so a difference comes
  from the model, not from a different set of examples); each run's own ``metrics.json`` figures are
  shown beside them;
- the examples that flipped (top-1 differs), those where one run is right and the other wrong first.

A dataset label is turned into the model label it is scored against through the run's
``metrics.json`` ``label_mapping`` (normalised and label-map matches; excluded and unmapped labels are
not scored), exactly as the run itself scored it.
"""

from __future__ import annotations

import json
from pathlib import Path

from audiosift.errors import UsageError
from audiosift.evaluation.metrics import classification_metrics, scored_arrays

PREDICTIONS = "predictions.jsonl"
METRICS = "metrics.json"


def read_run(folder: str | Path) -> dict:
    """``{"folder", "metrics", "records"}`` of one evaluate output folder (records keyed by id)."""
    folder = Path(folder)
    predictions, metrics = folder / PREDICTIONS, folder / METRICS
    if not predictions.is_file():
        raise UsageError(f"{folder} has no {PREDICTIONS}: expected an `audiosift evaluate --output` folder")
    if not metrics.is_file():
        raise UsageError(f"{folder} has no {METRICS}: the evaluation there has not finished; run the same "
                         f"`audiosift evaluate` command again to complete it")
    try:
        metrics_data = json.loads(metrics.read_text())
    except ValueError as error:
        raise UsageError(f"{metrics} is not valid JSON ({error}); re-run the evaluation") from error
    records: dict[str, dict] = {}
    for line in predictions.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut by a killed run: the evaluation drops it too
        if isinstance(record, dict) and "id" in record:
            records.pop(str(record["id"]), None)
            records[str(record["id"])] = record
    return {"folder": str(folder), "metrics": metrics_data, "records": records}


def scoring_target(label, mapping: dict) -> str | None:
    """The model label a run scored ``label`` against (None: not scored)."""
    if label is None:
        return None
    label = str(label)
    if label in mapping.get("excluded", ()) or label in mapping.get("unmapped", ()):
        return None
    return mapping.get("label_map", {}).get(label) or mapping.get("normalised", {}).get(label) or label


def _scored(record: dict, mapping: dict) -> tuple[str, list[dict]] | None:
    if record.get("unmapped") or "error" in record or not record.get("predictions"):
        return None
    target = scoring_target(record.get("label"), mapping)
    return None if target is None else (target, record["predictions"])


def compare_runs(run_a: str | Path, run_b: str | Path, *, show: int = 20) -> dict:
    """The comparison of two evaluate folders (module docstring); ``show`` caps the flips listed."""
    a, b = read_run(run_a), read_run(run_b)
    map_a, map_b = a["metrics"].get("label_mapping") or {}, b["metrics"].get("label_mapping") or {}
    pairs_a, pairs_b, flips = [], [], []
    for example_id, record_a in a["records"].items():
        record_b = b["records"].get(example_id)
        scored_a = _scored(record_a, map_a)
        scored_b = _scored(record_b, map_b) if record_b else None
        if scored_a is None or scored_b is None:
            continue
        (target, ranked_a), (_, ranked_b) = scored_a, scored_b
        pairs_a.append((target, [p["label"] for p in ranked_a]))
        pairs_b.append((target, [p["label"] for p in ranked_b]))
        if ranked_a[0]["label"] != ranked_b[0]["label"]:
            flips.append(_flip(example_id, record_a, target, ranked_a[0], ranked_b[0]))
    if not pairs_a:
        raise UsageError(f"{run_a} and {run_b} have no scored example in common (compare matches examples by id): "
                         f"were they run on the same dataset, split and --where selection?")
    flips.sort(key=lambda flip: (flip["change"] == "both wrong", str(flip["id"])))
    return _summary(a, b, pairs_a, pairs_b, flips, show)


def _flip(example_id: str, record: dict, target: str, top_a: dict, top_b: dict) -> dict:
    right_a, right_b = top_a["label"] == target, top_b["label"] == target
    change = "fixed in B" if right_b and not right_a else "broken in B" if right_a and not right_b else "both wrong"
    return {"id": example_id, "path": record.get("path"), "label": record.get("label"), "target": target,
            "a": {"label": top_a["label"], "score": top_a.get("score")},
            "b": {"label": top_b["label"], "score": top_b.get("score")}, "change": change}


def _summary(a: dict, b: dict, pairs_a, pairs_b, flips: list[dict], show: int) -> dict:
    order = list(dict.fromkeys(target for target, _ in pairs_a))
    common_a = classification_metrics(scored_arrays(pairs_a, order))
    common_b = classification_metrics(scored_arrays(pairs_b, order))
    runs = {}
    for name, run, common in (("a", a, common_a), ("b", b, common_b)):
        metrics = run["metrics"]
        runs[name] = {"folder": run["folder"], "model": metrics.get("model"), "dataset": metrics.get("dataset"),
                      "accuracy": common["accuracy"], "macro_f1": common["macro_f1"],
                      "run_accuracy": metrics.get("accuracy"), "run_macro_f1": metrics.get("macro_f1"),
                      "run_scored": metrics.get("scored"), "throughput_clips_per_s": metrics.get("throughput_clips_per_s")}
    n = len(pairs_a)
    return {
        "common_examples": n, "agreement": 1 - len(flips) / n, "flipped": len(flips),
        "accuracy_delta": runs["b"]["accuracy"] - runs["a"]["accuracy"],
        "macro_f1_delta": runs["b"]["macro_f1"] - runs["a"]["macro_f1"],
        "fixed_in_b": sum(f["change"] == "fixed in B" for f in flips),
        "broken_in_b": sum(f["change"] == "broken in B" for f in flips),
        "runs": runs, "flips": flips[:show], "flips_left_out": max(0, len(flips) - show),
        "same_dataset": (a["metrics"].get("dataset"), a["metrics"].get("split"), a["metrics"].get("where"))
        == (b["metrics"].get("dataset"), b["metrics"].get("split"), b["metrics"].get("where")),
    }


def format_comparison(result: dict) -> str:
    """The comparison as lines of text for a terminal."""
    a, b = result["runs"]["a"], result["runs"]["b"]
    lines = [f"A: {a['model']} ({a['folder']})", f"B: {b['model']} ({b['folder']})"]
    if not result["same_dataset"]:
        lines.append("warning: the runs' dataset, split or --where differ; only examples with the same id are compared")
    lines += [
        f"examples scored by both: {result['common_examples']}; top-1 agreement {result['agreement']:.2%} "
        f"({result['flipped']} flipped: {result['fixed_in_b']} fixed in B, {result['broken_in_b']} broken in B)",
        f"accuracy  A {a['accuracy']:.2%}  B {b['accuracy']:.2%}  delta {result['accuracy_delta'] * 100:+.2f} points",
        f"macro-F1  A {a['macro_f1']:.4f}  B {b['macro_f1']:.4f}  delta {result['macro_f1_delta']:+.4f}",
    ]
    speeds = [run["throughput_clips_per_s"] for run in (a, b)]
    if all(speeds):
        lines.append(f"throughput  A {speeds[0]:.2f}  B {speeds[1]:.2f} clips/s  (B/A {speeds[1] / speeds[0]:.2f}x)")
    if result["flips"]:
        lines.append("flipped examples (label: A -> B):")
        for flip in result["flips"]:
            lines.append(f"  [{flip['change']}] {flip['path'] or flip['id']}  {flip['label']}: "
                         f"{flip['a']['label']} ({_score(flip['a'])}) -> {flip['b']['label']} ({_score(flip['b'])})")
        if result["flips_left_out"]:
            lines.append(f"  ... and {result['flips_left_out']} more (--show N, or --format json)")
    return "\n".join(lines)


def _score(prediction: dict) -> str:
    return "?" if prediction.get("score") is None else f"{prediction['score']:.3f}"
