"""Faster CPU forms of transformers layers, swapped into torch models where they load: one place
that says which (each module's docstring has its measurements):

- Wav2Vec2-family conv feature encoder, time-major (:mod:`audiosift.models.wav2vec2_encoder`);
- CLAP's HTSAT window attention on the fused attention kernel (:mod:`audiosift.models.clap_attention`).

Each keeps the model's parameters and computes the same sums in another order (fp32 within 1e-6
of transformers' own; the tests compare both). The ONNX exporter traces :func:`layers_for_export`:
transformers' conv encoder (the time-major one loops over the batch in Python), and the fused
window attention, which becomes one ONNX ``Attention`` node (opset 23): onnxruntime's kernel ran
the CLAP audio tower's int8 graph 1.12x faster than transformers' decomposed attention did.
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager


def _is_clap(model) -> bool:
    return getattr(getattr(model, "config", None), "model_type", None) == "clap"


def install(model, device) -> list[str]:
    """Swap the faster layers into ``model`` when it runs on the CPU; returns what was swapped in."""
    import torch

    if torch.device(device).type != "cpu":  # measured on CPUs; GPUs keep transformers' own layers
        return []
    done = []
    if _is_clap(model):
        from audiosift.models import clap_attention

        if clap_attention.install(model):
            done.append("fused window attention")
    else:
        from audiosift.models import wav2vec2_encoder

        if wav2vec2_encoder.install(model):
            done.append("time-major conv feature encoder")
    return done


def has_fused_attention(model) -> bool:
    """Whether ``model`` runs the fused window attention (its export then needs opset 23)."""
    if not _is_clap(model):
        return False
    from audiosift.models.clap_attention import FusedWindowAttention

    return any(isinstance(module, FusedWindowAttention) for module in model.modules())


@contextmanager
def layers_for_export(model):
    """The layers the ONNX exporter traces, for the duration: transformers' conv encoder back in
    place of the time-major one; the fused attention stays."""
    with ExitStack() as stack:
        if not _is_clap(model):
            from audiosift.models.wav2vec2_encoder import original_encoder

            stack.enter_context(original_encoder(model))
        yield model


@contextmanager
def original_layers(model):
    """transformers' own layers in ``model`` for the duration (the benchmark counts FLOPs on them)."""
    with ExitStack() as stack:
        if _is_clap(model):
            from audiosift.models.clap_attention import original_attention

            stack.enter_context(original_attention(model))
        else:
            from audiosift.models.wav2vec2_encoder import original_encoder

            stack.enter_context(original_encoder(model))
        yield model
