"""CKE (Zhang et al. 2016), structural part: BPR-MF whose item vectors add the item's TransR
knowledge-graph embedding, trained jointly with the TransR loss on the graph's typed triples
(``KnowledgeGraphData``: categories, brands, tags, linked external-KG entities and their
relations). Items are KG nodes 0..n_items-1, so the item's KG vector is entity i."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from kgrec.errors import KgrecError
from kgrec.models.base import register
from kgrec.models.data.interactions import InteractionData
from kgrec.models.data.sampling import NegativeSampler, bpr_batches
from kgrec.models.nn.losses import bpr_loss, l2_per_row
from kgrec.models.trainable import TrainableRecommender


class CKENet(nn.Module):
    def __init__(
        self, n_users: int, n_items: int, n_nodes: int, n_relations: int, dim: int, kg_dim: int, reg: float,
        kg_reg: float,
    ):
        super().__init__()
        self.user = nn.Embedding(n_users, dim)
        self.item = nn.Embedding(n_items, dim)
        self.entity = nn.Embedding(n_nodes, dim)
        self.relation = nn.Embedding(n_relations, kg_dim)
        self.projection = nn.Parameter(torch.empty(n_relations, dim, kg_dim))
        for p in (self.user.weight, self.item.weight, self.entity.weight, self.relation.weight, self.projection):
            nn.init.xavier_normal_(p)
        self.n_items, self.reg, self.kg_reg = n_items, reg, kg_reg

    def _project(self, x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        rels, counts = torch.unique_consecutive(r, return_counts=True)
        parts = torch.split(x, counts.tolist())
        return torch.cat([part @ self.projection[int(k)] for part, k in zip(parts, rels)])

    def item_vectors(self, items: torch.Tensor | None = None) -> torch.Tensor:
        if items is None:
            return self.item.weight + self.entity.weight[: self.n_items]
        return self.item(items) + self.entity(items)

    def forward(self, u, i, j, h, r, t, t_neg):
        eu, ei, ej = self.user(u), self.item_vectors(i), self.item_vectors(j)
        loss = bpr_loss((eu * ei).sum(-1), (eu * ej).sum(-1)) + self.reg * l2_per_row(eu, ei, ej)
        # batches arrive sorted by relation: project each relation's slice with its own matrix
        # (a per-triple gather of the d x k matrices costs far more memory traffic)
        hr, tr, nr = (
            self._project(self.entity(h), r), self._project(self.entity(t), r), self._project(self.entity(t_neg), r),
        )
        rel = self.relation(r)
        pos = (hr + rel - tr).pow(2).sum(-1)
        neg = (hr + rel - nr).pow(2).sum(-1)
        kg_loss = -nn.functional.logsigmoid(neg - pos).mean()
        return loss + kg_loss + self.kg_reg * l2_per_row(hr, rel, tr, nr)


@register
class CKE(TrainableRecommender):
    name = "cke"
    requires = ("kg",)
    defaults: ClassVar[dict[str, Any]] = {
        "dim": 64, "kg_dim": 64, "reg": 1e-3, "kg_reg": 1e-3, "batch_size": 2048, "lr": 1e-3, "epochs": 200,
        "patience": 10,
    }
    search_space: ClassVar[dict[str, list[Any]]] = {"lr": [1e-3, 5e-3], "reg": [1e-4, 1e-3]}

    def prepare(self, train: InteractionData, graph) -> None:
        kg = graph.kg if graph is not None else None
        if kg is None or len(kg.head) == 0:
            raise KgrecError(
                "cke needs knowledge-graph edges (IN_CATEGORY, LINKED_TO, RELATED_TO, ...) and the graph has none",
                "ingest a catalogue with categories or an external KG, or pick a model without 'kg'",
            )
        self.sampler = NegativeSampler(train.csr())
        triples = np.stack([kg.head, kg.relation, kg.tail], 1).astype(np.int64)
        self.triples = triples[np.argsort(triples[:, 1], kind="stable")]
        self.hparams["n_nodes"], self.hparams["n_relations"] = int(kg.n_nodes), max(1, len(kg.relation_names))

    def build_network(self):
        h = self.hparams
        return CKENet(
            self.n_users, self.n_items, int(h["n_nodes"]), int(h["n_relations"]), int(h["dim"]), int(h["kg_dim"]),
            float(h["reg"]), float(h["kg_reg"]),
        )

    def batches(self, train, rng):
        cf = bpr_batches(train, rng, self.sampler, int(self.hparams["batch_size"]))
        per = int(np.ceil(len(self.triples) / max(len(cf), 1)))
        order = rng.permutation(len(self.triples))
        n_nodes = int(self.hparams["n_nodes"])
        out = []
        for b, batch in enumerate(cf):
            pick = order[b * per : (b + 1) * per]
            if not len(pick):
                pick = rng.integers(0, len(self.triples), per)
            tri = self.triples[np.sort(pick)]  # self.triples is sorted by relation
            neg = rng.integers(0, n_nodes, len(pick))
            out.append(
                batch + tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in (tri[:, 0], tri[:, 1], tri[:, 2], neg))
            )
        return out

    def score_users(self, users):
        return self.net.user(users) @ self.net.item_vectors().T
