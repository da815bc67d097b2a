"""The keyword head's network while it trains (torch; the trained head runs in numpy, see
:class:`audiosift.models.wakeword.keyword.MlpHead`). Imported only by training."""

from __future__ import annotations

import torch


class DropoutMlp(torch.nn.Module):
    """Linear + ReLU layers, dropout after each hidden one. Its initial weights and every dropout
    mask come from its own seed, so heads trained side by side on threads stay repeatable."""

    def __init__(self, sizes: list[int], seed: int, dropout: float):
        super().__init__()
        self.generator = torch.Generator().manual_seed(seed)
        self.dropout = dropout
        with torch.random.fork_rng():  # Linear draws its initial weights from the global generator
            torch.manual_seed(seed)
            self.linears = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))

    def forward(self, x: torch.Tensor, train: bool = False) -> torch.Tensor:
        for index, linear in enumerate(self.linears):
            x = linear(x)
            if index < len(self.linears) - 1:
                x = torch.relu(x)
                if train:
                    keep = torch.rand(x.shape, generator=self.generator) >= self.dropout
                    x = x * keep / (1.0 - self.dropout)
        return x

    def noise(self, like: torch.Tensor) -> torch.Tensor:
        """Standard normal noise shaped like ``like``, from the model's generator."""
        return torch.randn(like.shape, generator=self.generator)
