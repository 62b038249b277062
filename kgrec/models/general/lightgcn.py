"""LightGCN (He et al. 2020): embeddings smoothed over the symmetric-normalised user-item graph,
the layer outputs averaged, trained with BPR.

The normalised adjacency D^-1/2 A D^-1/2 of the (users + items) bipartite graph is built once as
a torch CSR matrix whose backward is the same CSR product (``SymmetricSpMM``). On CPU, an epoch over
1M interactions took 17 s this way against 550 s with a plain edge_index (an earlier measurement
with no results file); benchmarks/results/lightgcn-propagation.md compares the backward with
torch's own CSR and COO ones.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from kgrec.models.base import register
from kgrec.models.data.interactions import InteractionData
from kgrec.models.data.sampling import NegativeSampler, bpr_batches
from kgrec.models.nn.losses import bpr_loss
from kgrec.models.trainable import TrainableRecommender


def normalised_adjacency(interactions: sp.csr_matrix, device=None) -> torch.Tensor:
    """Symmetric-normalised adjacency of the bipartite graph as a torch CSR tensor."""
    n_users, n_items = interactions.shape
    r = interactions.tocsr().astype(np.float32)
    r.data[:] = 1.0
    a = sp.bmat([[None, r], [r.T, None]], format="csr", dtype=np.float32)
    degree = np.asarray(a.sum(axis=1)).ravel()
    inv_sqrt = np.zeros_like(degree)
    inv_sqrt[degree > 0] = degree[degree > 0] ** -0.5
    a = (sp.diags(inv_sqrt) @ a @ sp.diags(inv_sqrt)).tocsr().astype(np.float32)
    a.sort_indices()
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            torch.from_numpy(a.indptr.astype(np.int64)), torch.from_numpy(a.indices.astype(np.int64)),
            torch.from_numpy(a.data), size=a.shape, device=device, check_invariants=False,
        )


class SymmetricSpMM(torch.autograd.Function):
    """``adj @ x`` for a symmetric CSR ``adj``: the backward pass is ``adj @ grad`` again, which
    avoids the CSR transpose torch's generic backward builds on every call (measured here: 0.23 s
    vs 0.04 s for forward + backward of two layers on ML-100k)."""

    @staticmethod
    def forward(ctx, adj: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.adj = adj
        return adj @ x

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return None, ctx.adj @ grad


class LightGCNNet(nn.Module):
    def __init__(self, n_users: int, n_items: int, dim: int, layers: int, reg: float):
        super().__init__()
        self.n_users = n_users
        self.embedding = nn.Embedding(n_users + n_items, dim)
        nn.init.xavier_normal_(self.embedding.weight)
        self.layers, self.reg = layers, reg
        self.adj: torch.Tensor | None = None  # set by the model; not a parameter, not saved

    def propagate(self) -> torch.Tensor:
        x = self.embedding.weight
        total = x
        for _ in range(self.layers):
            x = SymmetricSpMM.apply(self.adj, x)
            total = total + x
        return total / (self.layers + 1)

    def forward(self, u, i, j):
        out = self.propagate()
        # one gather for the three sets: index backward on CPU is costly, embedding's is not
        rows = torch.cat([u, i + self.n_users, j + self.n_users])
        eu, ei, ej = nn.functional.embedding(rows, out).split(len(u))
        loss = bpr_loss((eu * ei).sum(-1), (eu * ej).sum(-1))
        if self.reg:
            loss = loss + self.reg * self.embedding(rows).pow(2).sum() / len(u)
        return loss


@register
class LightGCN(TrainableRecommender):
    name = "lightgcn"
    # lr and patience chosen by `kgctl tune` on ML-100k validation NDCG@10 (0.0656 vs 0.0636 at lr 2e-3;
    # benchmarks/results/ml100k-converged-baselines.md#lightgcn-tuned)
    defaults: ClassVar[dict[str, Any]] = {
        "dim": 64, "layers": 2, "reg": 1e-5, "batch_size": 2048, "lr": 5e-3, "epochs": 300, "patience": 20,
    }
    search_space: ClassVar[dict[str, list[Any]]] = {"layers": [2, 3], "lr": [1e-3, 2e-3], "reg": [1e-5, 1e-4]}

    def prepare(self, train: InteractionData, graph) -> None:
        matrix = train.csr()
        self.sampler = NegativeSampler(matrix)
        self.adj = normalised_adjacency(matrix, self.device)
        self._cache: tuple | None = None

    def build_network(self):
        net = LightGCNNet(
            self.n_users, self.n_items, int(self.hparams["dim"]), int(self.hparams["layers"]),
            float(self.hparams["reg"]),
        )
        net.adj = getattr(self, "adj", None)
        self._cache = None
        return net

    def batches(self, train, rng):
        return bpr_batches(train, rng, self.sampler, int(self.hparams["batch_size"]))

    def final_embeddings(self) -> torch.Tensor:
        """Propagated embeddings, cached until the weights change (tracked by tensor versions)."""
        weight = self.net.embedding.weight
        key = (id(weight), weight._version)
        if self._cache is None or (self.net.adj is not None and self._cache[0] != key):
            with torch.no_grad():
                self._cache = (key, self.net.propagate().detach())
        return self._cache[1]

    def score_users(self, users):
        out = self.final_embeddings()
        return out[users] @ out[self.n_users :].T

    def extra_state(self) -> dict[str, Any]:
        return {"final": self.final_embeddings().cpu()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        w = self.net.embedding.weight
        self._cache = ((id(w), w._version), state["final"].to(self.device))
