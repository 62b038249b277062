"""The uncertainty around a report: an interval per metric and model, the spread over seeds of
models trained with several seeds, and the paired comparison with a baseline.

``describe`` takes what the evaluation kept (the means and the per-user values of every model on
every protocol) and returns a ``Statistics`` the report renders as table, JSON and CSV. Labels are
the report's model labels plus one per seed group (its members are the per-seed models).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from kgrec.errors import KgrecError
from kgrec.models.evaluation.bootstrap import (
    BootstrapSettings,
    Interval,
    PairedResult,
    bootstrap_values,
    intervals_of,
    paired_comparison,
)
from kgrec.models.evaluation.metrics import LOWER_IS_BETTER
from kgrec.models.evaluation.per_user import UserMetrics

BETTER, WORSE, INCONCLUSIVE, UNDEFINED = "better", "worse", "inconclusive", "undefined"
P_VALUE_TEST = "paired sign-flip permutation test"
INTERVAL_METHOD = "percentile bootstrap over users"


@dataclasses.dataclass(frozen=True)
class SeedGroup:
    """One model trained with several seeds: ``members`` are the per-seed labels in the report."""

    label: str
    path: str
    seeds: tuple[int, ...]
    members: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class SeedSpread:
    """Mean, sample standard deviation (n-1), min and max of each metric over a group's seeds."""

    group: SeedGroup
    mean: dict[str, float]
    std: dict[str, float]
    min: dict[str, float]
    max: dict[str, float]

    STATS = ("mean", "std", "min", "max")

    def stat(self, name: str) -> dict[str, float]:
        return getattr(self, name)


def seed_spread(group: SeedGroup, members: dict[str, dict[str, float]]) -> SeedSpread:
    """The spread of the members' metrics (those every member has)."""
    rows = [members[m] for m in group.members]
    metrics = [k for k in rows[0] if k != "users" and all(k in r for r in rows)]
    table = np.array([[r[k] if r[k] is not None else np.nan for k in metrics] for r in rows], dtype=np.float64)
    std = table.std(axis=0, ddof=1) if len(rows) > 1 else np.full(len(metrics), np.nan)

    def pick(values: np.ndarray) -> dict[str, float]:
        return {k: float(x) for k, x in zip(metrics, values)}

    return SeedSpread(group, pick(table.mean(axis=0)), pick(std), pick(table.min(axis=0)), pick(table.max(axis=0)))


def verdict(metric: str, result: PairedResult, level: float = 0.95) -> str:
    """``better`` / ``worse`` only when the ratio's interval excludes 1.0 *and* the permutation
    test agrees (p < 1 - level), otherwise ``inconclusive`` (MSE: lower is better); ``undefined``
    when the ratio is (the baseline scored 0). Requiring both guards against the percentile
    bootstrap's degenerate intervals on few users (e.g. a metric that is 0 in every resample)."""
    low, high = result.interval.low, result.interval.high
    if math.isnan(result.ratio) or math.isnan(low) or math.isnan(high):
        return UNDEFINED
    if math.isnan(result.p_value) or result.p_value >= 1.0 - level or low <= 1.0 <= high:
        return INCONCLUSIVE
    higher = low > 1.0
    return (WORSE if higher else BETTER) if metric in LOWER_IS_BETTER else (BETTER if higher else WORSE)


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One metric of one model against the baseline."""

    result: PairedResult
    verdict: str


@dataclasses.dataclass
class ProtocolStatistics:
    users: int
    intervals: dict[str, dict[str, Interval]]  # label -> metric -> interval (models and seed groups)
    seeds: list[SeedSpread]
    comparisons: dict[str, dict[str, Comparison]]  # label -> metric -> comparison (all but the baseline)


@dataclasses.dataclass
class Statistics:
    settings: BootstrapSettings
    baseline: str | None
    protocols: dict[str, ProtocolStatistics]
    groups: list[SeedGroup]

    @property
    def interval_method(self) -> str:
        return INTERVAL_METHOD

    @property
    def p_value_test(self) -> str:
        return P_VALUE_TEST


def describe(
    report: dict[str, dict[str, dict[str, float]]],
    per_user: dict[str, dict[str, UserMetrics]],
    *,
    groups: list[SeedGroup] | tuple[SeedGroup, ...] = (),
    baseline: str | None = None,
    settings: BootstrapSettings | None = None,
) -> Statistics:
    """Intervals for every model and seed group of ``report`` (``{protocol: {label: metrics}}``,
    per-user values in ``per_user`` under the same keys), seed spreads, and with ``baseline`` (a
    model or seed-group label) the paired comparison of every other label with it."""
    settings = settings or BootstrapSettings()
    groups = list(groups)
    labels = [label for models in report.values() for label in models]
    known = list(dict.fromkeys(labels + [g.label for g in groups]))
    if baseline is not None and baseline not in known:
        raise KgrecError(f"unknown baseline {baseline!r}: it is not among the evaluated models",
                         f"choose one of: {', '.join(known)}")
    out = {}
    for protocol, models in report.items():
        samples = dict(per_user[protocol])
        for g in groups:
            samples[g.label] = UserMetrics.mean_of([samples[m] for m in g.members])
        names = list(samples)
        resampled = dict(zip(names, bootstrap_values([samples[n] for n in names], settings)))
        intervals = {n: intervals_of(samples[n], resampled[n], settings) for n in names}
        spreads = [seed_spread(g, models) for g in groups]
        comparisons: dict[str, dict[str, Comparison]] = {}
        if baseline is not None:
            for n in names:
                if n == baseline:
                    continue
                paired = paired_comparison(samples[n], samples[baseline], settings, (resampled[n], resampled[baseline]))
                comparisons[n] = {m: Comparison(r, verdict(m, r, settings.level)) for m, r in paired.items()}
        users = len(next(iter(samples.values()))) if samples else 0
        out[protocol] = ProtocolStatistics(users, intervals, spreads, comparisons)
    return Statistics(settings, baseline, out, groups)
