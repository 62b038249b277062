"""The ablation table: the full model's row and one row per variant, with the change vs full."""

from __future__ import annotations

import dataclasses

CHANGE_METRIC = "NDCG@10"  # the ablation table's "vs full" column


@dataclasses.dataclass
class AblationRow:
    variant: str  # "full" or the switch
    label: str  # "full", "without KG", ...
    modality: str | None
    metrics: dict[str, dict[str, float]] | None  # {protocol: {metric: value}}; None when not trained
    note: str = ""


@dataclasses.dataclass
class AblationTable:
    """Rows of one full model and its variants; ``model`` is the full model's label in the main table."""

    model: str
    path: str
    rows: list[AblationRow]

    def change(self, row: AblationRow, protocol: str, metric: str = CHANGE_METRIC) -> float | None:
        """Relative change of ``metric`` vs the full model, in percent (None when undefined)."""
        full = self.rows[0].metrics
        if row.metrics is None or full is None or row is self.rows[0]:
            return None
        base, value = full.get(protocol, {}).get(metric), row.metrics.get(protocol, {}).get(metric)
        if base is None or value is None or base == 0:
            return None
        return 100.0 * (value - base) / base
