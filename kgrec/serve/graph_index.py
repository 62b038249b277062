"""The graph's candidate indices, loaded once per graph version through the named export queries.

``FusedRecommender`` used to ask the database about ten Cypher questions per user; on a
MovieLens-1M-sized graph that cost about 100 ms, almost all of it query execution. The answers
only change when the graph changes, so this module reads what the candidate sources need once,
through the named export queries (``export_nodes`` / ``export_relationships``, parameterless,
the same on LadybugDB and Neo4j), into compressed sparse rows in numpy:

- interactions: per user, items newest first (ties by item id) with ratings; per item, its users
  (the two directions of ``(u)-[:INTERACTED]->(p)``); interaction counts (popularity);
- attributes: ``(p)-[:IN_CATEGORY|HAS_BRAND|SOLD_BY|HAS_TAG]->(a)`` both ways, with each
  attribute's label, name and degree;
- knowledge graph: ``(p)-[:LINKED_TO]->(e)`` both ways and ``(e)-[:RELATED_TO {relation}]-(y)``
  undirected with the relation name, entity names and degrees (hubs: degree over ``hub_degree``);
- product titles, and the stored text/image embeddings normalised in one matrix per modality.

Positions are indices into the sorted id arrays (``user_ids``, ``product_ids``, ...), so ordering
by position is ordering by id: ties break exactly as ``ORDER BY ..., id`` did in Cypher.

A ``GraphIndex`` is immutable once built; a request reads one index, so it sees one graph state.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kgrec.kg.backend import Backend
from kgrec.kg.interaction_order import NO_SEQ
from kgrec.serve.embeddings import EmbeddingIndex

log = logging.getLogger("kgrec.serve.index")

ATTRIBUTE_RELATIONSHIPS = ("IN_CATEGORY", "HAS_BRAND", "SOLD_BY", "HAS_TAG")


class IndexPart(enum.Enum):
    """What a source reads from the graph index; the index builds only the parts that the active
    sources need (interactions are always built: every request starts from the user's history)."""

    INTERACTIONS = "interactions"
    ATTRIBUTES = "attributes"
    KNOWLEDGE_GRAPH = "knowledge_graph"
    EMBEDDINGS = "embeddings"


def gather(ptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Entries of compressed rows ``rows``: (indices into the data arrays, which row of ``rows``
    each came from), in row order. Vectorised: no Python loop over the rows."""
    rows = np.asarray(rows, dtype=np.int64)
    starts, ends = ptr[rows], ptr[rows + 1]
    lengths = ends - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    owner = np.repeat(np.arange(len(rows)), lengths)
    first = np.cumsum(lengths) - lengths
    return np.arange(total) - first[owner] + starts[owner], owner


def _compress(keys: np.ndarray, n: int, *order_by: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ptr, order): rows grouped by ``keys`` (0..n-1), within a row ordered by ``order_by``
    (last key most significant, as in np.lexsort; the row key is added as the most significant)."""
    order = np.lexsort((*order_by, keys)) if order_by else np.argsort(keys, kind="stable")
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=n), out=ptr[1:])
    return ptr, order


def _sorted_ids(table: pa.Table) -> tuple[np.ndarray, pa.Table]:
    ids = table.column("id")
    order = pc.sort_indices(ids)
    table = table.take(order)
    return np.asarray(table.column("id").to_pylist(), dtype=object), table


def _no_rows(*columns: str) -> pa.Table:
    """An empty export with string ``columns`` (a part of the index that is not read)."""
    return pa.table({c: pa.array([], pa.string()) for c in columns})


def _positions(values: pa.ChunkedArray, ids: np.ndarray) -> np.ndarray:
    """Position of each value in the sorted ``ids`` (-1 where absent)."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    idx = pc.index_in(values, value_set=pa.array(ids.tolist(), pa.string()))
    return idx.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


@dataclasses.dataclass(eq=False)
class GraphIndex:
    generation: int
    snapshot: str
    user_ids: np.ndarray
    user_pos: dict[str, int]
    product_ids: np.ndarray
    product_pos: dict[str, int]
    titles: list
    # interactions: per user newest first; per item its users; popularity
    hist_ptr: np.ndarray
    hist_item: np.ndarray
    hist_rating: np.ndarray
    owned: np.ndarray  # per user (rows hist_ptr) the same items sorted by position, for membership tests
    item_ptr: np.ndarray
    item_user: np.ndarray
    popularity: np.ndarray
    popular_order: np.ndarray  # positions with interactions, most interacted first (ties by id)
    # attributes (Category, Brand, Shop, Tag)
    attr_ptr: np.ndarray  # product -> attributes
    attr_of: np.ndarray
    members_ptr: np.ndarray  # attribute -> products
    members: np.ndarray
    attr_label: list
    attr_ids: list
    attr_names: list
    attr_degree: np.ndarray
    # knowledge graph
    link_ptr: np.ndarray  # product -> linked entities
    link_entity: np.ndarray
    linked_ptr: np.ndarray  # entity -> products linked to it
    linked_product: np.ndarray
    rel_ptr: np.ndarray  # entity -> related entities (undirected)
    rel_nbr: np.ndarray
    rel_type: np.ndarray
    relation_names: list
    entity_ids: np.ndarray
    entity_names: list
    entity_degree: np.ndarray
    hub: np.ndarray  # bool per entity
    embeddings: EmbeddingIndex
    build_seconds: float = 0.0
    stage_seconds: dict = dataclasses.field(default_factory=dict)
    parts: frozenset = frozenset(IndexPart)  # what was read; the rest is empty
    change_token: object | None = None  # the store's change token when read (None: no file to watch)
    revision: str | None = None  # the graph's revision (every ingest bumps it) when read

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_products(self) -> int:
        return len(self.product_ids)

    @property
    def hub_ids(self) -> list[str]:
        return self.entity_ids[self.hub].tolist()

    def history(self, user: int) -> tuple[np.ndarray, np.ndarray]:
        """(items newest first, ratings; NaN where none) of one user position."""
        lo, hi = self.hist_ptr[user], self.hist_ptr[user + 1]
        return self.hist_item[lo:hi], self.hist_rating[lo:hi]

    @staticmethod
    def pairs_present(ptr: np.ndarray, data: np.ndarray, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
        """present[r, j]: ``values[j]`` is in compressed row ``rows[r]`` (each row sorted, as
        ``owned`` and ``item_user`` are): one binary search per pair."""
        values = np.asarray(values)
        present = np.zeros((len(rows), len(values)), dtype=bool)
        for r, row in enumerate(np.asarray(rows).tolist()):
            part = data[ptr[row] : ptr[row + 1]]
            if len(part):
                at = np.minimum(np.searchsorted(part, values), len(part) - 1)
                present[r] = part[at] == values
        return present

    def summary(self) -> dict:
        return {
            "generation": self.generation, "snapshot": self.snapshot, "revision": self.revision, "users": self.n_users,
            "products": self.n_products, "interactions": int(len(self.hist_item)),
            "build_seconds": round(self.build_seconds, 3),
        }

    # ----------------------------------------------------------------- build
    @classmethod
    def build(cls, backend: Backend, *, generation: int = 0, hub_degree: int = 200,
              parts: frozenset[IndexPart] | None = None) -> GraphIndex:
        """Read the indices from one consistent state of the graph (call inside ``GraphReader.read``).
        ``parts``: what the active sources need (default: everything); interactions and embeddings
        (``/similar``) are always read, attributes and the knowledge graph only when asked for."""
        parts = (
            frozenset(IndexPart) if parts is None else frozenset(parts) | {IndexPart.INTERACTIONS, IndexPart.EMBEDDINGS}
        )
        t_all = time.perf_counter()
        stages: dict[str, float] = {}
        t = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal t
            now = time.perf_counter()
            stages[name] = round(now - t, 4)
            t = now

        schema = backend.schema
        user_ids, _ = _sorted_ids(backend.export_nodes("User"))
        user_pos = {u: i for i, u in enumerate(user_ids.tolist())}
        product_props = [p for p in ("title", "text_emb", "image_emb") if p in schema.node("Product").properties]
        product_ids, products = _sorted_ids(backend.export_nodes("Product", product_props))
        product_pos = {p: i for i, p in enumerate(product_ids.tolist())}
        titles = products.column("title").to_pylist() if "title" in product_props else [None] * len(product_ids)
        n_users, n_products = len(user_ids), len(product_ids)
        lap("nodes")

        edges = backend.export_relationships("INTERACTED", ["timestamp", "rating", "seq"])
        u = _positions(edges.column("src"), user_ids)
        i = _positions(edges.column("dst"), product_ids)
        ts = edges.column("timestamp").fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        rating = edges.column("rating").cast(pa.float32()).fill_null(float("nan")).to_numpy(zero_copy_only=False)
        seq = edges.column("seq").fill_null(NO_SEQ).to_numpy(zero_copy_only=False).astype(np.int64)
        ok = (u >= 0) & (i >= 0)
        u, i, ts, seq, rating = u[ok], i[ok], ts[ok], seq[ok], rating[ok].astype(np.float32)
        del edges
        lap("interactions_export")
        # per user: newest first, the exact reverse of the training order (time, ingest order, item)
        hist_ptr, order = _compress(u, n_users, -i, -seq, -ts)
        hist_item, hist_rating = i[order].astype(np.int32), rating[order]
        _, order = _compress(u, n_users, i)
        owned = i[order].astype(np.int32)
        item_ptr, order = _compress(i, n_products, u)
        item_user = u[order].astype(np.int32)
        popularity = np.diff(item_ptr)
        with_any = np.flatnonzero(popularity > 0)
        popular_order = with_any[np.lexsort((with_any, -popularity[with_any]))]
        lap("interactions_index")

        # attributes
        a_src, a_dst, attr_label = [], [], []
        attr_ids: list = []
        attr_names: list = []
        for rel_type in ATTRIBUTE_RELATIONSHIPS if IndexPart.ATTRIBUTES in parts else ():
            rel = schema.rel(rel_type)
            with_name = "name" in schema.node(rel.dst).properties
            ids, nodes = _sorted_ids(backend.export_nodes(rel.dst, ["name"] if with_name else []))
            e = backend.export_relationships(rel_type)
            src, dst = _positions(e.column("src"), product_ids), _positions(e.column("dst"), ids)
            keep = (src >= 0) & (dst >= 0)
            base = len(attr_ids)
            a_src.append(src[keep])
            a_dst.append(dst[keep] + base)
            attr_label += [rel.dst] * len(ids)
            attr_ids += ids.tolist()
            attr_names += nodes.column("name").to_pylist() if with_name else [None] * len(ids)
        src_all = np.concatenate(a_src) if a_src else np.zeros(0, dtype=np.int64)
        dst_all = np.concatenate(a_dst) if a_dst else np.zeros(0, dtype=np.int64)
        attr_ptr, order = _compress(src_all, n_products, dst_all)
        attr_of = dst_all[order].astype(np.int32)
        members_ptr, order = _compress(dst_all, len(attr_ids), src_all)
        members = src_all[order].astype(np.int32)
        attr_degree = np.diff(members_ptr)
        lap("attributes")

        # knowledge graph
        with_kg = IndexPart.KNOWLEDGE_GRAPH in parts
        entity_ids, entities = _sorted_ids(
            backend.export_nodes("Entity", ["name"]) if with_kg else _no_rows("id", "name")
        )
        entity_names = entities.column("name").to_pylist()
        n_entities = len(entity_ids)
        e = backend.export_relationships("LINKED_TO") if with_kg else _no_rows("src", "dst")
        src, dst = _positions(e.column("src"), product_ids), _positions(e.column("dst"), entity_ids)
        keep = (src >= 0) & (dst >= 0)
        src, dst = src[keep], dst[keep]
        link_ptr, order = _compress(src, n_products, dst)
        link_entity = dst[order].astype(np.int32)
        linked_ptr, order = _compress(dst, n_entities, src)
        linked_product = src[order].astype(np.int32)
        e = backend.export_relationships("RELATED_TO", ["relation"]) if with_kg else _no_rows("src", "dst", "relation")
        src, dst = _positions(e.column("src"), entity_ids), _positions(e.column("dst"), entity_ids)
        relation = e.column("relation").fill_null("").combine_chunks() if e.num_rows else pa.array([], pa.string())
        relation_names = pc.unique(relation).to_pylist() if len(relation) else []
        relation_names.sort()
        kind = (_positions(relation, np.asarray(relation_names, dtype=object)) if len(relation)
                else np.zeros(0, dtype=np.int64))
        keep = (src >= 0) & (dst >= 0)
        src, dst, kind = src[keep], dst[keep], kind[keep]
        heads, tails, kinds = np.concatenate([src, dst]), np.concatenate([dst, src]), np.concatenate([kind, kind])
        rel_ptr, order = _compress(heads, n_entities, kinds, tails)
        rel_nbr, rel_type = tails[order].astype(np.int32), kinds[order].astype(np.int32)
        entity_degree = np.diff(rel_ptr)
        hub = entity_degree > hub_degree
        del e
        lap("knowledge_graph")

        embeddings = EmbeddingIndex.from_table(products, product_ids)
        del products
        lap("embeddings")
        snapshot = backend.snapshot_id()
        revision = backend.get_meta("revision")
        lap("snapshot")
        index = cls(
            generation=generation,
            snapshot=snapshot,
            user_ids=user_ids,
            user_pos=user_pos,
            product_ids=product_ids,
            product_pos=product_pos,
            titles=titles,
            hist_ptr=hist_ptr,
            hist_item=hist_item,
            hist_rating=hist_rating,
            owned=owned,
            item_ptr=item_ptr,
            item_user=item_user,
            popularity=popularity,
            popular_order=popular_order,
            attr_ptr=attr_ptr,
            attr_of=attr_of,
            members_ptr=members_ptr,
            members=members,
            attr_label=attr_label,
            attr_ids=attr_ids,
            attr_names=attr_names,
            attr_degree=attr_degree,
            link_ptr=link_ptr,
            link_entity=link_entity,
            linked_ptr=linked_ptr,
            linked_product=linked_product,
            rel_ptr=rel_ptr,
            rel_nbr=rel_nbr,
            rel_type=rel_type,
            relation_names=relation_names,
            entity_ids=entity_ids,
            entity_names=entity_names,
            entity_degree=entity_degree,
            hub=hub,
            embeddings=embeddings,
            build_seconds=time.perf_counter() - t_all,
            stage_seconds=stages,
            parts=parts,
            revision=revision,
        )
        log.info("graph index built in %.2f s (%s): %s", index.build_seconds, stages, index.summary())
        return index
