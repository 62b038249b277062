"""Our baselines beside RecBole 1.2.1's own implementations, on the SAME split, in one run.

    bash benchmarks/setup_recbole_venv.sh            # once: .venv-recbole
    python benchmarks/recbole_side_by_side.py --db kgrec.db --epochs 100

1. reads the graph (``--db``), builds the temporal leave-one-out split and writes it as RecBole
   benchmark files (``kgrec.models.data.recbole_export``, the same code as ``kgctl export recbole``);
2. for each pair, runs RecBole's model in .venv-recbole (benchmarks/_recbole_runner.py, full
   ranking, early stopping on validation NDCG@10, the same epoch cap and patience) and then ours
   in this process;
3. prints test NDCG@10 / HR@10 under full ranking and seconds per training epoch side by side,
   with the ratios.

Notes printed with the table: RecBole's full ranking masks training items for general models
but not for sequential ones (its SASRec may rank a seen item first), so our SASRec is shown both
masked (our protocol) and unmasked (RecBole's); an epoch of RecBole's SASRec trains on every
prefix of every sequence while ours trains on each sequence once, so for SASRec compare the
total training time too.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# ours -> (RecBole model, dataset suffix, extra RecBole config)
PAIRS = {
    # RecBole 1.2.1's Pop is not a fair peer: it counts with `cnt[item] = cnt[item] + 1` over a
    # batch, so an item counts once per batch however often it occurs there, and with its default
    # negative sampling it also counts the sampled negatives (measured on ML-100k: 105,092 counts
    # for 98,114 training rows). Kept for reference only; not in the default --models.
    "pop": ("Pop", "", {"train_neg_sample_args": None}),
    "bpr": ("BPR", "", {}),
    "lightgcn": ("LightGCN", "", {}),
    "sasrec": ("SASRec", "-seq", {"loss_type": "CE"}),
    "cke": ("CKE", "", {"kg": True}),
    "kgat": ("KGAT", "", {"kg": True}),  # ours has no KGAT: compared against our KG model (cke)
}
OUR_MODEL = {"kgat": "cke"}


def run_recbole(
    python: str, model: str, data_path: Path, dataset: str, epochs: int, patience: int, seed: int, extra: dict,
    workdir: Path,
) -> dict:
    cmd = [
        python, str(ROOT / "benchmarks" / "_recbole_runner.py"), "--model", model, "--data-path", str(data_path),
        "--dataset", dataset, "--epochs", str(epochs), "--stopping-step", str(patience), "--seed", str(seed),
        "--checkpoint-dir", str(workdir / "saved"), "--config-json", json.dumps(extra),
    ]
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    wall = time.perf_counter() - started
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            out = json.loads(line[len("RESULT "):])
            out["wall_seconds"] = wall
            return out
    tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-25:])
    raise SystemExit(f"RecBole {model} failed (exit {proc.returncode}):\n{tail}")


def run_ours(
    ds, name: str, epochs: int, patience: int, seed: int, max_seconds: float | None = None, out: Path | None = None
) -> dict:
    from kgrec.models.evaluation.protocol import evaluate
    from kgrec.models.workflows.pipeline import train_model

    started = time.perf_counter()
    hparams = {"epochs": epochs, "patience": patience, "max_seconds": max_seconds}
    result = train_model(ds, name, hparams, seed=seed, progress=False, out=out)
    wall = time.perf_counter() - started
    test = evaluate(result.model, ds.split, "test", protocols=("full",))["full"]
    out = {
        "test": test, "wall_seconds": wall, "best_epoch": result.history.get("best_epoch"),
        "epochs_run": result.history.get("epochs_run", 0),
        "seconds_per_epoch": result.history.get("seconds_per_epoch", 0.0),
        "train_seconds": float(sum(result.history.get("train_seconds", []))), "hparams": result.model.hparams,
    }
    if name in ("sasrec", "bert4rec"):
        out["test_unmasked"] = evaluate(result.model, ds.split, "test", protocols=("full",), mask_history=False)["full"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True, help="kgrec graph store (path or bolt:// URI)")
    parser.add_argument("--models", default="lightgcn,sasrec,kgat", help="comma-separated: " + ",".join(PAIRS))
    parser.add_argument("--epochs", type=int, default=100, help="epoch cap, the same for both sides")
    parser.add_argument(
        "--epochs-for", action="append", default=[], metavar="NAME=N",
        help="a different epoch cap for one pair (both sides), e.g. sasrec=10; repeatable",
    )
    parser.add_argument(
        "--time-matched", action="append", default=[], metavar="NAME",
        help="give our side of this pair RecBole's training time instead of its epoch cap (ours may run up "
        "to --epochs epochs within it); for SASRec, whose epochs differ in size; repeatable",
    )
    parser.add_argument("--patience", type=int, default=10, help="early-stopping patience, the same for both sides")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--recbole-python", default=str(ROOT / ".venv-recbole" / "bin" / "python"))
    parser.add_argument("--workdir", default=None, help="keep the exported split and RecBole files here")
    parser.add_argument("--save-dir", default=None, help="keep our trained checkpoints here (for kgctl evaluate)")
    parser.add_argument("--json-out", default=None, help="also write all figures as JSON")
    args = parser.parse_args()
    if not Path(args.recbole_python).exists():
        raise SystemExit(f"{args.recbole_python} not found: run `bash benchmarks/setup_recbole_venv.sh` first")

    from kgrec.kg import open_backend
    from kgrec.models.data.interactions import KnowledgeGraphData
    from kgrec.models.data.recbole_export import export_split
    from kgrec.models.workflows.pipeline import load_dataset

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="kgrec-recbole-"))
    workdir.mkdir(parents=True, exist_ok=True)
    backend = open_backend(args.db, read_only=True)
    ds = load_dataset(backend)
    kg = KnowledgeGraphData.from_backend(backend, ds.data.item_ids)
    summary = export_split(ds.split, workdir / "data", "kgrec", kg)
    print(
        f"split: {summary.rows['train']} train / {summary.rows['valid']} "
        f"valid / {summary.rows['test']} test interactions, "
        f"{summary.kg_triples} KG triples; files in {workdir / 'data'}", flush=True,
    )
    print(

        f"machine: {os.cpu_count()} CPU cores; torch threads {__import__('torch').get_num_threads()}; epoch cap "
        f"{args.epochs}, patience {args.patience}",
        flush=True,
    )

    caps = {k: int(v) for k, _, v in (p.partition("=") for p in args.epochs_for)}
    results = {}
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        rb_model, suffix, extra = PAIRS[name]
        ours_name = OUR_MODEL.get(name, name)
        print(f"... RecBole {rb_model}", flush=True)
        epochs = caps.get(name, args.epochs)
        rb = run_recbole(
            args.recbole_python, rb_model, workdir / "data", "kgrec" + suffix, epochs, args.patience, args.seed, extra,
            workdir,
        )
        print(

            f"    NDCG@10 {rb['test'].get('ndcg@10', float('nan')):.4f}, {rb['seconds_per_epoch']:.2f} s/epoch, "
            f"{rb['epochs_run']} epochs",
            flush=True,
        )
        print(f"... ours {ours_name}", flush=True)
        save = Path(args.save_dir) / ours_name if args.save_dir else None
        if name in args.time_matched:
            print(

                f"    ours time-matched: up to {args.epochs} epochs "
                f"within RecBole's {rb['train_seconds']:.0f} s of training",
                flush=True,
            )
            ours = run_ours(
                ds, ours_name, args.epochs, args.patience, args.seed, max_seconds=rb["train_seconds"], out=save
            )
        else:
            ours = run_ours(ds, ours_name, epochs, args.patience, args.seed, out=save)
        print(

            f"    NDCG@10 {ours['test']['NDCG@10']:.4f}, "
            f"{ours['seconds_per_epoch']:.2f} s/epoch, {ours['epochs_run']} epochs",
            flush=True,
        )
        results[name] = {"recbole_model": rb_model, "ours_model": ours_name, "recbole": rb, "ours": ours}
    backend.close()

    print()
    print("test, full ranking over all items (temporal leave-one-out, identical split)")
    head = (f"{'RecBole model':<14}{'ours':<10}{'NDCG@10 RB':>11}{'ours':>9}{'ratio':>7}{'HR@10 RB':>10}{'ours':>8}"
            f"{'s/ep RB':>9}{'ours':>8}{'ratio':>7}{'train s RB':>11}{'ours':>8}{'epochs RB/ours':>16}")
    print(head)
    print("-" * len(head))
    for r in results.values():
        rb, ours = r["recbole"], r["ours"]
        rn, on = rb["test"].get("ndcg@10", float("nan")), ours["test"]["NDCG@10"]
        rh, oh = rb["test"].get("hit@10", float("nan")), ours["test"]["HR@10"]
        rs, os_ = rb["seconds_per_epoch"], ours["seconds_per_epoch"] or float("nan")
        print(
            f"{r['recbole_model']:<14}{r['ours_model']:<10}{rn:>11.4f}{on:>9.4f}"
            f"{on / rn if rn else float('nan'):>7.2f}{rh:>10.4f}{oh:>8.4f}"
            f"{rs:>9.2f}{os_:>8.2f}{rs / os_ if os_ else float('nan'):>7.2f}"
            f"{rb['train_seconds']:>11.1f}{ours['train_seconds']:>8.1f}"
            f"{str(rb['epochs_run']) + '/' + str(ours['epochs_run']):>16}"
        )
        if "test_unmasked" in ours:
            un = ours["test_unmasked"]
            print(
                f"{'':<14}{'(unmasked)':<10}{'':>11}{un['NDCG@10']:>9.4f}"
                f"{un['NDCG@10'] / rn if rn else float('nan'):>7.2f}{'':>10}{un['HR@10']:>8.4f}"
            )
    print(
        "ratio: ours / RecBole for NDCG@10 (higher is better for us); "
        "RecBole / ours for s/epoch (above 1: our epoch is faster)."
    )
    print(
        "RecBole masks seen items for general models but not for "
        "sequential ones: compare SASRec on the (unmasked) row too."
    )
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
