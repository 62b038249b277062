"""The graph revision: a counter in ``Meta`` that every write of graph content moves (ingest,
``kgctl embed``), so that the snapshot id (``Backend.snapshot_id``: counts plus the revision)
changes with the content, a running server reloads, and ``evaluate`` refuses a checkpoint trained
before the change.

A write publishes its revision in two steps around its statements: ``begin_write`` records the
revision R it will publish as ``Meta ingest_pending = R``; after the last statement ``publish``
sets ``Meta revision = R`` and clears the pending mark. A run killed in between leaves the mark,
and the next writer (even one with nothing left to write) publishes that same R, so a killed run
followed by a re-run ends with the revision a clean run gives.
"""

from __future__ import annotations

import re

from kgrec.kg.backend import Backend

REVISION = "revision"
PENDING = "ingest_pending"  # the key name predates embed's use of it; kept so existing graphs read the same
# kgrec.etl.loader (ingest) writes the same two keys under the same names (a test keeps them equal)


def current_revision(backend: Backend) -> str:
    """The published revision ("0" for a graph nothing was ever written to)."""
    return backend.get_meta(REVISION) or "0"


def pending_revision(backend: Backend) -> str:
    """The revision a killed write left to publish, or "" when none."""
    return backend.get_meta(PENDING) or ""


def next_revision(current: str) -> str:
    """The revision after ``current``: its trailing number plus one ("7" -> "8", "tiny-1" ->
    "tiny-2"), or "-1" appended when it ends in none (a revision set by hand)."""
    match = re.fullmatch(r"(.*?)(\d+)", current)
    return f"{match.group(1)}{int(match.group(2)) + 1}" if match else f"{current}-1"


def begin_write(backend: Backend) -> str:
    """Mark a write as under way; returns the revision it will publish (a killed run's, or the next)."""
    target = pending_revision(backend) or next_revision(current_revision(backend))
    backend.set_meta(PENDING, target)
    return target


def publish(backend: Backend, target: str) -> None:
    """The write is complete: ``target`` becomes the graph's revision and the mark is cleared."""
    backend.set_meta(REVISION, target)
    backend.set_meta(PENDING, "")
