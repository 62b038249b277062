"""Evaluation reports: terminal table, JSON and CSV.

JSON shape: one object per protocol, ``{"protocol": "full", "models": {name: {metric: value}}}``;
with several protocols ``kgctl evaluate --json`` prints a list of those objects (one per line in
``--jsonl``). CSV: one row per (protocol, model) with a column per metric.
"""

from __future__ import annotations

import csv
import io
import json
import math

from kgrec.models.metrics import RANKING_METRICS, RATING_METRICS

COLUMNS = RANKING_METRICS + RATING_METRICS
PROTOCOL_TITLES = {
    "full": "full ranking over all items (training items masked)",
    "sampled": "1 positive + 99 sampled negatives (fixed seed, same negatives for every model)",
}


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.4f}"


def columns_present(models: dict[str, dict[str, float]]) -> list[str]:
    return [c for c in COLUMNS if any(c in m for m in models.values())]


def render_table(report: dict[str, dict[str, dict[str, float]]], users: int | None = None) -> str:
    blocks = []
    for protocol, models in report.items():
        cols = columns_present(models)
        names = list(models)
        width = max([5] + [len(n) for n in names])
        head = "model".ljust(width) + "  " + "  ".join(c.rjust(max(7, len(c))) for c in cols)
        lines = [f"{protocol}: {PROTOCOL_TITLES.get(protocol, protocol)}", head, "-" * len(head)]
        for n in names:
            lines.append(n.ljust(width) + "  " + "  ".join(_fmt(models[n].get(c)).rjust(max(7, len(c))) for c in cols))
        some = next(iter(models.values()), {})
        if "users" in some:
            lines.append(f"({int(some['users'])} test users, temporal leave-one-out)")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _clean(metrics: dict[str, float]) -> dict[str, float | None]:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in metrics.items()}


def to_json_objects(report: dict[str, dict[str, dict[str, float]]]) -> list[dict]:
    return [{"protocol": p, "models": {n: _clean(m) for n, m in models.items()}} for p, models in report.items()]


def render_json(report) -> str:
    objects = to_json_objects(report)
    return json.dumps(objects[0] if len(objects) == 1 else objects, indent=2)


def render_csv(report) -> str:
    buf = io.StringIO()
    cols = sorted({c for models in report.values() for c in columns_present(models)}, key=COLUMNS.index)
    writer = csv.writer(buf)
    writer.writerow(["protocol", "model", *cols, "users"])
    for protocol, models in report.items():
        for name, m in models.items():
            writer.writerow([protocol, name, *("" if m.get(c) is None or (isinstance(m.get(c), float) and math.isnan(m[c])) else f"{m[c]:.6f}" for c in cols), int(m.get("users", 0))])
    return buf.getvalue()
