"""One ingest run: build a stage from a source, validate, diff and write, and account for every row."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from kgrec.etl.loader import apply_stage
from kgrec.etl.progress import Progress
from kgrec.etl.report import IngestReport, Quarantine
from kgrec.etl.stage import Stage
from kgrec.kg.backend import Backend

# build(stage, report, quarantine, progress, backend) fills the stage from the source files
Builder = Callable[[Stage, IngestReport, Quarantine, Progress, Backend], None]


def run_ingest(
    backend: Backend,
    source: str,
    build: Builder,
    *,
    strict: bool = False,
    quarantine: str | Path | None = None,
    progress: bool = False,
) -> IngestReport:
    """Validate everything first (``strict`` stops at the first bad row, before any write), then load."""
    start = time.perf_counter()
    backend.ensure_schema()
    report = IngestReport(source)
    bad_rows = Quarantine(quarantine, strict=strict)
    bars = Progress(progress)
    try:
        stage = Stage()
        build(stage, report, bad_rows, bars, backend)
        apply_stage(backend, stage, report, bars)
    except BaseException:
        bad_rows.discard()  # a refused or failed run leaves no quarantine file behind
        raise
    finally:
        bad_rows.close()
    report.quarantine = bad_rows.written
    report.seconds = time.perf_counter() - start
    for f in report.files:
        if not f.adds_up:  # a bug in kgrec, never a data problem
            raise AssertionError(f"row accounting for {f.file} does not add up: {f.to_dict()}")
    return report
