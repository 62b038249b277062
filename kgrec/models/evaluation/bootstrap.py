"""Resampling users: bootstrap confidence intervals and paired tests, vectorised with numpy.

* Interval of a metric: percentile bootstrap over users. Each resample draws the evaluated users
  with replacement (a count per user); the metric is recomputed as ``counts @ numerator /
  counts @ denominator`` for all resamples and metrics at once (``per_user.UserMetrics``). The
  interval is the (2.5, 97.5) percentiles of the resampled values for a 95% level.
* Paired comparison of a model with a baseline evaluated on the same users: the ratio of the two
  metric values (model / baseline) with its percentile interval from the *same* resamples for
  both models (a paired bootstrap), and a two-sided p-value from a paired sign-flip permutation
  test: under "no difference" each user's pair of values is exchangeable, so each permutation
  swaps the two models' values for a random half of the users; p = (1 + #permutations whose
  |difference| >= the observed one) / (1 + permutations).

Resamples are drawn from ``numpy.random.default_rng(seed)`` in blocks, so results depend only on
the seed, the number of resamples and the number of users, and memory stays bounded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np

from kgrec.errors import KgrecError
from kgrec.models.evaluation.per_user import UserMetrics, ratio_of_sums

DEFAULT_RESAMPLES = 1000
DEFAULT_BOOTSTRAP_SEED = 0
DEFAULT_LEVEL = 0.95
BLOCK_CELLS = 2_000_000  # resamples x users per block (16 MB of float64)


@dataclasses.dataclass(frozen=True)
class BootstrapSettings:
    resamples: int = DEFAULT_RESAMPLES
    seed: int = DEFAULT_BOOTSTRAP_SEED
    level: float = DEFAULT_LEVEL

    def __post_init__(self) -> None:
        if self.resamples < 1:
            raise KgrecError(f"resamples must be at least 1, got {self.resamples}")
        if not 0.0 < self.level < 1.0:
            raise KgrecError(f"the confidence level must be between 0 and 1, got {self.level}")

    @property
    def percentiles(self) -> tuple[float, float]:
        tail = 100.0 * (1.0 - self.level) / 2.0
        return tail, 100.0 - tail


def _blocks(n: int, total: int) -> Iterator[int]:
    if n > np.iinfo(np.int32).max:
        raise KgrecError(f"too many users to resample ({n})")
    size = max(1, BLOCK_CELLS // max(n, 1))
    for start in range(0, total, size):
        yield min(size, total - start)


def resample_counts(n: int, settings: BootstrapSettings) -> Iterator[np.ndarray]:
    """Blocks of bootstrap resamples of ``n`` users: (b, n) arrays of how often each user is drawn
    (each row sums to n). Deterministic for (n, seed, resamples)."""
    rng = np.random.default_rng(settings.seed)
    for b in _blocks(n, settings.resamples):
        draws = rng.integers(0, n, size=(b, n), dtype=np.int32)
        draws += (np.arange(b, dtype=np.int32) * n)[:, None]  # b * n <= BLOCK_CELLS fits int32
        yield np.bincount(draws.ravel(), minlength=b * n).reshape(b, n).astype(np.float64)


def sign_flips(n: int, settings: BootstrapSettings) -> Iterator[np.ndarray]:
    """Blocks of random swaps for the permutation test: (b, n) arrays of 0/1 (1 = swap this
    user's two values), from a stream separate from the bootstrap's."""
    rng = np.random.default_rng([settings.seed, 1])
    for b in _blocks(n, settings.resamples):
        yield (rng.random((b, n)) < 0.5).astype(np.float64)


def bootstrap_values(samples: list[UserMetrics], settings: BootstrapSettings) -> list[np.ndarray]:
    """Each sample's metrics recomputed on the same resamples of users: one (resamples, metrics)
    array per sample. The samples must hold the same users."""
    if not samples:
        return []
    for s in samples[1:]:
        samples[0].check_paired(s, "bootstrap")
    out: list[list[np.ndarray]] = [[] for _ in samples]
    for counts in resample_counts(len(samples[0]), settings):
        for k, s in enumerate(samples):
            out[k].append(ratio_of_sums(counts @ s.numerator, counts @ s.denominator, s.metrics))
    return [np.concatenate(parts, axis=0) for parts in out]


@dataclasses.dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def _interval(values: np.ndarray, settings: BootstrapSettings) -> list[Interval]:
    finite = np.where(np.isfinite(values), values, np.nan)
    out = []
    for column in finite.T:
        if np.isnan(column).all():
            out.append(Interval(float("nan"), float("nan")))
        else:
            lo, hi = np.nanpercentile(column, settings.percentiles)
            out.append(Interval(float(lo), float(hi)))
    return out


def confidence_intervals(sample: UserMetrics, settings: BootstrapSettings) -> dict[str, Interval]:
    """Percentile bootstrap interval of every metric of ``sample``."""
    (values,) = bootstrap_values([sample], settings)
    return intervals_of(sample, values, settings)


def intervals_of(sample: UserMetrics, resampled: np.ndarray, settings: BootstrapSettings) -> dict[str, Interval]:
    """The percentile intervals from ``sample``'s already computed ``bootstrap_values``."""
    return dict(zip(sample.metrics, _interval(resampled, settings)))


@dataclasses.dataclass(frozen=True)
class PairedResult:
    """One metric of a model against the baseline on the same users."""

    model: float
    baseline: float
    ratio: float  # model / baseline
    interval: Interval  # of the ratio, paired bootstrap
    p_value: float  # two-sided, paired sign-flip permutation test of the difference


def paired_comparison(model: UserMetrics, baseline: UserMetrics, settings: BootstrapSettings,
                      resampled: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, PairedResult]:
    """Every metric the two have in common: the ratio of ``model`` to ``baseline`` with its
    paired-bootstrap interval, and the sign-flip permutation p-value of their difference.
    ``resampled``: the two models' ``bootstrap_values`` if already computed (same settings)."""
    model.check_paired(baseline, "paired comparison")
    common = tuple(m for m in model.metrics if m in baseline.metrics)
    a, b = model.select(common), baseline.select(common)
    if resampled is None:
        boot_a, boot_b = bootstrap_values([a, b], settings)
    else:
        boot_a = resampled[0][:, [model.metrics.index(m) for m in common]]
        boot_b = resampled[1][:, [baseline.metrics.index(m) for m in common]]
    value_a, value_b = a.values(), b.values()
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = boot_a / boot_b
    intervals = _interval(ratios, settings)
    p_values = sign_flip_p(a, b, settings)
    out = {}
    for k, m in enumerate(common):
        va, vb = value_a[m], value_b[m]
        ratio = va / vb if vb != 0 and np.isfinite(vb) else float("nan")
        out[m] = PairedResult(va, vb, float(ratio), intervals[k], float(p_values[k]))
    return out


def sign_flip_p(a: UserMetrics, b: UserMetrics, settings: BootstrapSettings) -> np.ndarray:
    """Two-sided p-value per metric of value(a) - value(b) under random per-user swaps."""
    sum_num_a, sum_den_a = a.numerator.sum(axis=0), a.denominator.sum(axis=0)
    sum_num_b, sum_den_b = b.numerator.sum(axis=0), b.denominator.sum(axis=0)
    observed = np.abs(ratio_of_sums(sum_num_a, sum_den_a, a.metrics) - ratio_of_sums(sum_num_b, sum_den_b, b.metrics))
    d_num, d_den = b.numerator - a.numerator, b.denominator - a.denominator
    extreme = np.zeros(len(a.metrics))
    tolerance = 1e-12 * np.maximum(1.0, observed)
    for flips in sign_flips(len(a), settings):
        move_num, move_den = flips @ d_num, flips @ d_den
        diff = ratio_of_sums(sum_num_a + move_num, sum_den_a + move_den, a.metrics) \
            - ratio_of_sums(sum_num_b - move_num, sum_den_b - move_den, b.metrics)
        extreme += (np.abs(diff) >= observed - tolerance).sum(axis=0)
    p = (1.0 + extreme) / (1.0 + settings.resamples)
    return np.where(np.isnan(observed), np.nan, p)
