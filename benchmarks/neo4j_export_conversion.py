"""Client-side cost of turning Neo4j result records into Arrow, per 1M edges (no server needed).

The Neo4j backend's export streams records into schema-typed Arrow record batches
(``_record_batch``, ``fetch_size`` rows each). Peers measured in the same run: the generic path
that user queries take (``_to_arrow``: graph-object check and type inference over the whole
result), and the conversion the backend used before (``tuple(record)`` per row, then
``pa.array`` with inference per column). Records are the driver's own ``neo4j.Record`` objects, as a result yields them.
The server and network side is not measured here (no Neo4j server runs on our machines).

Usage: python benchmarks/neo4j_export_conversion.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pyarrow as pa
from neo4j._data import Record

from kgrec.kg.neo4j_backend import FETCH_SIZE, _record_batch, _to_arrow


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    keys = ["src", "dst", "timestamp", "rating"]
    src = [f"u{i}" for i in rng.integers(0, 50_000, args.rows)]
    dst = [f"p{i}" for i in rng.integers(0, 20_000, args.rows)]
    ts = rng.integers(0, 2**31, args.rows).tolist()
    rating = rng.integers(1, 6, args.rows).astype(float).tolist()
    records = [Record(zip(keys, row)) for row in zip(src, dst, ts, rating)]
    schema = pa.schema(
        [("src", pa.string()), ("dst", pa.string()), ("timestamp", pa.int64()), ("rating", pa.float64())]
    )

    t = time.perf_counter()
    batches = [_record_batch(records[i : i + FETCH_SIZE], schema) for i in range(0, len(records), FETCH_SIZE)]
    streamed = pa.Table.from_batches(batches, schema=schema)
    t_stream = time.perf_counter() - t

    t = time.perf_counter()
    generic = _to_arrow(keys, records)
    t_generic = time.perf_counter() - t

    t = time.perf_counter()
    rows = [tuple(r) for r in records]
    before = pa.table([pa.array(list(col)) for col in zip(*rows)], names=keys)
    t_before = time.perf_counter() - t
    assert before.num_rows == args.rows

    assert streamed.num_rows == generic.num_rows == args.rows
    assert streamed.column("src").to_pylist()[:5] == generic.column("src").to_pylist()[:5]
    print(f"rows: {args.rows:,}  fetch_size: {FETCH_SIZE:,}")
    print(f"typed streaming batches (export path): {t_stream:.2f} s  ({args.rows / t_stream:,.0f} rows/s)")
    print(f"generic conversion (query path):       {t_generic:.2f} s  ({args.rows / t_generic:,.0f} rows/s)")
    print(f"previous conversion (peer):            {t_before:.2f} s  ({args.rows / t_before:,.0f} rows/s)")
    print(f"ratio previous/export: {t_before / t_stream:.2f}x   previous/query path: {t_before / t_generic:.2f}x")


if __name__ == "__main__":
    main()
