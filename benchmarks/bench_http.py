"""HTTP load on `kgctl serve`, on 127.0.0.1 only, bounded in time and in count; stops by itself.

Starts the server as a child process on a free loopback port, then an asyncio/httpx client keeps
``--concurrency`` requests in flight for ``--duration`` seconds (or until ``--max-requests``),
GET /recommend?user=<random known user>&k=10. Peer in the same run: GET /health (the framework's
ceiling on this machine). Prints requests/s, errors, p50/p99.

    nice -n 10 python benchmarks/bench_http.py                       # synthetic ML-1M-shaped graph
    nice -n 10 python benchmarks/bench_http.py --db demo-out/kgrec.db --duration 60
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
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
        serve_args += ["--model", a.model, "--force"]
    try:
        with serving(db, *serve_args, host=HOST) as server:
            base = server.url
            warm = [httpx.get(f"{base}/recommend", params={"user": u, "k": 10}, timeout=30).status_code
                    for u in users[:20]]
            assert set(warm) == {200}, warm
            peer = asyncio.run(load(base, "/health", lambda r: {}, min(10.0, a.duration), a.max_requests,
                                    a.concurrency))
            rec = asyncio.run(load(base, "/recommend", lambda r: {"user": r.choice(users), "k": 10}, a.duration,
                                   a.max_requests, a.concurrency))
    finally:
        graph.cleanup()
    print(
        f"{len(users):,} users; {a.concurrency} concurrent requests on {HOST}; server cache {a.server_cache}, "
        f"{a.workers} worker(s); "
        f"server and client share {os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f})"
    )
    print(f"{'endpoint':12} {'requests':>9} {'seconds':>8} {'req/s':>8} {'errors':>7} {'p50 ms':>8} {'p99 ms':>8}")
    for name, r in (("/health", peer), ("/recommend", rec)):
        print(
            f"{name:12} {r['requests']:9d} {r['seconds']:8.1f} {r['rps']:8.1f} {r['errors']:7d} {r['p50']:8.2f} "
            f"{r['p99']:8.2f}"
        )
    print(f"/recommend statuses: {rec['statuses']}; target: >= 200 req/s, no errors over 60 s")


if __name__ == "__main__":
    main()
