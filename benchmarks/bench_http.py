"""HTTP load on `kgctl serve`, on 127.0.0.1 only, bounded in time and in count; stops by itself.

Starts the server as a child process on a free loopback port, then an asyncio/httpx client keeps
``--concurrency`` requests in flight for ``--duration`` seconds (or until ``--max-requests``),
GET /recommend?user=<random known user>&k=10. Peer in the same run: GET /health (the framework's
ceiling on this machine). Prints requests/s, errors, p50/p99.

``--ingests N`` adds a third phase: the same /recommend load for the same duration while another
process commits N ingests into the same database (each a separate read-write open with
``--commits-per-ingest`` committed batches of new users and interactions, the revision bumped, a
checkpoint at close), spread over the phase; reported against the /recommend phase without
ingest, measured just before in the same run (issue 14: p99 within 2x).

    nice -n 10 python benchmarks/bench_http.py                       # synthetic ML-1M-shaped graph
    nice -n 10 python benchmarks/bench_http.py --db demo-out/kgrec.db --duration 60
    nice -n 10 python benchmarks/bench_http.py --db ML1M.db --duration 30 --ingests 4
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kgrec.serve.process import serving  # noqa: E402

HOST = "127.0.0.1"  # loopback only, never another address


async def load(base: str, path: str, params_of, duration: float, max_requests: int, concurrency: int) -> dict:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    sent = 0
    deadline = time.monotonic() + duration

    async def worker(client: httpx.AsyncClient, seed: int):
        nonlocal errors, sent
        rng = random.Random(seed)
        while time.monotonic() < deadline and sent < max_requests:
            sent += 1
            t0 = time.perf_counter()
            try:
                res = await client.get(path, params=params_of(rng))
                statuses[res.status_code] = statuses.get(res.status_code, 0) + 1
                if res.status_code != 200:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
            latencies.append(time.perf_counter() - t0)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    start = time.monotonic()
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        await asyncio.gather(*(worker(client, i) for i in range(concurrency)))
    elapsed = time.monotonic() - start
    ms = np.asarray(latencies) * 1000
    return {
        "requests": len(latencies), "seconds": elapsed, "rps": len(latencies) / elapsed, "errors": errors,
        "statuses": statuses, "p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)),
    }


WRITER = """
import sys, time, pyarrow as pa
from kgrec.kg import open_backend

db, ingests, commits, rows, gap = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
with open_backend(db, read_only=True) as b:
    items = b.export_nodes("Product").column("id").to_pylist()[:500]
stamp = int(time.time())
for n in range(ingests):
    time.sleep(gap)
    t0 = time.perf_counter()
    with open_backend(db) as b:
        for c in range(commits):
            users = [f"bench-{stamp}-{n}-{c}-{i}" for i in range(rows // 10)]
            b.insert_nodes("User", pa.table({"id": users}))
            src = [u for u in users for _ in range(10)]
            dst = [items[(i * 7 + n) % len(items)] for i in range(len(src))]
            b.insert_relationships("INTERACTED", pa.table({"src": src, "dst": dst, "timestamp": [stamp] * len(src),
                                                           "rating": [4.0] * len(src)}))
            b.set_meta("revision", f"bench-{stamp}-{n}-{c}")
    print(f"ingest {n + 1}: {commits} commits of {rows} interactions in {time.perf_counter() - t0:.2f} s", flush=True)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", help="an existing graph (default: build the synthetic ML-1M-shaped graph)")
    ap.add_argument("--model", help="checkpoint folder for the server")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of /recommend load")
    ap.add_argument("--max-requests", type=int, default=200_000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument(
        "--server-cache", type=int, default=0,
        help="the server's --cache (answers kept per graph version); 0 measures every request in full",
    )
    ap.add_argument("--workers", type=int, default=1, help="the server's --workers")
    ap.add_argument("--ingests", type=int, default=0,
                    help="also measure /recommend while another process commits this many ingests")
    ap.add_argument("--commits-per-ingest", type=int, default=2)
    ap.add_argument("--rows", type=int, default=2000, help="interactions per committed batch")
    ap.add_argument("--tree", help="run the server from this tree's kgrec/ (e.g. an earlier commit's, as a peer); "
                                   "default: this one")
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()

    from synthetic_graph import given_or_synthetic

    graph = given_or_synthetic(a.db, a.seed)
    db = graph.path
    from kgrec.kg import open_backend

    with open_backend(db, read_only=True) as b:
        users = b.export_nodes("User").column("id").to_pylist()
    serve_args = ["--log-level", "warning", "--cache", str(a.server_cache), "--workers", str(a.workers)]
    if a.model:
        serve_args += ["--model", a.model]
    during = None
    try:
        with serving(db, *serve_args, host=HOST, source_root=a.tree) as server:
            base = server.url
            warm = [httpx.get(f"{base}/recommend", params={"user": u, "k": 10}, timeout=30).status_code
                    for u in users[:20]]
            assert set(warm) == {200}, warm
            peer = asyncio.run(load(base, "/health", lambda r: {}, min(10.0, a.duration), a.max_requests,
                                    a.concurrency))
            rec = asyncio.run(load(base, "/recommend", lambda r: {"user": r.choice(users), "k": 10}, a.duration,
                                   a.max_requests, a.concurrency))
            if a.ingests:
                gap = a.duration / (a.ingests + 1)
                writer = subprocess.Popen(
                    [sys.executable, "-c", WRITER, db, str(a.ingests), str(a.commits_per_ingest), str(a.rows),
                     f"{gap:.2f}"],
                    env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True,
                )
                during = asyncio.run(load(base, "/recommend", lambda r: {"user": r.choice(users), "k": 10},
                                          a.duration, a.max_requests, a.concurrency))
                out, _ = writer.communicate(timeout=600)
                print(out.strip())
                if writer.returncode != 0:
                    raise SystemExit("the ingesting process failed")
                during["index"] = httpx.get(f"{base}/health", timeout=30).json().get("index") or {}
    finally:
        graph.cleanup()
    print(
        f"{len(users):,} users; {a.concurrency} concurrent requests on {HOST}; server cache {a.server_cache}, "
        f"{a.workers} worker(s); "
        f"server and client share {os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f})"
    )
    print(f"{'endpoint':12} {'requests':>9} {'seconds':>8} {'req/s':>8} {'errors':>7} {'p50 ms':>8} {'p99 ms':>8}")
    rows = [("/health", peer), ("/recommend", rec)] + ([("/recommend during ingest", during)] if during else [])
    for name, r in rows:
        print(
            f"{name:12} {r['requests']:9d} {r['seconds']:8.1f} {r['rps']:8.1f} {r['errors']:7d} {r['p50']:8.2f} "
            f"{r['p99']:8.2f}"
        )
    print(f"/recommend statuses: {rec['statuses']}; target: >= 200 req/s, no errors over 60 s")
    if during:
        print(
            f"during {a.ingests} ingests ({a.ingests * a.commits_per_ingest} commits): statuses {during['statuses']}; "
            f"p99 {during['p99']:.1f} ms = {during['p99'] / rec['p99']:.2f}x the p99 without ingest (goal: <= 2x); "
            f"index after: {during['index']}"
        )


if __name__ == "__main__":
    main()
