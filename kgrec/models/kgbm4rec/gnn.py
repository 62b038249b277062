"""Relation-aware message passing over the collaborative knowledge graph.

Two convolutions (``conv`` hyperparameter, chosen by validation numbers):

* ``compgcn``: message h_j * e_r (a learned vector per relation and layer, CompGCN's "mult"
  composition, as KGIN/KGAT-style models do); aggregation is the mean over all in-neighbours.
* ``rgcn``: message h_j W_r with W_r a combination of ``n_bases`` shared matrices (R-GCN basis
  decomposition); mean aggregation.

h^{l+1} = tanh(h^l W_self + agg W_nb), dropout between layers; the output is the mean of all
layers' representations (layer combination as in LightGCN/KGAT). The same module runs on the
cached full-graph ``RelationalCSR`` or on a sampled subgraph's.

The sparse product and the compgcn composition have hand-written backward passes
(``SparseProduct``, ``RelationScaledSum``): the product's backward reuses a cached transpose
instead of transposing the CSR matrix on every call, and the composition scales each relation's
block of rows in place instead of gathering a relation vector per row (a MovieLens-1M-sized
graph, 2.3M edges, one thread: forward + backward of the two-layer GNN 3.4 s -> 1.8 s).
"""

from __future__ import annotations

import torch
from torch import nn

from kgrec.models.kgbm4rec.graph import RelationalCSR


class SparseProduct(torch.autograd.Function):
    """``graph.matrix @ h`` with the gradient ``graph.matrix.T @ grad`` from the cached transpose."""

    @staticmethod
    def forward(ctx, h: torch.Tensor, graph: RelationalCSR) -> torch.Tensor:
        ctx.graph = graph
        return graph.product(h)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return ctx.graph.product(grad, transpose=True), None


class RelationScaledSum(torch.autograd.Function):
    """CompGCN's composition and aggregation: ``agg[d] = sum over d's rows of pooled[row] *
    relation[rel(row)]`` (rows are grouped by relation, so each relation scales one block)."""

    @staticmethod
    def forward(ctx, pooled: torch.Tensor, relation: torch.Tensor, graph: RelationalCSR) -> torch.Tensor:
        message = torch.empty_like(pooled)
        for r, a, b in graph.blocks():
            torch.mul(pooled[a:b], relation[r], out=message[a:b])
        agg = pooled.new_zeros(graph.n_nodes, pooled.shape[1]).index_add_(0, graph.row_dst, message)
        ctx.save_for_backward(pooled, relation)
        ctx.graph = graph
        return agg

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        pooled, relation = ctx.saved_tensors
        grad_message = grad.index_select(0, ctx.graph.row_dst)
        grad_relation = torch.zeros_like(relation)
        for r, a, b in ctx.graph.blocks():
            grad_relation[r] = (grad_message[a:b] * pooled[a:b]).sum(0)
            grad_message[a:b].mul_(relation[r])
        return grad_message, grad_relation, None


class RelationalLayer(nn.Module):
    def __init__(self, dim: int, n_relations: int, conv: str, n_bases: int):
        super().__init__()
        if conv not in ("compgcn", "rgcn"):
            raise ValueError(f"unknown conv {conv!r}; expected compgcn or rgcn")
        self.conv = conv
        self.self_weight = nn.Linear(dim, dim, bias=False)
        self.neighbour_weight = nn.Linear(dim, dim, bias=True)
        if conv == "compgcn":
            self.relation = nn.Parameter(torch.ones(n_relations, dim) + 0.1 * torch.randn(n_relations, dim))
        else:
            self.bases = nn.Parameter(torch.randn(n_bases, dim, dim) / dim**0.5)
            self.coefficients = nn.Parameter(torch.randn(n_relations, n_bases) / n_bases**0.5)

    def forward(self, h: torch.Tensor, graph: RelationalCSR) -> torch.Tensor:
        pooled = SparseProduct.apply(h, graph)  # per (relation, destination): mean-normalised neighbour sum
        if self.conv == "compgcn":
            agg = RelationScaledSum.apply(pooled, self.relation, graph)
        else:
            weights = torch.einsum("rb,bij->rij", self.coefficients, self.bases)
            parts = [pooled[a:b] @ weights[r] for r, a, b in graph.blocks()]
            message = torch.cat(parts) if parts else pooled
            agg = torch.zeros_like(h).index_add(0, graph.row_dst, message)
        return torch.tanh(self.self_weight(h) + self.neighbour_weight(agg))


class RelationalGNN(nn.Module):
    def __init__(self, n_nodes: int, n_relations: int, dim: int = 64, n_layers: int = 2,
                 conv: str = "compgcn", n_bases: int = 4, dropout: float = 0.1):
        super().__init__()
        self.embedding = nn.Embedding(n_nodes, dim)
        nn.init.normal_(self.embedding.weight, std=0.1)
        self.layers = nn.ModuleList(RelationalLayer(dim, n_relations, conv, n_bases) for _ in range(n_layers))
        self.dropout = nn.Dropout(dropout)

    def forward(self, graph: RelationalCSR, node_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Representations of the graph's nodes; ``node_ids`` gives the global ids of a subgraph's nodes."""
        h = self.embedding.weight if node_ids is None else self.embedding(node_ids)
        outputs = [h]
        for layer in self.layers:
            h = layer(self.dropout(h), graph)
            outputs.append(h)
        return torch.stack(outputs).mean(0)
