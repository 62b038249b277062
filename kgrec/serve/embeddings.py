"""Nearest products by the embeddings stored on Product nodes (text_emb, image_emb).

Exact maximum inner product over L2-normalised vectors (cosine similarity) in numpy: the
database's vector extension downloads at run time and is not available offline, and a catalogue
of a few hundred thousand products fits one matrix product per query. A product with both
modalities is scored by the mean of its per-modality similarities.

The index is aligned with a given order of product ids (``GraphIndex`` passes the graph's
sorted product ids), so similarities come back as one array over all products and masks such as
"already seen" are plain boolean arrays.

The vectors are read by ``kgrec.kg.vectors.read_vectors`` under its rule. A column whose vectors
have different sizes (``kgctl embed`` with another model still running, stopped part-way or run
with ``--limit``) is an error there; the server keeps answering without that modality, logs the
message once per graph version and lists it in ``EmbeddingIndex.left_out``.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kgrec.kg.backend import Backend
from kgrec.kg.vectors import MixedVectorSizes, read_vectors

log = logging.getLogger(__name__)
MODALITIES = ("text", "image")


@dataclasses.dataclass
class _Modality:
    matrix: np.ndarray  # (n, d) float32, rows L2-normalised
    pos: np.ndarray  # row -> position in EmbeddingIndex.product_ids
    row_of: np.ndarray  # position -> row, -1 where the product has no vector of this modality


class EmbeddingIndex:
    """All stored product embeddings of one graph version, over ``product_ids`` (positions 0..n-1)."""

    def __init__(self, product_ids: np.ndarray, modalities: dict[str, _Modality],
                 left_out: dict[str, str] | None = None):
        self.product_ids = product_ids
        self.modalities = modalities
        self.left_out = left_out or {}  # modality -> why its vectors are not used
        self.has_vector = np.zeros(len(product_ids), dtype=bool)
        for m in modalities.values():
            self.has_vector[m.pos] = True
        self._pos: dict[str, int] | None = None

    def __len__(self) -> int:
        return int(self.has_vector.sum())

    def position(self, product_id: str) -> int | None:
        if self._pos is None:
            self._pos = {p: i for i, p in enumerate(self.product_ids.tolist())}
        return self._pos.get(product_id)

    def has(self, product_id: str) -> bool:
        i = self.position(product_id)
        return i is not None and bool(self.has_vector[i])

    @classmethod
    def from_table(cls, table: pa.Table, product_ids: np.ndarray) -> EmbeddingIndex:
        """From a Product export with ``id``, ``text_emb`` and ``image_emb`` columns; rows whose id
        is not in ``product_ids`` are ignored."""
        where = pc.index_in(table.column("id"), value_set=pa.array(product_ids.tolist(), pa.string()))
        where = where.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        modalities, left_out = {}, {}
        for name in MODALITIES:
            column = f"{name}_emb"
            if column not in table.column_names:
                continue
            try:
                stored = read_vectors(table, column)
            except MixedVectorSizes as exc:
                log.warning("serving without %s embeddings: %s", name, exc.one_line())
                left_out[name] = exc.one_line()
                continue
            rows, matrix = stored.rows, stored.matrix
            keep = where[rows] >= 0
            rows, matrix = rows[keep], matrix[keep]
            if not len(rows):
                continue
            norms = np.linalg.norm(matrix, axis=1, keepdims=True)
            matrix /= np.where(norms > 0, norms, 1.0)
            pos = where[rows]
            row_of = np.full(len(product_ids), -1, dtype=np.int64)
            row_of[pos] = np.arange(len(pos))
            modalities[name] = _Modality(np.ascontiguousarray(matrix), pos, row_of)
        return cls(product_ids, modalities, left_out)

    @classmethod
    def from_backend(cls, backend: Backend) -> EmbeddingIndex:
        table = backend.export_nodes("Product", ["text_emb", "image_emb"])
        ids = table.column("id")
        ids = np.asarray(ids.take(pc.sort_indices(ids)).to_pylist(), dtype=object)
        return cls.from_table(table, ids)

    def similarity_to(self, anchors: np.ndarray) -> np.ndarray:
        """Similarity of every product to the anchor positions (0 where unknown), per product the
        mean over the modalities both have. The anchor profile is the mean of the anchors'
        normalised vectors, per modality."""
        total = np.zeros(len(self.product_ids), dtype=np.float32)
        used = np.zeros(len(self.product_ids), dtype=np.float32)
        anchors = np.asarray(anchors, dtype=np.int64)
        for m in self.modalities.values():
            rows = m.row_of[anchors] if len(anchors) else anchors
            rows = rows[rows >= 0]
            if not len(rows):
                continue
            profile = m.matrix[rows].sum(axis=0)
            norm = np.linalg.norm(profile)
            if norm == 0:
                continue
            total[m.pos] += m.matrix @ (profile / norm)
            used[m.pos] += 1
        return np.divide(total, used, out=np.zeros_like(total), where=used > 0)

    def nearest(self, anchors: np.ndarray, k: int, exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` positions most similar to the anchor positions (similarity > 0, ``exclude`` a
        boolean mask over positions left out), best first: (positions, similarities)."""
        if not len(anchors) or not self.has_vector.any():
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        sims = self.similarity_to(anchors)
        if exclude is not None:
            sims[exclude] = 0.0
        top = top_positions(sims, k)
        return top, sims[top]

    def closest_anchors(self, items: np.ndarray, anchors: np.ndarray) -> list[tuple[int, float]]:
        """For each item position: (the anchor position it is most similar to, the similarity), the
        similarity being the mean over the modalities both have; (-1, 0.0) where none is comparable.
        Ties go to the earlier anchor."""
        anchors = np.asarray(anchors, dtype=np.int64)
        total = np.zeros((len(items), len(anchors)), dtype=np.float64)
        used = np.zeros((len(items), len(anchors)), dtype=np.int64)
        for m in self.modalities.values():
            ri, ra = m.row_of[items], m.row_of[anchors]
            both = (ri[:, None] >= 0) & (ra[None, :] >= 0)
            if not both.any():
                continue
            sims = m.matrix[np.maximum(ri, 0)] @ m.matrix[np.maximum(ra, 0)].T
            total += np.where(both, sims, 0.0)
            used += both
        mean = np.where(used > 0, total / np.maximum(used, 1), -np.inf)
        best = np.argmax(mean, axis=1)
        out = []
        for i, b in enumerate(best.tolist()):
            out.append((int(anchors[b]), float(mean[i, b])) if used[i, b] > 0 else (-1, 0.0))
        return out

    def similar(self, product_id: str, k: int, modality: str | None = None) -> list[tuple[str, float]]:
        """Products nearest to one product (``/similar``), itself left out: [(id, similarity)]."""
        if modality and modality not in self.modalities:
            return []
        sub = EmbeddingIndex(self.product_ids, {modality: self.modalities[modality]}) if modality else self
        i = self.position(product_id)
        if i is None or not sub.has_vector[i]:
            return []
        exclude = np.zeros(len(self.product_ids), dtype=bool)
        exclude[i] = True
        top, sims = sub.nearest(np.asarray([i]), k, exclude)
        return [(self.product_ids[p], float(s)) for p, s in zip(top.tolist(), sims.tolist())]


def top_positions(values: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` largest positive values, largest first, ties by position (deterministic)."""
    nz = np.flatnonzero(values > 0)
    if len(nz) > k:
        kth = np.partition(values[nz], len(nz) - k)[len(nz) - k]  # the k-th largest value
        nz = nz[values[nz] >= kth]
    order = np.lexsort((nz, -values[nz]))
    return nz[order[:k]]
