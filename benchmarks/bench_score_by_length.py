"""Cost of scoring every user of a trained sequence checkpoint (SASRec, BERT4Rec, KGBM4Rec) with
the histories grouped by length (``kgrec.models.nn.transformer.by_length``: rows sorted by
length, ``INFERENCE_ROWS`` at a time, each group cut to its longest row) against the uncut
matrix (every row at ``max_len``, what the models did before), in the same run. The unit timed is
one validation pass as the trainer runs it after every epoch: ``evaluate_phase`` on the
validation users, full ranking. The two sides alternate, best of ``--repeats``; the metrics of
both sides and the largest score difference are reported, so the speed-up is shown to change
nothing else.

    OMP_NUM_THREADS=1 python benchmarks/bench_score_by_length.py --db ml1m.db runs/sasrec runs/kgbm4rec \
        --out benchmarks/results/score-by-length.md
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import shlex
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _run_facts import commit, load_average, memory_gib, uncommitted  # noqa: E402

from kgrec.kg.open import open_backend  # noqa: E402
from kgrec.models.evaluation.protocol import evaluate_phase, phase  # noqa: E402
from kgrec.models.kgbm4rec import model as kgbm_module  # noqa: E402
from kgrec.models.sequential import sequence_model  # noqa: E402
from kgrec.models.workflows.pipeline import load_dataset, load_trained  # noqa: E402

GROUPED, UNCUT = "grouped by length (ours)", "uncut matrix (before)"


def _uncut(tokens, rows=None):
    """One group holding every row at its full width: the models' scoring before ``by_length``."""
    import torch

    return [(torch.arange(len(tokens), device=tokens.device), tokens)]


@contextlib.contextmanager
def uncut() -> Iterator[None]:
    saved = sequence_model.by_length, kgbm_module.by_length
    sequence_model.by_length = kgbm_module.by_length = _uncut
    try:
        yield
    finally:
        sequence_model.by_length, kgbm_module.by_length = saved


def measure(ds, path: str, repeats: int) -> dict:
    name, model, _ = load_trained(ds, path)
    ph = phase(ds.split, "valid")
    users = ph.held_out.user.astype(np.int64)[:1024]
    seconds: dict[str, float] = {}
    metrics: dict[str, dict[str, float]] = {}
    scores: dict[str, np.ndarray] = {}
    for _ in range(repeats):  # alternate the two sides, keep the best of each
        for side in (GROUPED, UNCUT):
            with uncut() if side == UNCUT else contextlib.nullcontext():
                started = time.perf_counter()
                metrics[side] = evaluate_phase(model, ph, protocols=("full",))["full"]
                seconds[side] = min(seconds.get(side, float("inf")), time.perf_counter() - started)
                if side not in scores:  # the same weights and histories every repeat: one comparison is enough
                    scores[side] = model.score(users)
    lengths = (model.history > 0).sum(1)
    return {
        "path": path, "model": name, "users": len(ph.held_out), "max_len": model.history.shape[1],
        "mean_length": float(lengths.mean()), "seconds": seconds, "metrics": metrics,
        "max_diff": float(np.abs(scores[GROUPED] - scores[UNCUT]).max()),
    }


def report(results: list[dict], command: str, load_before: str, repeats: int) -> str:
    import torch

    from kgrec.models.nn.transformer import INFERENCE_ROWS

    lines = [
        "# Scoring every user of a sequence checkpoint: histories grouped by length against the uncut matrix",
        "",
        f"- **date**: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        f"- **commit**: `{commit()}`{uncommitted()}",
        f"- **machine**: {os.cpu_count()} CPU cores, {memory_gib():.0f} GiB memory; torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch thread(s)",
        f"- **load**: `uptime` load average {load_before} at the start, {load_average()} at the end",
        f"- **command**: `{command}`",
        "",
        f"What it measures ([benchmarks/bench_score_by_length.py](../bench_score_by_length.py)): one "
        "validation pass as the trainer runs it after every epoch (`evaluate_phase`, full ranking over "
        "every item, the validation users), with the histories encoded in groups of "
        f"{INFERENCE_ROWS} rows of similar length, each cut to its longest row (ours), against the "
        "uncut matrix, every row at `max_len` (how the models scored before), in the same process, "
        f"alternating, best of {repeats}. *max score difference*: the largest absolute difference of "
        "the two sides' scores of the first 1,024 validation users.",
        "",
        "| checkpoint | model | users | max_len | mean history | uncut s | grouped s | speed-up "
        "| NDCG@10 uncut | NDCG@10 grouped | max score difference |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        s, m = r["seconds"], r["metrics"]
        lines.append(
            f"| `{r['path']}` | {r['model']} | {r['users']:,} | {r['max_len']} | {r['mean_length']:.0f} "
            f"| {s[UNCUT]:.1f} | {s[GROUPED]:.1f} | {s[UNCUT] / s[GROUPED]:.2f}x "
            f"| {m[UNCUT]['NDCG@10']:.6f} | {m[GROUPED]['NDCG@10']:.6f} | {r['max_diff']:.1e} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+", help="run folders written by kgctl train")
    parser.add_argument("--db", required=True, help="the graph the checkpoints were trained on")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", help="write the results file here (markdown)")
    args = parser.parse_args()
    command = "OMP_NUM_THREADS=1 python " + " ".join(shlex.quote(a) for a in [
        "benchmarks/bench_score_by_length.py", *sys.argv[1:]])
    load_before = load_average()
    with open_backend(args.db, read_only=True, create=False) as backend:
        ds = load_dataset(backend)
        results = []
        for path in args.checkpoints:
            results.append(measure(ds, path, args.repeats))
            print(results[-1], file=sys.stderr)
    text = report(results, command, load_before, args.repeats)
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
