"""PyTorch Geometric remote-backend stores over the graph store (any ``Backend``: LadybugDB or Neo4j).

PyG separates a graph into a ``FeatureStore`` (node properties) and a ``GraphStore`` (edge lists);
its loaders accept the pair ``(feature_store, graph_store)`` in place of an in-memory ``HeteroData``.
Both classes here read through the Backend protocol and the named Cypher in ``kgrec/cypher/``, so
they serve the embedded database and Neo4j alike (LadybugDB's own classes scan its files and work
for LadybugDB only).

Node indexing: per label, nodes are numbered by their ``id`` in sorted order (the same order
``kgrec.models.data.interactions.InteractionData`` uses for users and items).

Edge types: each schema relationship ``(Src)-[:TYPE]->(Dst)`` is exposed as ``(Src, TYPE, Dst)``
and, so that messages flow both ways, its reverse ``(Dst, rev_TYPE, Src)``. A relationship type
with a ``relation`` property (RELATED_TO: the external KG's relation names) is split into one edge
type per relation value, named by that value (as ``KnowledgeGraphData`` names them).

Two sampling paths:

* ``NeighborLoader((feature_store, graph_store), ...)``: PyG's own sampler; it asks the graph
  store for every edge list once (one export query per relationship type, cached) and samples in
  memory. Use it when the edge lists fit in memory.
* ``CypherNeighborSampler`` with ``NodeLoader``: each hop of each mini-batch is one
  ``neighbors_in`` / ``neighbors_out`` query for the frontier's ids (key lookups, so its cost
  follows the frontier, not the graph; see ``by_ids_query``), so only the sampled
  neighbourhoods leave the database. Use it for graphs that do not fit.

The node numbering, the edge-type names and the per-batch sampler (``CypherSubgraphSampler``,
which KGBM4Rec uses) are in ``kgrec.kg.subgraph``, which does not import PyG.

Edge lists that must not come from the database (for instance user-item interactions restricted to
a training split) are put into the graph store with ``put_edge_index``; both paths then use them
from memory instead of querying.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

with warnings.catch_warnings():
    # Importing PyG (2.8) runs torch.jit.script on two NamedTuples of its pooling package, and torch
    # (2.10+) warns that torch.jit.script is deprecated: once per process, in every training log,
    # about code that kgrec never calls. This is the one place kgrec imports PyG, so it is muted here,
    # by that message only (catch_warnings keeps the filter local to these imports).
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script")
    from torch_geometric.data.feature_store import FeatureStore, TensorAttr
    from torch_geometric.data.graph_store import EdgeAttr, EdgeLayout, GraphStore
    from torch_geometric.sampler import BaseSampler, HeteroSamplerOutput, NodeSamplerInput

from kgrec.kg.backend import Backend
from kgrec.kg.subgraph import (
    EdgeSource,
    EdgeType,
    NodeIndex,
    edge_sources,
    neighbor_rows,
    of_relation,
    reverse_name,
)
from kgrec.kg.vectors import read_vectors

# Property returned for every label: the node's dense index. PyG discovers node types from the
# feature store's attributes, and labels such as Entity have no numeric property of their own.
INDEX_ATTR = "node_index"
_VECTOR, _SCALAR = "FLOAT[]", ("INT64", "DOUBLE")


# ====================================================================== feature store
class BackendFeatureStore(FeatureStore):
    """Node properties (``FLOAT[]`` vectors such as Product.text_emb, numeric scalars) read through
    the Backend. Read-only. ``cache=True`` exports a property once and indexes it in memory;
    ``cache=False`` fetches only the requested nodes with ``node_properties_by_id`` each time.
    A missing value is a row of zeros (vectors) or NaN (scalars)."""

    def __init__(self, backend: Backend, *, labels: Iterable[str] | None = None,
                 properties: dict[str, Sequence[str]] | None = None, cache: bool = True,
                 node_index: NodeIndex | None = None):
        super().__init__()
        self.backend = backend
        schema = backend.schema
        self.labels = [lab for lab in (labels or schema.labels) if lab != "Meta"]
        self.index = node_index or NodeIndex(backend, self.labels)
        self.cache = cache
        self._cached: dict[tuple[str, str], torch.Tensor] = {}
        self._dims: dict[tuple[str, str], int] = {}
        self.properties: dict[str, list[str]] = {}
        for label in self.labels:
            props = schema.node(label).properties
            wanted = properties[label] if properties and label in properties else [
                p for p, t in props.items() if (t == _VECTOR or t in _SCALAR)
            ]
            self.properties[label] = [p for p in wanted if p in props and p != "id"]

    # ------------------------------------------------------------------ PyG API
    def _put_tensor(self, tensor: Any, attr: TensorAttr) -> bool:
        raise NotImplementedError("the graph store's feature store is read-only; write with kgctl embed/ingest")

    def _remove_tensor(self, attr: TensorAttr) -> bool:
        raise NotImplementedError("the graph store's feature store is read-only")

    def _get_tensor_size(self, attr: TensorAttr) -> tuple[int, ...]:
        n = self.index.size(attr.group_name)
        if attr.attr_name == INDEX_ATTR:
            return (n,)
        dim = self._dim(attr.group_name, attr.attr_name)
        return (n, dim) if dim else (n,)

    def get_all_tensor_attrs(self) -> list[TensorAttr]:
        attrs = []
        for label in self.labels:
            attrs.append(TensorAttr(label, INDEX_ATTR))
            for prop in self.properties[label]:
                if self._kind(label, prop) != _VECTOR or self._dim(label, prop) > 0:
                    attrs.append(TensorAttr(label, prop))
        return attrs

    def _get_tensor(self, attr: TensorAttr) -> torch.Tensor:
        label, prop = attr.group_name, attr.attr_name
        index = _as_index(attr.index, self.index.size(label))
        if prop == INDEX_ATTR:
            return torch.arange(self.index.size(label)) if index is None else index.clone()
        if self.cache or index is None:
            full = self._full(label, prop)
            return full if index is None else full[index]
        ids = self.index.id_of(label, index.numpy())
        table = self._query_by_id(label, prop, ids)
        return self._to_tensor(label, prop, table, self.index.lookup(label, table.column("id")), len(index),
                               order=_positions(ids, table.column("id")))

    # ------------------------------------------------------------------ helpers
    def _kind(self, label: str, prop: str) -> str:
        return self.backend.schema.node(label).properties[prop]

    def _dim(self, label: str, prop: str) -> int:
        key = (label, prop)
        if key not in self._dims:
            if self._kind(label, prop) != _VECTOR:
                self._dims[key] = 0
            else:
                self._dims[key] = int(self._full(label, prop).shape[1]) if self._full(label, prop).dim() == 2 else 0
        return self._dims[key]

    def _full(self, label: str, prop: str) -> torch.Tensor:
        key = (label, prop)
        if key not in self._cached:
            table = self.backend.export_nodes(label, [prop])
            rows = self.index.lookup(label, table.column("id"))
            self._cached[key] = self._to_tensor(label, prop, table, rows, self.index.size(label))
        return self._cached[key]

    def _query_by_id(self, label: str, prop: str, ids: pa.Array) -> pa.Table:
        text = self.backend.cypher.render("node_properties_by_id", label=label, return_list=f", n.{prop} AS {prop}")
        return self.backend.execute(text, {"ids": ids.to_pylist()})

    def _to_tensor(self, label: str, prop: str, table: pa.Table, rows: np.ndarray, n: int,
                   order: np.ndarray | None = None) -> torch.Tensor:
        """Scatter a (id, prop) table into an n-row tensor; ``order`` maps table rows to output rows."""
        target = order if order is not None else rows
        if self._kind(label, prop) == _VECTOR:
            matrix, _ = read_vectors(table, prop, label=label).scatter(target, n, self._dims.get((label, prop), 0))
            return torch.from_numpy(matrix)
        values = table.column(prop).to_pylist()
        out = torch.full((n,), float("nan"), dtype=torch.float64)
        for row, value in zip(target, values):
            if row >= 0 and value is not None:
                out[row] = float(value)
        return out


# ====================================================================== graph store
class BackendGraphStore(GraphStore):
    """Edge lists (COO) of the knowledge graph read through the Backend, with reverse edge types.

    ``exclude`` leaves relationship types out (e.g. ``INTERACTED``, to be put from a training
    split with ``put_edge_index``). Edge lists are exported once per relationship type and cached.
    """

    def __init__(self, backend: Backend, *, rel_types: Iterable[str] | None = None,
                 exclude: Iterable[str] = (), reverse: bool = True, node_index: NodeIndex | None = None):
        super().__init__()
        self.backend = backend
        schema = backend.schema
        excluded = set(exclude)
        self.rel_types = [r for r in (rel_types or schema.relationships) if r not in excluded]
        labels = sorted({schema.rel(r).src for r in self.rel_types} | {schema.rel(r).dst for r in self.rel_types})
        self.index = node_index or NodeIndex(backend, labels)
        for label in labels:
            if label not in self.index.ids:
                self.index.ids.update(NodeIndex(backend, [label]).ids)
        self.reverse = reverse
        self._sources: dict[EdgeType, EdgeSource] = edge_sources(backend, self.rel_types, reverse=reverse)
        self._memory: dict[EdgeType, torch.Tensor] = {}  # put_edge_index: (2, E) COO
        self._exported: dict[str, pa.Table] = {}

    @property
    def edge_types(self) -> list[EdgeType]:
        return list(dict.fromkeys([*self._sources, *self._memory]))

    def size(self, edge_type: EdgeType) -> tuple[int, int]:
        return self.index.size(edge_type[0]), self.index.size(edge_type[2])

    # ------------------------------------------------------------------ PyG API
    def _put_edge_index(self, edge_index: Any, edge_attr: EdgeAttr) -> bool:
        if edge_attr.layout != EdgeLayout.COO:
            raise ValueError("only COO edge indices can be put")
        row, col = edge_index if isinstance(edge_index, (tuple, list)) else (edge_index[0], edge_index[1])
        edge_type = tuple(edge_attr.edge_type)
        for label in (edge_type[0], edge_type[2]):
            if label not in self.index.ids:
                self.index.ids.update(NodeIndex(self.backend, [label]).ids)
        self._memory[edge_type] = torch.stack([torch.as_tensor(row), torch.as_tensor(col)]).long()
        return True

    def put_edges(self, edge_type: EdgeType, edge_index: torch.Tensor, reverse: bool | None = None) -> None:
        """Put a (2, E) COO edge list in memory for ``edge_type`` (and its reverse type by default)."""
        self.put_edge_index(edge_index, edge_type=edge_type, layout="coo", size=None)
        if self.reverse if reverse is None else reverse:
            src, name, dst = edge_type
            self.put_edge_index(edge_index.flip(0), edge_type=(dst, reverse_name(name), src), layout="coo", size=None)

    def _get_edge_index(self, edge_attr: EdgeAttr) -> tuple[torch.Tensor, torch.Tensor] | None:
        edge_type = tuple(edge_attr.edge_type)
        if edge_attr.layout != EdgeLayout.COO:
            return None  # GraphStore.csr()/csc() convert from COO
        if edge_type in self._memory:
            e = self._memory[edge_type]
            return e[0], e[1]
        if edge_type not in self._sources:
            return None
        row, col = self._coo(edge_type)
        return row, col

    def _remove_edge_index(self, edge_attr: EdgeAttr) -> bool:
        return self._memory.pop(tuple(edge_attr.edge_type), None) is not None

    def get_all_edge_attrs(self) -> list[EdgeAttr]:
        return [EdgeAttr(et, EdgeLayout.COO, is_sorted=False, size=self.size(et)) for et in self.edge_types]

    # ------------------------------------------------------------------ reads
    def coo(self, edge_type: EdgeType) -> torch.Tensor:
        """The whole (2, E) edge list of one edge type (memory or database), sorted by (dst, src)."""
        if edge_type in self._memory:
            e = self._memory[edge_type]
        else:
            e = torch.stack(self._coo(edge_type))
        order = np.lexsort((e[0].numpy(), e[1].numpy()))
        return e[:, torch.from_numpy(order)]

    def _coo(self, edge_type: EdgeType) -> tuple[torch.Tensor, torch.Tensor]:
        source = self._sources[edge_type]
        if source.rel_type not in self._exported:
            props = ["relation"] if "relation" in self.backend.schema.rel(source.rel_type).properties else []
            self._exported[source.rel_type] = self.backend.export_relationships(source.rel_type, props)
        return self._edges_from_table(edge_type, of_relation(self._exported[source.rel_type], source))

    def _edges_from_table(self, edge_type: EdgeType, table: pa.Table) -> tuple[torch.Tensor, torch.Tensor]:
        """Dense (src, dst) indices of ``edge_type`` from rows that are already that edge type's."""
        source = self._sources[edge_type]
        rel = self.backend.schema.rel(source.rel_type)
        a = self.index.lookup(rel.src, table.column("src"))
        b = self.index.lookup(rel.dst, table.column("dst"))
        ok = (a >= 0) & (b >= 0)
        ta, tb = torch.from_numpy(a[ok]), torch.from_numpy(b[ok])
        return (tb, ta) if source.reverse else (ta, tb)

    def in_neighbors(
        self, edge_type: EdgeType, dst: torch.Tensor, memo: dict | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """All edges (src, dst) of ``edge_type`` whose destination is in ``dst`` (dense indices),
        sorted by (dst, src). Materialised edge types are answered from memory, the others with
        one ``neighbors_in``/``neighbors_out`` query for the batch's ids. Pass the same ``memo``
        dict for all edge types of one hop: edge types split from one relationship type (by its
        relation property) then share a single query."""
        if len(dst) == 0:
            empty = torch.zeros(0, dtype=torch.long)
            return empty, empty
        if edge_type in self._memory:
            e = self._memory[edge_type]
            keep = torch.isin(e[1], dst)
            src, dsts = e[0][keep], e[1][keep]
        else:
            ids = self.index.id_of(edge_type[2], dst.numpy()).to_pylist()
            table = neighbor_rows(self.backend, self._sources[edge_type], ids, self.index.size(edge_type[2]), memo)
            src, dsts = self._edges_from_table(edge_type, table)
        order = np.lexsort((src.numpy(), dsts.numpy()))
        return src[order], dsts[order]


def remote_backend(backend: Backend, *, exclude: Iterable[str] = (), cache_features: bool = True,
                   properties: dict[str, Sequence[str]] | None = None) -> tuple[BackendFeatureStore, BackendGraphStore]:
    """The ``(feature_store, graph_store)`` pair that PyG loaders accept, sharing one node index."""
    labels = [label for label in backend.schema.labels if label != "Meta"]
    index = NodeIndex(backend, labels)  # every label, also those whose edges are put later (User)
    graph_store = BackendGraphStore(backend, exclude=exclude, node_index=index)
    feature_store = BackendFeatureStore(backend, labels=labels, properties=properties, cache=cache_features,
                                        node_index=index)
    return feature_store, graph_store


# ====================================================================== database-side sampler
class CypherNeighborSampler(BaseSampler):
    """Multi-hop neighbour sampling whose every hop is a Cypher query for the frontier's ids.

    ``num_neighbors``: fan-out per hop (a list; -1 takes all neighbours), applied per edge type
    and destination node. Sampling is seeded and independent of the order the database returns
    rows in (rows are sorted before sampling). Returns PyG's ``HeteroSamplerOutput`` so that
    ``torch_geometric.loader.NodeLoader`` builds the mini-batch ``HeteroData`` (``n_id`` per node
    type, ``edge_index`` per edge type with messages flowing src -> dst).
    """

    def __init__(self, graph_store: BackendGraphStore, num_neighbors: Sequence[int], *, seed: int = 0,
                 edge_types: Iterable[EdgeType] | None = None):
        self.graph_store = graph_store
        self.num_neighbors = list(num_neighbors)
        self.edge_types = list(edge_types) if edge_types is not None else graph_store.edge_types
        self.generator = torch.Generator().manual_seed(seed)

    def sample_from_nodes(self, inputs: NodeSamplerInput, **kwargs: Any) -> HeteroSamplerOutput:
        seed_type = inputs.input_type
        if seed_type is None:
            raise ValueError("CypherNeighborSampler samples heterogeneous graphs: give input_nodes as (label, index)")
        nodes: dict[str, list[torch.Tensor]] = {seed_type: [inputs.node.long()]}
        position: dict[str, dict[int, int]] = {seed_type: {}}
        for n in inputs.node.tolist():
            position[seed_type].setdefault(int(n), len(position[seed_type]))
        nodes[seed_type] = [torch.tensor(list(position[seed_type]), dtype=torch.long)]
        frontier = {seed_type: nodes[seed_type][0]}
        rows: dict[EdgeType, list[torch.Tensor]] = {}
        cols: dict[EdgeType, list[torch.Tensor]] = {}
        for fanout in self.num_neighbors:
            new: dict[str, list[int]] = {}
            memo: dict = {}
            for edge_type in self.edge_types:
                src_type, _, dst_type = edge_type
                if dst_type not in frontier or len(frontier[dst_type]) == 0:
                    continue
                src, dst = self.graph_store.in_neighbors(edge_type, frontier[dst_type], memo)
                src, dst = self._subsample(src, dst, fanout)
                pos_src = position.setdefault(src_type, {})
                local_src = []
                for s in src.tolist():
                    if s not in pos_src:
                        pos_src[s] = len(pos_src)
                        new.setdefault(src_type, []).append(s)
                    local_src.append(pos_src[s])
                pos_dst = position[dst_type]
                rows.setdefault(edge_type, []).append(torch.tensor(local_src, dtype=torch.long))
                cols.setdefault(edge_type, []).append(
                    torch.tensor([pos_dst[d] for d in dst.tolist()], dtype=torch.long)
                )
            frontier = {t: torch.tensor(v, dtype=torch.long) for t, v in new.items()}
            for t, v in frontier.items():
                nodes.setdefault(t, []).append(v)
        node = {t: torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long) for t, parts in nodes.items()}
        row = {et: torch.cat(p) for et, p in rows.items()}
        col = {et: torch.cat(p) for et, p in cols.items()}
        return HeteroSamplerOutput(node=node, row=row, col=col, edge={et: None for et in row},
                                   metadata=(inputs.input_id, inputs.time))

    def _subsample(self, src: torch.Tensor, dst: torch.Tensor, fanout: int) -> tuple[torch.Tensor, torch.Tensor]:
        if fanout < 0 or len(dst) == 0:
            return src, dst
        keep: list[int] = []
        bounds = torch.nonzero(torch.diff(dst, prepend=dst[:1] - 1)).flatten().tolist() + [len(dst)]
        for start, stop in itertools.pairwise(bounds):
            count = stop - start
            if count <= fanout:
                keep.extend(range(start, stop))
            else:
                pick = torch.randperm(count, generator=self.generator)[:fanout].sort().values + start
                keep.extend(pick.tolist())
        index = torch.tensor(keep, dtype=torch.long)
        return src[index], dst[index]

    def sample_from_edges(self, index: Any, neg_sampling: Any = None) -> Any:
        raise NotImplementedError("CypherNeighborSampler samples around seed nodes only")

    @property
    def edge_permutation(self) -> None:
        return None


def _as_index(index: Any, n: int) -> torch.Tensor | None:
    if index is None:
        return None
    if isinstance(index, slice):
        return torch.arange(n)[index]
    if isinstance(index, int):
        return torch.tensor([index])
    return torch.as_tensor(np.asarray(index) if not isinstance(index, torch.Tensor) else index).long().flatten()


def _positions(requested: pa.Array, returned: pa.ChunkedArray) -> np.ndarray:
    """For each returned row, its position among the requested ids."""
    return pc.index_in(returned, value_set=requested).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
