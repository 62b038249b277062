"""Evaluation reports: terminal table, JSON and CSV.

JSON shape: one object per protocol, ``{"protocol": "full", "models": {name: {metric: value}}}``;
with several protocols ``kgctl evaluate --json`` prints a list of those objects (one per line in
``--jsonl``). CSV: one row per (protocol, model) with a column per metric.

Uncertainty (``kgrec.models.evaluation.uncertainty.Statistics``, when given): under each model's
row of the table a ``95% CI`` row; a block per seed group (mean, std, min, max over the seeds);
with a baseline a paired-comparison block (ratio, its interval, p-value, verdict). In JSON each
protocol object gains ``"intervals"``, ``"seeds"`` (only with seed groups) and ``"comparison"``
(only with a baseline); in CSV the columns ``row``, ``seeds``, ``METRIC_ci_low``/``_ci_high`` and
with a baseline ``baseline``, ``METRIC_ratio``/``_ratio_low``/``_ratio_high``/``_p``/``_verdict``,
and the seed groups as rows whose ``row`` is ``seed_mean``/``seed_std``/``seed_min``/``seed_max``.

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

from kgrec.models.evaluation.ablation_table import CHANGE_METRIC, AblationTable
from kgrec.models.evaluation.bootstrap import Interval
from kgrec.models.evaluation.metrics import RANKING_METRICS, RATING_METRICS
from kgrec.models.evaluation.segments import SegmentStatistics
from kgrec.models.evaluation.uncertainty import SeedSpread, Statistics

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


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _fmt_interval(interval: Interval | None, digits: int = 4) -> str:
    if interval is None or _is_missing(interval.low) or _is_missing(interval.high):
        return "-"
    return f"{interval.low:.{digits}f}-{interval.high:.{digits}f}"


def render_table(report: dict[str, dict[str, dict[str, float]]], users: int | None = None,
                 stats: Statistics | None = None) -> str:
    """The metrics table per protocol; with ``stats`` a ``95% CI`` row under each model, the
    spread over seeds and the paired comparison with the baseline."""
    blocks = []
    for protocol, models in report.items():
        cols = columns_present(models)
        pstats = stats.protocols.get(protocol) if stats is not None else None
        cell = 13 if pstats is not None else 7
        ci_label = f"  {_level(stats)} CI" if stats is not None else ""
        names = list(models)
        width = max([5, len(ci_label)] + [len(n) for n in names])
        head = "model".ljust(width) + "  " + "  ".join(c.rjust(max(cell, len(c))) for c in cols)
        lines = [f"{protocol}: {PROTOCOL_TITLES.get(protocol, protocol)}", head, "-" * len(head)]
        for n in names:
            lines.append(
                n.ljust(width) + "  " + "  ".join(_fmt(models[n].get(c)).rjust(max(cell, len(c))) for c in cols)
            )
            if pstats is not None and n in pstats.intervals:
                lines.append(ci_label.ljust(width) + "  " + "  ".join(
                    _fmt_interval(pstats.intervals[n].get(c)).rjust(max(cell, len(c))) for c in cols))
        some = next(iter(models.values()), {})
        if "users" in some:
            note = f"({int(some['users'])} test users, temporal leave-one-out"
            if stats is not None:
                note += (f"; {_level(stats)} CI: percentile bootstrap over users, "
                         f"{stats.settings.resamples} resamples, seed {stats.settings.seed}")
            lines.append(note + ")")
        blocks.append("\n".join(lines))
        if pstats is not None and stats is not None and pstats.seeds:  # pstats is one of stats.protocols
            blocks.append(_seed_block(protocol, pstats.seeds, pstats.intervals, cols, cell, stats))
        if pstats is not None and stats is not None and stats.baseline is not None:
            blocks.append(_comparison_block(protocol, pstats, cols, stats))
    return "\n\n".join(blocks)


def _level(stats: Statistics | None) -> str:
    return f"{100 * stats.settings.level:g}%" if stats is not None else ""


def _seed_block(
    protocol: str, spreads: list[SeedSpread], intervals: dict, cols: list[str], cell: int, stats: Statistics
) -> str:
    width = max([5] + [len(s.group.label) for s in spreads])
    seeds_w = max([5] + [len(",".join(map(str, s.group.seeds))) for s in spreads])
    stat_w = max(6, len(f"{_level(stats)} CI"))
    head = "model".ljust(width) + "  " + "seeds".ljust(seeds_w) + "  " + "".ljust(stat_w) + "  " + \
        "  ".join(c.rjust(max(cell, len(c))) for c in cols)
    lines = [
        f"{protocol}: mean and spread over seeds (std: sample standard deviation over the seeds)",
        head,
        "-" * len(head),
    ]
    for spread in spreads:
        g = spread.group
        first = True
        for stat in SeedSpread.STATS:
            values = spread.stat(stat)
            prefix = (
                (g.label if first else "").ljust(width)
                + "  "
                + (",".join(map(str, g.seeds)) if first else "").ljust(seeds_w)
            )
            lines.append(
                prefix
                + "  "
                + stat.ljust(stat_w)
                + "  "
                + "  ".join(_fmt(values.get(c)).rjust(max(cell, len(c))) for c in cols)
            )
            first = False
            if stat == "mean" and g.label in intervals:
                lines.append(
                    "".ljust(width)
                    + "  "
                    + "".ljust(seeds_w)
                    + "  "
                    + f"{_level(stats)} CI".ljust(stat_w)
                    + "  "
                    + "  ".join(_fmt_interval(intervals[g.label].get(c)).rjust(max(cell, len(c))) for c in cols)
                )
    lines.append("(the CI of the mean resamples users, the seeds fixed: the seed-to-seed spread is std/min/max)")
    return "\n".join(lines)


def _comparison_block(protocol: str, pstats, cols: list[str], stats: Statistics) -> str:
    baseline = stats.baseline
    rows = []
    for label, by_metric in pstats.comparisons.items():
        for c in cols:
            comp = by_metric.get(c)
            if comp is None:
                continue
            r = comp.result
            rows.append((label, c, _fmt(r.model), _fmt(r.baseline), "-" if _is_missing(r.ratio) else f"{r.ratio:.3f}",
                         "-" if _is_missing(r.interval.low) else f"[{r.interval.low:.3f}, {r.interval.high:.3f}]",
                         "-" if _is_missing(r.p_value) else f"{r.p_value:.4f}", comp.verdict))
    heads = ("model", "metric", "value", "baseline", "ratio", f"{_level(stats)} CI of ratio", "p", "verdict")
    widths = [max([len(h)] + [len(row[k]) for row in rows]) for k, h in enumerate(heads)]
    right = {2, 3, 4, 6}

    def line(values) -> str:
        return "  ".join(
            v.rjust(w) if k in right else v.ljust(w) for k, (v, w) in enumerate(zip(values, widths))
        ).rstrip()

    head = line(heads)
    lines = [
        f"{protocol}: paired comparison with {baseline} (the same {pstats.users} users; ratio = value / baseline)",
        head,
        "-" * len(head),
    ]
    lines += [line(row) for row in rows]
    lines.append(
        f"({_level(stats)} CI: paired percentile bootstrap of the ratio, {stats.settings.resamples} resamples; "
        f"p: two-sided {stats.p_value_test}, {stats.settings.resamples} permutations; "
        f"better/worse only when the CI excludes 1.0 and p < {1 - stats.settings.level:.2g}; MSE: lower is better)"
    )
    return "\n".join(lines)


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


def _num(value) -> float | None:
    return None if _is_missing(value) else float(value)


def _pair(interval: Interval) -> list[float | None]:
    return [_num(interval.low), _num(interval.high)]


def statistics_json(stats: Statistics, protocol: str) -> dict:
    """The ``intervals``, ``seeds`` (with seed groups) and ``comparison`` (with a baseline) keys of
    one protocol object."""
    ps = stats.protocols[protocol]
    settings = stats.settings
    out: dict = {
        "intervals": {
            "level": settings.level,
            "method": stats.interval_method,
            "resamples": settings.resamples,
            "seed": settings.seed,
            "users": ps.users,
            "models": {
                label: {m: _pair(iv) for m, iv in by_metric.items()} for label, by_metric in ps.intervals.items()
            },
        }
    }
    if ps.seeds:
        out["seeds"] = {s.group.label: {
            "checkpoint": s.group.path, "seeds": list(s.group.seeds), "models": list(s.group.members),
            **{stat: {m: _num(v) for m, v in s.stat(stat).items()} for stat in SeedSpread.STATS},
            "interval": {m: _pair(iv) for m, iv in ps.intervals.get(s.group.label, {}).items()},
        } for s in ps.seeds}
    if stats.baseline is not None:
        out["comparison"] = {
            "baseline": stats.baseline,
            "users": ps.users,
            "ratio": "value / baseline",
            "interval": "paired percentile bootstrap of the ratio",
            "test": stats.p_value_test,
            "resamples": settings.resamples,
            "permutations": settings.resamples,
            "verdict": f"better/worse when the interval excludes 1.0 and p < {1 - settings.level:.2g}, "
            "else inconclusive "
            "(undefined when the baseline scores 0); MSE: lower is better",
            "models": {
                label: {
                    m: {
                        "value": _num(c.result.model),
                        "baseline": _num(c.result.baseline),
                        "ratio": _num(c.result.ratio),
                        "low": _num(c.result.interval.low),
                        "high": _num(c.result.interval.high),
                        "p": _num(c.result.p_value),
                        "verdict": c.verdict,
                    }
                    for m, c in by_metric.items()
                }
                for label, by_metric in ps.comparisons.items()
            },
        }
    return out


def to_json_objects(report: dict[str, dict[str, dict[str, float]]], ablations: list[AblationTable] | None = None,
                    stats: Statistics | None = None,
                    segments: list[SegmentStatistics] | tuple[SegmentStatistics, ...] = ()) -> list[dict]:
    objects: list[dict] = [
        {"protocol": p, "models": {n: _clean(m) for n, m in models.items()}} for p, models in report.items()
    ]
    if ablations:
        for obj in objects:
            obj["ablations"] = ablation_json(ablations, obj["protocol"])
    if stats is not None:
        for obj in objects:
            if obj["protocol"] in stats.protocols:
                obj.update(statistics_json(stats, obj["protocol"]))
    if segments:
        for obj in objects:
            obj["segments"] = segments_json(segments, obj["protocol"])
    return objects


def segments_json(segments: list[SegmentStatistics] | tuple[SegmentStatistics, ...], protocol: str) -> list[dict]:
    """One object per segment of one protocol: what it is, its users, every model's metrics and
    the ``intervals`` / ``seeds`` / ``comparison`` keys of a protocol object."""
    return [
        {"segmenting": seg.segmenting.name, "segment": seg.segment.name, "description": seg.segment.description,
         "users": seg.segment.size, "models": {n: _clean(m) for n, m in seg.report[protocol].items()},
         **statistics_json(seg.statistics, protocol)}
        for seg in segments if protocol in seg.report
    ]


def render_json(report, ablations: list[AblationTable] | None = None, stats: Statistics | None = None,
                segments: list[SegmentStatistics] | tuple[SegmentStatistics, ...] = ()) -> str:
    objects = to_json_objects(report, ablations, stats, segments)
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


COMPARISON_FIELDS = ("ratio", "ratio_low", "ratio_high", "p", "verdict")


def _cell(value) -> str:
    return "" if _is_missing(value) else f"{value:.6f}"


def render_csv(report, ablations: list[AblationTable] | None = None, stats: Statistics | None = None,
               segments: list[SegmentStatistics] | tuple[SegmentStatistics, ...] = ()) -> str:
    """One row per (protocol, model); with ``stats`` also the interval, seed-spread and
    comparison columns and the seed groups' rows; with ``segments`` the same rows once more per
    segment, named in a last ``segment`` column (``popularity:tail``; empty on the overall rows)."""
    report_all = _with_ablation_rows(report, ablations)
    buf = io.StringIO()
    cols = sorted({c for models in report_all.values() for c in columns_present(models)}, key=COLUMNS.index)
    writer = csv.writer(buf)
    header = ["protocol", "model", *cols, "users"]
    if stats is not None:
        header += ["row", "seeds", *(f"{c}_ci_{end}" for c in cols for end in ("low", "high"))]
        if stats.baseline is not None:
            header += ["baseline", *(f"{c}_{field}" for c in cols for field in COMPARISON_FIELDS)]
    if segments:
        header.append("segment")
    writer.writerow(header)
    tail = [""] if segments else []
    for protocol, models in report_all.items():
        ps = stats.protocols.get(protocol) if stats is not None else None
        for row in _csv_rows(protocol, models, set(report[protocol]), ps, stats, cols):
            writer.writerow(row + tail)
    for seg in segments:
        name = f"{seg.segmenting.name}:{seg.segment.name}"
        for protocol, models in seg.report.items():
            ps = seg.statistics.protocols.get(protocol)
            for row in _csv_rows(protocol, models, set(models), ps, seg.statistics, cols):
                writer.writerow(row + [name])
    return buf.getvalue()


def _csv_rows(protocol: str, models: dict[str, dict[str, float]], measured: set[str], ps,
              stats: Statistics | None, cols: list[str]) -> list[list]:
    """The CSV rows of one protocol: one per model (``measured``: the labels that are models,
    the rest ablation variants), then the seed groups' spread rows."""
    rows = []
    seed_of = {}
    if ps is not None:
        seed_of = {member: str(seed) for s in ps.seeds for seed, member in zip(s.group.seeds, s.group.members)}
    for name, m in models.items():
        row = [protocol, name, *(_cell(m.get(c)) for c in cols), int(m.get("users", 0))]
        if stats is not None:
            row += ["model" if name in measured else "ablation", seed_of.get(name, ""), *_ci_cells(ps, name, cols)]
            if stats.baseline is not None:
                row += [stats.baseline, *_comparison_cells(ps, name, cols)]
        rows.append(row)
    if ps is None or stats is None:
        return rows
    no_row: dict[str, float] = {}
    for spread in ps.seeds:
        users = int(next(iter(models.values()), no_row).get("users", 0))
        for stat in SeedSpread.STATS:
            values = spread.stat(stat)
            row = [protocol, spread.group.label, *(_cell(values.get(c)) for c in cols), users,
                   f"seed_{stat}", ";".join(map(str, spread.group.seeds))]
            row += _ci_cells(ps, spread.group.label, cols) if stat == "mean" else [""] * (2 * len(cols))
            if stats.baseline is not None:
                row += [stats.baseline, *(_comparison_cells(ps, spread.group.label, cols) if stat == "mean"
                                          else [""] * (len(COMPARISON_FIELDS) * len(cols)))]
            rows.append(row)
    return rows


def _ci_cells(ps, label: str, cols: list[str]) -> list[str]:
    intervals = ps.intervals.get(label, {}) if ps is not None else {}
    out = []
    for c in cols:
        iv = intervals.get(c)
        out += ["", ""] if iv is None else [_cell(iv.low), _cell(iv.high)]
    return out


def _comparison_cells(ps, label: str, cols: list[str]) -> list[str]:
    by_metric = ps.comparisons.get(label, {}) if ps is not None else {}
    out = []
    for c in cols:
        comp = by_metric.get(c)
        if comp is None:
            out += [""] * len(COMPARISON_FIELDS)
            continue
        r = comp.result
        out += [_cell(r.ratio), _cell(r.interval.low), _cell(r.interval.high), _cell(r.p_value), comp.verdict]
    return out


SEGMENT_METRICS = ("NDCG@10", "HR@10")


def _with_interval(value, interval: Interval | None) -> str:
    """``0.1825 [0.1750, 0.1911]``, or the value alone without an interval."""
    if interval is None or _is_missing(interval.low) or _is_missing(interval.high):
        return _fmt(value)
    return f"{_fmt(value)} [{interval.low:.4f}, {interval.high:.4f}]"


def _aligned(values: list[str], widths: list[int]) -> str:
    return "  ".join(v.ljust(w) for v, w in zip(values, widths)).rstrip()


def render_segments(segments: list[SegmentStatistics] | tuple[SegmentStatistics, ...],
                    metrics: tuple[str, ...] = SEGMENT_METRICS) -> str:
    """One block per (protocol, segmenting): a row per segment and model (seed groups by their
    mean) with each of ``metrics`` and its interval, and with a baseline the paired ratio, its
    interval and the verdict. The JSON and CSV carry every metric."""
    blocks = []
    by_key: dict[tuple[str, str], list[SegmentStatistics]] = {}
    for seg in segments:
        for protocol in seg.report:
            by_key.setdefault((protocol, seg.segmenting.name), []).append(seg)
    for (protocol, _), segs in by_key.items():
        first = segs[0]
        stats = first.statistics
        heads = ["segment", "users", "model"]
        for m in metrics:
            heads.append(f"{m} ({_level(stats)} CI)")
            if stats.baseline is not None:
                heads.append(f"{m} vs {stats.baseline}")
        rows = []
        for seg in segs:
            ps = seg.statistics.protocols[protocol]
            values = dict(seg.report[protocol])
            values.update({s.group.label: s.mean for s in ps.seeds})
            for k, label in enumerate(values):
                row = [seg.segment.name if k == 0 else "", str(seg.segment.size) if k == 0 else "", label]
                for m in metrics:
                    row.append(_with_interval(values[label].get(m), ps.intervals.get(label, {}).get(m)))
                    if stats.baseline is not None:
                        comp = ps.comparisons.get(label, {}).get(m)
                        row.append("baseline" if label == stats.baseline else "-" if comp is None else
                                   f"{comp.result.ratio:.3f} [{comp.result.interval.low:.3f}, "
                                   f"{comp.result.interval.high:.3f}] {comp.verdict}")
                rows.append(row)
        widths = [max(len(h), *(len(r[k]) for r in rows)) for k, h in enumerate(heads)]
        head = _aligned(heads, widths)
        lines = [f"{protocol}: test users {first.segmenting.title}", head, "-" * len(head)]
        lines += [_aligned(r, widths) for r in rows]
        lines += [f"  {seg.segment.name}: {seg.segment.description}" for seg in segs]
        note = "(intervals: percentile bootstrap over the segment's users"
        if stats.baseline is not None:
            note += "; ratios paired over the same users, better/worse only when the interval excludes 1.0"
        lines.append(note + ")")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
