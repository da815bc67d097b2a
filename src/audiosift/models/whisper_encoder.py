"""Whisper's encoder layers with one q/k/v product and in-place residuals: the same arithmetic as
transformers' ``WhisperEncoderLayer`` in fewer passes over memory.

Per layer transformers makes three projections, scales q in a separate pass, copies q, k and v to
contiguous tensors, and adds each residual into a fresh 6 MB tensor (on a 30 s input; fresh pages
fault in: the residual adds were 0.30 s of a 4.2 s whisper-medium forward on 2 threads). Here q, k
and v come from one product with q's scale folded into its weights (1/8 for 64-wide heads, a power
of two, so the products are the same), the attention kernel reads strided views, GELU runs in
place and each residual is added into the product's own output. Measured on whisper-medium, 30 s,
2 threads: 4.04 -> 3.82 s a forward (1.06x), scores equal. The fused weight is made at install:
install after the model has its device and dtype (the torch backend does).
"""

from __future__ import annotations

import torch
from torch.nn import functional
from transformers.models.whisper.modeling_whisper import WhisperEncoderLayer

from audiosift.models.cpu_layers import classes_swapped, has_class

DESCRIPTION = "fused whisper encoder layers"
EXPORTED = False  # the exporter traces transformers' layers (the graph the ONNX tests check)


class FusedWhisperEncoderLayer(WhisperEncoderLayer):
    """``forward`` as transformers' (same inputs, output and parameters) for inference."""

    def forward(self, hidden_states, attention_mask=None, **kwargs):
        if self.training or kwargs.get("output_attentions"):
            return super().forward(hidden_states, attention_mask, **kwargs)
        attention = self.self_attn
        batch, length, width = hidden_states.shape
        normed = self.self_attn_layer_norm(hidden_states)
        qkv = functional.linear(normed, self.qkv_weight, self.qkv_bias)
        query, key, value = qkv.view(batch, length, 3, attention.num_heads, attention.head_dim).permute(2, 0, 3, 1, 4)
        context = functional.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask, scale=1.0)
        context = context.transpose(1, 2).reshape(batch * length, width)
        out = torch.addmm(attention.out_proj.bias, context, attention.out_proj.weight.T).view(batch, length, width)
        out += hidden_states
        inner = torch.ops.aten.gelu_(self.fc1(self.final_layer_norm(out)))
        result = torch.addmm(self.fc2.bias, inner.view(batch * length, -1), self.fc2.weight.T).view(batch, length, width)
        result += out
        if result.dtype == torch.float16:  # as transformers clamps
            limit = torch.finfo(result.dtype).max - 1000
            result = torch.clamp(result, min=-limit, max=limit)
        return result

    def fuse(self) -> None:
        attention = self.self_attn
        scale = attention.scaling
        key_bias = attention.k_proj.bias if attention.k_proj.bias is not None else torch.zeros_like(attention.q_proj.bias)
        with torch.no_grad():
            self.qkv_weight = torch.cat([attention.q_proj.weight * scale, attention.k_proj.weight,
                                         attention.v_proj.weight]).contiguous()
            self.qkv_bias = torch.cat([attention.q_proj.bias * scale, key_bias, attention.v_proj.bias])


def install(model) -> int:
    """Switch every Whisper encoder layer of ``model`` to the fused form; returns how many."""
    layers = [module for module in model.modules()
              if type(module) is WhisperEncoderLayer and module.self_attn.q_proj.bias is not None]
    for layer in layers:
        layer.__class__ = FusedWhisperEncoderLayer
        layer.fuse()
    return len(layers)


def installed(model) -> bool:
    return has_class(model, FusedWhisperEncoderLayer)


def original(model):
    """transformers' own encoder layers for the duration (a context manager; the exporter traces them)."""
    return classes_swapped(model, FusedWhisperEncoderLayer, WhisperEncoderLayer)
