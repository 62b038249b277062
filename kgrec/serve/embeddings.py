"""Nearest products by the embeddings stored on Product nodes (text_emb, image_emb).

Exact maximum inner product over L2-normalised vectors (cosine similarity) in numpy: the
database's vector extension downloads at run time and is not available offline, and a catalogue
of a few hundred thousand products fits one matrix product per query. A product with both
modalities is scored by the mean of its per-modality similarities.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from kgrec.kg.backend import Backend

MODALITIES = ("text", "image")


@dataclasses.dataclass
class _Modality:
    ids: np.ndarray  # product ids that have this embedding
    matrix: np.ndarray  # (n, d) float32, rows L2-normalised
    row: dict[str, int]
    pos: np.ndarray | None = None  # row -> position in EmbeddingIndex.product_ids


class EmbeddingIndex:
    """All stored product embeddings of one graph version."""

    def __init__(self, modalities: dict[str, _Modality]):
        self.modalities = modalities
        ids: set[str] = set()
        for m in modalities.values():
            ids.update(m.ids.tolist())
        self.product_ids = np.asarray(sorted(ids), dtype=object)
        self._pos = {p: i for i, p in enumerate(self.product_ids.tolist())}
        for m in modalities.values():
            m.pos = np.asarray([self._pos[p] for p in m.ids.tolist()], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.product_ids)

    def has(self, product_id: str) -> bool:
        return product_id in self._pos

    @classmethod
    def from_backend(cls, backend: Backend) -> "EmbeddingIndex":
        table = backend.export_nodes("Product", ["text_emb", "image_emb"])
        ids = table.column("id").to_pylist()
        modalities = {}
        for name in MODALITIES:
            vectors = table.column(f"{name}_emb").to_pylist()
            keep = [(i, v) for i, v in zip(ids, vectors) if v]
            if not keep:
                continue
            dims = {len(v) for _, v in keep}
            if len(dims) > 1:  # mixed models after a partial re-embed: keep the majority dimension
                dim = max(dims, key=lambda d: sum(len(v) == d for _, v in keep))
                keep = [(i, v) for i, v in keep if len(v) == dim]
            matrix = np.asarray([v for _, v in keep], dtype=np.float32)
            norms = np.linalg.norm(matrix, axis=1, keepdims=True)
            matrix /= np.where(norms > 0, norms, 1.0)
            mids = np.asarray([i for i, _ in keep], dtype=object)
            modalities[name] = _Modality(mids, matrix, {p: n for n, p in enumerate(mids.tolist())})
        return cls(modalities)

    def similarity_to(self, anchors: list[str], weights: np.ndarray | None = None) -> np.ndarray:
        """Mean similarity of every indexed product to the weighted anchors (NaN-free, 0 where unknown).

        The anchor profile is the weighted mean of the anchors' normalised vectors, per modality.
        """
        total = np.zeros(len(self.product_ids), dtype=np.float32)
        used = np.zeros(len(self.product_ids), dtype=np.float32)
        for m in self.modalities.values():
            rows = [(m.row[a], w) for a, w in zip(anchors, _weights(anchors, weights)) if a in m.row]
            if not rows:
                continue
            idx = np.asarray([r for r, _ in rows])
            w = np.asarray([w for _, w in rows], dtype=np.float32)
            profile = (m.matrix[idx] * w[:, None]).sum(axis=0)
            norm = np.linalg.norm(profile)
            if norm == 0:
                continue
            sims = m.matrix @ (profile / norm)
            total[m.pos] += sims
            used[m.pos] += 1
        return np.divide(total, used, out=np.zeros_like(total), where=used > 0)

    def nearest(self, anchors: list[str], k: int, exclude: set[str] = frozenset(), weights: np.ndarray | None = None):
        """The ``k`` products most similar to the anchors: list of (product_id, similarity)."""
        if not anchors or not len(self):
            return []
        sims = self.similarity_to(anchors, weights)
        want = min(len(sims), k + len(exclude) + 1)
        top = np.argpartition(-sims, want - 1)[:want] if want < len(sims) else np.arange(len(sims))
        top = top[np.lexsort((top, -sims[top]))]
        out = []
        for i in top.tolist():
            pid = self.product_ids[i]
            if pid in exclude or sims[i] <= 0:
                continue
            out.append((pid, float(sims[i])))
            if len(out) >= k:
                break
        return out

    def closest_anchor(self, product_id: str, anchors: list[str]) -> tuple[str | None, float]:
        """Which anchor the product is most similar to, and how similar (for explanations)."""
        best, best_sim = None, -np.inf
        for a in anchors:
            sims = [float(m.matrix[m.row[a]] @ m.matrix[m.row[product_id]]) for m in self.modalities.values() if a in m.row and product_id in m.row]
            if sims and np.mean(sims) > best_sim:
                best, best_sim = a, float(np.mean(sims))
        return best, (best_sim if best is not None else 0.0)

    def similar(self, product_id: str, k: int, modality: str | None = None) -> list[tuple[str, float]]:
        """Products nearest to one product (``/similar``), itself left out."""
        if modality and modality not in self.modalities:
            return []
        sub = EmbeddingIndex({modality: dataclasses.replace(self.modalities[modality])}) if modality else self
        if not sub.has(product_id):
            return []
        return sub.nearest([product_id], k, exclude={product_id})


def _weights(anchors: list[str], weights: np.ndarray | None):
    return np.ones(len(anchors), dtype=np.float32) if weights is None else weights
