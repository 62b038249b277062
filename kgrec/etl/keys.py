"""Exact, vectorised row identity for staging: group equal keys, match keys against the graph.

Key columns (ids as strings, timestamps, behaviours) are turned into one int64 matrix: string
columns through a dictionary shared by both sides of a comparison, integers as they are (null
becomes the smallest int64). Rows are then hashed into one uint64, joined by sorting, and every
candidate pair is checked column by column, so a hash collision can never merge two keys.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

NULL_INT = np.iinfo(np.int64).min


def _arrow(values) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if isinstance(values, pa.Array):
        return values
    if isinstance(values, pd.Series):
        try:
            return _arrow(pa.array(values, from_pandas=True))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return pa.array(values.astype(object).where(values.notna(), None).tolist())
    return pa.array(values, from_pandas=True)


def _is_integer(arr: pa.Array) -> bool:
    return pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type)


def _ints(arr: pa.Array) -> np.ndarray:
    out = arr.cast(pa.int64(), safe=False).fill_null(NULL_INT)
    return out.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def encode(*sides: list) -> list[np.ndarray]:
    """Each side is a list of columns (same kinds in the same order); returns one int64 matrix a side."""
    n_cols = len(sides[0])
    mats = [np.empty((len(_arrow(side[0])) if n_cols else 0, n_cols), dtype=np.int64) for side in sides]
    for c in range(n_cols):
        arrays = [_arrow(side[c]) for side in sides]
        if all(_is_integer(a) or pa.types.is_null(a.type) for a in arrays):
            for m, a in zip(mats, arrays):
                m[:, c] = _ints(a) if not pa.types.is_null(a.type) else NULL_INT
            continue
        if len(arrays) == 1:
            strings = arrays
            encoded = arrays[0].dictionary_encode()
        else:
            kinds = {a.type for a in arrays}
            strings = arrays if len(kinds) == 1 and not pa.types.is_null(arrays[0].type) else [
                a.cast(pa.large_string()) for a in arrays]
            encoded = pa.concat_arrays(strings).dictionary_encode()
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        start = 0
        for m, a in zip(mats, strings):
            m[:, c] = codes[start : start + len(a)]
            start += len(a)
    return mats


def row_hash(mat: np.ndarray) -> np.ndarray:
    """A uint64 per row (splitmix64 over the columns)."""
    h = np.full(len(mat), 0x9E3779B97F4A7C15, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for c in range(mat.shape[1]):
            x = mat[:, c].astype(np.uint64) + h
            x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            h = x ^ (x >> np.uint64(31))
    return h


def group(mat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(group id per row, index of each group's first row); groups numbered by first appearance."""
    if len(mat) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    codes, _ = pd.factorize(row_hash(mat))  # hash table, codes in order of first appearance
    codes = codes.astype(np.int64, copy=False)
    running = np.maximum.accumulate(codes)
    first = np.flatnonzero(np.r_[True, codes[1:] > running[:-1]])
    if not (mat[first[codes]] == mat).all():  # a hash collision: group exactly, slowly
        codes = pd.DataFrame(mat).groupby(list(range(mat.shape[1])), sort=False).ngroup().to_numpy()
        first = np.unique(codes, return_index=True)[1]
    return codes, first


def match(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All pairs (i, j) with equal rows ``left[i] == right[j]``."""
    if len(left) == 0 or len(right) == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty
    hl, hr = row_hash(left), row_hash(right)
    index = pd.Index(hr)
    if index.is_unique:  # the usual case: one hash-table probe per left row
        j = index.get_indexer(hl)
        i = np.flatnonzero(j >= 0)
        j = j[i]
    else:
        order = np.argsort(hr, kind="stable")
        hr_sorted = hr[order]
        lo = np.searchsorted(hr_sorted, hl, side="left")
        hi = np.searchsorted(hr_sorted, hl, side="right")
        counts = hi - lo
        i = np.repeat(np.arange(len(hl)), counts)
        if not len(i):
            return i, i
        offsets = np.arange(len(i)) - np.repeat(np.cumsum(counts) - counts, counts)
        j = order[np.repeat(lo, counts) + offsets]
    same = (left[i] == right[j]).all(axis=1)
    return i[same], j[same]
