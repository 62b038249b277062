"""Fused recommendation: graph candidate sources propose, the trained model scores, paths explain.

The candidate sources are graph patterns, one class per file in ``kgrec.serve.sources`` behind
``CandidateSource``. They are evaluated on a ``GraphIndex``: the interactions, attribute links,
knowledge-graph links and embeddings read once per graph version through the named export queries
and held as compressed rows in numpy (see ``kgrec.serve.graph_index``; kept beside an embedded
database per graph state by ``kgrec.serve.index_store``). A request then needs no database round
trip. For one user:

1. ``UserContext``: the user's history gives the seen items and the anchors, the most recent items
   the user liked (rating >= ``like_rating`` where ratings exist);
2. each active source (weight > 0) proposes at most its ``budget()`` unseen products with evidence
   and a trace of the paths that led there: ``co_interaction``, ``shared_attribute``,
   ``knowledge_graph``, ``embedding``, ``popular`` (the pattern of each is in its module);
3. candidates are de-duplicated; each source's evidence is scaled to [0, 1] within the request and
   weighted (``FusionWeights``); the trained model's scores (``ModelScores``: from the user's
   current history for models with ``uses_history``) are one more weighted part. The final score
   is the sum of the parts, and every part is reported;
4. the top-k get explanations: each source writes the sentence for its part of an item.

After a commit the index is rebuilt: in the request (the default), or, for the server
(``background_rebuild``), in a background thread beside the index in use, swapped in when complete.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from kgrec.config import NEO4J_SCHEMES
from kgrec.errors import DatabaseLocked, DatabaseUnavailable, KgrecError, NotFound
from kgrec.ids import check_id
from kgrec.kg.backend import Backend
from kgrec.kg.reader import GraphReader
from kgrec.serve.explain import explain as explain_items
from kgrec.serve.graph_index import GraphIndex
from kgrec.serve.index_store import index_dir as index_dir_of
from kgrec.serve.index_store import load_or_build
from kgrec.serve.sources import (
    CANDIDATE_SOURCES,
    SOURCE_NAMES,
    Candidates,
    CandidateSource,
    IndexPart,
    Limits,
    ModelScores,
    Source,
    UserContext,
)
from kgrec.serve.weights import FusionWeights

SOURCES = SOURCE_NAMES
log = logging.getLogger("kgrec.serve.recommend")

__all__ = ["FusedRecommender", "FusionWeights", "Limits", "Recommendation", "RecommendedItem", "open_recommender"]


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



class FusedRecommender:
    """Recommend, explain and look up similar products on a graph reader, with an optional trained model.

    ``checkpoint`` is a ``kgrec.models.training.checkpoint.Checkpoint`` (or None: sources only).
    The candidate sources are the objects of ``kgrec.serve.sources``; this class runs them, fuses
    their parts with ``weights`` and has each source explain its part of the top k.
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
        background_rebuild: bool = False,
        index_dir: Path | None = None,
    ):
        """``cache_size`` > 0 keeps that many recent answers per graph version (an LRU): the answer
        for a user depends only on the graph and the model, and any commit starts a new version.
        ``recheck_s``: for stores without a change token (Neo4j isolates readers itself), how often
        the graph's snapshot id is compared to decide whether the index is stale.
        ``blas_threads``: BLAS threads of this process, set once here (None leaves them alone). A
        request's matrix products are small; with several BLAS threads each one waits for its
        siblings, and on a busy machine a descheduled sibling costs a scheduler slice (measured:
        the embedding product took 16 ms instead of 0.1 ms under load).
        ``background_rebuild`` (the server): after a commit the new index is built in a background
        thread beside the old one and swapped in when complete; requests meanwhile answer from the
        previous graph version and never wait for a rebuild (only a user the old index does not
        know waits for it). Without it (the library and the one-shot command) a request after a
        commit waits for the rebuild and always sees the latest commit.
        ``index_dir``: keep the index per graph snapshot there and map it from there when the
        graph is unchanged (``kgrec.serve.index_store``); None keeps it in memory only."""
        if blas_threads is not None:
            limit_blas_threads(blas_threads)
        self.reader = reader
        self.cache_size = cache_size
        self.recheck_s = recheck_s
        self.background_rebuild = background_rebuild
        self.index_dir = index_dir
        self._answers: OrderedDict = OrderedDict()
        self._answers_lock = threading.Lock()
        self.checkpoint = checkpoint
        self.weights = weights or FusionWeights()
        self.limits = limits or Limits()
        self.sources: list[CandidateSource] = [
            cls(self.limits) for cls in CANDIDATE_SOURCES if self.weights.of(cls.name) > 0
        ]
        self.model_source = (
            ModelScores(self.limits, checkpoint) if checkpoint is not None and self.weights.model > 0 else None
        )
        self._index: GraphIndex | None = None
        self._checked_at = 0.0
        self._hubs: tuple[int, list[str]] | None = None
        self._build_lock = threading.Lock()  # one index build at a time
        self._rebuild: threading.Thread | None = None
        self._rebuild_failed_at = 0.0

    @property
    def index_parts(self) -> frozenset[IndexPart]:
        """The parts of the graph index the active sources read."""
        return frozenset().union(*(s.needs for s in self._all_sources().values()))

    @property
    def model_name(self) -> str | None:
        return self.checkpoint.model.name if self.checkpoint is not None else None

    @property
    def model_snapshot(self) -> str | None:
        """The graph snapshot id the model was trained on (None without a model)."""
        return self.checkpoint.meta.get("snapshot_id") if self.checkpoint is not None else None

    def _all_sources(self) -> dict[str, Source]:
        out: dict[str, Source] = {}
        if self.model_source is not None:
            out[self.model_source.name] = self.model_source
        out.update((s.name, s) for s in self.sources)
        return {name: out[name] for name in SOURCE_NAMES if name in out}

    # ----------------------------------------------------------------- the per-version index
    def graph_index(self) -> GraphIndex:
        """The index of the graph's current version (built on first use and after every commit;
        with ``background_rebuild``, the last complete one while the next is being built)."""
        index = self._index
        if index is None or not self.background_rebuild:
            return self._build_now()
        if self._stale(index):
            self._start_rebuild()
        return index

    def fresh_index(self, timeout: float | None = None) -> GraphIndex:
        """The index of the graph's current version, waiting for a rebuild that is under way."""
        rebuild = self._rebuild
        if rebuild is not None:
            rebuild.join(timeout)
        if not self.background_rebuild or self._index is None or self._stale(self._index):
            return self._build_now()
        return self._index

    def _build_now(self) -> GraphIndex:
        """Bring the index up to date in this thread. When the store is there but cannot be read
        consistently right now (a writer checkpointing over and over, a reopen refused), answer
        from the last good index instead of failing; a store that is gone still fails."""
        with self._build_lock:
            try:
                return self.reader.read(self._current_index)
            except (DatabaseUnavailable, DatabaseLocked) as exc:
                if self._index is None or not self.reader.is_open:
                    raise
                log.warning("graph index not rebuilt, answering from the previous version: %s", exc.message)
                return self._index

    def _stale(self, index: GraphIndex) -> bool:
        """Cheap, lock-free: did another process commit since ``index`` was read? (Stores without
        a change token: is it time to compare the snapshot id again?)"""
        if self.reader.generation != index.generation or self.reader.has_news():
            return True
        return index.change_token is None and time.monotonic() - self._checked_at >= self.recheck_s

    def _start_rebuild(self) -> None:
        if self._rebuild is not None and self._rebuild.is_alive():
            return
        if time.monotonic() - self._rebuild_failed_at < 1.0:
            return  # the store was unavailable a moment ago: keep answering from the last good index
        if not self._build_lock.acquire(blocking=False):
            return
        thread = threading.Thread(target=self._rebuild_in_background, name="kgrec-index-rebuild", daemon=True)
        self._rebuild = thread
        thread.start()

    def _rebuild_in_background(self) -> None:
        try:
            self.reader.read(self._current_index)
        except Exception as exc:  # keep serving the previous index; the next request retries
            self._rebuild_failed_at = time.monotonic()
            log.warning(
                "graph index rebuild failed, answering from the previous version: %s", getattr(exc, "message", exc)
            )
        finally:
            self._build_lock.release()

    @property
    def index_summary(self) -> dict | None:
        """What the last built index holds and how long it took (None before the first request)."""
        index = self._index
        return index.summary() if index is not None else None

    def _current_index(self, backend: Backend, generation: int) -> GraphIndex:
        index = self._index
        token = backend.change_token()
        if token is None:
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
        fresh = load_or_build(
            backend, self.index_dir, generation=generation, hub_degree=self.limits.hub_degree, parts=self.index_parts
        )
        fresh.change_token = token
        self._index = fresh  # the swap: requests read self._index once, so each sees one whole index
        with self._answers_lock:
            self._answers.clear()
        return fresh

    def hubs(self, backend: Backend, generation: int) -> list[str]:
        """Hub entity ids (degree over ``hub_degree``) for the path search; from the index when one
        is current, else one named query, cached per graph version."""
        index = self._index
        if index is not None and index.generation == generation and IndexPart.KNOWLEDGE_GRAPH in index.parts:
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
        index = self._index_knowing(user)
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
        ``{source: {product_id: evidence}}`` (seen items already left out; a source that does not
        apply to the user, e.g. co-interaction without a history, is absent)."""
        check_id(user, "user")
        gi = self._index_knowing(user)
        found = self._candidates(gi, self._context(gi, user), _Clock({}))
        return {name: {c.product: c.evidence for c in cands.as_list(gi)} for name, cands in found.items()}

    def _index_knowing(self, user: str) -> GraphIndex:
        """The current index; while a newer graph version is being indexed, a user the current one
        does not know (just ingested?) waits for the newer one."""
        index = self.graph_index()
        if user not in index.user_pos and self.background_rebuild and (self._stale(index) or self._rebuilding()):
            index = self.fresh_index()
        return index

    def _rebuilding(self) -> bool:
        rebuild = self._rebuild
        return rebuild is not None and rebuild.is_alive()

    def _context(self, gi: GraphIndex, user: str) -> UserContext:
        u = gi.user_pos.get(user)
        if u is None:
            raise NotFound(
                f"unknown user {user!r}", 'check the id; `kgctl cypher "MATCH (u:User) RETURN u.id LIMIT 5"` lists some'
            )
        return UserContext.of(gi, user, u, self.limits)

    def _recommend(self, gi: GraphIndex, user: str, k: int, explain: bool) -> Recommendation:
        timings: dict[str, float] = {}
        clock = _Clock(timings)
        context = self._context(gi, user)
        clock.lap("history")
        found = self._candidates(gi, context, clock)
        top = self._fuse(gi, context, found, k)
        clock.lap("fuse")
        out = [RecommendedItem(gi.product_ids[p], gi.titles[p], score, parts, []) for p, score, parts in top]
        if out and explain:
            explain_items(context, gi, self._all_sources(), found, out, [p for p, _, _ in top])
        clock.lap("explain")
        return Recommendation(user, out, cold_start=context.cold, model=self.model_name, timings_ms=timings)

    def _candidates(self, gi: GraphIndex, context: UserContext, clock: _Clock) -> dict[str, Candidates]:
        """Each applicable source's candidates, in source order."""
        found: dict[str, Candidates] = {}
        for source in self.sources:
            cands = source.candidates(context, gi, source.budget())
            if cands is not None:
                found[source.name] = cands
                clock.lap(source.name)
        return found

    # ----------------------------------------------------------------- fusion
    def _fuse(
        self, gi: GraphIndex, context: UserContext, found: dict[str, Candidates], k: int
    ) -> list[tuple[int, float, list[dict]]]:
        """Weighted sum of the scaled parts, vectorised over candidates; parts listed for the top k only."""
        present_sources = [c for c in found.values() if len(c)]
        if not present_sources:
            return []
        candidates = np.unique(np.concatenate([c.positions for c in present_sources]))  # sorted: by id
        n = len(candidates)
        raw: dict[str, np.ndarray] = {}
        for c in present_sources:
            col = np.full(n, np.nan)
            col[np.searchsorted(candidates, c.positions)] = c.evidence
            raw[c.source] = col
        if self.model_source is not None:
            model = self.model_source.score(context, gi, candidates)
            if model is not None:
                raw[self.model_source.name] = model
        sources = self._all_sources()
        total = np.zeros(n)
        scaled = {}
        for name, source in sources.items():
            column = raw.get(name)
            if column is None:
                continue
            present = ~np.isnan(column)
            if not present.any():
                continue
            scaled_col = source.scale(column, present)
            if scaled_col is None:
                continue
            contribution = np.where(present, self.weights.of(name) * scaled_col, 0.0)
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


def open_recommender(settings, model_path=None, *, force: bool = False, cache_size: int = 0,
                     weights: FusionWeights | None = None, background_rebuild: bool = False) -> FusedRecommender:
    """A FusedRecommender on a read-only ``GraphReader`` of ``settings`` (a Settings or a --db
    string), with the checkpoint at ``model_path`` loaded for serving: a checkpoint stays usable
    across ingests of the graph it was trained on (users and products it never saw are handled),
    so ``force`` is no longer needed; one that knows none of the graph's products is refused.
    An embedded database keeps its graph index beside it, per snapshot (``kgrec.serve.index_store``)."""
    reader = GraphReader(settings)
    checkpoint = None
    if model_path is not None:
        from kgrec.models.training.checkpoint import load_for_serving  # the model's imports only when there is one

        checkpoint = load_for_serving(model_path)
    db = settings if isinstance(settings, str) else settings.db
    is_server = (
        isinstance(settings, str)
        and db.startswith(NEO4J_SCHEMES)
        or not isinstance(settings, str)
        and settings.is_neo4j
    )
    rec = FusedRecommender(
        reader,
        checkpoint,
        cache_size=cache_size,
        weights=weights,
        background_rebuild=background_rebuild,
        index_dir=None if is_server else index_dir_of(db),
    )
    if background_rebuild:
        rec.graph_index()  # a server builds (or maps) its first index before it answers
    if checkpoint is not None and rec.model_source is not None:
        index = rec.graph_index()
        if len(checkpoint.item_ids) and not (rec.model_source.item_positions(index) >= 0).any():
            reader.close()
            raise KgrecError(
                f"checkpoint {model_path} knows none of the graph's products: it was trained on another graph",
                "pass the checkpoint trained on this graph, or retrain with `kgctl train`",
            )
    return rec


def limit_blas_threads(n: int) -> None:
    """Set the BLAS libraries loaded in this process (numpy's, torch's) to ``n`` threads."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return
    threadpool_limits(limits=n, user_api="blas")


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
