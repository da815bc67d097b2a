"""CLAP's audio tower (HTSAT, a Swin transformer) with its window attention on torch's fused
``scaled_dot_product_attention``: the same arithmetic as transformers' ``ClapAudioSelfAttention``.

transformers computes each 8 x 8 window's attention eagerly: a batched product of 64 x 24 heads,
the relative-position bias and shift mask added to a materialised score tensor, softmax, another
product. On this CPU that ran at ~9 GFLOP/s (stage 1, a batch of 8 clips: 87 ms), and with its
copies it was about a third of the tower's time. The fused kernel takes the bias plus mask as one
additive mask and does the same sums in another order (10 ms there; scores within 1e-6). Installed
by the torch backend on CPU; the ONNX exporter traces it too (one ``Attention`` node, opset 23:
:mod:`audiosift.models.cpu_layers`); :func:`original` gives transformers' layers back.
"""

from __future__ import annotations

import torch
from torch.nn import functional
from transformers.models.clap.modeling_clap import ClapAudioSelfAttention

from audiosift.models.cpu_layers import classes_swapped, has_class, swap_classes

DESCRIPTION = "fused window attention"
EXPORTED = True  # one ONNX Attention node per layer (opset 23)


class FusedWindowAttention(ClapAudioSelfAttention):
    """``forward`` as transformers' (same inputs, outputs and parameters), on the fused kernel."""

    def forward(self, hidden_states, attention_mask=None, output_attentions=False):
        if output_attentions or self.training:  # the probabilities themselves, or dropout: transformers' path
            return super().forward(hidden_states, attention_mask, output_attentions)
        batch, tokens, _ = hidden_states.shape
        shape = (batch, tokens, self.num_attention_heads, self.attention_head_size)
        query, key, value = (layer(hidden_states).view(shape).transpose(1, 2)
                             for layer in (self.query, self.key, self.value))
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        bias = bias.view(tokens, tokens, -1).permute(2, 0, 1)  # (heads, tokens, tokens)
        if attention_mask is None:
            mask = bias.unsqueeze(0)  # broadcast over windows
        else:  # the shift mask is per window position; windows of each clip follow one another
            windows = attention_mask.shape[0]
            mask = (bias.unsqueeze(0) + attention_mask.unsqueeze(1)).repeat(batch // windows, 1, 1, 1)
        context = functional.scaled_dot_product_attention(query, key, value, attn_mask=mask.to(query.dtype))
        return (context.transpose(1, 2).reshape(batch, tokens, self.all_head_size),)


def install(model) -> int:
    """Switch every window-attention layer of ``model`` to the fused kernel; returns how many (0: none)."""
    return swap_classes(model, ClapAudioSelfAttention, FusedWindowAttention)


def installed(model) -> bool:
    return has_class(model, FusedWindowAttention)


def original(model):
    """transformers' own attention layers for the duration (a context manager)."""
    return classes_swapped(model, FusedWindowAttention, ClapAudioSelfAttention)
