"""Faster CPU forms of transformers layers, swapped into torch models where they load: one place
that says which (each module's docstring has its measurements):

- Wav2Vec2-family conv feature encoder, time-major (:mod:`audiosift.models.wav2vec2_encoder`);
- CLAP's HTSAT window attention on the fused attention kernel (:mod:`audiosift.models.clap_attention`);
- Whisper's encoder layers with one q/k/v product and in-place residuals
  (:mod:`audiosift.models.whisper_encoder`).

Each keeps the model's parameters and computes the same sums in another order (fp32 within 1e-6
of transformers' own; the tests compare both). The ONNX exporter traces :func:`layers_for_export`:
transformers' conv encoder (the time-major one loops over the batch in Python), and the fused
window attention, which becomes one ONNX ``Attention`` node (opset 23): onnxruntime's kernel ran
the CLAP audio tower's int8 graph 1.12x faster than transformers' decomposed attention did.
"""

from __future__ import annotations

import contextlib
import importlib
from contextlib import contextmanager

# model_type -> the module with its CPU layer; any other model gets the conv-encoder module, which
# takes over only a Wav2Vec2-family encoder (it checks the structure). Each module has DESCRIPTION,
# EXPORTED (whether the exporter traces the CPU layer), install(model), installed(model) and original(model).
_BY_MODEL_TYPE = {"clap": "audiosift.models.clap_attention", "whisper": "audiosift.models.whisper_encoder"}
_DEFAULT = "audiosift.models.wav2vec2_encoder"


def swap_classes(model, current, replacement) -> int:
    """Every module of exactly type ``current`` in ``model`` becomes a ``replacement`` (a subclass
    with another forward over the same parameters and buffers); returns how many."""
    modules = [module for module in model.modules() if type(module) is current]
    for module in modules:
        module.__class__ = replacement
    return len(modules)


def has_class(model, cls) -> bool:
    return any(type(module) is cls for module in model.modules())


@contextmanager
def classes_swapped(model, current, replacement):
    """``current`` modules as ``replacement`` for the duration, then back."""
    swap_classes(model, current, replacement)
    try:
        yield model
    finally:
        swap_classes(model, replacement, current)


def _layer_module(model):
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    return importlib.import_module(_BY_MODEL_TYPE.get(model_type, _DEFAULT))


def install(model, device) -> list[str]:
    """Swap the faster layers into ``model`` when it runs on the CPU; returns what was swapped in."""
    import torch

    if torch.device(device).type != "cpu":  # measured on CPUs; GPUs keep transformers' own layers
        return []
    module = _layer_module(model)
    return [module.DESCRIPTION] if module.install(model) else []


def exports_fused_attention(model) -> bool:
    """Whether the exporter traces a fused attention in ``model`` (its graph then needs opset 23)."""
    module = _layer_module(model)
    return module.EXPORTED and module.installed(model)


@contextmanager
def layers_for_export(model):
    """The layers the ONNX exporter traces, for the duration: transformers' own, except a CPU layer
    that exports as it is (CLAP's fused attention)."""
    module = _layer_module(model)
    with (contextlib.nullcontext(model) if module.EXPORTED else module.original(model)):
        yield model


@contextmanager
def original_layers(model):
    """transformers' own layers in ``model`` for the duration (the benchmark counts FLOPs on them)."""
    with _layer_module(model).original(model):
        yield model
