"""Metrics kept per evaluated user, so that intervals and paired tests can resample users.

Every metric of the report is a ratio of sums over the evaluated users: ``sum(numerator) /
sum(denominator)``. For the ranking metrics (and MSE, like accuracy) the denominator is 1 per
user, so the metric is the mean of the per-user values; like F1 is ``2 TP / (predicted likes +
true likes)``. Writing all of them this way lets a bootstrap resample (a count per user) or a
sign-flip permutation be applied to every metric with one matrix product.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from kgrec.errors import KgrecError

ZERO_WHEN_EMPTY = frozenset({"like_F1"})  # 0 / 0 is 0 for these (no like predicted nor true), NaN for the others


def ratio_of_sums(numerator: np.ndarray, denominator: np.ndarray, metrics: tuple[str, ...]) -> np.ndarray:
    """``numerator / denominator`` elementwise over the last axis (one column per metric), with
    0 / 0 = 0 for the metrics in ``ZERO_WHEN_EMPTY`` and NaN for the others."""
    zero = np.array([m in ZERO_WHEN_EMPTY for m in metrics])
    with np.errstate(divide="ignore", invalid="ignore"):
        out = numerator / denominator
    return np.where(denominator > 0, out, np.where(zero, 0.0, np.nan))


@dataclasses.dataclass(frozen=True)
class UserMetrics:
    """One model's metrics on one protocol, per evaluated user (rows in the phase's held-out
    order, the same for every model evaluated on the phase)."""

    users: np.ndarray  # (n,) user indices
    metrics: tuple[str, ...]  # column names
    numerator: np.ndarray  # (n, len(metrics))
    denominator: np.ndarray  # (n, len(metrics))

    @classmethod
    def from_parts(cls, users: np.ndarray, averages: dict[str, np.ndarray],
                   ratios: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> UserMetrics:
        """``averages``: metric -> per-user value (denominator 1); ``ratios``: metric ->
        (numerator, denominator) per user."""
        users = np.asarray(users, dtype=np.int64)
        parts = {m: (np.asarray(v, np.float64), np.ones(len(users))) for m, v in averages.items()}
        parts.update(
            {m: (np.asarray(a, np.float64), np.asarray(b, np.float64)) for m, (a, b) in (ratios or {}).items()}
        )
        for m, (a, b) in parts.items():
            if a.shape != users.shape or b.shape != users.shape:
                raise KgrecError(f"per-user values of {m} have shape {a.shape}/{b.shape}, expected {users.shape}")
        names = tuple(parts)
        num = np.stack([parts[m][0] for m in names], axis=1) if names else np.zeros((len(users), 0))
        den = np.stack([parts[m][1] for m in names], axis=1) if names else np.zeros((len(users), 0))
        return cls(users, names, num, den)

    def __len__(self) -> int:
        return len(self.users)

    def values(self) -> dict[str, float]:
        """The metrics over all users (equal to the report's means up to float rounding)."""
        v = ratio_of_sums(self.numerator.sum(axis=0), self.denominator.sum(axis=0), self.metrics)
        return {m: float(x) for m, x in zip(self.metrics, v)}

    def select(self, metrics: tuple[str, ...]) -> UserMetrics:
        idx = [self.metrics.index(m) for m in metrics]
        return UserMetrics(self.users, tuple(metrics), self.numerator[:, idx], self.denominator[:, idx])

    def take(self, rows: np.ndarray) -> UserMetrics:
        """The users picked by ``rows`` (a boolean mask or indices), in their order."""
        return UserMetrics(self.users[rows], self.metrics, self.numerator[rows], self.denominator[rows])

    def check_paired(self, other: UserMetrics, what: str) -> None:
        if not np.array_equal(self.users, other.users):
            raise KgrecError(f"{what}: the two models were evaluated on different users, so they cannot be paired",
                             "evaluate both on the same graph and phase")

    @staticmethod
    def mean_of(members: list[UserMetrics]) -> UserMetrics:
        """Each user's numerator and denominator averaged over ``members`` (e.g. one model
        trained with several seeds): for the averaged metrics this is each user's mean over the
        members, so the overall value is the mean of the members' values (like F1 is pooled)."""
        first = members[0]
        for m in members[1:]:
            first.check_paired(m, "averaging over seeds")
        common = tuple(c for c in first.metrics if all(c in m.metrics for m in members))
        picked = [m.select(common) for m in members]
        return UserMetrics(first.users, common, np.mean([p.numerator for p in picked], axis=0),
                           np.mean([p.denominator for p in picked], axis=0))
