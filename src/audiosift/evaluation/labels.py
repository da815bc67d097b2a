"""Map dataset label names onto a model's label names, never by integer id.

A dataset label is matched, in order: exactly; then after normalising both sides (case, and ``_``,
``-`` and spaces all alike: ``Sea_Waves`` = ``sea waves``); then through a ``--label-map`` file.
A label-map entry that contradicts an exact or normalised match is an error rather than a silent
override. Labels that still have no model label are listed up front in one
:class:`~audiosift.errors.LabelMappingError`, or, with ``allow_unmapped``, their examples are
counted as "unmapped" and left out of the scores (never scored as wrong).

Label-map files: JSON ``{"dataset label": "model label"}`` or two-column CSV/TSV rows
``dataset_label,model_label`` (a header row naming those columns is skipped). Mapping a label to
``null`` (JSON) or to an empty cell leaves it out on purpose: its examples count as unmapped
without an error.
"""

from __future__ import annotations

import csv
import difflib
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from audiosift.errors import LabelMappingError

HEADER_NAMES = {("dataset_label", "model_label"), ("dataset", "model"), ("source", "target")}
EXCLUDED = object()  # the label map leaves this label out on purpose


def normalise(label: str) -> str:
    """Case-folded, with runs of ``_``, ``-`` and whitespace turned into one space."""
    return re.sub(r"[\s_\-]+", " ", str(label).casefold()).strip()


def read_label_map(path: str | Path) -> dict[str, str | None]:
    """``{dataset label: model label or None}`` from a JSON or CSV/TSV file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise LabelMappingError(f"cannot read label map {path}: {error}") from error
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise LabelMappingError(f"{path}: not valid JSON ({error}); "
                                    f"expected {{\"dataset label\": \"model label\"}}") from error
        if not isinstance(data, dict) or not all(v is None or isinstance(v, str) for v in data.values()):
            raise LabelMappingError(f"{path}: expected a JSON object of strings, "
                                    f"{{\"dataset label\": \"model label\"}}")
        return {str(k): (v if v else None) for k, v in data.items()}
    rows = [row for row in csv.reader(text.splitlines(), delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
            if row and not row[0].lstrip().startswith("#")]
    if rows and tuple(cell.strip().lower() for cell in rows[0][:2]) in HEADER_NAMES:
        rows = rows[1:]
    mapping: dict[str, str | None] = {}
    for number, row in enumerate(rows, start=1):
        if len(row) > 2 or not row[0].strip():
            raise LabelMappingError(f"{path}: row {number} {row!r}: expected two cells, dataset_label,model_label")
        mapping[row[0].strip()] = (row[1].strip() if len(row) > 1 else "") or None
    return mapping


class LabelMapper:
    """Dataset label -> model label, resolved once per label (labels of a stream arrive as they come)."""

    def __init__(self, model_labels: Sequence[str], label_map: dict[str, str | None] | None = None,
                 allow_unmapped: bool = False):
        self.model_labels = list(model_labels)
        self.allow_unmapped = allow_unmapped
        self._exact = set(self.model_labels)
        by_key: dict[str, list[str]] = {}
        for label in self.model_labels:
            by_key.setdefault(normalise(label), []).append(label)
        self._by_key = by_key
        self._label_map = self._checked_map(label_map or {})
        self._resolved: dict[str, tuple[str | None, str]] = {}  # label -> (model label, how)

    def _checked_map(self, label_map: dict[str, str | None]) -> dict[str, object]:
        checked: dict[str, object] = {}
        for source, target in label_map.items():
            if target is None:
                checked[source] = EXCLUDED
                continue
            resolved = target if target in self._exact else self._unique_normalised(target)
            if resolved is None:
                raise LabelMappingError(
                    f"label map: {source!r} -> {target!r}, but the model has no label {target!r}"
                    f"{_close_matches(target, self.model_labels)}")
            checked[source] = resolved
        return checked

    def _unique_normalised(self, label: str) -> str | None:
        candidates = self._by_key.get(normalise(label), [])
        return candidates[0] if len(candidates) == 1 else None

    def resolve(self, label: str | None) -> tuple[str | None, str]:
        """``(model label or None, how)``; how is exact / normalised / label map / excluded / unmapped."""
        if label is None:
            return None, "no label"
        if label not in self._resolved:
            self._resolved[label] = self._resolve(label)
        return self._resolved[label]

    def _resolve(self, label: str) -> tuple[str | None, str]:
        automatic = (label, "exact") if label in self._exact else (self._unique_normalised(label), "normalised")
        mapped = self._label_map.get(label)
        if automatic[0] is not None:
            if mapped is not None and mapped != automatic[0]:
                target = "null" if mapped is EXCLUDED else repr(mapped)
                raise LabelMappingError(
                    f"label map sends {label!r} to {target}, but it already matches the model label "
                    f"{automatic[0]!r} ({automatic[1]}); remove that entry from the label map")
            return automatic
        if mapped is EXCLUDED:
            return None, "excluded"
        if mapped is not None:
            return str(mapped), "label map"
        return None, "unmapped"

    def target(self, label: str | None) -> str | None:
        return self.resolve(label)[0]

    def check(self, labels: Iterable[str]) -> None:
        """Raise one :class:`LabelMappingError` listing every label without a model label (unless allowed)."""
        missing = [label for label in labels if self.resolve(label)[1] == "unmapped"]
        if missing and not self.allow_unmapped:
            raise LabelMappingError(self._unmapped_message(missing))

    def check_one(self, label: str | None) -> None:
        if label is not None:
            self.check([label])

    def _unmapped_message(self, missing: list[str]) -> str:
        hints = "; ".join(f"{label!r}{_close_matches(label, self.model_labels)}" for label in missing[:20])
        more = f" (and {len(missing) - 20} more)" if len(missing) > 20 else ""
        shown = ", ".join(self.model_labels[:40]) + (" ..." if len(self.model_labels) > 40 else "")
        return (f"{len(missing)} dataset label(s) match no model label: {hints}{more}. The model's "
                f"{len(self.model_labels)} labels: {shown}. Map them with --label-map FILE (JSON "
                f'{{"dataset label": "model label"}}, or CSV rows dataset_label,model_label; map to null or an '
                f"empty cell to leave a label out), or pass --allow-unmapped to count their examples as "
                f"'unmapped' instead of scoring them")

    def summary(self) -> dict:
        """How each label seen so far was mapped (for metrics.json and the report)."""
        out: dict[str, dict] = {"normalised": {}, "label_map": {}, "excluded": [], "unmapped": []}
        for label, (target, how) in sorted(self._resolved.items()):
            if how == "normalised":
                out["normalised"][label] = target
            elif how == "label map":
                out["label_map"][label] = target
            elif how in ("excluded", "unmapped"):
                out[how].append(label)
        return out


def _close_matches(label: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(normalise(label), [normalise(c) for c in choices], n=3, cutoff=0.6)
    originals = [c for key in close for c in choices if normalise(c) == key]
    return f" (closest: {', '.join(map(repr, dict.fromkeys(originals)))})" if originals else ""
