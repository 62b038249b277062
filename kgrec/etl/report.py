"""What an ingest run did: per-file row accounting, graph changes, and the quarantine of bad rows.

Every file's rows add up: ``rows_read = rows_new + rows_updated + rows_unchanged + rows_rejected``
(``rows_loaded`` is the first three together). A row is *unchanged* when the graph already held
exactly what it says (a re-run, or an overlapping export).
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np
import pandas as pd

from kgrec.errors import KgrecError

if TYPE_CHECKING:
    from kgrec.etl.entity_linking import EntityLinkReport


class IngestRejected(KgrecError):
    """``--strict``: the first bad row stops the run before anything is written."""

    exit_code = 3


@dataclasses.dataclass
class FileReport:
    file: str
    rows_read: int = 0
    rows_new: int = 0
    rows_updated: int = 0
    rows_unchanged: int = 0
    rows_rejected: int = 0
    reasons: Counter = dataclasses.field(default_factory=Counter)
    values_dropped: Counter = dataclasses.field(default_factory=Counter)  # loaded rows minus a bad optional value

    @property
    def rows_loaded(self) -> int:
        return self.rows_new + self.rows_updated + self.rows_unchanged

    @property
    def adds_up(self) -> bool:
        return self.rows_read == self.rows_loaded + self.rows_rejected

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "rows_read": self.rows_read,
            "rows_loaded": self.rows_loaded,
            "rows_new": self.rows_new,
            "rows_updated": self.rows_updated,
            "rows_unchanged": self.rows_unchanged,
            "rows_rejected": self.rows_rejected,
            "rejected_by_reason": dict(sorted(self.reasons.items())),
            "values_dropped": dict(sorted(self.values_dropped.items())),
        }


@dataclasses.dataclass
class IngestReport:
    source: str
    files: list[FileReport] = dataclasses.field(default_factory=list)
    nodes_added: dict[str, int] = dataclasses.field(default_factory=dict)
    nodes_updated: dict[str, int] = dataclasses.field(default_factory=dict)
    relationships_added: dict[str, int] = dataclasses.field(default_factory=dict)
    relationships_updated: dict[str, int] = dataclasses.field(default_factory=dict)
    quarantine: str | None = None
    revision: str | None = None
    changed: bool = False
    seconds: float = 0.0
    linking: EntityLinkReport | None = None  # when the run linked products to a knowledge graph's entities

    def file(self, name: str) -> FileReport:
        for f in self.files:
            if f.file == name:
                return f
        report = FileReport(name)
        self.files.append(report)
        return report

    @property
    def rows_rejected(self) -> int:
        return sum(f.rows_rejected for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "files": [f.to_dict() for f in self.files],
            "nodes_added": self.nodes_added,
            "nodes_updated": self.nodes_updated,
            "relationships_added": self.relationships_added,
            "relationships_updated": self.relationships_updated,
            "changed": self.changed,
            "revision": self.revision,
            "quarantine": self.quarantine,
            "seconds": round(self.seconds, 3),
            **({"linking": self.linking.to_dict()} if self.linking is not None else {}),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def summary(self) -> str:
        """A human-readable table of the per-file accounting and the graph changes."""
        lines = [f"ingest {self.source}:"]
        width = max([len(Path(f.file).name) for f in self.files] + [4])
        lines.append(
            f"  {'file'.ljust(width)}  {'read':>9}  {'new':>9}  {'updated':>8}  {'unchanged':>9}  {'rejected':>8}"
        )
        for f in self.files:
            lines.append(
                f"  {Path(f.file).name.ljust(width)}  {f.rows_read:>9,}  {f.rows_new:>9,}  {f.rows_updated:>8,}"
                f"  {f.rows_unchanged:>9,}  {f.rows_rejected:>8,}"
            )
            if f.rows_read == 0:
                lines.append(f"  {'':{width}}    no rows in this file")
            for reason, n in sorted(f.reasons.items()):
                lines.append(f"  {'':{width}}    rejected {n:,}: {reason}")
            for reason, n in sorted(f.values_dropped.items()):
                lines.append(f"  {'':{width}}    value dropped, row kept {n:,}: {reason}")
        added = {k: v for k, v in {**self.nodes_added, **self.relationships_added}.items() if v}
        updated = {k: v for k, v in {**self.nodes_updated, **self.relationships_updated}.items() if v}
        lines.append("  added: " + (", ".join(f"{k} {v:,}" for k, v in added.items()) or "nothing"))
        if updated:
            lines.append("  updated: " + ", ".join(f"{k} {v:,}" for k, v in updated.items()))
        if self.linking is not None:
            lines.extend("  " + line for line in self.linking.summary_lines())
        lines.append(f"  graph revision: {self.revision}{'' if self.changed else ' (unchanged)'}; {self.seconds:.2f} s")
        if self.quarantine:
            lines.append(f"  quarantined rows: {self.quarantine}")
        return "\n".join(lines)


class Quarantine:
    """Bad rows, one JSON object a line: file, line, field, reason and the original row.

    The file is created on the first bad row only. ``path=None`` keeps the records in memory
    (``records``) without writing a file.
    """

    def __init__(self, path: str | Path | None = None, *, strict: bool = False):
        self.path = Path(path) if path is not None else None
        self.strict = strict
        self.records: list[dict[str, Any]] = []
        self._fh: TextIO | None = None
        self._made: list[Path] = []  # folders this quarantine created
        self._start: int | None = None  # size of the file before this run (None: the run created it)

    def add(
        self, file: str, line: int | None, field: str | None, reason: str, row: Any,
        *,
        action: str = "row rejected", stops_strict: bool = True,
    ) -> None:
        """``stops_strict=False``: a record about a loaded row that strict mode does not stop at
        (an ambiguous entity link: the product loads, only the link is left out)."""
        record = {"file": file, "line": line, "field": field, "reason": reason, "action": action, "row": row}
        if self.strict and stops_strict:
            where = f"{file}" + (f" line {line}" if line is not None else "") + (f", field {field}" if field else "")
            raise IngestRejected(
                f"{where}: {reason}", "fix the row, or run without --strict to quarantine bad rows and go on"
            )
        self.records.append(record)
        if self.path is not None:
            if self._fh is None:
                missing = [p for p in (self.path.parent, *self.path.parent.parents) if not p.exists()]
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._made = missing
                self._start = self.path.stat().st_size if self.path.exists() else None
                self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (kept open; closed by close())
            self._fh.write(json_line(record))

    @property
    def written(self) -> str | None:
        return str(self.path) if self.path is not None and self.records else None

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def discard(self) -> None:
        """Undo this run's writes (the run was refused): the file and the folders it created are
        removed, or an existing file is cut back to what it held before."""
        try:
            self.close()
        except OSError:  # e.g. the disk is full and the last lines cannot be flushed: they go anyway
            self._fh = None
        if self.path is None or not self.records:
            return
        if self._start is None:
            self.path.unlink(missing_ok=True)
            for folder in self._made:  # innermost first
                try:
                    folder.rmdir()
                except OSError:
                    break
        else:
            with open(self.path, "r+b") as fh:
                fh.truncate(self._start)
        self.records = []


# Characters that str.splitlines() (and so many JSON Lines readers) take for line ends, but that
# json.dumps(ensure_ascii=False) leaves raw: escaped, so one record stays one line.
_LINE_BREAKS = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"})


def json_line(record: dict[str, Any]) -> str:
    return json.dumps(record, default=_plain, ensure_ascii=False).translate(_LINE_BREAKS) + "\n"


def _plain(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)
