"""The models a server serves: loaded once at start-up, each with its own micro-batcher.

Fixed-label classifiers batch with ``Classifier.scores``. Zero-shot (CLAP) requests are batched
through the audio tower all together, whatever their labels: the batch's audio embeddings come from
one forward, then each request is scored against its own label embeddings (cached per prompt by the
zero-shot classifier, so a label set costs the text tower only the first time it is seen).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath

import numpy as np

from audiosift.errors import AudiosiftError
from audiosift.server.batching import MicroBatcher
from audiosift.server.config import ServerConfig

logger = logging.getLogger("audiosift.server")

CLASSIFIER = "classifier"
ZERO_SHOT = "zero-shot"


@dataclass(frozen=True)
class ZeroShotItem:
    """One zero-shot request as the batcher sees it."""

    waveform: np.ndarray
    labels: tuple[str, ...]
    templates: tuple[str, ...] | None


class ServedModel:
    def __init__(self, name: str, model, config: ServerConfig):
        self.name = name
        self.model = model
        self.kind = ZERO_SHOT if model.takes_labels else CLASSIFIER
        # A wake-word model: /v1/classify reports its detections with their times, /v1/listen streams it.
        self.detector = _is_detector(model)
        run = self._run_zero_shot if self.kind == ZERO_SHOT else self._run_classifier
        self.batcher = MicroBatcher(run, max_batch_size=config.max_batch_size,
                                    max_wait_s=config.batch_wait_ms / 1000.0, name=name)

    @property
    def sampling_rate(self) -> int:
        return self.model.sampling_rate

    @property
    def labels(self) -> list[str] | None:
        return self.model.labels

    def describe(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "model_id": public_model_id(self.model.model_id),
            "labels": self.labels,
            "sampling_rate": self.sampling_rate,
            "window_seconds": self.model.window_seconds,
            "detector": self.detector,
        }

    def _run_classifier(self, _key, waveforms: list[np.ndarray]) -> np.ndarray:
        return self.model.scores(waveforms, batch_size=self.batcher.max_batch_size)

    def _run_zero_shot(self, _key, items: list[ZeroShotItem]) -> list[np.ndarray]:
        # One audio-tower pass for the whole batch, whatever each request's labels.
        outputs = self.model.outputs([item.waveform for item in items], self.batcher.max_batch_size)
        rows = []
        for output, item in zip(outputs, items):
            label_set = self.model.label_set(list(item.labels), item.templates)
            rows.append(self.model.scores_from_outputs(output[None, :], label_set)[0])
        return rows

    def close(self) -> None:
        self.batcher.close()


def _is_detector(model) -> bool:
    """A wake-word (or custom keyword) model, as the CLI's ``classify`` tells them: by its backend's
    kind. Silero's VAD streams frames with a threshold too, but is served as a clip classifier."""
    from audiosift.inference.detector import is_detector
    from audiosift.models.registry import names_a_detector

    return is_detector(model) and names_a_detector(str(model.model_id))


def load_models(config: ServerConfig) -> dict[str, object]:
    """Load every model the config names (and nothing else). Failures are fatal unless
    ``config.skip_unavailable``, in which case they are reported and skipped (at least one must load)."""
    import audiosift

    loaded: dict[str, object] = {}
    failures: list[str] = []
    for name, spec in config.models.items():
        try:
            loaded[name] = audiosift.load(spec, options=config.runtime)
        except AudiosiftError as error:
            if not config.skip_unavailable:
                raise
            failures.append(name)
            print(f"audiosift serve: skipping model {name!r}: {error}", file=sys.stderr)
    if not loaded:
        raise AudiosiftError(f"none of the models could be loaded ({', '.join(failures)}); "
                             f"name one that is available with --model NAME=MODEL")
    return loaded


def serve_models(models: Mapping[str, object], config: ServerConfig) -> dict[str, ServedModel]:
    for model in models.values():
        if model.takes_labels:  # zero-shot: its prompt embeddings are cached, bounded on a server
            model.text_cache.resize(config.max_cached_prompts)
    return {name: ServedModel(name, model, config) for name, model in models.items()}


def public_model_id(model_id: str) -> str:
    """What clients see of a model's id: a hub id or builtin name as is, a local folder by its name only
    (a server must not tell clients where things are on its disk)."""
    text = str(model_id)
    path = Path(text).expanduser()
    if "\\" in text:  # a Windows path
        return PureWindowsPath(text).name or "local-model"
    if path.is_absolute() or text.startswith((".", "~")) or path.exists():
        return path.name or "local-model"
    return text
