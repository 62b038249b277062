"""Evaluation reports: terminal table, JSON and CSV.

JSON shape: one object per protocol, ``{"protocol": "full", "models": {name: {metric: value}}}``;
with several protocols ``kgctl evaluate --json`` prints a list of those objects (one per line in
``--jsonl``). CSV: one row per (protocol, model) with a column per metric.

Ablations (``kgrec.models.workflows.ablation``): a table per full model after the main table, with the
change of NDCG@10 vs the full model; in JSON each protocol object gains ``"ablations": {model:
{"checkpoint": folder, "rows": [...]}}`` (only when there are ablations); in CSV each trained
variant is a row labelled ``model/switch`` (e.g. ``kgbm4rec/no_kg``).
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

from kgrec.models.evaluation.ablation_table import CHANGE_METRIC, AblationTable
from kgrec.models.evaluation.metrics import RANKING_METRICS, RATING_METRICS

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


def render_ablation_tables(tables: list[AblationTable], protocols: tuple[str, ...] | list[str]) -> str:
    """One block per (full model, protocol): a row per variant, the report's metric columns and
    the change of NDCG@10 vs the full model in percent; untrained variants say why."""
    blocks = []
    for table in tables:
        for protocol in protocols:
            measured = {r.label: r.metrics[protocol] for r in table.rows if r.metrics is not None}
            cols = columns_present(measured)
            width = max([7] + [len(r.label) for r in table.rows])
            change = f"{CHANGE_METRIC} vs full"
            head = "variant".ljust(width) + "  " + "  ".join(c.rjust(max(7, len(c))) for c in cols) + "  " + change
            lines = [
                f"ablations of {table.model} ({table.path}), {protocol}: {PROTOCOL_TITLES.get(protocol, protocol)}",
                head, "-" * len(head),
            ]
            for row in table.rows:
                if row.metrics is None:
                    lines.append(row.label.ljust(width) + "  " + row.note)
                    continue
                m = row.metrics[protocol]
                pct = table.change(row, protocol)
                lines.append(
                    row.label.ljust(width)
                    + "  "
                    + "  ".join(_fmt(m.get(c)).rjust(max(7, len(c))) for c in cols)
                    + "  "
                    + ("" if pct is None else f"{pct:+.1f}%").rjust(len(change))
                )
            lines.append("(same seed and hyperparameters; each variant turns one modality off)")
            blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def ablation_json(tables: list[AblationTable], protocol: str) -> dict:
    """``{model: {"checkpoint": folder, "rows": [{variant, label, modality, metrics, ...}]}}``
    for one protocol; ``metrics`` is null and ``note`` says why for a variant not trained."""
    out = {}
    for table in tables:
        rows = []
        for row in table.rows:
            entry = {"variant": row.variant, "label": row.label, "modality": row.modality,
                     "metrics": None if row.metrics is None else _clean(row.metrics[protocol]),
                     f"{CHANGE_METRIC}_vs_full_pct": table.change(row, protocol)}
            if row.note:
                entry["note"] = row.note
            rows.append(entry)
        out[table.model] = {"checkpoint": table.path, "rows": rows}
    return out


def to_json_objects(
    report: dict[str, dict[str, dict[str, float]]], ablations: list[AblationTable] | None = None
) -> list[dict]:
    objects: list[dict[str, Any]] = [
        {"protocol": p, "models": {n: _clean(m) for n, m in models.items()}} for p, models in report.items()
    ]
    if ablations:
        for obj in objects:
            obj["ablations"] = ablation_json(ablations, obj["protocol"])
    return objects


def render_json(report, ablations: list[AblationTable] | None = None) -> str:
    objects = to_json_objects(report, ablations)
    return json.dumps(objects[0] if len(objects) == 1 else objects, indent=2)


def _with_ablation_rows(report, ablations: list[AblationTable] | None):
    """The report with a ``model/switch`` entry per trained variant after each protocol's models."""
    if not ablations:
        return report
    out = {p: dict(models) for p, models in report.items()}
    for table in ablations:
        for row in table.rows[1:]:
            if row.metrics is not None:
                for p in out:
                    out[p][f"{table.model}/{row.variant}"] = row.metrics[p]
    return out


def render_csv(report, ablations: list[AblationTable] | None = None) -> str:
    report = _with_ablation_rows(report, ablations)
    buf = io.StringIO()
    cols = sorted({c for models in report.values() for c in columns_present(models)}, key=COLUMNS.index)
    writer = csv.writer(buf)
    writer.writerow(["protocol", "model", *cols, "users"])
    for protocol, models in report.items():
        for name, m in models.items():
            writer.writerow(
                [
                    protocol, name,
                    *(
                        "" if m.get(c) is None or (isinstance(m.get(c), float) and math.isnan(m[c])) else f"{m[c]:.6f}"
                        for c in cols
                    ),
                    int(m.get("users", 0)),
                ]
            )
    return buf.getvalue()
