"""What each engine runs: load the model once, classify a stream of audio references.

A :class:`ClassificationJob` is a small frozen, picklable description (model name and load options,
plus candidate labels and templates for zero-shot models), so the Ray engine can ship it to its
actors and each actor loads its own copy of the model.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from audiosift.evaluation.metrics import TOP_K
from audiosift.inference.classifier import ItemResult
from audiosift.inference.options import RuntimeOptions


@dataclass(frozen=True)
class ClassificationJob:
    model: str
    runtime: RuntimeOptions = RuntimeOptions()
    candidate_labels: tuple[str, ...] | None = None  # zero-shot models only
    templates: tuple[str, ...] | None = None  # zero-shot prompt template(s); None: the model's default

    @property
    def batch_size(self) -> int:
        return self.runtime.batch_size

    @property
    def revision(self) -> str | None:
        return self.runtime.revision

    def load(self):
        import audiosift

        return audiosift.load(self.model, options=self.runtime)


def classify_stream(classifier: Any, inputs: Iterable[Any], job: ClassificationJob) -> Iterator[ItemResult]:
    """One :class:`ItemResult` (top-5 predictions or an error) per input, in input order."""
    labels = list(job.candidate_labels) if job.candidate_labels else None
    templates = list(job.templates) if job.templates else None
    return classifier.classify_many(inputs, candidate_labels=labels, hypothesis_template=templates, top_k=TOP_K,
                                    batch_size=job.batch_size)


def outcome(result: ItemResult) -> dict:
    """The part of a prediction record the model decides: predictions, or the error."""
    if result.ok:
        return {"predictions": result.predictions}
    return {"error": result.error}
