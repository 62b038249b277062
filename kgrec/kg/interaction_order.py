"""The ingest order of interactions: ``INTERACTED.seq``.

Timestamps often tie: MovieLens-1M stores seconds, and 529,046 of its ratings share their second
with another rating of the same user. The order of a user's history (and so which interaction is
the test item of a temporal leave-one-out split) is (timestamp, seq): ``seq`` is a monotonically
increasing number given at ingest in source order (a file's line order; rows of several files in
the order the source stages them), and every ingest numbers its new interactions after the
largest ``seq`` already in the graph, so a later ingest comes after an earlier one. Interactions
an ingest finds already in the graph keep their number.

Interactions stored by a kgrec older than schema version 2 have no source order to recover; the
migration (``kgrec.kg.migrate``) numbers them in the order (timestamp, user id, product id,
behavior), missing timestamps first, so among equal timestamps of one user they keep the order by
product id that kgrec used before ``seq`` existed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np
import pyarrow as pa


class Store(Protocol):
    """The part of ``kgrec.kg.backend.Backend`` used here (a Protocol: the Backend imports this module)."""

    dialect: str

    def run(self, name: str, params: Mapping[str, Any] | None = None, *, write: bool = False,
            **bind: Any) -> pa.Table: ...


SEQ = "seq"
NO_SEQ = np.iinfo(np.int64).max  # an interaction without an ingest number sorts after its numbered ties
FILL_BATCH = 5000  # rows a statement where the backend takes them as a parameter list (Neo4j)
_TS_NONE = -1  # a missing timestamp inside identity rows (timestamps are >= 0)


def next_seq(backend: Store) -> int:
    """The first free sequence number: one more than the graph's largest (0 on an empty graph)."""
    table = backend.run("max_interaction_seq")
    value = table.column(0)[0].as_py() if table.num_rows else None
    return 0 if value is None else int(value) + 1


def numbered(backend: Store, n: int) -> np.ndarray:
    """``n`` new sequence numbers, after every one in the graph, for rows in their source order."""
    if n == 0:
        return np.zeros(0, np.int64)
    start = next_seq(backend)
    return np.arange(start, start + n, dtype=np.int64)


def fill_missing_seq(backend: Store) -> int:
    """Number the interactions that have no ``seq`` (see the module docstring for the order),
    after every existing number. Idempotent and resumable: a re-run numbers only what is still
    missing, in the same order after the same numbers, so an interrupted run followed by a
    re-run ends where an uninterrupted run does. Returns how many were numbered."""
    rows = backend.run("interactions_without_seq")
    if rows.num_rows == 0:
        return 0
    rows = pa.table({
        "src": rows.column("src").cast(pa.string()),
        "dst": rows.column("dst").cast(pa.string()),
        "timestamp": rows.column("timestamp").cast(pa.int64()).fill_null(_TS_NONE),
        "behavior": rows.column("behavior").cast(pa.string()).fill_null(""),
    })
    order = rows.sort_by([("timestamp", "ascending"), ("src", "ascending"), ("dst", "ascending"),
                          ("behavior", "ascending")])
    start = next_seq(backend)
    table = order.append_column(SEQ, pa.array(np.arange(start, start + order.num_rows, dtype=np.int64)))
    if backend.dialect == "ladybug":  # one bulk join of the bound Arrow table
        backend.run("fill_interaction_seq", write=True, _rows=table.combine_chunks())
    else:  # Neo4j takes the rows as a parameter list, in batches
        records = table.to_pylist()
        for first in range(0, len(records), FILL_BATCH):
            backend.run("fill_interaction_seq", {"rows": records[first : first + FILL_BATCH]}, write=True)
    return table.num_rows
