"""What only the embedded LadybugDB backend does: file paths and the single-writer lock.

The behaviour every backend shares is tested in test_backend_contract.py."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pyarrow as pa
import pytest

from kgrec.config import load_settings
from kgrec.errors import ConfigError, CypherError, DatabaseLocked, DatabaseNotFound, KgrecError
from kgrec.kg import open_backend
from kgrec.kg.ladybug_backend import LadybugBackend


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


def test_small_buffer_pool_reads_and_writes(db_path):
    """A 64 MiB pool (KGREC_LADYBUG_BUFFER_POOL_MB) is enough to write a graph and read it back."""
    settings = load_settings({"db": db_path}, env={"KGREC_LADYBUG_BUFFER_POOL_MB": "64"})
    with open_backend(settings) as b:
        assert b.buffer_pool_mb == 64
        b.init_schema()
        b.insert_nodes("User", pa.table({"id": [f"u{i}" for i in range(5000)]}))
    with open_backend(settings, read_only=True) as reader:
        assert reader.buffer_pool_mb == 64
        assert reader.counts()["nodes"]["User"] == 5000
        found = reader.execute("MATCH (u:User {id: $id}) RETURN u.id AS id", {"id": "u4321"})
        assert found.column("id").to_pylist() == ["u4321"]


def test_too_small_buffer_pool_names_the_setting(db_path):
    """1 MiB opens but cannot hold the schema: a one-line error that says which setting to raise
    (with LadybugDB's default pool the same schema is created: the cap really reaches the engine)."""
    with LadybugBackend(db_path, buffer_pool_mb=1) as b:
        with pytest.raises(KgrecError, match="buffer pool.*KGREC_LADYBUG_BUFFER_POOL_MB") as err:
            b.init_schema()
        assert "\n" not in err.value.one_line()


@pytest.mark.parametrize("value", [-1, 1.5, True, "64"])
def test_bad_buffer_pool_argument_is_a_config_error(db_path, value):
    with pytest.raises(ConfigError, match="buffer_pool_mb must be a whole number"):
        LadybugBackend(db_path, buffer_pool_mb=value)


def test_pool_too_small_to_open_an_existing_database_names_the_setting(db_path):
    with open_backend(db_path) as b:
        b.init_schema()
    with pytest.raises(ConfigError, match=r"cannot open .*buffer pool.*KGREC_LADYBUG_BUFFER_POOL_MB") as err:
        open_backend(load_settings({"db": db_path}, env={"KGREC_LADYBUG_BUFFER_POOL_MB": "1"}), read_only=True)
    assert "\n" not in err.value.one_line()
