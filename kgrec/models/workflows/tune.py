"""Hyperparameter search on the validation set (never the test set): a grid over the model's
``search_space`` (or the grid given), each point trained with the same seed, the best chosen by
the model's validation metric (full-ranking NDCG@10; MSE for rating models)."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from typing import Any

from kgrec.models.base import get_model_class
from kgrec.models.workflows.pipeline import Dataset, TrainResult, train_model


@dataclasses.dataclass
class TuneResult:
    rows: list[dict[str, Any]]  # one per grid point: the point, validation NDCG@10/HR@10, best epoch
    best_params: dict[str, Any]
    best: TrainResult


def grid(space: dict[str, list[Any]]) -> list[dict[str, Any]]:
    keys = list(space)
    return [dict(zip(keys, values)) for values in itertools.product(*(space[k] for k in keys))]


def tune(ds: Dataset, name: str, space: dict[str, list[Any]] | None = None, fixed: dict[str, Any] | None = None,
         seed: int = 42, progress: bool = False, announce: Callable[[str], None] | None = None) -> TuneResult:
    """Train every grid point with ``seed``; ``announce`` receives one line per point as it starts."""
    cls = get_model_class(name)
    points = grid(space if space is not None else cls.search_space) or [{}]
    metric = getattr(cls, "valid_metric", "NDCG@10")
    sign = 1.0 if getattr(cls, "valid_metric_higher_is_better", True) else -1.0
    rows, best, best_params, best_value = [], None, {}, float("-inf")
    for k, point in enumerate(points, 1):
        if announce is not None:
            shown = ", ".join(f"{key}={value}" for key, value in point.items()) or "its defaults"
            announce(f"tune {name}: training {shown}, {k} of {len(points)}")
        result = train_model(ds, name, {**(fixed or {}), **point}, seed=seed, progress=progress)
        value = result.valid.get(metric, float("nan"))
        row = {**point, f"valid_{metric}": value}
        if metric != "NDCG@10":
            row["valid_NDCG@10"] = result.valid.get("NDCG@10")
        rows.append(
            {
                **row,
                "valid_HR@10": result.valid.get("HR@10"), "best_epoch": result.history.get("best_epoch"),
                "seconds_per_epoch": result.history.get("seconds_per_epoch"),
            }
        )
        if sign * value > best_value or best is None:
            best_value = sign * value
            best, best_params = result, point
    assert best is not None  # points is never empty
    return TuneResult(rows, best_params, best)
