from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from kgrec.models.nn.softmax import chunked_softmax_cross_entropy


@pytest.mark.parametrize("chunk", [1, 7, 1000])
def test_same_loss_and_gradients_as_torch_cross_entropy(chunk):
    torch.manual_seed(0)
    z = torch.randn(23, 6, requires_grad=True)
    items = torch.randn(40, 6, requires_grad=True)
    bias = torch.randn(40, requires_grad=True)
    target = torch.randint(0, 40, (23,))
    expected = F.cross_entropy(z @ items.T + bias, target)
    expected_grads = torch.autograd.grad(expected * 3.0, [z, items, bias])
    got = chunked_softmax_cross_entropy(z, items, bias, target, chunk=chunk)
    got_grads = torch.autograd.grad(got * 3.0, [z, items, bias])
    torch.testing.assert_close(got, expected)
    for g, e in zip(got_grads, expected_grads):
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-6)


def test_large_logits_do_not_overflow():
    z = torch.full((2, 1), 100.0)
    items = torch.tensor([[10.0], [9.0]])
    loss = chunked_softmax_cross_entropy(z, items, torch.zeros(2), torch.tensor([0, 1]))
    assert torch.isfinite(loss)
    torch.testing.assert_close(loss, F.cross_entropy(z @ items.T, torch.tensor([0, 1])))
