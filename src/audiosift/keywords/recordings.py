"""Recordings with known keyword times, as ``audiosift evaluate-keyword`` reads them, and the
evaluation of any detector over them (metrics rules in :mod:`audiosift.keywords.evaluate`).

Inputs (any mix):
- long recordings plus a times CSV with the header ``file,start,end`` (seconds; one row per
  keyword occurrence; ``file`` as given on the command line, relative to the CSV's folder, or a bare
  file name); a recording with no rows holds no keyword;
- positive clips: each holds the keyword once, anywhere (the occurrence is the whole clip);
- negative recordings: no keyword at all.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from audiosift.errors import AudiosiftError, UsageError
from audiosift.keywords import evaluate


@dataclass
class Item:
    name: str
    source: object  # a path, or a 16 kHz array
    occurrences: list[tuple[float, float]] | None = None  # None: the whole clip is one occurrence
    kind: str = "recording"


@dataclass
class Evaluation:
    report: dict
    recordings: list[evaluate.ScoredRecording] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)


def read_times_csv(path: str | Path) -> dict[str, list[tuple[float, float]]]:
    """``{file: [(start, end), ...]}`` from a ``file,start,end`` CSV."""
    path = Path(path)
    try:
        reader = csv.DictReader(path.read_text().splitlines())
        rows = list(reader)
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"--times {path}: cannot read it as text ({error})") from error
    missing = {"file", "start", "end"} - set(reader.fieldnames or ())
    if missing:  # a header-only file is fine (no occurrences); a file that is not this CSV is not
        raise UsageError(f"--times {path}: expected a CSV whose first line is file,start,end (times in seconds); "
                         f"its first line has no {', '.join(sorted(missing))} column")
    times: dict[str, list[tuple[float, float]]] = {}
    for number, row in enumerate(rows, start=2):
        try:
            start, end = float(row["start"]), float(row["end"])
            name = row["file"].strip()
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise UsageError(f"--times {path} line {number}: expected the columns file,start,end with times in "
                             f"seconds, got {row!r}") from error
        if not 0 <= start <= end:
            raise UsageError(f"--times {path} line {number}: start {start} and end {end} must satisfy 0 <= start <= end")
        times.setdefault(name, []).append((start, end))
    return times


def gather(recordings=(), times: str | Path | None = None, positives=(), negatives=()) -> list[Item]:
    """The items to score, each with its occurrences (see the module docstring)."""
    from audiosift.audio.files import find_audio_files

    table = read_times_csv(times) if times else {}
    if recordings and not times:
        raise UsageError("--recordings need --times CSV (file,start,end); clips without times go in "
                         "--positives or --negatives")
    base = Path(times).parent if times else Path(".")
    items, used = [], set()
    for path in find_audio_files(list(recordings)) if recordings else []:
        keys = [str(path), str(path.relative_to(base)) if path.is_relative_to(base) else None, path.name]
        key = next((k for k in keys if k in table), None)
        used.add(key)
        items.append(Item(str(path), path, list(table.get(key, [])) if key else []))
    unknown = sorted(set(table) - used)
    if unknown:
        raise UsageError(f"--times names file(s) not among --recordings: {', '.join(unknown[:5])}")
    items += [Item(str(p), p, None, "positive") for p in (find_audio_files(list(positives)) if positives else [])]
    items += [Item(str(p), p, [], "negative") for p in (find_audio_files(list(negatives)) if negatives else [])]
    if not items:
        raise UsageError("nothing to evaluate: give --recordings with --times, --positives and/or --negatives")
    return items


def label_column(backend, label: str | None) -> tuple[int, str]:
    labels = list(backend.labels)
    if label is None:
        if len(labels) != 1:
            raise UsageError(f"the model detects {len(labels)} labels ({', '.join(labels)}): pick one with --label")
        return 0, labels[0]
    if label not in labels:
        raise UsageError(f"--label {label!r} is not one of the model's labels: {', '.join(labels)}")
    return labels.index(label), label


def evaluate_items(model, items: list[Item], label: str | None = None, threshold: float | None = None,
                   refractory_s: float = 1.0, tolerance_s: float = evaluate.DEFAULT_TOLERANCE_S,
                   target_fa_per_hour: float = 1.0, report: Callable[[str], None] | None = None) -> Evaluation:
    """Score every item with ``model`` (a loaded detector or its backend); a bad item is recorded in
    ``errors`` and the others go on."""
    from audiosift.inference.detector import WakeWordDetector, frame_backend

    backend = frame_backend(model)
    column, label = label_column(backend, label)
    if threshold is None:
        threshold = float(WakeWordDetector(backend, labels=[label]).thresholds[0])
    scored, errors = [], []
    for index, item in enumerate(items):
        try:
            recording = evaluate.score_recording(backend, column, item.name, item.source, item.occurrences)
        except AudiosiftError as error:
            errors.append({"file": item.name, "error": str(error)})
            if report:
                report(f"skipped {item.name}: {error}")
            continue
        if item.occurrences is None:  # a positive clip: the keyword is somewhere in it
            recording.occurrences = [(0.0, recording.duration_s)]
        scored.append(recording)
        if report and (index + 1) % 20 == 0:
            report(f"scored {index + 1}/{len(items)} recordings")
    if not scored:
        raise AudiosiftError(f"no recording could be scored ({len(errors)} failed; first: {errors[0]['error']})")
    result = evaluate.summary(scored, threshold, refractory_s, tolerance_s, target_fa_per_hour)
    result = {"model": backend.model_id, "label": label, **result, "errors": errors}
    return Evaluation(result, scored, errors)
