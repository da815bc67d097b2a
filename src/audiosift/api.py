"""``audiosift.load``: a preset name, hub id or local folder -> a ready classifier."""

from __future__ import annotations

from audiosift.inference.options import RuntimeOptions
from audiosift.models import registry
from audiosift.models.loading import locate, resolve
from audiosift.models.presets import PRESETS

DEFAULT_MODEL = "keywords"


def load(model: str = DEFAULT_MODEL, *, device: str = "auto", dtype: str = "float32", batch_size: int = 8,
         revision: str | None = None, cache_dir: str | None = None, backend: str = "auto",
         options: RuntimeOptions | None = None):
    """Load a classifier.

    ``model`` is a preset (``audiosift.list_models()``), a hub id, a local folder saved with
    ``save_pretrained``, or a ``builtin:...`` id. Every model returns the same protocol
    (:class:`~audiosift.inference.classifier.Classifier`); zero-shot (CLAP) models take
    ``candidate_labels`` and also embed audio and text
    (:class:`~audiosift.inference.zero_shot.ZeroShotClassifier`).
    ``backend="onnx"`` (or ``dtype="int8"``) runs a torch model on onnxruntime, exported once into a
    cache keyed by the model's fingerprint (docs/deployment.md); a folder made by ``audiosift export``
    always runs on onnxruntime.
    ``options`` (a :class:`RuntimeOptions`) replaces the keyword options when given.
    """
    options = options or RuntimeOptions(device=device, dtype=dtype, batch_size=batch_size, revision=revision,
                                        cache_dir=cache_dir, backend=backend)
    source = resolve(model)
    folder, kind = locate(source, options)
    if options.wants_onnx and kind.name != "onnx":
        from audiosift.models.onnx_export import cached_export

        folder, kind = str(cached_export(source, folder, kind, options)), registry.kind_named("onnx")
    backend = kind.create(registry.ModelRequest(source.model_id, folder, options, source.preset))
    return classifier_for(backend, options, model)


def classifier_for(backend, options: RuntimeOptions, name: str):
    """The classifier object over a built backend: one protocol; zero-shot adds embeddings."""
    if backend.output == "embeddings":
        from audiosift.inference.zero_shot import ZeroShotClassifier

        return ZeroShotClassifier(backend, options, name)
    from audiosift.inference.classifier import Classifier

    return Classifier(backend, options, name)


def list_models() -> list[dict]:
    """The presets: name, hub id, task, sampling rate, training data, licence, and ``offline``:
    whether loading works without a network (:func:`offline_status`)."""
    return [
        {"name": p.name, "model_id": p.model_id, "task": p.task, "sampling_rate": p.sampling_rate,
         "trained_on": p.trained_on, "licence": getattr(p, "licence", ""), "offline": offline_status(p.model_id)}
        for p in PRESETS.values()
    ]


def offline_status(model_id: str) -> str:
    """``"builtin"``: ships inside an installed Python package (works offline); ``"not installed
    (audiosift[EXTRA])"``: ships in a package that is missing here; ``"cached"``: in the local
    Hugging Face cache; ``"download"``: needs the hub once. Only the disk is looked at, never the
    network."""
    if model_id.startswith("builtin:"):
        from audiosift.models.registry import kind_for_builtin

        kind = kind_for_builtin(model_id)
        if kind is not None and kind.missing():
            return f"not installed (audiosift[{kind.extra}])"
        return "builtin"
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(model_id, "config.json")
    return "cached" if isinstance(found, str) else "download"
