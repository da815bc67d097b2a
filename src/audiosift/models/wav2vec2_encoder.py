"""The Wav2Vec2-family conv feature encoder (Wav2Vec2, XLS-R, HuBERT, WavLM) run time-major: the
same arithmetic as transformers' ``*FeatureEncoder``, without its layout changes.

transformers runs each of the 7 conv layers channels-first ``(batch, 512, frames)`` and transposes
around every LayerNorm, so each layer pays two full copies (measured on XLS-R, 8 s at 16 kHz, 2
threads: ``aten::copy_`` 145 ms of the encoder's 321 ms). Here a clip stays ``(frames, 512)``: a
conv of kernel k and stride s is k matrix products of strided row views (``x[j::s] @ W[:, :, j].T``,
no copy), LayerNorm (or the first layer's per-channel GroupNorm) normalises in place along the
right axis, and GELU follows. 321 -> 153 ms for the encoder, 1.12x for the whole XLS-R forward;
scores equal transformers' within 1e-8 there (the sums are only reordered; tests check 1e-5 on the
encoder's output). Installed by the torch backend on CPU; the ONNX exporter traces the original
(:func:`original`), whose graph has dynamic batch and time axes.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch.nn import functional

DESCRIPTION = "time-major conv feature encoder"
EXPORTED = False  # it loops over the batch in Python: the exporter traces transformers' encoder


class TimeMajorFeatureEncoder(torch.nn.Module):
    """``forward(input_values (batch, samples)) -> (batch, 512, frames)``, as transformers' encoder."""

    def __init__(self, original):
        super().__init__()
        self.conv_layers = original.conv_layers  # the same modules: the state dict keeps its keys
        object.__setattr__(self, "original", original)  # not a submodule: no second copy of the keys

    def forward(self, input_values):
        rows = [self._one_clip(row) for row in input_values]
        return torch.stack(rows).transpose(1, 2)  # the caller transposes back: no copy either way

    def _one_clip(self, samples):
        x = samples[:, None]  # (samples, 1 channel)
        for layer in self.conv_layers:
            x = functional.gelu(_normalised(layer, _conv(layer.conv, x)))
        return x


def _conv(conv, x):
    kernel, stride = conv.kernel_size[0], conv.stride[0]
    frames = (x.shape[0] - kernel) // stride + 1
    weight = conv.weight  # (out, in, kernel)
    if conv.in_channels == 1:  # the first layer: one small product over the windows
        windows = x[:, 0].as_strided((frames, kernel), (stride, 1))
        product = windows @ weight[:, 0, :].T
        return product + conv.bias if conv.bias is not None else product
    out = (conv.bias.expand(frames, conv.out_channels).clone() if conv.bias is not None
           else x.new_zeros(frames, conv.out_channels))
    for tap in range(kernel):  # rows tap, tap + stride, ...: a strided view, no copy
        out.addmm_(x[tap: tap + stride * (frames - 1) + 1: stride], weight[:, :, tap].T)
    return out


def _normalised(layer, x):
    norm = getattr(layer, "layer_norm", None)
    if norm is None:
        return x
    if isinstance(norm, torch.nn.LayerNorm):
        return functional.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)
    # GroupNorm with one channel a group: each channel normalised over time.
    mean = x.mean(dim=0, keepdim=True)
    variance = x.var(dim=0, unbiased=False, keepdim=True)
    return (x - mean) * torch.rsqrt(variance + norm.eps) * norm.weight + norm.bias


def _encoder_owner(model):
    """The module holding ``feature_extractor`` (``model.wav2vec2``, ``.hubert``, ``.wavlm``), or None."""
    base = getattr(model, "base_model", None)
    encoder = getattr(base, "feature_extractor", None)
    return base if hasattr(encoder, "conv_layers") else None


def _supported(encoder, config) -> bool:
    """Plain conv layers with GELU, and LayerNorm on every layer or GroupNorm on the first only."""
    if getattr(config, "feat_extract_activation", None) != "gelu":
        return False
    for index, layer in enumerate(encoder.conv_layers):
        conv, norm = getattr(layer, "conv", None), getattr(layer, "layer_norm", None)
        if not isinstance(conv, torch.nn.Conv1d) or conv.groups != 1 or conv.padding != (0,) or conv.dilation != (1,):
            return False
        per_channel = index == 0 and isinstance(norm, torch.nn.GroupNorm) and norm.num_groups == conv.out_channels
        if not (norm is None or isinstance(norm, torch.nn.LayerNorm) or per_channel):
            return False
    return True


def install(model) -> bool:
    """Swap in the time-major encoder where the architecture fits; returns whether it did. The state
    dict keeps transformers' keys. (Folding the positional conv's weight norm would save 9 ms of an
    XLS-R forward, but renames its weights: left alone.)"""
    owner = _encoder_owner(model)
    if owner is None or isinstance(owner.feature_extractor, TimeMajorFeatureEncoder):
        return False
    if not _supported(owner.feature_extractor, model.config):
        return False
    owner.feature_extractor = TimeMajorFeatureEncoder(owner.feature_extractor)
    return True


def installed(model) -> bool:
    owner = _encoder_owner(model)
    return owner is not None and isinstance(owner.feature_extractor, TimeMajorFeatureEncoder)


@contextmanager
def original(model):
    """transformers' own encoder for the duration (the exporter traces it: dynamic batch and time)."""
    owner = _encoder_owner(model)
    fast = owner.feature_extractor if owner is not None else None
    if not isinstance(fast, TimeMajorFeatureEncoder):
        yield model
        return
    owner.feature_extractor = fast.original
    try:
        yield model
    finally:
        owner.feature_extractor = fast
