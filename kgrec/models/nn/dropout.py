"""Inverted dropout with its mask drawn by ``torch.rand``.

``nn.Dropout`` draws its mask with ``bernoulli_``, which on the CPU is about 3x slower than
``rand`` plus a comparison (one thread, a (512, 50, 256) activation: 91 ms against about 30 ms);
KGBM4Rec's transformer and GNN drop out some 40M activations per batch of 512 windows, so this is
a measurable share of its epoch. Same semantics as ``nn.Dropout``: identity in eval mode, kept
activations scaled by 1 / (1 - p) in training.
"""

from __future__ import annotations

import torch
from torch import nn


class FastDropout(nn.Module):
    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        scale = torch.rand_like(x).ge_(self.p).mul_(1.0 / (1.0 - self.p))  # 0 or 1/(1-p)
        return x * scale

    def extra_repr(self) -> str:
        return f"p={self.p}"


def use_fast_dropout(module: nn.Module) -> nn.Module:
    """Replace every ``nn.Dropout`` inside ``module`` by a ``FastDropout`` of the same p (in place)."""
    for name, child in list(module.named_children()):
        if isinstance(child, nn.Dropout):
            setattr(module, name, FastDropout(child.p))
        else:
            use_fast_dropout(child)
    return module
