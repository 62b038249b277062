"""KGBM4Rec's GNN on subgraphs sampled through Cypher (``gnn_sampler=cypher``) against the
full-graph GNN (``gnn_sampler=full``), measured in the same run: peak resident memory as the
knowledge graph grows, seconds per epoch and the share of a sampled epoch spent in the database,
and test NDCG@10 on a real data set.

Each training run is a child process (its peak resident memory is its own, read from
/proc/PID/status VmHWM; a run whose resident memory passes ``--rss-cap-gb`` is killed and
reported as such). Torch runs on one thread.

    # memory and cost: SYNTHETIC ML-1M-shaped graphs written into LadybugDB files, KG at 1x, 3x, 10x
    python benchmarks/bench_kgbm4rec_sampled.py memory --work /tmp/kgbm-bench --kg-scales 1,3,10 --batches 40
    # the graphs alone (kept, and timed), e.g. for bench_sampler_queries.py or a later memory run
    python benchmarks/bench_kgbm4rec_sampled.py build --work /tmp/kgbm-bench --kg-scales 0.1,1,10,50 --users 0.1
    # quality and cost on a real graph (kgctl ingest recbole --dataset ml-100k; kgctl embed --text)
    python benchmarks/bench_kgbm4rec_sampled.py quality --db /tmp/kgbm-bench/ml100k.db -p epochs=10

The synthetic graph (SYNTHETIC data, speed and memory only): ``benchmarks/synthetic_graph.py``'s
users, items, interactions and text vectors (6,040 users, 3,706 items, 1,000,209 interactions);
its knowledge graph replaced by the shape ``bench_kgbm4rec_cost.py`` uses, times the KG scale:
each item IN_CATEGORY 1 of 18 genres and LINKED_TO one entity, plus 79,000 x scale entities and
380,000 x scale RELATED_TO triples over 24 relations between random entities (item entities included).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

N_ENTITIES, N_TRIPLES, N_REL, N_GENRES = 79_000, 380_000, 24, 18


def build_graph(path: Path, kg_scale: float, user_fraction: float = 1.0, seed: int = 42) -> dict:
    """ML-1M-shaped interactions (``user_fraction``: the fraction of its 6,040 users kept, each with an
    ML-1M-shaped activity) with a KG of ``kg_scale`` x the cost benchmark's."""
    import pyarrow as pa

    from benchmarks import synthetic_graph as sg
    from kgrec.kg import open_backend

    started = time.perf_counter()
    base = path.with_name(f"base-interactions-u{user_fraction:g}.db")
    if not base.exists():  # interactions and text once; each scale copies it and adds its KG
        tmp = base.with_name("base-tmp.db")
        for p in (tmp, tmp.with_name(tmp.name + ".wal")):
            p.unlink(missing_ok=True)
        rng = np.random.default_rng(seed)
        n_users, n_items = int(sg.N_USERS * user_fraction), sg.N_ITEMS
        users = np.asarray([f"u{i}" for i in range(n_users)], dtype=object)
        items = np.asarray([f"i{i}" for i in range(n_items)], dtype=object)
        popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
        popularity /= popularity.sum()
        per_user = (
            rng.multinomial(int(sg.N_INTER * user_fraction) - 20 * n_users, rng.dirichlet(np.ones(n_users) * 0.7)) + 20
        )
        src = np.repeat(np.arange(n_users), per_user)
        dst = rng.choice(n_items, size=len(src), p=popularity)
        ts = rng.integers(0, 10**8, size=len(src))
        with open_backend(str(tmp)) as b:
            b.init_schema()
            b.insert_nodes("User", pa.table({"id": users}))
            b.insert_nodes("Product", pa.table({"id": items, "title": [f"Synthetic film {i}" for i in range(n_items)]}))
            emb = rng.normal(size=(n_items, 384)).astype(np.float32)
            b.update_nodes("Product", pa.table({"id": items, "text_emb": pa.array(list(emb), pa.list_(pa.float32()))}))
            b.insert_relationships("INTERACTED", pa.table({"src": users[src], "dst": items[dst], "timestamp": ts,
                                                            "rating": rng.integers(1, 6, len(src)).astype(np.float64)}))
        tmp.rename(base)
    shutil.copyfile(base, path)
    rng = np.random.default_rng(seed + 1)
    n_items = 3_706
    items = np.asarray([f"i{i}" for i in range(n_items)], dtype=object)
    n_ent = int(N_ENTITIES * kg_scale)
    ents = np.asarray([f"m.e{k}" for k in range(n_ent)], dtype=object)
    with open_backend(str(path)) as b:
        b.insert_nodes(
            "Category",
            pa.table({"id": [f"genre:{g}" for g in range(N_GENRES)], "name": [f"Genre {g}" for g in range(N_GENRES)]}),
        )
        b.insert_relationships(
            "IN_CATEGORY", pa.table({"src": items, "dst": [f"genre:{g}" for g in rng.integers(0, N_GENRES, n_items)]})
        )
        b.insert_nodes("Entity", pa.table({"id": ents}))
        b.insert_relationships("LINKED_TO", pa.table({"src": items, "dst": ents[:n_items]}))
        n_tri = int(N_TRIPLES * kg_scale)
        for start in range(0, n_tri, 2_000_000):
            k = min(2_000_000, n_tri - start)
            b.insert_relationships(
                "RELATED_TO",
                pa.table(
                    {
                        "src": ents[rng.integers(0, n_ent, k)],
                        "dst": ents[rng.integers(0, n_ent, k)],
                        "relation": [f"film.r{r}" for r in rng.integers(0, N_REL, k)],
                    }
                ),
            )
        b.set_meta("revision", f"synthetic-kg{kg_scale}")
        counts = b.counts()
    return {"seconds": time.perf_counter() - started, "counts": counts}


def graph_path(work: Path, users: float, scale: float) -> Path:
    return work / f"synthetic-ml1m-u{users:g}-kg{scale:g}x.db"


# ---------------------------------------------------------------------------------- child runs
def child(args) -> dict:
    """One training run in this process (what the parent measures)."""
    import torch

    torch.set_num_threads(1)
    from kgrec.kg import open_backend
    from kgrec.models.evaluation.protocol import evaluate
    from kgrec.models.kgbm4rec import KGBM4Rec
    from kgrec.models.training.trainer import Trainer, seed_everything
    from kgrec.models.workflows.pipeline import load_dataset

    hp = json.loads(args.params)
    out: dict = {"params": hp}
    with open_backend(args.db, read_only=True) as db:
        ds = load_dataset(db)
        model = KGBM4Rec(**hp)
        if args.batches:  # a bounded run: the first N batches of the epoch
            whole = model.batches

            def first_batches(train, rng):
                found = whole(train, rng)
                out["batches_per_epoch"] = len(found)
                return found[: args.batches]
            model.batches = first_batches
        graph = ds.graph_inputs(model.requires)
        seed_everything(int(hp.get("seed", 2024)))
        started = time.perf_counter()
        trainer = Trainer.for_model(model, progress=False)
        history = model.fit(
            ds.split.train, ds.split.valid if args.evaluate else None, trainer=trainer, graph=graph, backend=db
        )
        out["fit_seconds"] = time.perf_counter() - started
        out["train_seconds"] = history["train_seconds"]
        out["epochs_run"] = history["epochs_run"]
        out["best_epoch"] = history["best_epoch"]
        out["sampling"] = history.get("sampling", [])
        if args.evaluate:
            out["test"] = evaluate(model, ds.split, "test", protocols=("full",))["full"]
    return out


def run_child(
    db: str, params: dict, *, batches: int = 0, evaluate: bool = False, cap_gb: float = 8.0, timeout: float = 600
) -> dict:
    cmd = [sys.executable, __file__, "child", "--db", db, "--params", json.dumps(params), "--batches", str(batches)]
    if evaluate:
        cmd.append("--evaluate")
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
    }
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peak, killed = [0], [None]

    def watch():
        while proc.poll() is None:
            try:
                status = Path(f"/proc/{proc.pid}/status").read_text()
                hwm = int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1]) / 2**20
                rss = int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1]) / 2**20
                peak[0] = max(peak[0], hwm)
                if rss > cap_gb:
                    killed[0] = f"killed by the benchmark at {rss:.2f} GB resident (cap {cap_gb} GB)"
                    proc.kill()
            except (FileNotFoundError, StopIteration, ProcessLookupError):
                pass
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    started = time.perf_counter()
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        killed[0] = f"killed after the {timeout:.0f} s time limit"
    watcher.join()
    result = {
        "params": params,
        "peak_rss_gb": round(peak[0], 3),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    if proc.returncode == 0 and stdout.strip():
        result.update(json.loads(stdout.strip().splitlines()[-1]))
    else:
        result["failed"] = (
            killed[0] or f"exit {proc.returncode}: {stderr.strip().splitlines()[-1] if stderr.strip() else ''}"
        )
    return result


def summary(r: dict) -> str:
    if "failed" in r:
        return f"FAILED ({r['failed']}), peak {r['peak_rss_gb']:.2f} GB"
    s = r.get("sampling") or []
    db = sum(x["database_seconds"] for x in s)
    wait = sum(x["wait_seconds"] for x in s)
    train = sum(r["train_seconds"])
    extra = (
        f", database {db:.1f} s ({db / train:.0%} of training), waited {wait:.1f} s ({wait / train:.0%})" if s else ""
    )
    return f"peak {r['peak_rss_gb']:.2f} GB, training {train:.1f} s{extra}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("child")
    c.add_argument("--db", required=True)
    c.add_argument("--params", required=True)
    c.add_argument("--batches", type=int, default=0)
    c.add_argument("--evaluate", action="store_true")
    m = sub.add_parser("memory")
    m.add_argument("--work", default="/tmp/kgbm-bench")
    m.add_argument("--kg-scales", default="1,3,10")
    m.add_argument("--batches", type=int, default=40, help="training batches per run (of one epoch)")
    m.add_argument("--users", type=float, default=1.0, help="fraction of ML-1M's users (and interactions) kept")
    m.add_argument("--rss-cap-gb", type=float, default=8.0)
    m.add_argument("-p", "--param", action="append", default=[], help="shared hyperparameter K=V (JSON value)")
    m.add_argument("--sampled", default='{"gnn_sampler": "cypher", "fanout": "10,5", "entity_buckets": 131072}')
    m.add_argument("--timeout", type=float, default=600, help="seconds per training run before it is killed")
    m.add_argument("--modes", default="full,cypher", help="which runs per graph: full, cypher or both")
    m.add_argument("--keep-graphs", action="store_true", help="keep the graph files (default: delete each after use)")
    m.add_argument("--json-out")
    g = sub.add_parser("build")
    g.add_argument("--work", default="/tmp/kgbm-bench")
    g.add_argument("--kg-scales", default="1,3,10")
    g.add_argument("--users", type=float, default=1.0, help="fraction of ML-1M's users (and interactions) kept")
    g.add_argument("--json-out")
    q = sub.add_parser("quality")
    q.add_argument("--db", required=True)
    q.add_argument("-p", "--param", action="append", default=[])
    q.add_argument("--sampled", default='{"gnn_sampler": "cypher", "fanout": "15,10"}')
    q.add_argument("--json-out")
    a = ap.parse_args()
    if a.cmd == "child":
        print(json.dumps(child(a), default=float))
        return
    shared = {"verbose": False}
    for kv in getattr(a, "param", []):
        k, _, v = kv.partition("=")
        try:
            shared[k] = json.loads(v)
        except json.JSONDecodeError:
            shared[k] = v
    sampled = {**shared, **json.loads(getattr(a, "sampled", "{}"))}
    results = []
    if a.cmd == "memory":
        work = Path(a.work)
        work.mkdir(parents=True, exist_ok=True)
        for scale in [float(s) for s in a.kg_scales.split(",")]:
            db = graph_path(work, a.users, scale)
            info = build_graph(db, scale, a.users) if not db.exists() else {"seconds": 0.0, "counts": None}
            print(f"KG {scale:g}x: graph {db} ({info['seconds']:.0f} s) {info['counts']}", flush=True)
            modes = (("full", {**shared, "gnn_sampler": "full"}), ("cypher", sampled))
            for mode, params in (m for m in modes if m[0] in a.modes.split(",")):
                r = run_child(str(db), params, batches=a.batches, cap_gb=a.rss_cap_gb, timeout=a.timeout)
                r.update(kg_scale=scale, mode=mode, counts=info["counts"])
                results.append(r)
                print(f"  {mode}: {summary(r)}", flush=True)
            if not a.keep_graphs:
                db.unlink(missing_ok=True)
                db.with_name(db.name + ".wal").unlink(missing_ok=True)
    elif a.cmd == "build":
        import resource

        work = Path(a.work)
        work.mkdir(parents=True, exist_ok=True)
        for scale in [float(s) for s in a.kg_scales.split(",")]:
            db = graph_path(work, a.users, scale)
            if db.exists():
                print(f"KG {scale:g}x: {db} exists, not rebuilt", flush=True)
                continue
            started = time.process_time()
            info = build_graph(db, scale, a.users)
            info.update(kg_scale=scale, db=str(db), cpu_seconds=time.process_time() - started,
                        peak_rss_gb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
            results.append(info)
            print(f"KG {scale:g}x: {db} built in {info['seconds']:.0f} s wall, {info['cpu_seconds']:.0f} s CPU, "
                  f"peak RSS so far {info['peak_rss_gb']:.2f} GB: {info['counts']}", flush=True)
    else:
        for mode, params in (("full", {**shared, "gnn_sampler": "full"}), ("cypher", sampled)):
            r = run_child(a.db, params, evaluate=True, cap_gb=12.0, timeout=3600)
            r["mode"] = mode
            results.append(r)
            print(f"{mode}: {summary(r)}; test {r.get('test', {}).get('NDCG@10')}", flush=True)
    if a.json_out:
        Path(a.json_out).write_text(json.dumps(results, indent=1, default=float))


if __name__ == "__main__":
    main()
