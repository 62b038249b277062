"""In-process `recommend` latency on a MovieLens-1M-sized graph, against the bare model in the same run.

Per user: the fused step (candidates from every graph source on the per-version graph index,
model scores, top-10 with explanations) vs the bare model scoring all items and taking the top 10
with seen items removed.
The peer model is PureSVD (truncated SVD of the interaction matrix, 64 factors; Cremonesi et al.
2010), defined here for the benchmark only; ``--model CHECKPOINT`` (with ``--db``) times a trained
checkpoint instead. Also printed: the time to build the graph index (once per graph version), the
cost of one trivial Cypher round trip (for scale: the old fused step made about ten per user) and
the median milliseconds of each stage.

    nice -n 10 python benchmarks/bench_recommend.py                 # builds the synthetic graph in a temp folder
    nice -n 10 python benchmarks/bench_recommend.py --db demo-out/kgrec.db --model CHECKPOINT

``--one-shot N`` times the one-shot command instead: ``kgctl recommend USER`` as a fresh process,
N calls per variant (random users), wall seconds and the CPU seconds of the child (user + system,
which on a shared machine say more than wall time): this tree with its graph index kept beside the
database (the first call builds and writes it; the next ones map it), this tree with the stored
index removed before each call (a build every call), and, with ``--before DIR`` (a copy of an
earlier tree's ``kgrec/``, e.g. ``git archive c7853dc kgrec | tar -x -C DIR``), that tree as the
peer. ``--one-shot-model`` adds the same with a MostPopular checkpoint (``--model``: the model's
imports, torch among them, are paid on every call).

    nice -n 10 python benchmarks/bench_recommend.py --db ML1M.db --one-shot 5 --before /tmp/before --one-shot-model
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kgrec.kg import open_backend  # noqa: E402
from kgrec.kg.reader import GraphReader  # noqa: E402
from kgrec.models.base import Recommender  # noqa: E402
from kgrec.models.data.interactions import InteractionData  # noqa: E402
from kgrec.models.training.checkpoint import Checkpoint, load_checkpoint  # noqa: E402
from kgrec.models.training.trainer import fit
from kgrec.serve.recommend import FusedRecommender  # noqa: E402


class PureSVD(Recommender):
    """Benchmark peer: user and item factors from a truncated SVD of the binary interaction matrix."""

    name = "bench_puresvd"

    def fit(self, train, valid=None, factors: int = 64, **kwargs):
        from scipy.sparse.linalg import svds

        self.n_users, self.n_items = train.n_users, train.n_items
        u, s, vt = svds(train.csr().astype(np.float32), k=factors, random_state=0)
        self.user_f = (u * s).astype(np.float32)
        self.item_f = vt.T.astype(np.float32).copy()
        return {}

    def score(self, users, items=None):
        f = self.item_f if items is None else self.item_f[np.asarray(items)]
        return self.user_f[np.asarray(users)] @ f.T

    def state(self):
        return {"user_f": self.user_f, "item_f": self.item_f}

    def load_state(self, state):
        self.user_f, self.item_f = state["user_f"], state["item_f"]


def pct(values, q):
    return float(np.percentile(np.asarray(values) * 1000, q))


def one_shot(db: str, users: list[str], calls: int, tree: Path, model: str | None, clear_index: bool) -> dict:
    """Median wall and CPU seconds of ``kgctl recommend`` as a fresh process."""
    import resource
    import shutil
    import subprocess

    from kgrec.serve.index_store import index_dir

    walls, cpus = [], []
    for user in users[:calls]:
        if clear_index:
            shutil.rmtree(index_dir(db), ignore_errors=True)
        cmd = [sys.executable, "-m", "kgrec.cli.main", "--db", db, "recommend", user, "--json"]
        if model:
            cmd += ["--model", model, "--force"]  # --force: the earlier tree refuses otherwise; this one ignores it
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        res = subprocess.run(cmd, env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True, text=True)
        walls.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if res.returncode != 0:
            raise SystemExit(f"kgctl recommend failed: {res.stderr[-500:]}")
    return {"wall": float(np.median(walls)), "cpu": float(np.median(cpus)), "first_wall": walls[0], "walls": walls}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", help="an existing graph (default: build the synthetic ML-1M-shaped graph)")
    ap.add_argument("--model", help="checkpoint folder to time instead of the PureSVD peer")
    ap.add_argument("--users", type=int, default=300, help="users timed (seeded sample)")
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument(
        "--one-shot", type=int, default=0, help="time N one-shot `kgctl recommend` processes per variant instead"
    )
    ap.add_argument("--before", help="an earlier tree holding kgrec/ (the peer of --one-shot)")
    ap.add_argument(
        "--one-shot-model", action="store_true", help="also time the one-shot command with a MostPopular checkpoint"
    )
    a = ap.parse_args()

    from synthetic_graph import given_or_synthetic

    graph = given_or_synthetic(a.db, a.seed)
    db = graph.path
    if graph.built:
        info = graph.built
        print(f"synthetic ML-1M-shaped graph built in {info['seconds']:.1f} s "
              f"({info['counts']['relationships']['INTERACTED']:,} interactions)")
    with open_backend(db, read_only=True) as b:
        data = InteractionData.from_backend(b)
        snapshot = b.snapshot_id()
    if a.one_shot:
        run_one_shot(a, db, data, snapshot)
        graph.cleanup()
        return
    if a.model:
        ck = load_checkpoint(a.model, snapshot, force=True)
    else:
        t0 = time.perf_counter()
        model = PureSVD()
        fit(model, data)
        print(f"peer model PureSVD(64) fitted in {time.perf_counter() - t0:.1f} s")
        ck = Checkpoint(model, data.user_ids, data.item_ids, {"snapshot_id": snapshot})
    reader = GraphReader(db)
    fused = FusedRecommender(reader, ck)
    seen = data.csr()
    uindex = {u: i for i, u in enumerate(ck.user_ids.tolist())}
    rng = np.random.default_rng(a.seed)
    users = [str(u) for u in rng.choice(data.user_ids, size=min(a.users, data.n_users), replace=False)]

    t0 = time.perf_counter()
    index = fused.graph_index()  # built once per graph version; any commit rebuilds it
    build_s = time.perf_counter() - t0
    for u in users[:20]:  # warm-up
        fused.recommend(u, a.k)
    floor, bare, full, noexp, stages = [], [], [], [], {}
    for u in users:
        t0 = time.perf_counter()
        reader.read(lambda bk, g: bk.run("rec_user", {"user": u}))  # noqa: B023 (called at once, in this iteration)
        floor.append(time.perf_counter() - t0)
        uidx = uindex[u]
        t0 = time.perf_counter()
        ck.model.recommend(uidx, a.k, exclude=seen[uidx].indices)
        bare.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        rec = fused.recommend(u, a.k, explain=True)
        full.append(time.perf_counter() - t0)
        for name, ms in rec.timings_ms.items():
            stages.setdefault(name, []).append(ms)
        t0 = time.perf_counter()
        fused.recommend(u, a.k, explain=False)
        noexp.append(time.perf_counter() - t0)
    reader.close()

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(
        f"graph: {data.n_users:,} users, {data.n_items:,} items, {len(data):,} interactions; {len(users)} users timed, "
        f"top-{a.k}"
    )
    print(f"{'':38} {'p50 ms':>9} {'p99 ms':>9}")
    for label, xs in (
        (f"bare model ({ck.model.name}) over all items", bare),
        ("fused, top-k with explanations", full),
        ("fused, no explanations", noexp),
        ("one trivial Cypher query (floor)", floor),
    ):
        print(f"{label:38} {pct(xs, 50):9.3f} {pct(xs, 99):9.3f}")
    print(
        f"graph index (built once per graph version): {build_s:.2f} s; stages (s): "
        + ", ".join(f"{k} {v:.2f}" for k, v in index.stage_seconds.items())
    )
    print(
        f"fused/bare ratio (p50): {pct(full, 50) / pct(bare, 50):.1f}x   target: p50 <= 5 ms, p99 <= 20 ms, <= 3x bare"
    )
    print("median ms per stage: " + ", ".join(f"{k} {np.median(v):.2f}" for k, v in stages.items()))
    graph.cleanup()


def run_one_shot(a, db: str, data, snapshot: str) -> None:
    from kgrec.models.general.popular import MostPopular
    from kgrec.models.training.checkpoint import save_checkpoint

    root = Path(__file__).resolve().parent.parent
    rng = np.random.default_rng(a.seed)
    users = [str(u) for u in rng.choice(data.user_ids, size=a.one_shot + 1, replace=False)]
    model_dir = None
    if a.one_shot_model:
        tmp = Path(tempfile.mkdtemp(prefix="kgrec-one-shot-"))
        model = MostPopular()
        fit(model, data)
        model_dir = str(save_checkpoint(tmp / "pop", model, data.user_ids, data.item_ids, snapshot))
    variants = [("this tree, index kept beside the database", root, False)]
    variants.append(("this tree, index rebuilt every call", root, True))
    if a.before:
        variants.append((f"before ({a.before})", Path(a.before), False))
    results = []
    for model in [None, model_dir] if model_dir else [None]:
        for label, tree, clear in variants:
            r = one_shot(db, users, a.one_shot, tree, model, clear)
            results.append((label + (" --model pop" if model else ""), r))
            print(
                f"  {results[-1][0]}: wall median {r['wall']:.2f} s (first {r['first_wall']:.2f} s), "
                f"CPU median {r['cpu']:.2f} s",
                flush=True,
            )
    print(
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {a.one_shot} calls per variant, random users"
    )
    print(f"{'kgctl recommend USER --json, fresh process':58} {'wall p50 s':>10} {'CPU p50 s':>10}")
    for label, r in results:
        print(f"{label:58} {r['wall']:10.2f} {r['cpu']:10.2f}")
    base = results[0][1]
    for label, r in results[1:]:
        print(
            f"ratio {label} / {results[0][0]}: wall {r['wall'] / base['wall']:.1f}x, CPU {r['cpu'] / base['cpu']:.1f}x"
        )


if __name__ == "__main__":
    main()
