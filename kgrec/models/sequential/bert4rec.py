"""BERT4Rec (Sun et al. 2019): a bidirectional transformer trained to recover randomly masked
items of each user's sequence; at inference a [MASK] token is appended to the history and its
prediction ranks the items."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from kgrec.models.base import register
from kgrec.models.data.interactions import InteractionData
from kgrec.models.nn.transformer import TransformerEncoder, pad_tokens, windows
from kgrec.models.trainable import TrainableRecommender


class BERT4RecNet(nn.Module):
    def __init__(
        self, n_items: int, max_len: int, dim: int, layers: int, heads: int, inner: int, dropout: float,
        attn_dropout: float,
    ):
        super().__init__()
        self.n_items = n_items
        self.encoder = TransformerEncoder(n_items + 2, max_len, dim, layers, heads, inner, dropout, attn_dropout)
        self.head = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.LayerNorm(dim, eps=1e-12))
        self.bias = nn.Parameter(torch.zeros(n_items))

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.head(hidden) @ self.encoder.item.weight[1 : self.n_items + 1].T + self.bias

    def forward(self, tokens: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(tokens, causal=False)
        masked = labels > 0
        return nn.functional.cross_entropy(self.logits(hidden[masked]), labels[masked] - 1)


@register
class BERT4Rec(TrainableRecommender):
    name = "bert4rec"
    defaults: ClassVar[dict[str, Any]] = {
        "dim": 64, "layers": 2, "heads": 2, "inner": 256, "dropout": 0.2, "attn_dropout": 0.2,
        "max_len": 50, "mask_ratio": 0.2, "batch_size": 128, "lr": 1e-3, "epochs": 300, "patience": 20,
    }
    search_space: ClassVar[dict[str, list[Any]]] = {"mask_ratio": [0.2, 0.4], "lr": [1e-3, 2e-3]}

    @property
    def mask_token(self) -> int:
        return self.n_items + 1

    def prepare(self, train: InteractionData, graph) -> None:
        length = int(self.hparams["max_len"])
        self.train_tokens = pad_tokens(windows(train.sequences(), length), length)
        self.observe_history(train)

    def observe_history(self, known: InteractionData) -> None:
        length = int(self.hparams["max_len"])
        tokens = pad_tokens([s[-(length - 1):] if length > 1 else s[:0] for s in known.sequences()], length)
        lengths = (tokens > 0).sum(1)
        tokens[np.arange(len(tokens)), lengths] = self.mask_token  # [MASK] right after the history
        self.history = tokens

    def build_network(self):
        h = self.hparams
        return BERT4RecNet(
            self.n_items, int(h["max_len"]), int(h["dim"]), int(h["layers"]), int(h["heads"]), int(h["inner"]),
            float(h["dropout"]), float(h["attn_dropout"]),
        )

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

    def score_users(self, users):
        tokens = torch.from_numpy(self.history).to(self.device)[users]
        hidden = self.net.encoder(tokens, causal=False)
        at = (tokens == self.mask_token).float().argmax(1)
        return self.net.logits(hidden[torch.arange(len(users), device=tokens.device), at])

    def extra_state(self) -> dict[str, Any]:
        return {"history": self.history}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.history = np.asarray(state["history"])
