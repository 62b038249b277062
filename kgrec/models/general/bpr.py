"""BPR-MF (Rendle et al. 2009): user and item embeddings, pairwise loss on sampled negatives."""

from __future__ import annotations

from typing import Any, ClassVar

from torch import nn

from kgrec.models.base import register
from kgrec.models.data.interactions import InteractionData
from kgrec.models.data.sampling import NegativeSampler, bpr_batches
from kgrec.models.nn.losses import bpr_loss, l2_per_row
from kgrec.models.trainable import TrainableRecommender


class MFNet(nn.Module):
    def __init__(self, n_users: int, n_items: int, dim: int, reg: float):
        super().__init__()
        self.user = nn.Embedding(n_users, dim)
        self.item = nn.Embedding(n_items, dim)
        nn.init.xavier_normal_(self.user.weight)
        nn.init.xavier_normal_(self.item.weight)
        self.reg = reg

    def forward(self, u, i, j):
        eu, ei, ej = self.user(u), self.item(i), self.item(j)
        loss = bpr_loss((eu * ei).sum(-1), (eu * ej).sum(-1))
        return loss + self.reg * l2_per_row(eu, ei, ej) if self.reg else loss


@register
class BPRMF(TrainableRecommender):
    name = "bpr"
    defaults: ClassVar[dict[str, Any]] = {
        "dim": 64, "batch_size": 2048, "lr": 1e-3, "reg": 0.0, "epochs": 200, "patience": 10,
    }
    search_space: ClassVar[dict[str, list[Any]]] = {"lr": [1e-3, 5e-3], "reg": [0.0, 1e-4]}

    def prepare(self, train: InteractionData, graph) -> None:
        self.sampler = NegativeSampler(train.csr())

    def build_network(self):
        return MFNet(self.n_users, self.n_items, int(self.hparams["dim"]), float(self.hparams["reg"]))

    def batches(self, train, rng):
        return bpr_batches(train, rng, self.sampler, int(self.hparams["batch_size"]))

    def score_users(self, users):
        return self.net.user(users) @ self.net.item.weight.T
