"""Faster CPU forms of transformers layers, swapped into torch models where they load: one place
that says which (each module's docstring has its measurements):

- Wav2Vec2-family conv feature encoder, time-major (:mod:`audiosift.models.wav2vec2_encoder`);
- CLAP's HTSAT window attention on the fused attention kernel (:mod:`audiosift.models.clap_attention`).

Each keeps the model's parameters and computes the same sums in another order (fp32 within 1e-6
of transformers' own; the tests compare both). The ONNX exporter traces the original layers
(:func:`original_layers`), so exported graphs do not depend on these.
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


@contextmanager
def original_layers(model):
    """transformers' own layers in ``model`` for the duration."""
    with ExitStack() as stack:
        if _is_clap(model):
            from audiosift.models.clap_attention import original_attention

            stack.enter_context(original_attention(model))
        else:
            from audiosift.models.wav2vec2_encoder import original_encoder

            stack.enter_context(original_encoder(model))
        yield model
