"""SASRec (Kang & McAuley 2018): a causal transformer over each user's item sequence, trained
with cross-entropy over all items at every position (RecBole's ``loss_type: CE``).

Each epoch trains on every user's training sequence, cut into windows of ``max_len`` so that
every interaction is a target once (RecBole instead expands every prefix into its own sample:
the same targets, many times the compute).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from kgrec.models.base import register
from kgrec.models.data.interactions import InteractionData
from kgrec.models.nn.transformer import TransformerEncoder, history_tokens, pad_tokens, windows
from kgrec.models.trainable import TrainableRecommender


class SASRecNet(nn.Module):
    def __init__(
        self, n_items: int, max_len: int, dim: int, layers: int, heads: int, inner: int, dropout: float,
        attn_dropout: float,
    ):
        super().__init__()
        self.encoder = TransformerEncoder(n_items + 1, max_len, dim, layers, heads, inner, dropout, attn_dropout)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden @ self.encoder.item.weight[1:].T

    def forward(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(inputs, causal=True)
        real = targets > 0
        return nn.functional.cross_entropy(self.logits(hidden[real]), targets[real] - 1)


@register
class SASRec(TrainableRecommender):
    name = "sasrec"
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

    def observe_history(self, known: InteractionData) -> None:
        self.history = history_tokens(known, int(self.hparams["max_len"]))

    def build_network(self):
        h = self.hparams
        return SASRecNet(
            self.n_items, int(h["max_len"]), int(h["dim"]), int(h["layers"]), int(h["heads"]), int(h["inner"]),
            float(h["dropout"]), float(h["attn_dropout"]),
        )

    def batches(self, train, rng):
        order = rng.permutation(len(self.train_tokens))
        size = int(self.hparams["batch_size"])
        out = []
        for s in range(0, len(order), size):
            tok = torch.from_numpy(self.train_tokens[order[s : s + size]])
            out.append((tok[:, :-1].contiguous(), tok[:, 1:].contiguous()))
        return out

    def score_users(self, users):
        tokens = torch.from_numpy(self.history).to(self.device)[users]
        hidden = self.net.encoder(tokens, causal=True)
        last = (tokens > 0).sum(1) - 1
        out = self.net.logits(hidden[torch.arange(len(users), device=tokens.device), last.clamp(min=0)])
        return torch.where((last >= 0)[:, None], out, torch.zeros_like(out))

    def extra_state(self) -> dict[str, Any]:
        return {"history": self.history}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.history = np.asarray(state["history"])
