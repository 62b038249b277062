"""Switching a network into eval mode for inference and back to the mode it was in."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch import nn


@contextlib.contextmanager
def evaluating(net: nn.Module) -> Iterator[nn.Module]:
    """``with evaluating(net): ...`` runs the block with ``net`` in eval mode (no dropout) and
    restores the training flag it had before, also when the block raises. Gradients are not
    touched: wrap in ``torch.no_grad()`` where none are wanted."""
    was_training = net.training
    net.eval()
    try:
        yield net
    finally:
        net.train(was_training)
