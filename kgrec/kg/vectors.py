"""The one reader of stored vector columns (``FLOAT[]`` node properties such as ``Product.text_emb``
and ``Product.image_emb``), with one rule for every consumer: training inputs
(``kgrec.models.data.interactions.item_vectors``), ``kgctl similar`` (``kgrec.embed.neighbours``),
the PyG feature store (``kgrec.kg.pyg_store``) and the server's embedding index
(``kgrec.serve.embeddings``).

The rule:

* a null or empty list is "no vector" for that node;
* every other vector of one column must have the same size. The schema declares the column as a
  list of any length (``FLOAT[]``), so the size is the one most vectors have, and vectors of any
  other size are an error (``MixedVectorSizes``) naming the products that differ, their sizes and
  the fix. Such a column holds vectors from two models (``kgctl embed`` with another model stopped
  part-way, or run with ``--limit``), and vectors from two models cannot be compared, so no reader
  keeps some and drops others on its own.

What each consumer does with the error is its own: commands and training stop with the message;
the server keeps answering without that modality and logs the message (``kgrec/serve/embeddings.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kgrec.errors import KgrecError

# the `kgctl embed` flag that (re)writes a column
_EMBED_FLAG = {"text_emb": "--text", "image_emb": "--image"}
_NAMED = 5  # product ids named in the error message


class MixedVectorSizes(KgrecError):
    """A vector column holds vectors of more than one size (written by different models)."""


@dataclass(frozen=True)
class StoredVectors:
    """The vectors of one column: ``rows`` are the table rows that hold one (ascending), ``matrix``
    their values, one row each, as float32."""

    rows: np.ndarray  # (n,) int64
    matrix: np.ndarray  # (n, dim) float32

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    def __len__(self) -> int:
        return len(self.rows)

    def scatter(self, target: np.ndarray, n: int, dim: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """An (n, dim) float32 matrix with each vector at ``target[row]`` (``target`` maps every table
        row to an output row, -1 to leave it out), zeros elsewhere, and the mask of the rows filled.
        ``dim`` gives the width when there is no vector at all."""
        width = self.dim if len(self) else (dim or 0)
        out = np.zeros((n, width), dtype=np.float32)
        present = np.zeros(n, dtype=bool)
        if not len(self):
            return out, present
        to = np.asarray(target, dtype=np.int64)[self.rows]
        keep = to >= 0
        out[to[keep]] = self.matrix[keep]
        present[to[keep]] = True
        return out, present


def read_vectors(table: pa.Table, column: str, *, label: str = "Product") -> StoredVectors:
    """The vectors in ``table[column]`` (an export with an ``id`` column, as ``Backend.export_nodes``
    gives), read without going through Python lists. Raises ``MixedVectorSizes`` when they do not
    all have one size."""
    arr = table.column(column)
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    if pa.types.is_null(arr.type) or len(arr) == 0:  # an empty result, or no value at all
        return _empty()
    if pa.types.is_fixed_size_list(arr.type) or pa.types.is_large_list(arr.type):
        arr = arr.cast(pa.list_(arr.type.value_type))
    lengths = pc.list_value_length(arr).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    rows = np.flatnonzero(lengths > 0)
    if not len(rows):
        return _empty()
    sizes, counts = np.unique(lengths[rows], return_counts=True)
    dim = int(sizes[np.argmax(counts)])  # ties: the smaller size
    if len(sizes) > 1:
        raise _mixed(table, column, label, rows, lengths, dim)
    offsets = arr.offsets.to_numpy()  # absolute offsets into arr.values (a null row has length 0)
    values = arr.values.to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    matrix = values[offsets[rows][:, None] + np.arange(dim)[None, :]]
    return StoredVectors(rows.astype(np.int64), matrix.astype(np.float32, copy=False))


def _empty() -> StoredVectors:
    return StoredVectors(np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32))


def _mixed(table: pa.Table, column: str, label: str, rows: np.ndarray, lengths: np.ndarray,
           dim: int) -> MixedVectorSizes:
    odd = rows[lengths[rows] != dim]
    first = odd[:_NAMED]
    ids = table.column("id").take(pa.array(first)).to_pylist() if "id" in table.column_names else first.tolist()
    named = ", ".join(f"{i} ({int(lengths[r])})" for i, r in zip(ids, first.tolist()))
    more = f" and {len(odd) - _NAMED:,} more" if len(odd) > _NAMED else ""
    flag = _EMBED_FLAG.get(column, "")
    command = f"kgctl embed {flag}".rstrip()
    return MixedVectorSizes(
        f"{label}.{column} holds vectors of different sizes: {len(rows) - len(odd):,} of size {dim}, "
        f"{len(odd):,} of another size: {named}{more}; they come from different models",
        f"run `{command}` without --limit, with the model every product should use, so that all are re-encoded by it",
    )
