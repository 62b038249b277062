"""Cost of `kgctl evaluate`'s uncertainty on an ML-1M-sized test set (6,040 users): 95% intervals
for every model and metric plus the paired comparison of each model with a baseline, 1,000
resamples, measured against a plain per-resample loop (draw users, recompute each metric, and a
loop of sign flips for the p-values) in the same run. Per-user values are SYNTHETIC (geometric
ranks, uniform ratings): the cost depends only on the numbers of users, models and metrics.

    OMP_NUM_THREADS=1 python benchmarks/bench_bootstrap.py [--users 6040 --models 3 --resamples 1000 --repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kgrec.models.evaluation.bootstrap import BootstrapSettings
from kgrec.models.evaluation.metrics import ranking_per_user, rating_per_user
from kgrec.models.evaluation.per_user import UserMetrics, ratio_of_sums
from kgrec.models.evaluation.uncertainty import describe


def samples(users: int, models: int) -> dict[str, UserMetrics]:
    rng = np.random.default_rng(0)
    ids = np.arange(users)
    out = {}
    for k in range(models):
        rating = rating_per_user(rng.uniform(1, 5, users), rng.integers(1, 6, users).astype(float))
        out[f"m{k}"] = UserMetrics.from_parts(ids, ranking_per_user(rng.geometric(0.01 + 0.002 * k, users) - 1), rating)
    return out


def plain_loop(per_user: dict[str, UserMetrics], baseline: str, settings: BootstrapSettings) -> None:
    """The peer: one resample (or permutation) at a time, each metric recomputed from the drawn users."""
    rng = np.random.default_rng(settings.seed)
    n = len(next(iter(per_user.values())))
    boot = {name: [] for name in per_user}
    for _ in range(settings.resamples):
        idx = rng.integers(0, n, n)
        for name, s in per_user.items():
            boot[name].append(ratio_of_sums(s.numerator[idx].sum(axis=0), s.denominator[idx].sum(axis=0), s.metrics))
    for name in per_user:
        np.percentile(np.array(boot[name]), [2.5, 97.5], axis=0)
    base = per_user[baseline]
    for name, s in per_user.items():
        if name == baseline:
            continue
        np.percentile(np.array(boot[name]) / np.array(boot[baseline]), [2.5, 97.5], axis=0)
        for _ in range(settings.resamples):
            swap = rng.random(n) < 0.5
            a_num = np.where(swap[:, None], base.numerator, s.numerator).sum(axis=0)
            a_den = np.where(swap[:, None], base.denominator, s.denominator).sum(axis=0)
            b_num = np.where(swap[:, None], s.numerator, base.numerator).sum(axis=0)
            b_den = np.where(swap[:, None], s.denominator, base.denominator).sum(axis=0)
            ratio_of_sums(a_num, a_den, s.metrics) - ratio_of_sums(b_num, b_den, s.metrics)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=6040)
    parser.add_argument("--models", type=int, default=3)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    per_user = samples(args.users, args.models)
    report = {"full": {n: {**s.values(), "users": float(args.users)} for n, s in per_user.items()}}
    settings = BootstrapSettings(args.resamples, 0)
    timings: dict[str, float] = {}
    runs = {
        "ours: describe (counts @ values, blocks)": lambda: describe(
            report, {"full": per_user}, baseline="m0", settings=settings
        ),
        "plain loop, one resample at a time": lambda: plain_loop(per_user, "m0", settings),
    }
    for _ in range(args.repeats):  # alternate the two, keep the best of each
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            timings[name] = min(timings.get(name, float("inf")), time.perf_counter() - started)
    metrics = len(next(iter(per_user.values())).metrics)
    print(f"{args.users:,} users, {args.models} models, {metrics} metrics, {args.resamples:,} resamples "
          f"(intervals for every model, {args.models - 1} paired comparisons with m0), best of {args.repeats}")
    ours = timings["ours: describe (counts @ values, blocks)"]
    for name, seconds in timings.items():
        print(f"{name:<42} {seconds:8.3f} s   {seconds / ours:6.2f}x ours")


if __name__ == "__main__":
    main()
