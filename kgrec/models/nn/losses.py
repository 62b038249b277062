"""Losses shared by several model families."""

from __future__ import annotations

from typing import cast

import torch


def bpr_loss(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    return -torch.nn.functional.logsigmoid(pos - neg).mean()


def l2_per_row(*tensors: torch.Tensor) -> torch.Tensor:
    """Sum of squared entries divided by the batch size (RecBole's EmbLoss)."""
    return cast(torch.Tensor, sum(t.pow(2).sum() for t in tensors)) / tensors[0].shape[0]
