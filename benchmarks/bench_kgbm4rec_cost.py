"""Cost of one KGBM4Rec training epoch against one LightGCN epoch, measured in the same run on a
synthetic MovieLens-1M-shaped graph (SYNTHETIC data: 6,040 users, 3,706 items, 1,000,209
time-stamped interactions with a long-tailed item popularity; a Freebase-sized KG of 79k entities
and 380k typed triples over 24 relations; 384-d text and 1280-d image vectors on every item).

Target (issue 6): KGBM4Rec epoch <= 3x our LightGCN epoch, peak memory < 4 GB.

Both are the package's own models trained by the shared Trainer with their defaults (LightGCN:
2 layers, dim 64, BPR, batch 2048; KGBM4Rec: every user's whole sequence in windows of 50 per
epoch, full softmax, one full-graph GNN propagation per batch), no validation. ``--kgbm`` runs
one KGBM4Rec child per configuration (comma-separated hyperparameters, repeatable): the levers
are ``batch_size`` (the GNN runs once per batch), ``num_negatives`` (sampled softmax instead of
the full softmax over all items at every position) and ``gnn_every`` (one GNN propagation per
that many batches).

Each model runs in its own child process so that its peak resident memory is its own.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_kgbm4rec_cost.py --threads 1 \
        --kgbm batch_size=128 --kgbm batch_size=512,num_negatives=512,gnn_every=4
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from synthetic_graph import ml1m_arrays  # noqa: E402


def run_kgbm(args) -> dict:
    from kgrec.models.kgbm4rec import KGBM4Rec
    from kgrec.models.training.trainer import fit

    data, inputs = ml1m_arrays(args.scale)
    params = parse_params(args.kgbm[0])
    model = KGBM4Rec(epochs=args.epochs, max_len=args.max_len, verbose=False, **params)
    history = fit(model, data, None, inputs=inputs)
    batch = int(model.hparams["batch_size"])
    return {"seconds_per_epoch": float(np.mean(history["train_seconds"])), "params": params,
            "batches_per_epoch": int(np.ceil(len(model._win_items) / batch)),
            "modalities": history["modalities"], "graph_edges": int(model._structure.n_edges)}


def parse_params(text: str) -> dict:
    """"batch_size=512,num_negatives=512" -> {"batch_size": 512, "num_negatives": 512} (numbers as numbers)."""
    out = {}
    for part in filter(None, text.split(",")):
        key, _, value = part.partition("=")
        out[key.strip()] = (
            json.loads(value) if value.strip()[:1].isdigit() or value.strip()[:1] == "-" else value.strip()
        )
    return out


def run_lightgcn(args) -> dict:
    from kgrec.models.general.lightgcn import LightGCN
    from kgrec.models.training.trainer import Trainer

    data, _ = ml1m_arrays(args.scale)
    model = LightGCN(epochs=args.epochs)
    history = model.fit(data, None, trainer=Trainer(epochs=args.epochs, lr=model.hparams["lr"], progress=False))
    return {
        "seconds_per_epoch": float(np.mean(history["train_seconds"])),
        "hparams": {k: model.hparams[k] for k in ("dim", "layers", "batch_size")},
    }


def child(part: str, args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    out = run_kgbm(args) if part == "kgbm4rec" else run_lightgcn(args)
    out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of ML-1M's size (1.0 = full)")
    parser.add_argument("--kgbm", action="append", metavar="K=V,...",
                        help="a KGBM4Rec configuration (hyperparameters, comma-separated); repeatable, one child each "
                             "(default: batch_size=128, the model's defaults)")
    parser.add_argument("--max-len", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--part", choices=["kgbm4rec", "lightgcn"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part:
        print(json.dumps(child(args.part, args)))
        return
    results = {}
    configs = args.kgbm or ["batch_size=128"]
    # LightGCN runs first and last: the ratio uses the mean of the two, so that a change in the
    # machine's load during the run shows up (as two different LightGCN times) instead of biasing it
    runs = [("lightgcn", "")] + [("kgbm4rec", c) for c in configs] + [("lightgcn_again", "")]
    for part, config in runs:
        cmd = [
            sys.executable, __file__, "--part", part.removesuffix("_again"), "--epochs", str(args.epochs), "--scale",
            str(args.scale), "--kgbm", config, "--max-len", str(args.max_len), "--threads", str(args.threads),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        key = part if part.startswith("lightgcn") else f"kgbm4rec[{config}]"
        results[key] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{key}: {results[key]}", file=sys.stderr)
    base = (results["lightgcn"]["seconds_per_epoch"] + results["lightgcn_again"]["seconds_per_epoch"]) / 2
    ratios = {k: round(v["seconds_per_epoch"] / base, 3) for k, v in results.items() if not k.startswith("lightgcn")}
    print(
        json.dumps(
            {
                "data": f"SYNTHETIC MovieLens-1M-shaped graph, scale {args.scale}", "threads": args.threads,
                **results,
                "lightgcn_mean_seconds_per_epoch": round(base, 3), "epoch_ratio_kgbm4rec_over_lightgcn": ratios,
                "target_ratio_max": 3.0, "target_peak_gb_max": 4.0,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
