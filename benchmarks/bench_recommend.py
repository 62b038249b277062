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
peer. ``--one-shot-model`` adds the command with a MostPopular checkpoint (``--model``; index
kept): as written now (``state.npz``, read with numpy: no torch import) and the same model as
checkpoints were written before (``state.pt``, a torch file: torch is imported to read it), the
latter also for the ``--before`` tree. ``--one-shot-sequence`` adds a SASRec checkpoint (default
network, one epoch on a seeded tenth of the users: serving cost, not quality), which needs torch
to run its network over the user's history, and, as the peer for that, ``python -c "import
torch"`` alone. ``--model CHECKPOINT`` with ``--one-shot`` times that checkpoint too (index kept;
also for the ``--before`` tree).

    nice -n 10 python benchmarks/bench_recommend.py --db ML1M.db --one-shot 5 --before /tmp/before --one-shot-model
    python benchmarks/bench_recommend.py --db ML1M.db --one-shot 5 --one-shot-model --one-shot-sequence
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
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
    db = str(Path(db).resolve())  # the children run in the tree's folder

    from kgrec.serve.index_store import index_dir

    def command(user: str) -> list[str]:
        cmd = [sys.executable, "-m", "kgrec.cli.main", "--db", db, "recommend", user, "--json"]
        if model:
            cmd += ["--model", model, "--force"]  # --force: the earlier tree refuses otherwise; this one ignores it
        return cmd

    def before_each() -> None:
        if clear_index:
            shutil.rmtree(index_dir(db), ignore_errors=True)

    return timed_processes([command(u) for u in users[:calls]], tree, "kgctl recommend", before_each)


def timed_processes(commands: list[list[str]], tree: Path, what: str, before_each=None) -> dict:
    """Median wall and CPU (user + system) seconds of each command run as a fresh process
    (``before_each()`` runs before each, outside the timing)."""
    import resource

    walls, cpus = [], []
    for cmd in commands:
        if before_each is not None:
            before_each()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        res = run_in(tree, cmd)
        walls.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if res.returncode != 0:
            raise SystemExit(f"{what} failed: {res.stderr[-500:]}")
    return {"wall": float(np.median(walls)), "cpu": float(np.median(cpus)), "first_wall": walls[0], "walls": walls}


def run_in(tree: Path, cmd: list[str]) -> subprocess.CompletedProcess:
    """``cmd`` with ``tree``'s kgrec: on PYTHONPATH and as the working directory (``python -m``
    puts the working directory first on the path, so from another tree's root that tree's kgrec
    would be imported whatever PYTHONPATH says)."""
    return subprocess.run(cmd, env={**os.environ, "PYTHONPATH": str(tree)}, cwd=tree, capture_output=True, text=True)


def imports_torch(db: str, user: str, tree: Path, model: str) -> bool:
    """Whether ``kgctl recommend USER --model MODEL`` imports torch (``python -X importtime``)."""
    cmd = [sys.executable, "-X", "importtime", "-m", "kgrec.cli.main", "--db", str(Path(db).resolve()),
           "recommend", user, "--json", "--model", model, "--force"]
    res = run_in(tree, cmd)
    return any(re.search(r"\|\s*torch$", line.rstrip()) for line in res.stderr.splitlines())


def as_written_before(path: Path) -> Path:
    """Rewrite checkpoint ``path`` as kgrec wrote every checkpoint before ``state.npz``: the state
    as a torch file (``state.pt``), ``model.json`` without the module."""
    import json

    import torch

    from kgrec.models.base import read_state

    torch.save(read_state(path), path / "state.pt")
    (path / "state.npz").unlink(missing_ok=True)
    meta = json.loads((path / "model.json").read_text())
    meta.pop("module", None)
    (path / "model.json").write_text(json.dumps(meta, indent=2))
    return path


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
        "--one-shot-model", action="store_true",
        help="also time the one-shot command with a MostPopular checkpoint (state.npz, and as state.pt)",
    )
    ap.add_argument(
        "--one-shot-sequence", action="store_true",
        help="also time it with a SASRec checkpoint (1 epoch on a tenth of the users), and `import torch` alone",
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
    tmp = Path(tempfile.mkdtemp(prefix="kgrec-one-shot-"))
    checkpoints: list[tuple[str, str, bool]] = []  # (label, folder, also for the --before tree)
    if a.one_shot_model:
        model = MostPopular()
        fit(model, data)
        for name in ("pop", "pop-pt"):
            save_checkpoint(tmp / name, model, data.user_ids, data.item_ids, snapshot)
        checkpoints.append(("--model pop (state.npz)", str(tmp / "pop"), False))
        checkpoints.append(("--model pop as written before (state.pt)", str(as_written_before(tmp / "pop-pt")), True))
    if a.one_shot_sequence:
        import torch

        from kgrec.models.sequential.sasrec import SASRec

        torch.set_num_threads(1)
        t0 = time.perf_counter()
        sasrec = SASRec(epochs=1, seed=a.seed, verbose=False)
        fit(sasrec, data.subset(data.user < data.n_users // 10))
        save_checkpoint(tmp / "sasrec", sasrec, data.user_ids, data.item_ids, snapshot)
        print(f"SASRec (1 epoch, a tenth of the users) trained in {time.perf_counter() - t0:.1f} s", flush=True)
        checkpoints.append(("--model sasrec (state.pt)", str(tmp / "sasrec"), True))

    if a.model:  # a given checkpoint, e.g. a KGBM4Rec: for this tree and the --before one
        checkpoints.append((f"--model {a.model}", str(Path(a.model).resolve()), True))

    runs: list[tuple[str, Path, str | None, bool]] = [
        ("this tree, index kept beside the database", root, None, False),
        ("this tree, index rebuilt every call", root, None, True),
    ]
    if a.before:
        runs.append((f"before ({a.before})", Path(a.before).resolve(), None, False))
    for label, folder, before_too in checkpoints:
        runs.append((f"this tree, index kept, {label}", root, folder, False))
        if a.before and before_too:
            runs.append((f"before ({a.before}), {label}", Path(a.before).resolve(), folder, False))
    results = []
    for label, tree, model_dir, clear in runs:
        r = one_shot(db, users, a.one_shot, tree, model_dir, clear)
        if model_dir:
            label += ", imports torch" if imports_torch(db, users[0], tree, model_dir) else ", no torch import"
        results.append((label, r))
        print(f"  {label}: wall median {r['wall']:.2f} s (first {r['first_wall']:.2f} s), CPU median {r['cpu']:.2f} s",
              flush=True)
    if a.one_shot_sequence:
        r = timed_processes([[sys.executable, "-c", "import torch"]] * a.one_shot, root, "import torch")
        results.append(("python -c 'import torch' alone", r))
        print(f"  import torch alone: wall median {r['wall']:.2f} s, CPU median {r['cpu']:.2f} s", flush=True)
    print(
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {a.one_shot} calls per variant, random users"
    )
    print(f"{'kgctl recommend USER --json, fresh process':78} {'wall p50 s':>10} {'CPU p50 s':>10}")
    for label, r in results:
        print(f"{label:78} {r['wall']:10.2f} {r['cpu']:10.2f}")
    base = results[0][1]
    for label, r in results[1:]:
        print(
            f"ratio {label} / {results[0][0]}: wall {r['wall'] / base['wall']:.1f}x, CPU {r['cpu'] / base['cpu']:.1f}x"
        )
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
