"""KGBM4Rec's GNN on subgraphs sampled from the graph store (``gnn_sampler=cypher``).

``SampledGraphSource`` samples, for a set of seed users and items, the ``len(fanout)``-hop
subgraph around them through the Backend protocol (``kgrec.kg.subgraph.CypherSubgraphSampler``:
named Cypher, one query per relationship type, direction and hop; the embedded database and
Neo4j alike). The training split's interactions are held in memory and never read from the
database, which also holds the validation and test interactions.

``Prefetcher`` samples the next batch's subgraph on a background thread while the current batch
computes; ``PendingSubgraph`` is the placeholder a batch carries until then (the trainer calls
``.to(device)`` on every batch element, which waits for the subgraph).
"""

from __future__ import annotations

import dataclasses
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa

from kgrec.errors import KgrecError
from kgrec.kg.backend import Backend
from kgrec.kg.subgraph import REVERSE_PREFIX, CypherSubgraphSampler, NodeIndex
from kgrec.models.data.interactions import KG_RELATIONS, InteractionData
from kgrec.models.kgbm4rec.graph import (
    ENTITY_INDEX_LIMIT,
    INTERACTED,
    NodeRows,
    SubgraphBatch,
    subgraph_batch,
)


@dataclasses.dataclass
class SamplingStats:
    """Where a sampled epoch's time went: ``database_seconds`` inside database queries (on the
    sampling thread), ``sample_seconds`` building subgraphs in all, ``wait_seconds`` the training
    loop spent blocked waiting for a subgraph (what prefetching did not hide)."""

    batches: int = 0
    database_seconds: float = 0.0
    sample_seconds: float = 0.0
    wait_seconds: float = 0.0
    nodes: int = 0

    def as_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


class SampledGraphSource:
    """Subgraphs around seed users and items, in the model's node rows and relation numbering."""

    def __init__(self, backend: Backend, train: InteractionData, *, fanout: list[int], min_degree: int,
                 entity_buckets: int | None, seed: int):
        self.sampler = CypherSubgraphSampler(backend, fanout, exclude=(INTERACTED,), rel_types=KG_RELATIONS,
                                             min_degree=min_degree, seed=seed)
        item_ids, user_ids = train.item_ids.astype(str), train.user_ids.astype(str)
        pairs = np.unique(np.stack([train.user, train.item], 1), axis=0) if len(train) else np.zeros((0, 2), np.int64)
        self.sampler.put_edges(
            ("User", INTERACTED, "Product"), user_ids[pairs[:, 0]].tolist(), item_ids[pairs[:, 1]].tolist()
        )
        self.relation_names = self.sampler.relation_names()
        k = len(self.relation_names)
        self.relation_index = {name: r for r, name in enumerate(self.relation_names)}
        self.relation_index.update({REVERSE_PREFIX + name: r + k for r, name in enumerate(self.relation_names)})
        self.n_relations = 2 * k
        labels = sorted({t for (s, _, d) in self.sampler.edge_types for t in (s, d)} - {"Product", "User"})
        counts = backend.counts()["nodes"]
        n_entities = sum(int(counts.get(label, 0)) for label in labels)
        if entity_buckets is None:  # auto
            entity_buckets = ENTITY_INDEX_LIMIT if n_entities > ENTITY_INDEX_LIMIT else 0
        if entity_buckets < 0:
            raise KgrecError(f"entity_buckets must be >= 0 (0: one row per node), got {entity_buckets}")
        self.entity_buckets = int(entity_buckets)
        entity_ids = {} if entity_buckets else NodeIndex(backend, labels).ids
        self.rows = NodeRows(pa.array(item_ids.tolist(), pa.string()), pa.array(user_ids.tolist(), pa.string()),
                             self.entity_buckets, entity_ids)
        self.n_items, self.n_users = len(item_ids), len(user_ids)
        self.item_ids, self.user_ids = item_ids, user_ids
        self.has_kg = bool(self.sampler.sources)  # relationships other than the interactions

    def sample(self, users: np.ndarray, items: np.ndarray, rng: np.random.Generator | None = None) -> SubgraphBatch:
        """The subgraph around users and items (model indices)."""
        seeds = {"User": self.user_ids[np.unique(users)].tolist(), "Product": self.item_ids[np.unique(items)].tolist()}
        sampled = self.sampler.sample({k: v for k, v in seeds.items() if v}, rng)
        return subgraph_batch(sampled, self.rows, self.relation_index, self.n_relations)


class Prefetcher:
    """Samples the subgraphs of one epoch's batches on one background thread, each as soon as the
    batch before it on this rank is taken (``step``: the DDP world size, so rank r, which trains
    on batches r, r + step, ..., prefetches its own next batch)."""

    def __init__(self, source: SampledGraphSource, enabled: bool = True):
        self.source = source
        self.enabled = enabled
        self.stats = SamplingStats()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="kgbm4rec-sampler") if enabled else None
        self._seeds: list[tuple[np.ndarray, np.ndarray]] = []
        self._futures: dict[int, Future] = {}
        self._step = 1

    def epoch(self, seeds: list[tuple[np.ndarray, np.ndarray]], first: int, step: int) -> list[PendingSubgraph]:
        """Placeholders for this epoch's batches (``seeds[k] = (users, items)``); the first batch
        this rank trains on (``first``) starts sampling now."""
        self.drain()
        self._seeds, self._step = seeds, max(1, step)
        if seeds:
            self._submit(first % len(seeds))
        return [PendingSubgraph(self, k) for k in range(len(seeds))]

    def _submit(self, k: int) -> None:
        if self._executor is not None and k not in self._futures and 0 <= k < len(self._seeds):
            self._futures[k] = self._executor.submit(self._sample, k)

    def _sample(self, k: int) -> SubgraphBatch:
        started = time.perf_counter()
        users, items = self._seeds[k]
        batch = self.source.sample(users, items)
        self.stats.sample_seconds += time.perf_counter() - started
        self.stats.database_seconds += batch.database_seconds
        self.stats.nodes += batch.n_nodes
        self.stats.batches += 1
        return batch

    def take(self, k: int) -> SubgraphBatch:
        started = time.perf_counter()
        future = self._futures.pop(k, None)
        batch = future.result() if future is not None else self._sample(k)
        self.stats.wait_seconds += time.perf_counter() - started
        self._submit(k + self._step)
        return batch

    def drain(self) -> None:
        """Wait for (and drop) prefetches nobody took."""
        for future in self._futures.values():
            future.result()
        self._futures.clear()

    def close(self) -> None:
        self.drain()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None


@dataclasses.dataclass
class PendingSubgraph:
    """A batch's subgraph while it is being sampled; ``to(device)`` waits for it."""

    prefetcher: Prefetcher
    index: int

    def to(self, device: Any) -> SubgraphBatch:
        return self.prefetcher.take(self.index).to(device)
