"""``evaluating(net)``: a block run in eval mode, the module's training flag restored afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


@contextmanager
def evaluating(net: nn.Module) -> Iterator[nn.Module]:
    """Switch ``net`` (and its submodules) to eval mode for the block, then back to the mode it was in."""
    was_training = net.training
    net.eval()
    try:
        yield net
    finally:
        net.train(was_training)
