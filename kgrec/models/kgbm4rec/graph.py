"""The collaborative knowledge graph KGBM4Rec's GNN runs on, in one global node numbering:
knowledge-graph nodes first (items 0..n_items-1, then categories, brands, shops, tags, entities,
as ``KnowledgeGraphData`` numbers them), then users. Relations are the KG's typed relations plus
INTERACTED (training split only), each with its reverse ``rev_NAME``.

``RelationalCSR`` is the propagation structure: per relation, the distinct destination rows and a
CSR matrix (rows x all nodes) already divided by each destination's total in-degree, so that one
layer is a sum of per-relation sparse products (mean aggregation). It is built once for the full
graph (cached) and, by the same function, for a sampled subgraph.
"""

from __future__ import annotations

import dataclasses
import warnings
import zlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp
import torch

from kgrec.kg.subgraph import REVERSE_PREFIX
from kgrec.models.data.interactions import InteractionData, KnowledgeGraphData

INTERACTED = "INTERACTED"


@dataclasses.dataclass
class RelationalCSR:
    """All relations in one sparse CSR matrix: one row per (relation, destination) pair, grouped
    by relation; ``row_dst``/``row_rel`` say which node and relation a row belongs to and
    ``bounds[r]:bounds[r+1]`` are relation r's rows. Values are 1 / total in-degree of the
    destination, so summing the rows of a node gives the mean over all its in-neighbours."""

    n_nodes: int
    matrix: torch.Tensor  # sparse CSR (n_rows, n_nodes)
    row_dst: torch.Tensor
    row_rel: torch.Tensor
    bounds: list[int]
    # products are run by scipy on the CPU (about 2x torch's CSR kernel there, one thread) and by
    # torch elsewhere; both directions are cached, built on first use
    _cache: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def build(cls, src: np.ndarray, dst: np.ndarray, rel: np.ndarray, n_nodes: int, n_relations: int) -> RelationalCSR:
        src, dst, rel = (np.asarray(a, dtype=np.int64) for a in (src, dst, rel))
        degree = np.bincount(dst, minlength=n_nodes).astype(np.float32)
        order = np.lexsort((src, dst, rel))
        src, dst, rel = src[order], dst[order], rel[order]
        key = rel * max(n_nodes, 1) + dst
        new_row = np.r_[True, key[1:] != key[:-1]] if len(key) else np.zeros(0, bool)
        row_of_edge = np.cumsum(new_row) - 1
        n_rows = int(new_row.sum())
        crow = np.zeros(n_rows + 1, dtype=np.int64)
        np.add.at(crow, row_of_edge + 1, 1)
        crow = np.cumsum(crow)
        values = (1.0 / degree[dst]).astype(np.float32) if len(dst) else np.zeros(0, np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "sparse CSR support is in beta"
            matrix = torch.sparse_csr_tensor(
                torch.from_numpy(crow), torch.from_numpy(src.copy()), torch.from_numpy(values), size=(n_rows, n_nodes)
            )
        row_rel = rel[new_row]
        bounds = np.searchsorted(row_rel, np.arange(n_relations + 1)).tolist()
        return cls(n_nodes, matrix, torch.from_numpy(dst[new_row].copy()), torch.from_numpy(row_rel.copy()), bounds)

    def to(self, device) -> RelationalCSR:
        """The same structure on ``device``."""
        return dataclasses.replace(self, matrix=self.matrix.to(device), row_dst=self.row_dst.to(device),
                                   row_rel=self.row_rel.to(device), _cache={})

    def blocks(self) -> list[tuple[int, int, int]]:
        """(relation, first row, end row) of every relation that has rows."""
        return [(r, a, b) for r, (a, b) in enumerate(zip(self.bounds[:-1], self.bounds[1:])) if b > a]

    def product(self, x: torch.Tensor, transpose: bool = False) -> torch.Tensor:
        """``matrix @ x`` (n_rows, d), or ``matrix.T @ x`` (n_nodes, d) with ``transpose``; no autograd."""
        if x.device.type == "cpu":
            key = "scipy_t" if transpose else "scipy"
            if key not in self._cache:
                m = self.matrix
                a = sp.csr_matrix(
                    (m.values().numpy(), m.col_indices().numpy(), m.crow_indices().numpy()), shape=tuple(m.shape)
                )
                self._cache[key] = a.T.tocsr() if transpose else a
            dense = x.detach().contiguous()
            if dense.dtype != torch.float32:
                dense = dense.float()
            return torch.from_numpy(np.ascontiguousarray(self._cache[key] @ dense.numpy(), dtype=np.float32))
        if not transpose:
            return self.matrix @ x
        if "torch_t" not in self._cache:
            csc = self.matrix.to_sparse_csc()
            self._cache["torch_t"] = torch.sparse_csr_tensor(csc.ccol_indices(), csc.row_indices(), csc.values(),
                                                             size=(self.matrix.shape[1], self.matrix.shape[0]))
        return self._cache["torch_t"] @ x

    @property
    def n_edges(self) -> int:
        return int(self.matrix.values().numel())


@dataclasses.dataclass
class CollaborativeKG:
    """Node numbering and typed edges (forward relations; reverses are added on build)."""

    node_labels: np.ndarray
    node_ids: np.ndarray
    n_items: int
    n_users: int
    user_offset: int
    relation_names: list[str]  # forward names; reverse of relation r is r + len(relation_names)
    head: np.ndarray
    relation: np.ndarray
    tail: np.ndarray

    @classmethod
    def build(cls, train: InteractionData, kg: KnowledgeGraphData | None, *, use_kg: bool = True,
              min_degree: int = 1) -> CollaborativeKG:
        """``min_degree``: keep a non-item KG node only when it has at least this many distinct
        neighbours (2 drops leaves such as an actor of a single film, whose embedding would be a
        free per-item parameter; items are always kept)."""
        if kg is not None and use_kg:
            keep = _kept_nodes(kg, min_degree)
            new_index = np.cumsum(keep) - 1
            edge_ok = keep[kg.head] & keep[kg.tail]
            labels, ids = list(kg.node_labels[keep]), list(kg.node_ids[keep])
            names = list(kg.relation_names)
            head, rel, tail = [new_index[kg.head[edge_ok]]], [kg.relation[edge_ok]], [new_index[kg.tail[edge_ok]]]
        else:
            labels, ids, names = ["Product"] * train.n_items, list(train.item_ids), []
            head, rel, tail = [], [], []
        offset = len(ids)
        labels += ["User"] * train.n_users
        ids += list(train.user_ids)
        pairs = np.unique(np.stack([train.user, train.item], 1), axis=0) if len(train) else np.zeros((0, 2), np.int64)
        names.append(INTERACTED)
        head.append(pairs[:, 0] + offset)
        rel.append(np.full(len(pairs), len(names) - 1, dtype=np.int64))
        tail.append(pairs[:, 1])
        return cls(np.asarray(labels, dtype=object), np.asarray(ids, dtype=object), train.n_items, train.n_users,
                   offset, names, np.concatenate(head).astype(np.int64), np.concatenate(rel).astype(np.int64),
                   np.concatenate(tail).astype(np.int64))

    @property
    def n_nodes(self) -> int:
        return len(self.node_ids)

    @property
    def n_relations(self) -> int:
        """Forward plus reverse relations."""
        return 2 * len(self.relation_names)

    def relation_index(self) -> dict[str, int]:
        """Edge-type name (as the PyG graph store names them) -> relation index."""
        out = {name: r for r, name in enumerate(self.relation_names)}
        out.update({REVERSE_PREFIX + name: r + len(self.relation_names) for r, name in enumerate(self.relation_names)})
        return out

    def node_index(self) -> dict[tuple[str, str], int]:
        return {(str(lab), str(i)): n for n, (lab, i) in enumerate(zip(self.node_labels, self.node_ids))}

    def propagation(self) -> RelationalCSR:
        """Full-graph structure: messages flow head -> tail and, on the reverse relation, tail -> head."""
        k = len(self.relation_names)
        src = np.concatenate([self.head, self.tail])
        dst = np.concatenate([self.tail, self.head])
        rel = np.concatenate([self.relation, self.relation + k])
        return RelationalCSR.build(src, dst, rel, self.n_nodes, self.n_relations)


def _kept_nodes(kg: KnowledgeGraphData, min_degree: int) -> np.ndarray:
    keep = np.ones(kg.n_nodes, dtype=bool)
    if min_degree <= 1 or len(kg.head) == 0:
        return keep
    pairs = np.unique(np.stack([np.r_[kg.head, kg.tail], np.r_[kg.tail, kg.head]], 1), axis=0)
    neighbours = np.bincount(pairs[:, 0], minlength=kg.n_nodes)
    keep = neighbours >= min_degree
    keep[: kg.n_items] = True
    return keep


def subgraph_from_hetero_batch(
    batch, store_index, ckg: CollaborativeKG
) -> tuple[torch.Tensor, RelationalCSR, dict[str, torch.Tensor]]:
    """Turn a sampled PyG ``HeteroData`` mini-batch (node types = labels, ``n_id`` = the graph
    store's per-label index) into global node ids plus the subgraph's ``RelationalCSR``.
    Returns (global ids of the subgraph's nodes, structure, {label: local positions of that label})."""
    key_to_global = ckg.node_index()
    rel_index = ckg.relation_index()
    offsets, globals_, positions = {}, [], {}
    count = 0
    for label in batch.node_types:
        n_id = batch[label].n_id
        ids = store_index.id_of(label, n_id.numpy()).to_pylist()
        # nodes the trained graph left out (pruned leaves, nodes added since) get index -1:
        # their edges are dropped below, as the full graph has none of them
        g = [key_to_global.get((label, str(i)), -1) for i in ids]
        offsets[label] = count
        positions[label] = torch.arange(count, count + len(g))
        globals_.extend(g)
        count += len(g)
    src_parts: list[np.ndarray] = []
    dst_parts: list[np.ndarray] = []
    rel_parts: list[np.ndarray] = []
    for edge_type in batch.edge_types:
        s_label, name, d_label = edge_type
        if name not in rel_index:
            continue
        e = batch[edge_type].edge_index
        src_parts.append(e[0].numpy() + offsets[s_label])
        dst_parts.append(e[1].numpy() + offsets[d_label])
        rel_parts.append(np.full(e.shape[1], rel_index[name], dtype=np.int64))
    cat = (lambda parts: np.concatenate(parts) if parts else np.zeros(0, np.int64))
    src, dst, rel = cat(src_parts), cat(dst_parts), cat(rel_parts)
    known = np.asarray(globals_, dtype=np.int64) >= 0
    ok = known[src] & known[dst] if len(src) else np.zeros(0, bool)
    structure = RelationalCSR.build(src[ok], dst[ok], rel[ok], count, ckg.n_relations)
    # unknown nodes get any valid row of the embedding table: they have no edges into known nodes
    return torch.tensor(np.where(known, globals_, 0), dtype=torch.long), structure, positions


# ====================================================================== sampled subgraphs
ENTITY_INDEX_LIMIT = 1 << 17  # gnn_entity_rows="auto": one row per KG node up to this many nodes, hashed rows beyond


@dataclasses.dataclass
class NodeRows:
    """Rows of the GNN embedding table of a model trained on sampled subgraphs: items
    ``0..n_items-1``, users ``n_items..n_items+n_users-1``, then the knowledge graph's other nodes,
    either one row each (``entity_ids``: per label, the sorted ids, read once) or, with
    ``buckets > 0``, hashed into that many shared rows (CRC-32 of label and id), so that the table
    and the process do not grow with the knowledge graph."""

    item_ids: pa.Array
    user_ids: pa.Array
    buckets: int = 0
    entity_ids: dict[str, pa.Array] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self.offsets: dict[str, int] = {}
        at = len(self.item_ids) + len(self.user_ids)
        for label, ids in self.entity_ids.items():
            self.offsets[label] = at
            at += len(ids)
        self._n_rows = at + self.buckets

    @property
    def n_rows(self) -> int:
        return self._n_rows

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def rows(self, label: str, ids: list[str]) -> np.ndarray:
        """Table row of each node (-1: a node the model has no row for, e.g. a product without
        training interactions; its edges are dropped)."""
        if not ids:
            return np.zeros(0, np.int64)
        if label in ("Product", "User"):
            vocab = self.item_ids if label == "Product" else self.user_ids
            found = (
                pc.index_in(pa.array(ids, pa.string()), value_set=vocab)
                .fill_null(-1)
                .to_numpy(zero_copy_only=False)
                .astype(np.int64)
            )
            return np.where(found >= 0, found + (0 if label == "Product" else self.n_items), -1)
        if self.buckets:
            base = len(self.item_ids) + len(self.user_ids)
            return np.fromiter(
                (base + zlib.crc32(f"{label}\x1f{i}".encode()) % self.buckets for i in ids), np.int64, len(ids)
            )
        if label not in self.entity_ids:
            return np.full(len(ids), -1, np.int64)
        found = pc.index_in(pa.array(ids, pa.string()), value_set=self.entity_ids[label]).fill_null(-1)
        found = found.to_numpy(zero_copy_only=False).astype(np.int64)
        return np.where(found >= 0, found + self.offsets[label], -1)


@dataclasses.dataclass
class SubgraphBatch:
    """What one training or inference step's GNN runs on: the subgraph's table rows and
    structure, and where its items and users are (``items``: item indices, ``item_positions``:
    their local positions; the same for users)."""

    node_rows: torch.Tensor
    structure: RelationalCSR
    items: torch.Tensor
    item_positions: torch.Tensor
    users: torch.Tensor
    user_positions: torch.Tensor
    database_seconds: float = 0.0

    def to(self, device) -> SubgraphBatch:
        return dataclasses.replace(self, node_rows=self.node_rows.to(device), structure=self.structure.to(device),
                                   items=self.items.to(device), item_positions=self.item_positions.to(device),
                                   users=self.users.to(device), user_positions=self.user_positions.to(device))

    @property
    def n_nodes(self) -> int:
        return int(self.node_rows.numel())


def subgraph_batch(sampled, rows: NodeRows, relation_index: dict[str, int], n_relations: int) -> SubgraphBatch:
    """A ``kgrec.kg.subgraph.SampledGraph`` as the model's ``SubgraphBatch``: nodes the model has
    no row for and edge types it has no relation for are dropped."""
    offsets, parts, count = {}, [], 0
    for label, ids in sampled.nodes.items():
        offsets[label] = count
        parts.append(rows.rows(label, ids))
        count += len(ids)
    node_rows = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    src_parts: list[np.ndarray] = []
    dst_parts: list[np.ndarray] = []
    rel_parts: list[np.ndarray] = []
    for (s_label, name, d_label), (s, d) in sampled.edges.items():
        if name not in relation_index:
            continue
        src_parts.append(s + offsets[s_label])
        dst_parts.append(d + offsets[d_label])
        rel_parts.append(np.full(len(s), relation_index[name], np.int64))
    cat = (lambda p: np.concatenate(p) if p else np.zeros(0, np.int64))
    src, dst, rel = cat(src_parts), cat(dst_parts), cat(rel_parts)
    known = node_rows >= 0
    ok = known[src] & known[dst] if len(src) else np.zeros(0, bool)
    structure = RelationalCSR.build(src[ok], dst[ok], rel[ok], count, n_relations)
    item_pos = np.flatnonzero((node_rows >= 0) & (node_rows < rows.n_items))
    if "Product" in offsets:
        item_pos = item_pos[
            (item_pos >= offsets["Product"]) & (item_pos < offsets["Product"] + len(sampled.nodes["Product"]))
        ]
    else:
        item_pos = item_pos[:0]
    if "User" in offsets:
        lo = offsets["User"]
        user_pos = np.arange(lo, lo + len(sampled.nodes["User"]))
        user_pos = user_pos[node_rows[user_pos] >= 0]
    else:
        user_pos = np.zeros(0, np.int64)
    t = torch.from_numpy
    return SubgraphBatch(
        t(np.where(known, node_rows, 0)),
        structure,
        t(node_rows[item_pos].copy()),
        t(item_pos.copy()),
        t(node_rows[user_pos] - rows.n_items),
        t(user_pos.copy()),
        float(getattr(sampled, "database_seconds", 0.0)),
    )
