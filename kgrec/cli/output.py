"""Render query results (Arrow tables) as a terminal table, JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pyarrow as pa

MAX_CELL = 60


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list) and len(value) > 6:
        head = ", ".join(_short(v) for v in value[:4])
        text = f"[{head}, ... ({len(value)} values)]"
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, default=str)
    else:
        text = _short(value)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 3] + "..."


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def render_table(table: pa.Table) -> str:
    names = table.column_names
    rows = [[_cell(v) for v in row.values()] for row in table.to_pylist()]
    widths = [max([len(n)] + [len(r[i]) for r in rows]) for i, n in enumerate(names)]
    line = "  ".join(n.ljust(w) for n, w in zip(names, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out)


def render_json(table: pa.Table) -> str:
    return json.dumps(table.to_pylist(), default=str)


def render_csv(table: pa.Table) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(table.column_names)
    for row in table.to_pylist():
        writer.writerow(
            [json.dumps(v) if isinstance(v, (list, dict)) else ("" if v is None else v) for v in row.values()]
        )
    return buf.getvalue().rstrip("\n")


def render(table: pa.Table, fmt: str) -> str:
    return {"table": render_table, "json": render_json, "csv": render_csv}[fmt](table)
