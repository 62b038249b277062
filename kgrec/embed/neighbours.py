"""Nearest products by stored embeddings: exact maximum inner product in torch.

The vectors are L2-normalised when written, so the inner product is the cosine similarity. The
embedded database has no vector index offline, so every search is exact over all products (a
70k x 1.8k matrix product takes well under a second). ``fused`` joins the normalised text and image
vectors (each scaled by 1/sqrt(2)); a product with only one of them uses that one, so the catalogue
may mix products with and without images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import torch

from kgrec.errors import KgrecError
from kgrec.kg.backend import Backend
from kgrec.kg.vectors import read_vectors

BY_CHOICES = ("text", "image", "fused")
_COLUMN = {"text": "text_emb", "image": "image_emb"}


class UnknownProduct(KgrecError):
    pass


class MissingEmbedding(KgrecError):
    pass


@dataclass
class EmbeddingMatrix:
    """Product ids with one row of vectors each (rows L2-normalised)."""

    ids: list[str]
    titles: list[str | None]
    vectors: torch.Tensor  # (n, dim) float32

    def row(self, product_id: str) -> int:
        try:
            return self.ids.index(product_id)
        except ValueError:
            return -1


def _normalised(table: pa.Table, column: str) -> tuple[np.ndarray, np.ndarray]:
    """(mask of rows that have a vector, (n_present, dim) matrix normalised row-wise), read under
    the rule of ``kgrec.kg.vectors`` (vectors of different sizes are an error)."""
    stored = read_vectors(table, column)
    present = np.zeros(table.num_rows, dtype=bool)
    present[stored.rows] = True
    norms = np.linalg.norm(stored.matrix, axis=1, keepdims=True)
    return present, stored.matrix / np.maximum(norms, 1e-12)


def load_embeddings(backend: Backend, by: str = "text") -> EmbeddingMatrix:
    """The stored vectors of every product that has them (for ``fused``: text and/or image)."""
    if by not in BY_CHOICES:
        raise KgrecError(f"unknown embedding {by!r}", f"choose one of {', '.join(BY_CHOICES)}")
    kinds = ["text", "image"] if by == "fused" else [by]
    table = backend.export_nodes("Product", ["title"] + [_COLUMN[k] for k in kinds])
    n = table.num_rows
    blocks, masks = [], []
    for kind in kinds:
        present, matrix = _normalised(table, _COLUMN[kind])
        full = np.zeros((n, matrix.shape[1]), np.float32)
        full[present] = matrix
        blocks.append(full)
        masks.append(present)
    has_any = np.logical_or.reduce(masks)
    if len(blocks) > 1:
        # Each present part weighs the same; a product with one part keeps a unit vector.
        parts = np.stack(masks, axis=1).sum(axis=1, keepdims=True).clip(min=1)
        vectors = np.concatenate(blocks, axis=1) / np.sqrt(parts)
    else:
        vectors = blocks[0]
    keep = np.flatnonzero(has_any)
    ids = table.column("id").to_pylist()
    titles = table.column("title").to_pylist()
    return EmbeddingMatrix([ids[i] for i in keep], [titles[i] for i in keep], torch.from_numpy(vectors[keep]))


def similar_products(backend: Backend, product_id: str, *, by: str = "text", k: int = 10) -> pa.Table:
    """The ``k`` products most similar to ``product_id`` (itself excluded): ``rank, id, title, score``.

    Uses the backend's vector index where it has one (Neo4j with a vector index on the property),
    otherwise an exact inner product over all stored vectors.
    """
    if k < 1:
        raise KgrecError(f"k must be at least 1, got {k}")
    if by not in BY_CHOICES:
        raise KgrecError(f"unknown embedding {by!r}", f"choose one of {', '.join(BY_CHOICES)}")
    found = backend.run("find_product", {"id": product_id})
    if found.num_rows == 0:
        raise UnknownProduct(f"no product with id {product_id!r}", "check the id, e.g. with `kgctl cypher`")
    if by != "fused":
        indexed = _index_search(backend, product_id, by, k)
        if indexed is not None:
            return indexed
    matrix = load_embeddings(backend, by)
    row = matrix.row(product_id)
    if row < 0:
        need = "text or image embedding" if by == "fused" else f"{by} embedding"
        raise MissingEmbedding(
            f"product {product_id!r} has no {need}",
            f"run `kgctl embed --{'text' if by != 'image' else 'image'}` first",
        )
    scores = matrix.vectors @ matrix.vectors[row]
    scores[row] = -float("inf")
    top = torch.topk(scores, min(k, len(matrix.ids) - 1)) if len(matrix.ids) > 1 else None
    if top is None:
        return _result([], [], [])
    order = top.indices.tolist()
    return _result([matrix.ids[i] for i in order], [matrix.titles[i] for i in order], top.values.tolist())


def _index_search(backend: Backend, product_id: str, by: str, k: int) -> pa.Table | None:
    search = getattr(backend, "vector_neighbours", None)
    if search is None:
        return None
    hits = search("Product", _COLUMN[by], product_id, k)
    if hits is None:
        return None
    return _result(hits.column("id").to_pylist(), hits.column("title").to_pylist(), hits.column("score").to_pylist())


def _result(ids: list[str], titles: list, scores: list[float]) -> pa.Table:
    return pa.table(
        {
            "rank": pa.array(range(1, len(ids) + 1), pa.int64()),
            "id": pa.array(ids, pa.string()),
            "title": pa.array(titles, pa.string()),
            "score": pa.array([round(float(s), 6) for s in scores], pa.float64()),
        }
    )
