"""SASRec (Kang & McAuley 2018): a causal transformer over each user's item sequence, trained
with cross-entropy over all items at every position (RecBole's ``loss_type: CE``).

Each epoch trains on every user's training sequence, cut into windows of ``max_len`` so that
every interaction is a target once (RecBole instead expands every prefix into its own sample:
the same targets, many times the compute).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from kgrec.models.base import register
from kgrec.models.nn.transformer import TransformerEncoder, pad_tokens, windows
from kgrec.models.sequential.sequence_model import SequenceRecommender

if TYPE_CHECKING:  # annotations only: serving a checkpoint never needs the training data's imports (scipy)
    from kgrec.models.data.interactions import InteractionData


class SASRecNet(nn.Module):
    def __init__(self, encoder: TransformerEncoder):
        super().__init__()
        self.encoder = encoder

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden @ self.encoder.item.weight[1:].T

    def forward(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(inputs, causal=True)
        real = targets > 0
        return nn.functional.cross_entropy(self.logits(hidden[real]), targets[real] - 1)


@register
class SASRec(SequenceRecommender):
    name = "sasrec"
    causal = True
    defaults: ClassVar[dict[str, Any]] = {
        "dim": 64, "layers": 2, "heads": 2, "inner": 256, "dropout": 0.5, "attn_dropout": 0.5,
        "max_len": 50, "batch_size": 128, "lr": 1e-3, "epochs": 300, "patience": 20,
    }
    search_space: ClassVar[dict[str, list[Any]]] = {"dropout": [0.2, 0.5], "lr": [1e-3, 2e-3]}

    def prepare(self, train: InteractionData, graph) -> None:
        length = int(self.hparams["max_len"])
        chunks = [c for c in windows(train.sequences(), length + 1) if len(c) >= 2]
        self.train_tokens = pad_tokens(chunks, length + 1)  # inputs = [:, :-1], targets = [:, 1:]
        self.observe_history(train)

    def build_network(self):
        return SASRecNet(TransformerEncoder.from_hparams(self.n_items + 1, self.hparams))

    def batches(self, train, rng):
        order = rng.permutation(len(self.train_tokens))
        size = int(self.hparams["batch_size"])
        out = []
        for s in range(0, len(order), size):
            tok = torch.from_numpy(self.train_tokens[order[s : s + size]])
            out.append((tok[:, :-1].contiguous(), tok[:, 1:].contiguous()))
        return out
