"""Graph reads keyed by node id that need no PyTorch Geometric: per-label dense node numbering
(``NodeIndex``), the names of edge types and their reverses, and multi-hop neighbour sampling on
mini-batches (``CypherSubgraphSampler``), all through the Backend protocol and the named Cypher in
``kgrec/cypher/``.

Edge types: each schema relationship ``(Src)-[:TYPE]->(Dst)`` is ``(Src, TYPE, Dst)`` and, so that
messages flow both ways, has the reverse ``(Dst, rev_TYPE, Src)``; a relationship type with a
``relation`` property (RELATED_TO: the external KG's relation names) is split into one edge type
per relation value, named by that value.

``kgrec.kg.pyg_store`` builds PyG's remote-backend stores on these; KGBM4Rec samples with them
directly, so loading a KGBM4Rec checkpoint to serve it never imports PyG (seconds of a one-shot
``kgctl recommend``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kgrec.kg.backend import Backend

EdgeType = tuple[str, str, str]
REVERSE_PREFIX = "rev_"


# Queries by a batch of ids (``neighbors_in``, ``neighbors_out``, ``node_degrees``) come in two forms
# that return the same rows: the plain name looks each id up by its key and follows its edges, so
# its cost follows the ids and their edges; ``<name>_scan`` filters the label's whole node table
# with ``id IN $ids``, which LadybugDB does by comparing every node with every id. The scan costs
# less per returned row, so it wins only where it is small: a tiny label (genres), or a small one
# whose nodes have many edges each (500 of 604 users and their interactions). It is used when
# label size x distinct ids is at most SCAN_LIMIT (a million comparisons: about 10 ms here);
# benchmarks/results/kgbm4rec-sampled-training.md has the measurements.
SCAN_LIMIT = 1_000_000


def by_ids_query(name: str, label_size: int, n_ids: int) -> str:
    """The form of query ``name`` to ask for ``n_ids`` distinct ids of a label of ``label_size`` nodes."""
    return f"{name}_scan" if label_size * n_ids <= SCAN_LIMIT else name


def reverse_name(name: str) -> str:
    return name[len(REVERSE_PREFIX):] if name.startswith(REVERSE_PREFIX) else REVERSE_PREFIX + name


class NodeIndex:
    """Per-label dense node numbering (sorted ids), read once from the database."""

    def __init__(self, backend: Backend, labels: Iterable[str]):
        self.ids: dict[str, pa.Array] = {}
        for label in labels:
            # cast: Neo4j answers an empty result with null-typed columns
            ids = backend.export_nodes(label).column("id").combine_chunks().cast(pa.string())
            self.ids[label] = ids.take(pc.sort_indices(ids))

    def size(self, label: str) -> int:
        return len(self.ids[label])

    def lookup(self, label: str, values: pa.Array | pa.ChunkedArray | Sequence[str]) -> np.ndarray:
        """Dense indices of the given ids (-1 where unknown)."""
        if not isinstance(values, (pa.Array, pa.ChunkedArray)):
            values = pa.array(list(values), pa.string())
        values = values.cast(pa.string())
        found = pc.index_in(values, value_set=self.ids[label])
        return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)

    def id_of(self, label: str, index: Any) -> pa.Array:
        """The ids at dense indices ``index`` (a numpy array, a list or a CPU tensor)."""
        return self.ids[label].take(pa.array(np.asarray(index, dtype=np.int64)))


@dataclasses.dataclass
class EdgeSource:
    """Where an edge type's rows come from in the database."""

    rel_type: str  # schema relationship type
    relation: str | None  # value of the relation property, when the type is split by it
    reverse: bool


@dataclasses.dataclass
class SampledGraph:
    """One sampled subgraph. ``nodes[label]`` lists the node ids of that label (a node's local
    position is its place in that list, seeds first); ``edges[edge_type] = (src, dst)`` are local
    positions, messages flowing src -> dst. ``database_seconds``: time spent in database queries."""

    nodes: dict[str, list[str]]
    edges: dict[EdgeType, tuple[np.ndarray, np.ndarray]]
    database_seconds: float = 0.0


@dataclasses.dataclass
class _MemoryEdges:
    """An edge type held in memory (``put_edges``): src indices sorted by destination, with the
    destinations' CSR bounds, over per-label id vocabularies."""

    src_ids: pa.Array
    dst_ids: pa.Array
    src: np.ndarray
    indptr: np.ndarray

    @classmethod
    def build(cls, src_ids: Sequence[str], dst_ids: Sequence[str]) -> _MemoryEdges:
        src_arr, dst_arr = (
            pa.array(list(map(str, src_ids)), pa.string()),
            pa.array(list(map(str, dst_ids)), pa.string()),
        )
        src_vocab, dst_vocab = pc.unique(src_arr), pc.unique(dst_arr)
        s = pc.index_in(src_arr, value_set=src_vocab).to_numpy().astype(np.int64)
        d = pc.index_in(dst_arr, value_set=dst_vocab).to_numpy().astype(np.int64)
        pairs = np.unique(np.stack([d, s], 1), axis=0) if len(s) else np.zeros((0, 2), np.int64)  # sorted by (dst, src)
        indptr = np.zeros(len(dst_vocab) + 1, np.int64)
        np.add.at(indptr, pairs[:, 0] + 1, 1)
        return cls(src_vocab, dst_vocab, pairs[:, 1].copy(), np.cumsum(indptr))

    def in_neighbors(self, dst: list[str]) -> tuple[list[str], list[str]]:
        """(src ids, dst ids) of every edge into ``dst``, grouped by destination in the order of
        ``dst``, sources in vocabulary order (deterministic)."""
        where = (
            pc.index_in(pa.array(dst, pa.string()), value_set=self.dst_ids).fill_null(-1).to_numpy(zero_copy_only=False)
        )
        where = where.astype(np.int64)
        found = np.flatnonzero(where >= 0)
        starts, stops = self.indptr[where[found]], self.indptr[where[found] + 1]
        lengths = stops - starts
        if not lengths.sum():
            return [], []
        # every position of every destination's range, without a Python loop
        offsets = np.repeat(starts - np.r_[0, np.cumsum(lengths)[:-1]], lengths)
        rows = self.src[np.arange(int(lengths.sum())) + offsets]
        names = np.asarray(dst, dtype=object)[found]
        return self.src_ids.take(pa.array(rows)).to_pylist(), np.repeat(names, lengths).tolist()


class CypherSubgraphSampler:
    """Multi-hop neighbour sampling for training and inference on mini-batches, keyed by node id.

    Unlike ``CypherNeighborSampler`` (PyG's ``NodeLoader`` plug-in, one seed label, a dense index
    of every node of every label in memory), this sampler keeps no per-node state of the
    knowledge graph: seeds may be of several labels at once (a batch's users and items), nodes
    are numbered per batch, and each hop asks the database, with one ``neighbors_in`` /
    ``neighbors_out`` query per relationship type and direction, for the neighbours of the
    frontier's ids. Memory use therefore follows the fan-out, not the size of the graph.

    ``fanout``: neighbours kept per (edge type, destination node) at each hop (-1: all).
    ``min_degree``: nodes of labels other than ``keep_labels`` with fewer distinct neighbours (one
    ``node_degrees`` query per label and hop, for all of that hop's candidates) are left out, as
    ``kg_min_degree`` prunes KG leaves from the full graph. Edge types put with ``put_edges`` (the
    training split's interactions) are answered from memory and never read from the database;
    ``exclude`` leaves relationship types out of the database reads (``INTERACTED`` by default).
    Seeded; thread-safe (one sampling at a time), so a background thread can prefetch the next batch.
    """

    def __init__(self, backend: Backend, fanout: Sequence[int], *, exclude: Iterable[str] = ("INTERACTED",),
                 rel_types: Iterable[str] | None = None, min_degree: int = 1,
                 keep_labels: Iterable[str] = ("Product", "User"), seed: int = 0):
        import threading

        self.backend = backend
        self.fanout = [int(f) for f in fanout]
        self.min_degree = int(min_degree)
        self.keep_labels = set(keep_labels)
        self.rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        schema = backend.schema
        excluded = set(exclude)
        self.sources = edge_sources(
            backend, [r for r in (rel_types or schema.relationships) if r not in excluded], reverse=True
        )
        self.memory: dict[EdgeType, _MemoryEdges] = {}
        # node counts per label, read once: they choose a query form (by_ids_query), never the rows
        self.label_sizes: dict[str, int] = dict(backend.counts()["nodes"])

    @property
    def edge_types(self) -> list[EdgeType]:
        return list(dict.fromkeys([*self.sources, *self.memory]))

    def relation_names(self) -> list[str]:
        """Forward edge-type names (relation values for split types), database ones first, in a fixed order."""
        return [name for (_, name, _), source in self.sources.items() if not source.reverse] + \
            [name for (_, name, _) in self.memory if not name.startswith(REVERSE_PREFIX)]

    def put_edges(
        self, edge_type: EdgeType, src_ids: Sequence[str], dst_ids: Sequence[str], reverse: bool = True
    ) -> None:
        """Hold ``edge_type``'s edges (given by node ids) in memory, and its reverse type by default."""
        self.memory[edge_type] = _MemoryEdges.build(src_ids, dst_ids)
        if reverse:
            src, name, dst = edge_type
            self.memory[(dst, reverse_name(name), src)] = _MemoryEdges.build(dst_ids, src_ids)

    def sample(self, seeds: dict[str, Sequence[str]], rng: np.random.Generator | None = None) -> SampledGraph:
        """The ``len(fanout)``-hop subgraph around ``seeds`` (``{label: ids}``; duplicates kept once)."""
        with self._lock:
            return self._sample(seeds, rng or self.rng)

    def _sample(self, seeds: dict[str, Sequence[str]], rng: np.random.Generator) -> SampledGraph:
        db = 0.0
        position: dict[str, dict[str, int]] = {}
        for label, ids in seeds.items():
            pos = position.setdefault(label, {})
            for i in ids:
                pos.setdefault(str(i), len(pos))
        frontier = {label: list(pos) for label, pos in position.items()}
        rows: dict[EdgeType, list[np.ndarray]] = {}
        cols: dict[EdgeType, list[np.ndarray]] = {}
        for fanout in self.fanout:
            new: dict[str, list[str]] = {}
            memo: dict = {}
            degrees: dict[str, dict[str, int]] = {}
            # Edge types whose sources are pruned by degree: their neighbours first, then one
            # node_degrees query per label for all their new sources (not one per edge type:
            # RELATED_TO alone is 2 x its relations), then every edge type in its fixed order.
            early: dict[EdgeType, tuple[list[str], list[str]]] = {}
            if self.min_degree > 1:
                wanted: dict[str, dict[str, None]] = {}
                for edge_type in self.edge_types:
                    src_type, _, dst_type = edge_type
                    if src_type in self.keep_labels or not frontier.get(dst_type):
                        continue
                    started = time.perf_counter()
                    early[edge_type] = self._in_neighbors(edge_type, frontier[dst_type], memo)
                    db += time.perf_counter() - started
                    seen = position.get(src_type, {})
                    wanted.setdefault(src_type, {}).update((s, None) for s in early[edge_type][0] if s not in seen)
                started = time.perf_counter()
                for label, candidates in wanted.items():
                    self._degrees(label, list(candidates), degrees.setdefault(label, {}))
                db += time.perf_counter() - started
            for edge_type in self.edge_types:
                src_type, _, dst_type = edge_type
                if not frontier.get(dst_type):
                    continue
                if edge_type in early:
                    src, dst = early.pop(edge_type)
                else:
                    started = time.perf_counter()
                    src, dst = self._in_neighbors(edge_type, frontier[dst_type], memo)
                    db += time.perf_counter() - started
                if not src:
                    continue
                if self.min_degree > 1 and src_type not in self.keep_labels:
                    # a source placed earlier in this hop passed the same test; every other one
                    # was not placed when the hop began, so its degree was asked for above
                    known = degrees.get(src_type, {})
                    ok = [s in position.get(src_type, {}) or known.get(s, 0) >= self.min_degree for s in src]
                    src = [s for s, k in zip(src, ok) if k]
                    dst = [d for d, k in zip(dst, ok) if k]
                src, dst = _subsample(src, dst, fanout, rng)
                pos_src = position.setdefault(src_type, {})
                local_src = np.empty(len(src), np.int64)
                for n, s in enumerate(src):
                    at = pos_src.get(s)
                    if at is None:
                        at = pos_src[s] = len(pos_src)
                        new.setdefault(src_type, []).append(s)
                    local_src[n] = at
                pos_dst = position[dst_type]
                rows.setdefault(edge_type, []).append(local_src)
                cols.setdefault(edge_type, []).append(np.fromiter((pos_dst[d] for d in dst), np.int64, len(dst)))
            frontier = new
        edges = {et: (np.concatenate(rows[et]), np.concatenate(cols[et])) for et in rows}
        return SampledGraph({label: list(pos) for label, pos in position.items()}, edges, db)

    def _in_neighbors(self, edge_type: EdgeType, dst: list[str], memo: dict) -> tuple[list[str], list[str]]:
        """(src ids, dst ids) of every edge of ``edge_type`` into ``dst``, sorted by (dst, src)."""
        if edge_type in self.memory:  # already in a fixed order
            return self.memory[edge_type].in_neighbors(dst)
        else:
            source = self.sources[edge_type]
            table = neighbor_rows(self.backend, source, dst, self.label_sizes.get(edge_type[2], 0), memo)
            a, b = table.column("src").to_pylist(), table.column("dst").to_pylist()
            src, dsts = (a, b) if not source.reverse else (b, a)
        if not src:
            return [], []
        order = sorted(range(len(src)), key=lambda n: (dsts[n], src[n]))
        return [src[n] for n in order], [dsts[n] for n in order]

    def _degrees(self, label: str, ids: list[str], out: dict[str, int]) -> None:
        if not ids:
            return
        query = by_ids_query("node_degrees", self.label_sizes.get(label, 0), len(set(ids)))
        table = self.backend.execute(self.backend.cypher.render(query, label=label), {"ids": ids})
        out.update(zip(table.column("id").to_pylist(), (int(v) for v in table.column("degree").to_pylist())))
        for i in ids:
            out.setdefault(i, 0)


def edge_sources(backend: Backend, rel_types: Iterable[str], *, reverse: bool = True) -> dict[EdgeType, EdgeSource]:
    """The edge types of ``rel_types`` that hold relationships, and where each one's rows come from:
    one per relationship type, or one per ``relation`` value where the type has that property;
    with ``reverse``, each also as its reverse type."""
    schema = backend.schema
    counts = backend.counts()["relationships"]
    sources: dict[EdgeType, EdgeSource] = {}
    for rel_type in rel_types:
        if not counts.get(rel_type):
            continue  # nothing stored: no edge type (and no empty query per sampled hop)
        rel = schema.rel(rel_type)
        relations = relation_values(backend, rel_type) if "relation" in rel.properties else [None]
        for relation in relations:
            name = relation if relation is not None else rel_type
            sources[(rel.src, name, rel.dst)] = EdgeSource(rel_type, relation, False)
            if reverse:
                sources[(rel.dst, reverse_name(name), rel.src)] = EdgeSource(rel_type, relation, True)
    return sources


def neighbor_rows(backend: Backend, source: EdgeSource, ids: list[str], label_size: int,
                  memo: dict[tuple[str, str], pa.Table] | None = None) -> pa.Table:
    """The stored rows (``src``, ``dst``, as the relationship points) of ``source``'s edges into
    ``ids``, the nodes the edge type points to (a label of ``label_size`` nodes, which picks the
    query form): one ``neighbors_in`` query, or ``neighbors_out`` for a reverse type. Edge types
    split from one relationship type by its ``relation`` property share one query when they are
    given the same ``memo`` dict for the same ids."""
    rel = backend.schema.rel(source.rel_type)
    query = "neighbors_out" if source.reverse else "neighbors_in"
    key = (query, rel.name)
    table = memo.get(key) if memo is not None else None
    if table is None:
        returns = ", r.relation AS relation" if "relation" in rel.properties else ""
        text = backend.cypher.render(
            by_ids_query(query, label_size, len(set(ids))),
            src_label=rel.src, rel_type=rel.name, dst_label=rel.dst, return_list=returns,
        )
        table = backend.execute(text, {"ids": ids})
        if memo is not None:
            memo[key] = table
    return of_relation(table, source)


def of_relation(table: pa.Table, source: EdgeSource) -> pa.Table:
    """The rows of ``table`` (a relationship type's rows) that belong to ``source``'s edge type."""
    if source.relation is None:
        return table
    return table.filter(pc.equal(table.column("relation"), source.relation))


def relation_values(backend: Backend, rel_type: str) -> list[str]:
    """The distinct values of ``rel_type``'s ``relation`` property (one edge type each)."""
    rel = backend.schema.rel(rel_type)
    text = backend.cypher.render("relation_values", src_label=rel.src, rel_type=rel.name, dst_label=rel.dst)
    return [v for v in backend.execute(text, {}).column("relation").to_pylist() if v is not None]


def _subsample(src: list[str], dst: list[str], fanout: int, rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """At most ``fanout`` edges per destination, uniformly (edges sorted by (dst, src) on input,
    so the draw does not depend on the order the database answered in); -1 keeps all."""
    if fanout < 0 or not dst:
        return src, dst
    groups = np.r_[True, np.asarray(dst[1:], dtype=object) != np.asarray(dst[:-1], dtype=object)]
    group = np.cumsum(groups) - 1
    keys = rng.random(len(dst))
    order = np.lexsort((keys, group))
    starts = np.flatnonzero(groups)
    rank = np.empty(len(dst), np.int64)
    rank[order] = np.arange(len(dst)) - starts[group[order]]
    keep = np.flatnonzero(rank < fanout)
    return [src[n] for n in keep], [dst[n] for n in keep]
