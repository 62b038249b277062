"""Fused recommendation: graph candidate sources propose, the trained model scores, paths explain.

The candidate sources are graph patterns. They are evaluated on a ``GraphIndex``: the
interactions, attribute links, knowledge-graph links and embeddings read once per graph version
through the named export queries and held as compressed rows in numpy (see
``kgrec.serve.graph_index``); any commit to the graph gives a new version and a rebuilt index. A
request then needs no database round trip. For one user:

1. the user's history gives the seen items and the anchors: the most recent items the user liked
   (rating >= ``like_rating`` where ratings exist);
2. candidate sources, each keeping its best ``per_source`` unseen products:
   ``co_interaction``  (u)-[:INTERACTED]->(p)<-[:INTERACTED]-(v)-[:INTERACTED]->(c), in two stages
                       (the ``neighbours`` users v sharing most anchors, then how many of them chose c);
   ``shared_attribute`` (p)-[:IN_CATEGORY|HAS_BRAND|SOLD_BY|HAS_TAG]->(a)<-[...]-(c), counting the
                       (anchor, attribute) pairs; attributes with more than ``attribute_hub``
                       products are left out;
   ``knowledge_graph`` (p)-[:LINKED_TO]->(e)-[:RELATED_TO]-(y)-[:RELATED_TO]-(f)<-[:LINKED_TO]-(c),
                       hub entities y left out, the ``shared_entities`` entities y reached from most
                       anchors kept; counts the distinct y per c;
   ``embedding``       nearest products to the anchors by stored text/image embeddings;
   ``popular``         the most-interacted products (the whole answer for a user with no history,
                       together with the embedding neighbours of those popular items);
3. candidates are de-duplicated (seen items never enter); each source's evidence is scaled to
   [0, 1] within the request and weighted; the trained model's scores (min-max scaled over the
   candidates it knows) are one more weighted part. The final score is the sum of the parts, and
   every part is reported;
4. the top-k get explanations: the path behind each of their sources, as text, with titles,
   attribute and entity names and relation names from the same index.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import threading
import time
from collections import OrderedDict
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kgrec.errors import NotFound
from kgrec.kg.backend import Backend
from kgrec.kg.reader import GraphReader
from kgrec.serve.embeddings import top_positions
from kgrec.serve.explain import Explainer, Trace
from kgrec.serve.graph_index import GraphIndex, gather

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
    """Bounds that keep every candidate source small on large graphs."""

    anchors: int = 10  # recent liked items the sources start from
    neighbours: int = 20  # co-interaction users kept in stage 1
    per_source: int = 200  # candidates kept per source
    popular: int = 200  # popular items offered per request
    hub_degree: int = 200  # entities with more RELATED_TO edges are hubs, skipped
    attribute_hub: int = 50_000  # attributes (a category, a brand) with more products are skipped as a source
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
        return {"id": self.id, "title": self.title, "score": self.score, "sources": self.sources, "why": self.why}


@dataclasses.dataclass
class Recommendation:
    user: str
    items: list[RecommendedItem]
    cold_start: bool
    model: str | None
    timings_ms: dict[str, float]

    def to_dict(self, timings: bool = False) -> dict[str, Any]:
        out = {
            "user": self.user, "cold_start": self.cold_start, "model": self.model,
            "items": [i.to_dict() for i in self.items],
        }
        if timings:
            out["timings_ms"] = self.timings_ms
        return out


def check_id(value: Any, what: str) -> str:
    """Ids are non-empty strings of at most MAX_ID_LENGTH printable characters (ValueError otherwise)."""
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH or not value.isprintable():
        raise ValueError(f"{what} id must be 1-{MAX_ID_LENGTH} printable characters")
    return value


class FusedRecommender:
    """Recommend, explain and look up similar products on a graph reader, with an optional trained model.

    ``checkpoint`` is a ``kgrec.models.training.checkpoint.Checkpoint`` (or None: sources only).
    """

    def __init__(
        self,
        reader: GraphReader,
        checkpoint=None,
        *,
        weights: FusionWeights | None = None,
        limits: Limits | None = None,
        cache_size: int = 0,
        recheck_s: float = 5.0,
        blas_threads: int | None = 1,
    ):
        """``cache_size`` > 0 keeps that many recent answers per graph version (an LRU): the answer
        for a user depends only on the graph and the model, and any commit starts a new version.
        ``recheck_s``: for stores without a change token (Neo4j isolates readers itself), how often
        the graph's snapshot id is compared to decide whether the index is stale.
        ``blas_threads``: BLAS threads of this process, set once here (None leaves them alone). A
        request's matrix products are small; with several BLAS threads each one waits for its
        siblings, and on a busy machine a descheduled sibling costs a scheduler slice (measured:
        the embedding product took 16 ms instead of 0.1 ms under load)."""
        if blas_threads is not None:
            limit_blas_threads(blas_threads)
        self.reader = reader
        self.cache_size = cache_size
        self.recheck_s = recheck_s
        self._answers: OrderedDict = OrderedDict()
        self._answers_lock = threading.Lock()
        self.checkpoint = checkpoint
        self.weights = weights or FusionWeights()
        self.limits = limits or Limits()
        self._index: GraphIndex | None = None
        self._checked_at = 0.0
        self._model_items: tuple[GraphIndex, np.ndarray] | None = None
        self._hubs: tuple[int, list[str]] | None = None
        self._user_index = {u: i for i, u in enumerate(checkpoint.user_ids.tolist())} if checkpoint is not None else {}

    @property
    def model_name(self) -> str | None:
        return self.checkpoint.model.name if self.checkpoint is not None else None

    # ----------------------------------------------------------------- the per-version index
    def graph_index(self) -> GraphIndex:
        """The index of the graph's current version (built on first use and after every commit)."""
        return self.reader.read(self._current_index)

    @property
    def index_summary(self) -> dict | None:
        """What the last built index holds and how long it took (None before the first request)."""
        index = self._index
        return index.summary() if index is not None else None

    def _current_index(self, backend: Backend, generation: int) -> GraphIndex:
        index = self._index
        if backend.change_token() is None:
            # the store isolates readers itself and has no file to watch: compare its snapshot id
            # (counts plus the revision every ingest bumps), at most every recheck_s
            now = time.monotonic()
            if index is not None and now - self._checked_at < self.recheck_s:
                return index
            self._checked_at = now
            if index is not None and backend.snapshot_id() == index.snapshot:
                return index
        elif index is not None and index.generation == generation:
            return index
        self._index = GraphIndex.build(backend, generation=generation, hub_degree=self.limits.hub_degree)
        with self._answers_lock:
            self._answers.clear()
        return self._index

    def _model_item_positions(self, index: GraphIndex) -> np.ndarray:
        """Product position -> the checkpoint's item index (-1 for products it does not know)."""
        cached = self._model_items
        if cached is not None and cached[0] is index:
            return cached[1]
        ids = pa.array(index.product_ids.tolist(), pa.string())
        known = pa.array([str(i) for i in self.checkpoint.item_ids.tolist()], pa.string())
        where = pc.index_in(ids, value_set=known).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        self._model_items = (index, where)
        return where

    def hubs(self, backend: Backend, generation: int) -> list[str]:
        """Hub entity ids (degree over ``hub_degree``) for the path search; from the index when one
        is current, else one named query, cached per graph version."""
        index = self._index
        if index is not None and index.generation == generation:
            return index.hub_ids
        if self._hubs is None or self._hubs[0] != generation:
            t = backend.run("rec_entity_hubs", {"max_degree": self.limits.hub_degree})
            self._hubs = (generation, t.column("id").to_pylist() if t.num_rows else [])
        return self._hubs[1]

    # ----------------------------------------------------------------- recommend
    def recommend(self, user: str, k: int = 10, *, explain: bool = True) -> Recommendation:
        check_id(user, "user")
        if k < 1:
            raise ValueError("k must be at least 1")
        index = self.graph_index()
        if not self.cache_size:
            return self._recommend(index, user, k, explain)
        key = (index.generation, index.snapshot, user, k, explain)
        with self._answers_lock:
            hit = self._answers.get(key)
            if hit is not None:
                self._answers.move_to_end(key)
                return copy.deepcopy(hit)
        result = self._recommend(index, user, k, explain)
        with self._answers_lock:
            self._answers[key] = copy.deepcopy(result)
            while len(self._answers) > self.cache_size:
                self._answers.popitem(last=False)
        return result

    def candidates(self, user: str) -> dict[str, dict[str, float]]:
        """Each source's candidates for ``user`` with their raw evidence, before fusion:
        ``{source: {product_id: evidence}}`` (seen items already left out)."""
        check_id(user, "user")
        gi = self.graph_index()
        found, _ = self._candidates(gi, user, _Clock({}))
        return {name: dict(zip(gi.product_ids[pos].tolist(), ev.tolist())) for name, (pos, ev) in found.items()}

    def _recommend(self, gi: GraphIndex, user: str, k: int, explain: bool) -> Recommendation:
        timings: dict[str, float] = {}
        clock = _Clock(timings)
        found, trace = self._candidates(gi, user, clock)
        top = self._fuse(gi, user, found, k)
        clock.lap("fuse")
        out = [RecommendedItem(gi.product_ids[p], gi.titles[p], score, parts, []) for p, score, parts in top]
        if out and explain:
            Explainer(gi, trace).explain(out, [p for p, _, _ in top])
        clock.lap("explain")
        return Recommendation(user, out, cold_start=trace.cold, model=self.model_name, timings_ms=timings)

    def _candidates(
        self, gi: GraphIndex, user: str, clock: _Clock
    ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], Trace]:
        """source -> (product positions, evidence), and what the sources found on the way."""
        lim = self.limits
        u = gi.user_pos.get(user)
        if u is None:
            raise NotFound(
                f"unknown user {user!r}", 'check the id; `kgctl cypher "MATCH (u:User) RETURN u.id LIMIT 5"` lists some'
            )
        items, ratings = gi.history(u)
        seen = np.zeros(gi.n_products, dtype=bool)
        seen[items] = True
        liked = np.isnan(ratings) | (ratings >= lim.like_rating)
        anchors, anchor_ratings = (
            _first_unique(items[liked], ratings[liked], lim.anchors)
            if liked.any()
            else _first_unique(items, ratings, lim.anchors)
        )
        trace = Trace(anchors=anchors, anchor_ratings=anchor_ratings, cold=not len(items))
        clock.lap("history")

        found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if len(anchors):
            found["co_interaction"] = self._co_interaction(gi, u, anchors, seen, trace)
            clock.lap("co_interaction")
            found["shared_attribute"] = self._shared_attributes(gi, anchors, seen)
            clock.lap("shared_attribute")
            found["knowledge_graph"] = self._knowledge_graph(gi, anchors, seen, trace)
            clock.lap("knowledge_graph")
        if len(anchors):
            content = anchors
        else:
            with_vector = gi.popular_order[gi.embeddings.has_vector[gi.popular_order]]
            content = with_vector[: lim.anchors]
        trace.content_anchors = content
        found["embedding"] = gi.embeddings.nearest(content, lim.per_source, exclude=seen)
        clock.lap("embedding")
        popular = gi.popular_order[: lim.popular + len(items)]
        popular = popular[~seen[popular]][: lim.popular]
        found["popular"] = (popular, gi.popularity[popular].astype(np.float64))
        clock.lap("popular")
        return found, trace

    # ----------------------------------------------------------------- sources
    def _co_interaction(self, gi: GraphIndex, u: int, anchors: np.ndarray, seen: np.ndarray, trace: Trace):
        idx, _ = gather(gi.item_ptr, anchors)
        users = gi.item_user[idx]
        shared = np.bincount(users, minlength=gi.n_users)
        shared[u] = 0
        neighbours = top_positions(shared, self.limits.neighbours)  # most shared anchors, ties by id
        if not len(neighbours):
            return _empty()
        idx2, _ = gather(gi.hist_ptr, neighbours)
        chosen = gi.hist_item[idx2]
        n = np.bincount(chosen, minlength=gi.n_products).astype(np.float64)
        n[seen] = 0
        top = top_positions(n, self.limits.per_source)
        trace.neighbours = neighbours
        return top, n[top]

    def _shared_attributes(self, gi: GraphIndex, anchors: np.ndarray, seen: np.ndarray):
        idx, _ = gather(gi.attr_ptr, anchors)
        attrs = gi.attr_of[idx]
        attrs = attrs[gi.attr_degree[attrs] <= self.limits.attribute_hub]
        if not len(attrs):
            return _empty()
        midx, _ = gather(gi.members_ptr, attrs)
        n = np.bincount(gi.members[midx], minlength=gi.n_products).astype(np.float64)  # (anchor, attribute) pairs
        n[seen] = 0
        top = top_positions(n, self.limits.per_source)
        return top, n[top]

    def _knowledge_graph(self, gi: GraphIndex, anchors: np.ndarray, seen: np.ndarray, trace: Trace):
        lim = self.limits
        lidx, lowner = gather(gi.link_ptr, anchors)
        if not len(lidx):
            return _empty()
        ridx, rowner = gather(gi.rel_ptr, gi.link_entity[lidx])
        y, rel1, via = gi.rel_nbr[ridx], gi.rel_type[ridx], lowner[rowner]  # via: the anchor's rank
        keep = ~gi.hub[y]
        y, rel1, via = y[keep], rel1[keep], via[keep]
        if not len(y):
            return _empty()
        # per entity y: how many distinct anchors reach it, and the most recent one (with its relation)
        order = np.lexsort((rel1, via, y))
        y, rel1, via = y[order], rel1[order], via[order]
        new_y = np.r_[True, y[1:] != y[:-1]]
        new_pair = new_y | np.r_[True, via[1:] != via[:-1]]
        starts = np.flatnonzero(new_y)
        ys, ys_via, ys_rel = y[starts], via[starts], rel1[starts]
        reach = np.add.reduceat(new_pair.astype(np.int64), starts)
        pick = np.lexsort((ys, gi.entity_degree[ys], -reach))[: lim.shared_entities]  # most anchors, then most specific
        shared, shared_via, shared_rel = ys[pick], ys_via[pick], ys_rel[pick]
        # stage 2: products c linked to an entity f related to a shared y
        sidx, sowner = gather(gi.rel_ptr, shared)
        f, rel2 = gi.rel_nbr[sidx], gi.rel_type[sidx]
        pidx, powner = gather(gi.linked_ptr, f)
        c, rank, crel = gi.linked_product[pidx], sowner[powner], rel2[powner]
        keep = ~seen[c]
        c, rank, crel = c[keep], rank[keep], crel[keep]
        if not len(c):
            return _empty()
        order = np.lexsort((crel, rank, c))
        c, rank, crel = c[order], rank[order], crel[order]
        new_c = np.r_[True, c[1:] != c[:-1]]
        new_pair = new_c | np.r_[True, rank[1:] != rank[:-1]]
        starts = np.flatnonzero(new_c)
        n = np.zeros(gi.n_products, dtype=np.float64)
        n[c[starts]] = np.add.reduceat(new_pair.astype(np.int64), starts)  # distinct shared entities
        top = top_positions(n, lim.per_source)
        best = dict(zip(c[starts].tolist(), zip(rank[starts].tolist(), crel[starts].tolist())))
        for p in top.tolist():
            r, rel_b = best[p]
            trace.kg[p] = (int(anchors[shared_via[r]]), int(shared_rel[r]), int(shared[r]), rel_b)
        return top, n[top]

    # ----------------------------------------------------------------- fusion
    def _fuse(self, gi: GraphIndex, user: str, found: dict, k: int) -> list[tuple[int, float, list[dict]]]:
        """Weighted sum of the scaled parts, vectorised over candidates; parts listed for the top k only."""
        present_sources = [(name, pos, ev) for name, (pos, ev) in found.items() if len(pos)]
        if not present_sources:
            return []
        candidates = np.unique(np.concatenate([pos for _, pos, _ in present_sources]))  # sorted: by id
        n = len(candidates)
        raw: dict[str, np.ndarray] = {}
        for name, pos, ev in present_sources:
            col = np.full(n, np.nan)
            col[np.searchsorted(candidates, pos)] = ev
            raw[name] = col
        model = self._model_scores(gi, user, candidates)
        if model is not None:
            raw["model"] = model
        total = np.zeros(n)
        scaled = {}
        for name in SOURCES:
            if name not in raw:
                continue
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
        for i in order.tolist():
            parts = [
                {"source": name, "contribution": round(float(c[i]), 6), "evidence": _round(float(raw[name][i]))}
                for name, (c, present) in scaled.items()
                if present[i]
            ]
            parts.sort(key=lambda p: -p["contribution"])
            out.append((int(candidates[i]), round(float(total[i]), 6), parts))
        return out

    def _model_scores(self, gi: GraphIndex, user: str, candidates: np.ndarray) -> np.ndarray | None:
        """The trained model's raw scores of the candidates it knows (NaN elsewhere); None without one."""
        if self.checkpoint is None or user not in self._user_index:
            return None
        items = self._model_item_positions(gi)[candidates]
        known = items >= 0
        if not known.any():
            return None
        out = np.full(len(candidates), np.nan)
        scores = self.checkpoint.model.score(np.asarray([self._user_index[user]]), items[known])
        out[known] = np.asarray(scores, dtype=np.float64)[0]
        return out

    # ----------------------------------------------------------------- paths
    def paths(self, user: str, product: str, max_hops: int = 4, limit: int = 20) -> dict[str, Any]:
        """User-product paths (see ``kgrec.serve.paths``) on one consistent graph state."""
        from kgrec.serve.paths import MAX_HOPS, find_paths

        check_id(user, "user")
        check_id(product, "product")
        if not 1 <= max_hops <= MAX_HOPS:
            raise ValueError(f"max_hops must be between 1 and {MAX_HOPS}")
        return self.reader.read(
            lambda b, g: find_paths(b, user, product, max_hops=max_hops, limit=limit, hubs=self.hubs(b, g))
        )

    # ----------------------------------------------------------------- similar products
    def similar(self, product: str, k: int = 10, modality: str | None = None) -> list[dict[str, Any]]:
        check_id(product, "product")
        gi = self.graph_index()
        if product not in gi.product_pos:
            raise NotFound(f"unknown product {product!r}")
        hits = gi.embeddings.similar(product, k, modality)
        return [{"id": p, "title": gi.titles[gi.product_pos[p]], "similarity": round(s, 6)} for p, s in hits]


def open_recommender(settings, model_path=None, *, force: bool = False, cache_size: int = 0) -> FusedRecommender:
    """A FusedRecommender on a read-only ``GraphReader`` of ``settings`` (a Settings or a --db
    string), with the checkpoint at ``model_path`` loaded and checked against the graph snapshot."""
    from kgrec.models.training.checkpoint import load_checkpoint

    reader = GraphReader(settings)
    checkpoint = None
    if model_path is not None:
        snapshot = reader.read(lambda b, g: b.snapshot_id())
        checkpoint = load_checkpoint(model_path, snapshot, force=force)
    return FusedRecommender(reader, checkpoint, cache_size=cache_size)


def limit_blas_threads(n: int) -> None:
    """Set the BLAS libraries loaded in this process (numpy's, torch's) to ``n`` threads."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return
    threadpool_limits(limits=n, user_api="blas")


def _first_unique(items: np.ndarray, ratings: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` distinct items in order (a user may have interacted with an item twice)."""
    head = items[: 4 * n]
    _, first = np.unique(head, return_index=True)
    if len(first) < n and len(head) < len(items):
        _, first = np.unique(items, return_index=True)
    keep = np.sort(first)[:n]
    return items[keep].astype(np.int64), ratings[keep]


def _empty() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)


def _round(x: Any) -> Any:
    if isinstance(x, float):
        return x if math.isnan(x) else round(x, 6)
    return x


class _Clock:
    def __init__(self, out: dict[str, float]):
        self.out = out
        self.t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.out[name] = round((now - self.t) * 1000, 3)
        self.t = now
