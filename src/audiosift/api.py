"""``audiosift.load``: a preset name, hub id or local folder -> a ready classifier."""

from __future__ import annotations

from pathlib import Path

from audiosift.inference.classifier import Classifier
from audiosift.inference.options import LoadOptions
from audiosift.models.loading import _backend_of_config, load_transformers_parts, pretrained_location, resolve
from audiosift.models.presets import PRESETS

DEFAULT_MODEL = "keywords"


def load(model: str = DEFAULT_MODEL, *, device: str = "auto", dtype: str = "float32", batch_size: int = 8,
         revision: str | None = None, cache_dir: str | None = None):
    """Load a classifier.

    ``model`` is a preset (``audiosift.list_models()``), a hub id, or a local folder saved with
    ``save_pretrained``. CLAP models return a zero-shot classifier that takes ``candidate_labels``;
    every other model returns a :class:`Classifier` with a fixed label set.
    """
    options = LoadOptions(device=device, dtype=dtype, batch_size=batch_size, revision=revision,
                          cache_dir=cache_dir)
    source = resolve(model)
    if source.backend == "silero":
        from audiosift.models.silero import SileroSpeechBackend

        return Classifier(SileroSpeechBackend(), options, model)
    location = pretrained_location(source.model_id, revision, cache_dir)
    backend = source.backend if source.backend != "auto" else _backend_of_config(Path(location) / "config.json")
    if backend == "clap":
        from audiosift.inference.zero_shot import load_zero_shot

        return load_zero_shot(location, name=model, model_id=source.model_id, options=options)
    from audiosift.models.transformers_backend import TransformersBackend

    feature_extractor, network = load_transformers_parts(location, source.model_id)
    backend_object = TransformersBackend(network, feature_extractor, source.model_id, options.torch_device(),
                                         options.torch_dtype())
    return Classifier(backend_object, options, model)


def list_models() -> list[dict]:
    """The presets: name, hub id, task, sampling rate and training data."""
    return [
        {"name": p.name, "model_id": p.model_id, "task": p.task, "sampling_rate": p.sampling_rate,
         "trained_on": p.trained_on}
        for p in PRESETS.values()
    ]
