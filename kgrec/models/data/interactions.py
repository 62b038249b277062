"""Training data read from the graph store (never from source files).

``InteractionData`` indexes users and items densely (0..n-1) and keeps interactions in
time order per user; equal timestamps keep their ingest order (``INTERACTED.seq``, see
``kgrec.kg.interaction_order``), and the item index decides only where that is missing.
``KnowledgeGraphData`` gives every node of the knowledge graph a global index in which
Product nodes come first, in the same order as the items of ``InteractionData``, so that item
index i is KG entity i.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from kgrec.kg.backend import Backend
from kgrec.kg.interaction_order import NO_SEQ
from kgrec.kg.vectors import read_vectors

# Relationship types that connect catalogue/KG nodes (interactions are handled separately so
# that the test split never leaks into the graph a model sees).
KG_RELATIONS = ("IN_CATEGORY", "HAS_BRAND", "SOLD_BY", "HAS_TAG", "SUBCATEGORY_OF", "LINKED_TO", "RELATED_TO")


@dataclasses.dataclass
class InteractionData:
    user_ids: np.ndarray  # index -> external id (str)
    item_ids: np.ndarray
    user: np.ndarray  # int64, one row per interaction, sorted by (user, timestamp, seq)
    item: np.ndarray
    timestamp: np.ndarray  # int64
    rating: np.ndarray  # float32, NaN where the source had none
    snapshot_id: str = ""
    seq: np.ndarray | None = None  # int64 ingest order (NO_SEQ where missing); None: ties by item

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def __len__(self) -> int:
        return len(self.user)

    def item_counts(self) -> np.ndarray:
        """Interactions per item index (int64, ``n_items`` long): an item's popularity here."""
        return np.bincount(self.item.astype(np.int64), minlength=self.n_items)

    def subset(self, mask: np.ndarray) -> InteractionData:
        return dataclasses.replace(
            self, user=self.user[mask], item=self.item[mask], timestamp=self.timestamp[mask], rating=self.rating[mask],
            seq=None if self.seq is None else self.seq[mask],
        )

    @classmethod
    def concat(cls, *parts: InteractionData) -> InteractionData:
        """Union of interaction sets over the same users/items, re-sorted by (user, time, seq, item);
        seq counts only when every part has it."""
        first = parts[0]
        user = np.concatenate([p.user for p in parts])
        item = np.concatenate([p.item for p in parts])
        ts = np.concatenate([p.timestamp for p in parts])
        rating = np.concatenate([p.rating for p in parts])
        seq = None if any(p.seq is None for p in parts) else np.concatenate([p.seq for p in parts])
        order = time_order(user, ts, item, seq)
        return dataclasses.replace(first, user=user[order], item=item[order], timestamp=ts[order], rating=rating[order],
                                   seq=None if seq is None else seq[order])

    def sequences(self) -> list[np.ndarray]:
        """Per user (index order), the time-ordered item indices."""
        bounds = np.searchsorted(self.user, np.arange(self.n_users + 1))
        return [self.item[bounds[u] : bounds[u + 1]] for u in range(self.n_users)]

    def csr(self) -> sp.csr_matrix:
        """Binary user x item matrix (duplicates collapse to 1)."""
        m = sp.csr_matrix(
            (np.ones(len(self.user), dtype=np.float32), (self.user, self.item)), shape=(self.n_users, self.n_items)
        )
        m.data[:] = 1.0
        return m

    @classmethod
    def from_backend(cls, backend: Backend) -> InteractionData:
        user_ids = _sorted_ids(backend, "User")
        item_ids = _sorted_ids(backend, "Product")
        edges = backend.export_relationships("INTERACTED", ["timestamp", "rating", "seq"])
        u = _index_of(edges.column("src"), user_ids)
        i = _index_of(edges.column("dst"), item_ids)
        ts = edges.column("timestamp").fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        rating = edges.column("rating").cast(pa.float32()).fill_null(float("nan")).to_numpy(zero_copy_only=False)
        seq = edges.column("seq").fill_null(NO_SEQ).to_numpy(zero_copy_only=False).astype(np.int64)
        order = time_order(u, ts, i, seq)  # deterministic: user, time, ingest order, item
        return cls(
            user_ids=user_ids,
            item_ids=item_ids,
            user=u[order],
            item=i[order],
            timestamp=ts[order],
            rating=rating[order].astype(np.float32),
            snapshot_id=backend.snapshot_id(),
            seq=seq[order],
        )


def time_order(user: np.ndarray, timestamp: np.ndarray, item: np.ndarray, seq: np.ndarray | None = None) -> np.ndarray:
    """Row order by (user, timestamp, seq, item): ties in time keep their ingest order; the item
    index breaks what is left (rows without seq, or no seq at all)."""
    keys = (item, timestamp, user) if seq is None else (item, seq, timestamp, user)
    return np.lexsort(keys)


def _sorted_ids(backend: Backend, label: str) -> np.ndarray:
    ids = backend.export_nodes(label).column("id")
    return np.asarray(ids.take(pc.sort_indices(ids)).to_pylist(), dtype=object)


def _index_of(values: pa.ChunkedArray, ids: np.ndarray) -> np.ndarray:
    return (
        pc.index_in(values, value_set=pa.array(ids.tolist(), pa.string()))
        .to_numpy(zero_copy_only=False)
        .astype(np.int64)
    )


@dataclasses.dataclass
class KnowledgeGraphData:
    """Typed triples over a global node index; entities 0..n_items-1 are the items."""

    node_labels: np.ndarray  # global index -> label
    node_ids: np.ndarray  # global index -> external id
    head: np.ndarray  # int64
    relation: np.ndarray  # int64 index into relation_names
    tail: np.ndarray
    relation_names: list[str]
    n_items: int

    @property
    def n_nodes(self) -> int:
        return len(self.node_ids)

    @classmethod
    def from_backend(cls, backend: Backend, item_ids: np.ndarray) -> KnowledgeGraphData:
        labels = ["Product"] + [label for label in backend.schema.labels if label not in ("Product", "User")]
        index: dict[tuple[str, str], int] = {("Product", str(i)): n for n, i in enumerate(item_ids)}
        node_labels, node_ids = ["Product"] * len(item_ids), list(item_ids)
        for label in labels[1:]:
            for node_id in backend.export_nodes(label).column("id").to_pylist():
                index[(label, node_id)] = len(node_ids)
                node_labels.append(label)
                node_ids.append(node_id)
        label_ids = {label: pa.array([nid for (lab, nid) in index if lab == label], pa.string()) for label in labels}
        label_base = {
            label: np.asarray([index[(label, nid)] for nid in label_ids[label].to_pylist()], dtype=np.int64)
            for label in labels
        }
        heads, rels, tails, names = [], [], [], []
        for rel_type in KG_RELATIONS:
            rel = backend.schema.rel(rel_type)
            props = ["relation"] if "relation" in rel.properties else []
            edges = backend.export_relationships(rel_type, props)
            if edges.num_rows == 0:
                continue
            h = pc.index_in(edges.column("src"), value_set=label_ids[rel.src]).to_numpy(zero_copy_only=False)
            t = pc.index_in(edges.column("dst"), value_set=label_ids[rel.dst]).to_numpy(zero_copy_only=False)
            ok = (
                ~(np.isnan(h.astype(float)) | np.isnan(t.astype(float)))
                if h.dtype.kind == "f"
                else np.ones(len(h), bool)
            )
            kinds = np.asarray(
                edges.column("relation").fill_null(rel_type).to_pylist() if props else [rel_type] * edges.num_rows,
                dtype=object,
            )
            for kind in dict.fromkeys(kinds[ok].tolist()):
                if kind not in names:
                    names.append(kind)
            kind_index = {k: n for n, k in enumerate(names)}
            heads.append(label_base[rel.src][h[ok].astype(np.int64)])
            tails.append(label_base[rel.dst][t[ok].astype(np.int64)])
            rels.append(np.asarray([kind_index[k] for k in kinds[ok]], dtype=np.int64))
        cat = (lambda parts: np.concatenate(parts) if parts else np.zeros(0, np.int64))
        return cls(
            node_labels=np.asarray(node_labels, dtype=object),
            node_ids=np.asarray(node_ids, dtype=object),
            head=cat(heads),
            relation=cat(rels),
            tail=cat(tails),
            relation_names=names,
            n_items=len(item_ids),
        )


def item_vectors(backend: Backend, item_ids: np.ndarray, prop: str) -> tuple[np.ndarray, np.ndarray]:
    """A ``FLOAT[]`` Product property (e.g. ``text_emb``) as an (n_items, d) float32 matrix in
    item-index order, plus a boolean mask of the items that have it. Missing rows are zeros.
    Read under the rule of ``kgrec.kg.vectors`` (vectors of different sizes are an error)."""
    table = backend.export_nodes("Product", [prop])
    known = pa.array([str(i) for i in item_ids.tolist()], pa.string())
    target = pc.index_in(table.column("id").cast(pa.string()), value_set=known)
    target = target.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return read_vectors(table, prop).scatter(target, len(item_ids))


@dataclasses.dataclass
class GraphInputs:
    """What a model needs from the graph besides interactions, loaded once and picklable (so
    it travels to DDP worker processes). Models list what they need in ``Recommender.requires``:
    ``"kg"`` -> ``kg`` (``KnowledgeGraphData``), any Product vector property such as
    ``"text_emb"`` / ``"image_emb"`` -> ``item_features[prop] = (matrix, present_mask)``."""

    kg: KnowledgeGraphData | None = None
    item_features: dict[str, tuple[np.ndarray, np.ndarray]] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_backend(cls, backend: Backend, item_ids: np.ndarray, requires: tuple[str, ...] = ()) -> GraphInputs:
        out = cls()
        for need in requires:
            if need == "kg":
                out.kg = KnowledgeGraphData.from_backend(backend, item_ids)
            else:
                out.item_features[need] = item_vectors(backend, item_ids, need)
        return out

    def feature(self, prop: str) -> tuple[np.ndarray, np.ndarray]:
        from kgrec.errors import KgrecError

        if prop not in self.item_features:
            raise KgrecError(
                f"the model needs Product.{prop}, which was not loaded", f"declare {prop!r} in the model's requires"
            )
        matrix, present = self.item_features[prop]
        if not present.any():
            raise KgrecError(f"no Product has {prop}", "run `kgctl embed` first")
        return matrix, present
