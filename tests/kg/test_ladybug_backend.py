"""What only the embedded LadybugDB backend does: file paths and the single-writer lock.

The behaviour every backend shares is tested in test_backend_contract.py."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from kgrec.errors import CypherError, DatabaseLocked, DatabaseNotFound
from kgrec.kg import open_backend


def test_syntax_error_names_the_parser(backend):
    with pytest.raises(CypherError, match="Parser"):
        backend.execute("MATCH (u:User RETURN u")


def test_missing_database_is_reported(tmp_path):
    with pytest.raises(DatabaseNotFound, match="kgctl init"):
        open_backend(str(tmp_path / "nope.db"), read_only=True)
    with pytest.raises(DatabaseNotFound, match="does not exist"):
        open_backend(str(tmp_path / "no" / "such" / "dir.db"))


HOLD_WRITER = textwrap.dedent(
    """
    import sys, time
    import pyarrow as pa
    from kgrec.kg import open_backend
    b = open_backend(sys.argv[1])
    b.init_schema()
    b.insert_nodes("User", pa.table({"id": ["u1", "u2"]}))
    print("ready", flush=True)
    sys.stdin.readline()
    b.close()
    """
)


def test_second_writer_is_refused_while_readers_work(db_path):
    """One process writes; another may read; a second writer gets a clear lock error."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_WRITER, db_path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        with pytest.raises(DatabaseLocked, match="locked"):
            open_backend(db_path)
        with open_backend(db_path, read_only=True) as reader:
            assert reader.counts()["nodes"]["User"] == 2
    finally:
        proc.stdin.write("\n")
        proc.stdin.flush()
        proc.wait(timeout=60)
    assert proc.returncode == 0
