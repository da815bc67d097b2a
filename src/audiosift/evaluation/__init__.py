"""Evaluate a model on a dataset: predictions, metrics, confusion matrix and a report, resumable.

>>> from audiosift.evaluation import evaluate
>>> result = evaluate("intent", "PolyAI/minds14", "runs/intent", config="en-AU", split="train",
...                   label_column="intent_class")                  # doctest: +SKIP
"""

from audiosift.evaluation.labels import LabelMapper, normalise, read_label_map
from audiosift.evaluation.runner import EvaluationOptions, EvaluationResult, evaluate, run_evaluation
from audiosift.evaluation.store import PredictionStore, RunConflictError

__all__ = ["EvaluationOptions", "EvaluationResult", "LabelMapper", "PredictionStore", "RunConflictError",
           "evaluate", "normalise", "read_label_map", "run_evaluation"]
