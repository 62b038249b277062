"""``evaluating(net)``: eval mode inside the block, the earlier mode restored after, also on an error."""

from __future__ import annotations

import pytest
from torch import nn

from kgrec.models.nn.modes import evaluating


@pytest.mark.parametrize("training", [True, False])
def test_evaluating_restores_the_mode(training):
    net = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    net.train(training)
    with evaluating(net) as inside:
        assert inside is net and not net.training and not net[1].training
    assert net.training is training and net[1].training is training
    with pytest.raises(RuntimeError), evaluating(net):
        raise RuntimeError("boom")
    assert net.training is training
