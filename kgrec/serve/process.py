"""``kgctl serve`` as a child process on a free loopback port, ready once ``/health`` answers 200;
stopped when the ``with`` block ends. For tests and benchmarks that talk to a real server.

    with serving("kgrec.db", "--workers", "2") as server:
        httpx.get(f"{server.url}/recommend", params={"user": "u1"})
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kgrec.errors import KgrecError

LOOPBACK = "127.0.0.1"
# the folder that holds this kgrec package: the child imports the same code as its parent
_SOURCE_ROOT = str(Path(__file__).resolve().parents[2])


class ServerDidNotStart(KgrecError):
    pass


@dataclass(frozen=True)
class RunningServer:
    url: str  # http://127.0.0.1:PORT
    port: int
    log_path: Path  # the server's stdout and stderr
    process: subprocess.Popen


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(db: str, *serve_args: str, host: str = LOOPBACK, extra_env: Mapping[str, str] | None = None,
            log_path: str | Path | None = None, start_timeout_s: float = 60.0,
            source_root: str | Path | None = None) -> Iterator[RunningServer]:
    """Run ``kgctl --db DB serve --host HOST --port <free port> SERVE_ARGS...`` until the block ends.
    Its output goes to ``log_path`` (a temporary file when not given). Raises ``ServerDidNotStart``,
    with the end of the log, when the process exits or ``/health`` does not answer 200 within
    ``start_timeout_s``. ``source_root``: the folder holding the ``kgrec`` package the child runs
    (another checkout's, as a peer); default: this one."""
    port = free_port(host)
    env = {**os.environ, **(extra_env or {})}
    root = str(source_root) if source_root is not None else _SOURCE_ROOT
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    with tempfile.TemporaryDirectory(prefix="kgrec-serve-") as tmp:
        path = Path(log_path) if log_path is not None else Path(tmp) / "server.log"
        with open(path, "w") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "kgrec.cli.main", "--db", db, "serve", "--host", host, "--port", str(port),
                 *serve_args],
                stdout=log, stderr=subprocess.STDOUT, env=env,
            )
            try:
                url = f"http://{host}:{port}"
                _wait_for_health(url, process, path, start_timeout_s)
                yield RunningServer(url, port, path, process)
            finally:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _wait_for_health(url: str, process: subprocess.Popen, log_path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerDidNotStart(f"kgctl serve exited with code {process.returncode}: {_tail(log_path)}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass  # not listening yet, or /health said 503 (the store not open yet)
        time.sleep(0.1)
    raise ServerDidNotStart(f"kgctl serve did not answer {url}/health within {timeout_s:g} s: {_tail(log_path)}")


def _tail(log_path: Path, lines: int = 20) -> str:
    text = log_path.read_text(errors="replace").strip()
    return "\n".join(text.splitlines()[-lines:]) or "(no output)"
