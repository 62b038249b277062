from __future__ import annotations

import pytest
import torch
from torch import nn

from kgrec.models.nn.dropout import FastDropout, use_fast_dropout


def test_fast_dropout_keeps_the_expected_share_scaled():
    torch.manual_seed(0)
    drop = FastDropout(0.3).train()
    x = torch.ones(200_000, requires_grad=True)
    y = drop(x)
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.7) < 0.005
    torch.testing.assert_close(y[kept], torch.full_like(y[kept], 1 / 0.7))
    y.sum().backward()  # the gradient flows through the kept activations only, with the same scale
    torch.testing.assert_close(x.grad, y.detach())


def test_fast_dropout_is_identity_in_eval_mode_and_at_zero():
    x = torch.randn(50)
    assert torch.equal(FastDropout(0.5).eval()(x), x)
    assert torch.equal(FastDropout(0.0).train()(x), x)
    with pytest.raises(ValueError):
        FastDropout(1.0)


def test_use_fast_dropout_replaces_nested_dropouts():
    layer = use_fast_dropout(nn.TransformerEncoderLayer(8, 2, 16, 0.25, batch_first=True))
    drops = [m for m in layer.modules() if isinstance(m, (nn.Dropout, FastDropout))]
    assert len(drops) == 3 and all(isinstance(m, FastDropout) and m.p == 0.25 for m in drops)
