"""Fused recommendation: Cypher proposes candidates and explanation paths, the trained model scores them.

For one user:

1. the user's history (named query ``rec_user_history``) gives the seen items and the anchors:
   the most recent items the user liked (rating >= ``like_rating`` where ratings exist);
2. candidate sources, each bounded by a LIMIT:
   ``co_interaction``  (u)-[:INTERACTED]->(p)<-[:INTERACTED]-(v)-[:INTERACTED]->(c), in two stages
                       (the users v sharing most anchors, then their items);
   ``shared_attribute`` (p)-[:IN_CATEGORY|HAS_BRAND|SOLD_BY|HAS_TAG]->(a)<-[...]-(c);
   ``knowledge_graph`` (p)-[:LINKED_TO]->(e)-[:RELATED_TO]-(y)-[:RELATED_TO]-(f)<-[:LINKED_TO]-(c),
                       hub entities left out;
   ``embedding``       nearest products to the anchors by stored text/image embeddings (numpy);
   ``popular``         the most-interacted products (the whole answer for a user with no history,
                       together with the embedding neighbours of those popular items);
3. candidates are de-duplicated and seen items removed; each source's evidence is scaled to
   [0, 1] within the request and weighted; the trained model's scores (min-max scaled over the
   candidates it knows) are one more weighted part. The final score is the sum of the parts, and
   every part is reported;
4. the top-k get explanations: the shortest meaningful user-product paths behind their sources,
   as text.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections import OrderedDict, defaultdict
from typing import Any

import numpy as np

from kgrec.errors import NotFound
from kgrec.kg.backend import Backend
from kgrec.kg.reader import GraphReader
from kgrec.serve.embeddings import EmbeddingIndex
from kgrec.serve.explain import Explainer

SOURCES = ("model", "co_interaction", "shared_attribute", "knowledge_graph", "embedding", "popular")
MAX_ID_LENGTH = 256


@dataclasses.dataclass(frozen=True)
class FusionWeights:
    """How much each part adds to the final score (each part is first scaled to [0, 1])."""

    model: float = 1.0
    co_interaction: float = 0.5
    shared_attribute: float = 0.15
    knowledge_graph: float = 0.3
    embedding: float = 0.4
    popular: float = 0.1


@dataclasses.dataclass(frozen=True)
class Limits:
    """Bounds that keep every candidate query small on large graphs."""

    anchors: int = 10  # recent liked items the sources start from
    neighbours: int = 20  # co-interaction users kept in stage 1
    per_source: int = 200  # candidates kept per source
    history: int = 100_000  # interactions read per user (seen items)
    popular: int = 200  # popular items cached per graph version
    hub_degree: int = 200  # entities with more RELATED_TO edges are hubs, skipped
    entity_rows: int = 1_000  # rows of the knowledge-graph stages
    shared_entities: int = 30  # entities y expanded in stage 2
    like_rating: float = 4.0  # ratings below this do not make an item an anchor


@dataclasses.dataclass
class RecommendedItem:
    id: str
    title: str | None
    score: float
    sources: list[dict[str, Any]]
    why: list[str]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Recommendation:
    user: str
    items: list[RecommendedItem]
    cold_start: bool
    model: str | None
    timings_ms: dict[str, float]

    def to_dict(self, timings: bool = False) -> dict[str, Any]:
        out = {"user": self.user, "cold_start": self.cold_start, "model": self.model, "items": [i.to_dict() for i in self.items]}
        if timings:
            out["timings_ms"] = self.timings_ms
        return out


def check_id(value: Any, what: str) -> str:
    """Ids are non-empty strings of at most MAX_ID_LENGTH printable characters (ValueError otherwise)."""
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH or not value.isprintable():
        raise ValueError(f"{what} id must be 1-{MAX_ID_LENGTH} printable characters")
    return value


class _Cache:
    """Per-graph-version data: popular items, the embedding index, hub entities."""

    def __init__(self, generation: int):
        self.generation = generation
        self.popular: list[tuple[str, int]] | None = None
        self.embeddings: EmbeddingIndex | None = None
        self.hubs: list[str] | None = None


class FusedRecommender:
    """Recommend, explain and look up similar products on a graph reader, with an optional trained model.

    ``checkpoint`` is a ``kgrec.models.checkpoint.Checkpoint`` (or None: sources only).
    """

    def __init__(
        self,
        reader: GraphReader,
        checkpoint=None,
        *,
        weights: FusionWeights | None = None,
        limits: Limits | None = None,
        cache_size: int = 0,
    ):
        """``cache_size`` > 0 keeps that many recent answers per graph version (an LRU): the answer
        for a user depends only on the graph and the model, and any commit starts a new version."""
        self.reader = reader
        self.cache_size = cache_size
        self._answers: OrderedDict = OrderedDict()
        self.checkpoint = checkpoint
        self.weights = weights or FusionWeights()
        self.limits = limits or Limits()
        self._cache = _Cache(-1)
        if checkpoint is not None:
            self._user_index = {u: i for i, u in enumerate(checkpoint.user_ids.tolist())}
            self._item_index = {p: i for i, p in enumerate(checkpoint.item_ids.tolist())}
        else:
            self._user_index, self._item_index = {}, {}

    @property
    def model_name(self) -> str | None:
        return self.checkpoint.model.name if self.checkpoint is not None else None

    # ----------------------------------------------------------------- per-version caches
    def _cached(self, backend: Backend, generation: int) -> _Cache:
        if self._cache.generation != generation:
            self._cache = _Cache(generation)
        return self._cache

    def popular(self, backend: Backend, generation: int) -> list[tuple[str, int]]:
        cache = self._cached(backend, generation)
        if cache.popular is None:
            t = backend.run("rec_popular", {"limit": self.limits.popular})
            cache.popular = list(zip(t.column("id").to_pylist(), t.column("n").to_pylist())) if t.num_rows else []
        return cache.popular

    def embeddings(self, backend: Backend, generation: int) -> EmbeddingIndex:
        cache = self._cached(backend, generation)
        if cache.embeddings is None:
            cache.embeddings = EmbeddingIndex.from_backend(backend)
        return cache.embeddings

    def hubs(self, backend: Backend, generation: int) -> list[str]:
        cache = self._cached(backend, generation)
        if cache.hubs is None:
            t = backend.run("rec_entity_hubs", {"max_degree": self.limits.hub_degree})
            cache.hubs = t.column("id").to_pylist() if t.num_rows else []
        return cache.hubs

    # ----------------------------------------------------------------- recommend
    def recommend(self, user: str, k: int = 10, *, explain: bool = True) -> Recommendation:
        check_id(user, "user")
        if k < 1:
            raise ValueError("k must be at least 1")
        return self.reader.read(lambda backend, gen: self._recommend_cached(backend, gen, user, k, explain))

    def _recommend_cached(self, backend: Backend, generation: int, user: str, k: int, explain: bool) -> Recommendation:
        if not self.cache_size:
            return self._recommend(backend, generation, user, k, explain)
        key = (generation, user, k, explain)
        hit = self._answers.get(key)
        if hit is not None:
            self._answers.move_to_end(key)
            return copy.deepcopy(hit)
        result = self._recommend(backend, generation, user, k, explain)
        self._answers[key] = copy.deepcopy(result)
        while len(self._answers) > self.cache_size or (self._answers and next(iter(self._answers))[0] != generation):
            self._answers.popitem(last=False)
        return result

    def _recommend(self, backend: Backend, generation: int, user: str, k: int, explain: bool) -> Recommendation:
        lim, timings = self.limits, {}
        clock = _Clock(timings)
        if backend.run("rec_user", {"user": user}).num_rows == 0:
            raise NotFound(f"unknown user {user!r}", "check the id; `kgctl cypher \"MATCH (u:User) RETURN u.id LIMIT 5\"` lists some")
        history = backend.run("rec_user_history", {"user": user, "limit": lim.history}).to_pylist()
        seen = {h["id"] for h in history}
        liked = [h for h in history if h["rating"] is None or _isnan(h["rating"]) or h["rating"] >= lim.like_rating]
        anchor_rows = (liked or history)[: lim.anchors]
        anchors = [h["id"] for h in anchor_rows]
        info = {h["id"]: h for h in history}
        clock.lap("history")

        found: dict[str, dict[str, float]] = defaultdict(dict)  # candidate -> source -> evidence
        trace: dict[str, Any] = {"anchors": anchors, "neighbour_anchors": {}, "entity_names": {}, "kg": {}, "embedding": {}, "index": None}
        popular = self.popular(backend, generation)
        clock.lap("popular")
        if anchors:
            self._co_interaction(backend, user, anchors, found, trace)
            clock.lap("co_interaction")
            self._shared_attributes(backend, anchors, found)
            clock.lap("shared_attribute")
            self._knowledge_graph(backend, generation, anchors, found, trace)
            clock.lap("knowledge_graph")
        index = self.embeddings(backend, generation)
        content_anchors = anchors or [p for p, _ in popular if index.has(p)][: lim.anchors]
        for pid, sim in index.nearest(content_anchors, lim.per_source, exclude=seen):
            found[pid]["embedding"] = sim
        trace["index"], trace["content_anchors"] = index, content_anchors
        clock.lap("embedding")
        for pid, n in popular[: lim.per_source]:
            found[pid]["popular"] = float(n)
        for pid in seen:
            found.pop(pid, None)

        top = self._fuse(user, found, k)
        clock.lap("fuse")
        items = [RecommendedItem(pid, None, score, parts, []) for pid, score, parts in top]
        if items:
            Explainer(backend, info, trace, self.hubs(backend, generation) if anchors else []).explain(items, found, explain)
        clock.lap("explain")
        return Recommendation(user, items, cold_start=not history, model=self.model_name, timings_ms=timings)

    # ----------------------------------------------------------------- sources
    def _co_interaction(self, backend: Backend, user: str, anchors: list[str], found, trace) -> None:
        lim = self.limits
        first = backend.run("rec_co_users", {"anchors": anchors, "user": user, "limit": lim.neighbours})
        if not first.num_rows:
            return
        users = first.column("id").to_pylist()
        trace["neighbour_anchors"] = dict(zip(users, first.column("anchors").to_pylist()))
        t = backend.run("rec_co_items", {"users": users, "limit": lim.per_source + len(anchors)})
        for pid, n in zip(t.column("id").to_pylist(), t.column("n").to_pylist()):
            found[pid]["co_interaction"] = float(n)

    def _shared_attributes(self, backend: Backend, anchors: list[str], found) -> None:
        t = backend.run("rec_shared_attributes", {"anchors": anchors, "limit": self.limits.per_source})
        for pid, n in zip(t.column("id").to_pylist(), t.column("n").to_pylist()):
            found[pid]["shared_attribute"] = float(n)

    def _knowledge_graph(self, backend: Backend, generation: int, anchors: list[str], found, trace) -> None:
        lim = self.limits
        hubs = self.hubs(backend, generation)
        first = backend.run("rec_entity_neighbours", {"anchors": anchors, "hubs": hubs, "limit": lim.entity_rows}).to_pylist()
        if not first:
            return
        via_of: dict[str, tuple[str, str]] = {}
        for row in first:
            via_of.setdefault(row["shared"], (row["via"], row["relation"]))
            trace["entity_names"][row["shared"]] = row["shared_name"]
        shared = list(via_of)[: lim.shared_entities]
        second = backend.run("rec_entity_items", {"shared": shared, "limit": lim.entity_rows}).to_pylist()
        entities: dict[str, set[str]] = defaultdict(set)
        anchor_set = set(anchors)
        for row in second:
            pid = row["id"]
            if pid in anchor_set:
                continue
            entities[pid].add(row["shared"])
            if pid not in trace["kg"]:
                via, rel1 = via_of[row["shared"]]
                trace["kg"][pid] = (via, rel1, row["shared"], row["relation"])
        ranked = sorted(entities.items(), key=lambda kv: (-len(kv[1]), kv[0]))[: lim.per_source]
        for pid, ents in ranked:
            found[pid]["knowledge_graph"] = float(len(ents))

    # ----------------------------------------------------------------- fusion
    def _model_scores(self, user: str, candidates: list[str]) -> dict[str, float]:
        if self.checkpoint is None or user not in self._user_index:
            return {}
        known = [c for c in candidates if c in self._item_index]
        if not known:
            return {}
        idx = np.asarray([self._item_index[c] for c in known], dtype=np.int64)
        scores = np.asarray(self.checkpoint.model.score(np.asarray([self._user_index[user]]), idx), dtype=np.float64)[0]
        return dict(zip(known, scores.tolist()))

    def _fuse(self, user: str, found: dict[str, dict[str, float]], k: int) -> list[tuple[str, float, list[dict]]]:
        """Weighted sum of the scaled parts, vectorised over candidates; parts listed for the top k only."""
        candidates = sorted(found)
        if not candidates:
            return []
        n = len(candidates)
        raw = {name: np.full(n, np.nan) for name in SOURCES}
        for i, pid in enumerate(candidates):
            for name, v in found[pid].items():
                raw[name][i] = v
        raw_model = self._model_scores(user, candidates)
        if raw_model:
            raw["model"] = np.asarray([raw_model.get(c, np.nan) for c in candidates], dtype=np.float64)
        total = np.zeros(n)
        scaled = {}
        for name in SOURCES:
            col = raw[name]
            present = ~np.isnan(col)
            if not present.any():
                continue
            if name == "model":
                lo, hi = np.nanmin(col), np.nanmax(col)
                if hi <= lo:  # the same score for every candidate (a user it knows nothing of): no say
                    continue
                sc = (col - lo) / (hi - lo)
            else:
                hi = np.nanmax(col)
                sc = col / hi if hi > 0 else np.where(present, 0.0, np.nan)
            contribution = np.where(present, getattr(self.weights, name) * sc, 0.0)
            scaled[name] = (contribution, present)
            total += contribution
        order = np.lexsort((np.arange(n), -total))[:k]
        out = []
        for i in order:
            parts = [
                {"source": name, "contribution": round(float(c[i]), 6), "evidence": _round(float(raw[name][i]))}
                for name, (c, present) in scaled.items()
                if present[i]
            ]
            parts.sort(key=lambda p: -p["contribution"])
            out.append((candidates[i], round(float(total[i]), 6), parts))
        return out

    # ----------------------------------------------------------------- paths
    def paths(self, user: str, product: str, max_hops: int = 4, limit: int = 20) -> dict[str, Any]:
        """User-product paths (see ``kgrec.serve.paths``) on one consistent graph state."""
        from kgrec.serve.paths import MAX_HOPS, find_paths

        check_id(user, "user")
        check_id(product, "product")
        if not 1 <= max_hops <= MAX_HOPS:
            raise ValueError(f"max_hops must be between 1 and {MAX_HOPS}")
        return self.reader.read(lambda b, g: find_paths(b, user, product, max_hops=max_hops, limit=limit, hubs=self.hubs(b, g)))

    # ----------------------------------------------------------------- similar products
    def similar(self, product: str, k: int = 10, modality: str | None = None) -> list[dict[str, Any]]:
        check_id(product, "product")

        def work(backend: Backend, generation: int):
            if backend.run("rec_product", {"ids": [product]}).num_rows == 0:
                raise NotFound(f"unknown product {product!r}")
            hits = self.embeddings(backend, generation).similar(product, k, modality)
            titles = _titles(backend, [p for p, _ in hits])
            return [{"id": p, "title": titles.get(p), "similarity": round(s, 6)} for p, s in hits]

        return self.reader.read(work)


def open_recommender(settings, model_path=None, *, force: bool = False, cache_size: int = 0) -> FusedRecommender:
    """A FusedRecommender on a read-only ``GraphReader`` of ``settings`` (a Settings or a --db
    string), with the checkpoint at ``model_path`` loaded and checked against the graph snapshot."""
    from kgrec.models.checkpoint import load_checkpoint

    reader = GraphReader(settings)
    checkpoint = None
    if model_path is not None:
        snapshot = reader.read(lambda b, g: b.snapshot_id())
        checkpoint = load_checkpoint(model_path, snapshot, force=force)
    return FusedRecommender(reader, checkpoint, cache_size=cache_size)


def _titles(backend: Backend, ids: list[str]) -> dict[str, str | None]:
    if not ids:
        return {}
    t = backend.run("rec_product", {"ids": list(ids)})
    return dict(zip(t.column("id").to_pylist(), t.column("title").to_pylist()))


def _isnan(x: Any) -> bool:
    return isinstance(x, float) and math.isnan(x)


def _round(x: Any) -> Any:
    return round(x, 6) if isinstance(x, float) else x


class _Clock:
    def __init__(self, out: dict[str, float]):
        self.out = out
        self.t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.out[name] = round((now - self.t) * 1000, 3)
        self.t = now

