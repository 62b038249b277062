"""The graph sampler's queries by id (``neighbors_in``, ``neighbors_out``, ``node_degrees``) in their
two forms, timed on the same LadybugDB files as the knowledge graph grows: the key-lookup form
(``kgrec/cypher/neighbors_in.cypher`` etc.) against the node-table scan form (``*_scan.cypher``,
``WHERE id IN $ids``), with the rows each returns compared.

The graphs are ``bench_kgbm4rec_sampled.py``'s SYNTHETIC ML-1M-shaped ones (build them with its
``build`` command). Each query is asked for ``--ids`` random ids of its label (plus a tenth of them
again, so that repeated ids are part of every request), the same ids for both forms; a time is
the best of ``--repeats`` runs. ``chosen`` is the form ``by_ids_query`` picks for that request.

    python benchmarks/bench_sampler_queries.py /tmp/kgbm-bench/synthetic-ml1m-u0.1-kg{0.1,1,10}x.db
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# (name, query, relationship type or None for node_degrees, label the ids are of)
CASES = [
    ("RELATED_TO into entities", "neighbors_in", "RELATED_TO", "Entity"),
    ("RELATED_TO out of entities", "neighbors_out", "RELATED_TO", "Entity"),
    ("LINKED_TO into entities", "neighbors_in", "LINKED_TO", "Entity"),
    ("LINKED_TO out of items", "neighbors_out", "LINKED_TO", "Product"),
    ("IN_CATEGORY out of items", "neighbors_out", "IN_CATEGORY", "Product"),
    ("IN_CATEGORY into genres", "neighbors_in", "IN_CATEGORY", "Category"),
    ("INTERACTED into items", "neighbors_in", "INTERACTED", "Product"),
    ("INTERACTED out of users", "neighbors_out", "INTERACTED", "User"),
    ("degree of entities", "node_degrees", None, "Entity"),
]


def time_query(backend, text: str, ids: list[str], repeats: int) -> tuple[float, list[tuple]]:
    best, rows = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        table = backend.execute(text, {"ids": ids})
        best = min(best, time.perf_counter() - started)
        rows = table
    return best, sorted(tuple(r.values()) for r in rows.to_pylist())


def measure(path: str, n_ids: int, repeats: int, scan_repeats: int, seed: int) -> dict:
    from kgrec.kg import open_backend
    from kgrec.kg.subgraph import by_ids_query

    out: dict = {"db": path, "cases": []}
    with open_backend(path, read_only=True) as b:
        counts = b.counts()
        out["counts"] = counts
        rng = np.random.default_rng(seed)
        for name, query, rel_type, label in CASES:
            all_ids = b.export_nodes(label).column("id").to_pylist()
            ids = [all_ids[i] for i in rng.choice(len(all_ids), min(n_ids, len(all_ids)), replace=False)]
            ids += ids[: max(1, len(ids) // 10)]
            if rel_type is None:
                slots = {"label": label}
            else:
                rel = b.schema.rel(rel_type)
                returns = ", r.relation AS relation" if "relation" in rel.properties else ""
                slots = {"src_label": rel.src, "rel_type": rel_type, "dst_label": rel.dst, "return_list": returns}
            lookup_s, lookup_rows = time_query(b, b.cypher.render(query, **slots), ids, repeats)
            scan_s, scan_rows = time_query(b, b.cypher.render(f"{query}_scan", **slots), ids, scan_repeats)
            row = {
                "case": name,
                "label_nodes": counts["nodes"][label],
                "ids": len(set(ids)),
                "rows": len(lookup_rows),
                "lookup_s": lookup_s,
                "scan_s": scan_s,
                "same_rows": lookup_rows == scan_rows,
                "chosen": "scan" if by_ids_query(query, counts["nodes"][label], len(set(ids))).endswith("_scan")
                else "lookup",
            }
            out["cases"].append(row)
            print(
                f"  {name:28s} {row['label_nodes']:>9,} nodes {row['ids']:>5} ids {row['rows']:>7,} rows  "
                f"lookup {lookup_s:8.4f} s  scan {scan_s:8.4f} s  scan/lookup {scan_s / lookup_s:7.1f}  "
                f"same rows {row['same_rows']}  chosen {row['chosen']}",
                flush=True,
            )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("db", nargs="+", help="LadybugDB files (bench_kgbm4rec_sampled.py build)")
    ap.add_argument("--ids", type=int, default=500, help="distinct ids per request")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--scan-repeats", type=int, default=0, help="repeats of the scan form (default: --repeats)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json-out")
    a = ap.parse_args()
    results = []
    for path in a.db:
        print(path, flush=True)
        results.append(measure(path, a.ids, a.repeats, a.scan_repeats or a.repeats, a.seed))
    if a.json_out:
        Path(a.json_out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
