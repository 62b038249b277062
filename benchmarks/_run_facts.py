"""What a results file's header block states about the run, read the same way by every benchmark
that writes one: the commit (and whether tracked files had uncommitted changes), the machine's
memory and its load average. Imported as ``_run_facts`` (a script's own folder is on its path)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _sh(*cmd: str) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def commit() -> str:
    """The short commit of the checkout."""
    return _sh("git", "rev-parse", "--short", "HEAD")


def uncommitted() -> str:
    """" (with uncommitted changes)" when tracked files differ from the commit, else ""."""
    return " (with uncommitted changes)" if _sh("git", "status", "--porcelain", "--untracked-files=no") else ""


def memory_gib() -> float:
    """Total memory (``/proc/meminfo``), GiB; 0 where it cannot be read."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            return int(line.split()[1]) / 2**20
    return 0.0


def load_average() -> str:
    """The 1, 5 and 15-minute load averages, as ``uptime`` gives them."""
    return " / ".join(f"{v:.2f}" for v in os.getloadavg())
