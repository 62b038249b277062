"""Crash safety: an ingest killed with SIGKILL (kill -9) at any point, then re-run, ends with
exactly the graph (and revision) that a clean run gives.

The killed runs are real subprocesses. ``KGREC_FAULT_KILL_AFTER_WRITES=N`` makes the ingest kill
itself right after its N-th write statement (pending marker, each bulk insert, each update, the
revision, clearing the marker), so every boundary between writes is covered deterministically;
one more run is killed from outside at a moment in the middle of its writes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from kgrec.etl import ingest_recbole
from kgrec.kg import open_backend
from tests.etl.atomic import INTER, ITEMS, snapshot, write_atomic

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = (
    "import sys\n"
    "from kgrec.kg import open_backend\n"
    "from kgrec.etl import ingest_recbole\n"
    "b = open_backend(sys.argv[1]); b.init_schema()\n"
    "print('ready', flush=True)\n"
    "ingest_recbole(b, sys.argv[2])\n"
)


def _bigger_inter(n: int) -> list[tuple[str, str, str, str]]:
    return [(str(1 + k % 50), str(1 + k % 4), str(1 + k % 5), str(880000000 + k)) for k in range(n)]


def _dataset(tmp_path: Path, version: int) -> Path:
    if version == 1:
        return write_atomic(tmp_path / "v1", "shop", inter=INTER + _bigger_inter(3000))
    items = [(i, t + " (new cut)" if i == "2" else t, y, g) for i, t, y, g in ITEMS] + [
        ("5", "Copycat", "1995", "Crime")
    ]
    inter = [(u, i, "1" if (u, i) == ("1", "1") else r, t) for u, i, r, t in INTER] + _bigger_inter(3500)
    return write_atomic(tmp_path / "v2", "shop", items=items, inter=inter + [("77", "5", "5", "890000000")])


def _clean(db: Path, folders: list[Path]) -> dict:
    with open_backend(str(db)) as b:
        b.init_schema()
        for folder in folders:
            ingest_recbole(b, folder)
        return snapshot(b)


def _killed_run(db: Path, folder: Path, kill_after: int | None = None, kill_at_s: float | None = None) -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if kill_after is not None:
        env["KGREC_FAULT_KILL_AFTER_WRITES"] = str(kill_after)
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(db), str(folder)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if kill_at_s is not None:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(kill_at_s)
        proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=120)
    return proc.returncode


def _rerun(db: Path, folders: list[Path]) -> dict:
    with open_backend(str(db)) as b:
        for folder in folders:
            ingest_recbole(b, folder)
        return snapshot(b)


def test_first_load_killed_after_each_write_then_rerun_equals_a_clean_run(tmp_path):
    v1 = _dataset(tmp_path, 1)
    expected = _clean(tmp_path / "clean.db", [v1])
    # writes: 1 pending marker, 2-5 nodes (Product, Category, User, Entity), 6-9 relationships
    # (IN_CATEGORY, INTERACTED, LINKED_TO, RELATED_TO), 10 revision, 11 marker cleared
    for kill_after in (1, 3, 7, 10):
        db = tmp_path / f"k{kill_after}.db"
        assert _killed_run(db, v1, kill_after=kill_after) == -signal.SIGKILL
        with open_backend(str(db)) as b:
            partial = snapshot(b)
        assert partial != expected, f"killed after write {kill_after} but nothing was missing"
        assert _rerun(db, [v1]) == expected, f"killed after write {kill_after}"


def test_incremental_load_killed_midway_then_rerun_equals_a_clean_run(tmp_path):
    v1, v2 = _dataset(tmp_path, 1), _dataset(tmp_path, 2)
    expected = _clean(tmp_path / "clean.db", [v1, v2])
    assert expected["revision"] == "2"
    # v2 writes: marker, Product, Category, User (new), Product update, IN_CATEGORY, INTERACTED,
    # INTERACTED rating update, revision, marker
    for kill_after in (5, 8):
        db = tmp_path / f"inc{kill_after}.db"
        _clean(db, [v1])
        assert _killed_run(db, v2, kill_after=kill_after) == -signal.SIGKILL
        assert _rerun(db, [v2]) == expected, f"killed after write {kill_after}"


def test_killed_from_outside_at_an_arbitrary_moment(tmp_path):
    v1 = _dataset(tmp_path, 1)
    expected = _clean(tmp_path / "clean.db", [v1])
    for delay in (0.3,):
        db = tmp_path / f"t{delay}.db"
        code = _killed_run(db, v1, kill_at_s=delay)
        assert code in (0, -signal.SIGKILL)
        assert _rerun(db, [v1]) == expected, f"killed {delay} s into the run"
