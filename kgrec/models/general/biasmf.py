"""Biased matrix factorisation for explicit ratings (Koren et al. 2009): rating = global mean +
user bias + item bias + user . item, trained with squared error. It predicts ratings (MSE,
like/dislike accuracy and F1 in the evaluation table) and ranks items by predicted rating."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from kgrec.errors import KgrecError
from kgrec.models.base import register
from kgrec.models.data.interactions import InteractionData
from kgrec.models.trainable import TrainableRecommender


class BiasMFNet(nn.Module):
    def __init__(self, n_users: int, n_items: int, dim: int, reg: float):
        super().__init__()
        self.user = nn.Embedding(n_users, dim)
        self.item = nn.Embedding(n_items, dim)
        self.user_bias = nn.Embedding(n_users, 1)
        self.item_bias = nn.Embedding(n_items, 1)
        self.mean: torch.Tensor
        self.register_buffer("mean", torch.zeros(()))
        nn.init.normal_(self.user.weight, 0, 0.01)
        nn.init.normal_(self.item.weight, 0, 0.01)
        nn.init.zeros_(self.user_bias.weight)
        nn.init.zeros_(self.item_bias.weight)
        self.reg = reg

    def predict(self, u, i):
        return self.mean + self.user_bias(u)[:, 0] + self.item_bias(i)[:, 0] + (self.user(u) * self.item(i)).sum(-1)

    def forward(self, u, i, rating):
        eu, ei = self.user(u), self.item(i)
        err = (self.predict(u, i) - rating).pow(2).mean()
        return err + self.reg * (eu.pow(2).sum(-1) + ei.pow(2).sum(-1)).mean()


@register
class BiasedMF(TrainableRecommender):
    name = "biasmf"
    predicts_rating = True
    valid_metric = "MSE"  # a rating model stops on validation rating error, not ranking
    valid_metric_higher_is_better = False
    defaults: ClassVar[dict[str, Any]] = {
        "dim": 32, "reg": 0.05, "batch_size": 1024, "lr": 5e-3, "epochs": 100, "patience": 5,
    }
    search_space: ClassVar[dict[str, list[Any]]] = {"reg": [0.02, 0.05, 0.1], "dim": [16, 32]}

    def prepare(self, train: InteractionData, graph) -> None:
        rated = ~np.isnan(train.rating)
        if not rated.any():
            raise KgrecError(
                "biasmf needs ratings and no training interaction has one",
                "ingest rated interactions or pick another model",
            )
        self.rows = (train.user[rated], train.item[rated], train.rating[rated].astype(np.float32))
        self.hparams["mean_rating"] = float(self.rows[2].mean())
        self.hparams["rating_range"] = [float(self.rows[2].min()), float(self.rows[2].max())]

    def build_network(self):
        net = BiasMFNet(self.n_users, self.n_items, int(self.hparams["dim"]), float(self.hparams["reg"]))
        net.mean.fill_(float(self.hparams.get("mean_rating", 0.0)))
        return net

    def batches(self, train, rng):
        order = rng.permutation(len(self.rows[0]))
        size = int(self.hparams["batch_size"])
        return [
            tuple(torch.from_numpy(np.ascontiguousarray(a[order[s : s + size]])) for a in self.rows)
            for s in range(0, len(order), size)
        ]

    def score_users(self, users):
        net = self.net
        return net.mean + net.user_bias(users) + net.item_bias.weight[:, 0][None] + net.user(users) @ net.item.weight.T

    def predict_rating(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            self.net.eval()
            u = torch.as_tensor(np.asarray(users), dtype=torch.long, device=self.device)
            i = torch.as_tensor(np.asarray(items), dtype=torch.long, device=self.device)
            low, high = self.hparams.get("rating_range", [-np.inf, np.inf])
            return self.net.predict(u, i).clamp(low, high).cpu().numpy()
