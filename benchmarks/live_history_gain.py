"""What serving with the live history gains: test NDCG@10 of a trained history model scored with
the history the server used before issue 12 (the training split stored in the checkpoint) and with
the live history (training split + each user's validation item, i.e. everything the graph holds
before the test item), through ``Recommender.score_histories``, the method the server calls.

Both runs go through the project's evaluation (``kgrec.models.evaluation.protocol.evaluate_phase``,
test phase: the test item ranked against all items with train + validation items masked, and the
fixed 1+99 sampled protocol). The peer in the same run is the served-today figure; the ratio
live / served-today is the gain. The ordinary ``kgctl evaluate`` figure (``observe_history`` with
train + validation) is printed beside them and must equal the live one.

Any checkpoint of a model with ``uses_history`` works (sasrec, bert4rec, textknn, kgbm4rec once it
implements ``score_histories``), trained on the graph given by ``--db``:

    OMP_NUM_THREADS=1 kgctl --db ml100k.db train --model sasrec --out runs/sasrec
    OMP_NUM_THREADS=1 python benchmarks/live_history_gain.py --db ml100k.db runs/sasrec [runs/kgbm4rec ...]
"""

from __future__ import annotations

import argparse
import datetime
import os
import shlex
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _run_facts import commit, load_average, memory_gib, uncommitted  # noqa: E402

from kgrec.errors import KgrecError  # noqa: E402
from kgrec.kg import open_backend  # noqa: E402
from kgrec.models.base import Recommender  # noqa: E402
from kgrec.models.data.interactions import InteractionData  # noqa: E402
from kgrec.models.evaluation.protocol import evaluate, evaluate_phase, phase  # noqa: E402
from kgrec.models.workflows.pipeline import load_dataset, load_trained  # noqa: E402

METRICS = ("NDCG@10", "HR@10", "MRR")


class GivenHistories:
    """Duck-types the part of ``Recommender`` the evaluation uses: every user is scored by
    ``model.score_histories`` from a fixed history, whatever history the phase would tell it."""

    predicts_rating = False

    def __init__(self, model: Recommender, histories: list[np.ndarray]):
        self.model, self.histories = model, histories
        self.name = model.name

    def observe_history(self, known: InteractionData) -> None:
        """The history is fixed at construction; the phase's known items are still masked."""

    def score(self, users: np.ndarray, items: np.ndarray | None = None) -> np.ndarray:
        users = np.asarray(users, dtype=np.int64)
        out = self.model.score_histories([self.histories[u] for u in users], users)
        return out if items is None else out[:, np.asarray(items)]


def measure(model: Recommender, ds) -> dict[str, dict[str, dict[str, float]]]:
    """``{variant: {protocol: metrics}}`` for served-today, live, and the ordinary test evaluation."""
    test = phase(ds.split, "test")
    served_today = ds.split.train.sequences()
    live = InteractionData.concat(ds.split.train, ds.split.valid).sequences()
    out = {}
    for variant, histories in (("served today (train)", served_today), ("live (train + valid)", live)):
        out[variant] = evaluate_phase(GivenHistories(model, histories), test)
    out["kgctl evaluate (observe_history)"] = evaluate(model, ds.split, "test")
    return out


def convergence(meta: dict) -> str:
    history = meta.get("metrics", {}).get("history", {})
    hparams = meta.get("config", {}).get("hparams", {})
    run, best, budget = history.get("epochs_run"), history.get("best_epoch"), hparams.get("epochs")
    if run is None:
        return "no training loop (fitted in one pass)"
    if history.get("stopped_by_time"):
        return (
            f"NOT converged: stopped by the time limit (max_seconds) after {run} of {budget} epochs, "
            f"best epoch {best} (validation {history.get('valid_metric')} "
            f"{float(history.get('best_valid') or 0):.4f}, still rising at the last epoch)"
            if best == run
            else f"NOT converged: stopped by the time limit (max_seconds) after {run} of {budget} epochs "
            f"(best epoch {best})"
        )
    if budget is not None and run >= int(budget):
        return (
            f"NOT converged: ran the whole budget of {budget} epochs without early stopping "
            f"(best epoch {best}, validation {history.get('valid_metric')} {float(history.get('best_valid') or 0):.4f})"
        )
    return f"converged: early stopping after {run} epochs (patience {hparams.get('patience')}), best epoch {best}"


def header(command: str, load_before: str, setup: list[str]) -> list[str]:
    import torch

    return [
        "# The live history at serving: test NDCG@10 with the served-today history against the live one",
        "",
        f"- **date**: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        f"- **commit**: `{commit()}`{uncommitted()}",
        f"- **machine**: {os.cpu_count()} CPU cores, {memory_gib():.0f} GiB memory; torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch thread(s)",
        f"- **load**: `uptime` load average {load_before} at the start, {load_average()} at the end; a machine SHARED "
        "with other engineers' runs (the figures here are rankings, not times, so the load does not move them)",
        f"- **command**: `{command}`",
        *[f"- **made with**: `{line}`" for line in setup],
        "",
    ]


def report(runs: list[tuple[str, dict, str, dict]], ds) -> list[str]:
    lines = [
        f"Graph: {ds.data.n_users:,} users, {ds.data.n_items:,} products, {len(ds.data):,} interactions; "
        f"temporal leave-one-out, {len(ds.split.test):,} test users. Test phase of the project's evaluation "
        "(full ranking: all items, train + validation items masked; sampled: the fixed 1+99 negatives). "
        "*served today*: each user scored (`score_histories`) from the training split only, the history the "
        "checkpoint stores and the server used before; *live*: from training + validation, everything the "
        "graph holds before the test item, as the server now reads it; *kgctl evaluate*: the ordinary test "
        "evaluation (`observe_history` with train + validation), which the live figure must equal.",
        "",
        "| checkpoint | model | variant | full NDCG@10 | full HR@10 | full MRR | sampled NDCG@10 "
        "| NDCG@10 vs served today |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for path, result, _, meta in runs:
        base = result["served today (train)"]["full"]["NDCG@10"]
        for variant, metrics in result.items():
            full, sampled = metrics["full"], metrics["sampled"]
            ratio = full["NDCG@10"] / base if base else float("nan")
            lines.append(
                f"| `{path}` | {meta.get('model')} | {variant} | {full['NDCG@10']:.4f} | {full['HR@10']:.4f} | "
                f"{full['MRR']:.4f} | {sampled['NDCG@10']:.4f} | {ratio:.3f}x |"
            )
    lines.append("")
    for path, result, conv, meta in runs:
        hp = meta.get("config", {}).get("hparams", {})
        live, served = result["live (train + valid)"]["full"], result["served today (train)"]["full"]
        same = live == result["kgctl evaluate (observe_history)"]["full"]
        lines += [
            f"**{meta.get('model')}** (`{path}`): test NDCG@10 {served['NDCG@10']:.4f} with the served-today history, "
            f"{live['NDCG@10']:.4f} with the live one ({live['NDCG@10'] / served['NDCG@10']:.3f}x); "
            f"HR@10 {served['HR@10']:.4f} -> "
            f"{live['HR@10']:.4f}. Live equals `kgctl evaluate`: {'yes' if same else 'NO'}. Training: {conv}. "
            f"Hyperparameters: `{ {k: hp[k] for k in sorted(hp)} }`; trained on snapshot `{meta.get('snapshot_id')}`.",
            "",
        ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "checkpoints", nargs="+", help="checkpoint folders (kgctl train --out) of models with uses_history"
    )
    parser.add_argument("--db", required=True, help="the graph the checkpoints were trained on (file or bolt:// URI)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "live-history-gain.md"),
                        help="results file to write (default benchmarks/results/live-history-gain.md)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--setup", action="append", default=[], metavar="COMMAND",
                        help="a command that made the graph or a checkpoint, recorded in the header (repeatable)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    threads = os.environ.get("OMP_NUM_THREADS")
    words = ["python", "benchmarks/live_history_gain.py", *(sys.argv[1:] if argv is None else argv)]
    command = (f"OMP_NUM_THREADS={threads} " if threads else "") + " ".join(shlex.quote(a) for a in words)
    load_before = load_average()
    runs = []
    try:
        with open_backend(args.db, read_only=True) as backend:
            ds = load_dataset(backend)
            for path in args.checkpoints:
                _, model, meta = load_trained(ds, path)
                if not type(model).uses_history:
                    raise KgrecError(
                        f"{path}: {model.name} does not compute users from a history (uses_history is False)",
                        "give a checkpoint of sasrec, bert4rec, textknn or kgbm4rec",
                    )
                print(f"{path}: {model.name}, evaluating the test split twice ...", file=sys.stderr)
                result = measure(model, ds)
                runs.append((path, result, convergence(meta), meta))
    except NotImplementedError as exc:
        print(f"error: {exc} (its score_histories is not implemented yet)", file=sys.stderr)
        return 1
    except KgrecError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr)
        return 1
    lines = header(command, load_before, args.setup) + report(runs, ds)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
