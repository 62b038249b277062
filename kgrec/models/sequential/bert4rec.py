"""BERT4Rec (Sun et al. 2019): a bidirectional transformer trained to recover randomly masked
items of each user's sequence; at inference a [MASK] token is appended to the history and its
prediction ranks the items."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import nn

from kgrec.models.base import register
from kgrec.models.nn.transformer import TransformerEncoder, pad_tokens, windows
from kgrec.models.sequential.sequence_model import SequenceRecommender

if TYPE_CHECKING:  # annotations only: serving a checkpoint never needs the training data's imports (scipy)
    from kgrec.models.data.interactions import InteractionData


class BERT4RecNet(nn.Module):
    def __init__(self, n_items: int, encoder: TransformerEncoder):
        super().__init__()
        self.n_items = n_items
        self.encoder = encoder
        dim = encoder.item.embedding_dim
        self.head = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.LayerNorm(dim, eps=1e-12))
        self.bias = nn.Parameter(torch.zeros(n_items))

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.head(hidden) @ self.encoder.item.weight[1 : self.n_items + 1].T + self.bias

    def forward(self, tokens: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(tokens, causal=False)
        masked = labels > 0
        return nn.functional.cross_entropy(self.logits(hidden[masked]), labels[masked] - 1)


@register
class BERT4Rec(SequenceRecommender):
    name = "bert4rec"
    causal = False  # the state is read at a [MASK] appended to the history (mask_token)
    defaults: ClassVar[dict[str, Any]] = {
        "dim": 64, "layers": 2, "heads": 2, "inner": 256, "dropout": 0.2, "attn_dropout": 0.2,
        "max_len": 50, "mask_ratio": 0.2, "batch_size": 128, "lr": 1e-3, "epochs": 300, "patience": 20,
    }
    search_space: ClassVar[dict[str, list[Any]]] = {"mask_ratio": [0.2, 0.4], "lr": [1e-3, 2e-3]}

    def prepare(self, train: InteractionData, graph) -> None:
        length = int(self.hparams["max_len"])
        self.train_tokens = pad_tokens(windows(train.sequences(), length), length)
        self.observe_history(train)

    def build_network(self):
        return BERT4RecNet(self.n_items, TransformerEncoder.from_hparams(self.n_items + 2, self.hparams))

    def batches(self, train, rng):
        tokens = self.train_tokens[rng.permutation(len(self.train_tokens))]
        real = tokens > 0
        masked = real & (rng.random(tokens.shape) < float(self.hparams["mask_ratio"]))
        # every window gets at least one masked item (its last one when the draw picked none)
        none = ~masked.any(1)
        masked[np.nonzero(none)[0], real[none].sum(1) - 1] = True
        labels = np.where(masked, tokens, 0)
        inputs = np.where(masked, self.mask_token, tokens)
        size = int(self.hparams["batch_size"])
        return [
            (torch.from_numpy(inputs[s : s + size]), torch.from_numpy(labels[s : s + size]))
            for s in range(0, len(tokens), size)
        ]
