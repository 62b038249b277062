"""The embedded LadybugDB backend, on real database files in temp folders."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pyarrow as pa
import pytest

from kgrec.errors import CypherError, DatabaseLocked, DatabaseNotFound, ReadOnlyViolation, SchemaVersionError
from kgrec.kg import open_backend
from kgrec.kg.schema import SCHEMA_VERSION, load_schema


def test_init_schema_is_idempotent(db_path):
    with open_backend(db_path) as b:
        assert b.init_schema() is True
        before = b.counts()
        assert b.init_schema() is False
        assert b.schema_version() == SCHEMA_VERSION
        assert b.counts() == before


def test_counts_cover_every_label_and_type(backend):
    counts = backend.counts()
    schema = load_schema()
    assert set(counts["nodes"]) == {"User", "Product", "Category", "Brand", "Shop", "Tag", "Entity"}
    assert set(counts["relationships"]) == set(schema.relationships)
    assert all(v == 0 for part in counts.values() for v in part.values())


def test_bulk_insert_update_and_export(backend):
    backend.insert_nodes("User", pa.table({"id": ["u1", "u2"], "age": [20, 31]}))
    backend.insert_nodes("Product", pa.table({"id": ["p1", "p2", "p3"], "title": ["A", "B", "C"]}))
    backend.update_nodes("Product", pa.table({"id": ["p2"], "title": ["B2"], "text_emb": [[0.5, 0.25]]}))
    backend.insert_relationships(
        "INTERACTED",
        pa.table({"src": ["u1", "u1", "u2"], "dst": ["p1", "p2", "p2"], "timestamp": [10, 20, 30], "rating": [4.0, 2.0, 5.0]}),
    )
    products = backend.export_nodes("Product", ["title", "text_emb"]).to_pylist()
    by_id = {p["id"]: p for p in products}
    assert by_id["p2"]["title"] == "B2"
    assert by_id["p2"]["text_emb"] == pytest.approx([0.5, 0.25])
    assert by_id["p1"]["text_emb"] is None
    edges = backend.export_relationships("INTERACTED", ["timestamp", "rating", "behavior"]).to_pylist()
    assert sorted((e["src"], e["dst"], e["timestamp"], e["rating"]) for e in edges) == [
        ("u1", "p1", 10, 4.0),
        ("u1", "p2", 20, 2.0),
        ("u2", "p2", 30, 5.0),
    ]
    assert all(e["behavior"] is None for e in edges)
    counts = backend.counts()
    assert counts["nodes"]["User"] == 2 and counts["nodes"]["Product"] == 3
    assert counts["relationships"]["INTERACTED"] == 3


def test_unknown_property_and_label_are_rejected(backend):
    with pytest.raises(ValueError, match="no properties"):
        backend.insert_nodes("User", pa.table({"id": ["u1"], "shoe_size": [44]}))
    with pytest.raises(ValueError, match="unknown node label"):
        backend.insert_nodes("Planet", pa.table({"id": ["x"]}))
    with pytest.raises(ValueError, match="unknown relationship type"):
        backend.export_relationships("ORBITS")


def test_named_parameterised_query(backend):
    backend.set_meta("revision", "r1")
    assert backend.get_meta("revision") == "r1"
    assert backend.run("meta_get", {"key": "missing"}).num_rows == 0


def test_parameters_are_not_interpolated(backend):
    backend.insert_nodes("User", pa.table({"id": ["u1"]}))
    hostile = "u1' OR 1=1 //"
    out = backend.execute("MATCH (u:User) WHERE u.id = $id RETURN u.id AS id", {"id": hostile})
    assert out.num_rows == 0


def test_write_refused_without_write_flag(backend):
    with pytest.raises(ReadOnlyViolation, match="--write"):
        backend.execute("MATCH (u:User) DETACH DELETE u")
    # a write keyword inside a string is not a write
    out = backend.execute("RETURN 'CREATE (x)' AS s")
    assert out.column("s").to_pylist() == ["CREATE (x)"]
    backend.execute("CREATE (:Tag {id: $id})", {"id": "t1"}, write=True)
    assert backend.counts()["nodes"]["Tag"] == 1


def test_syntax_error_is_a_cypher_error(backend):
    with pytest.raises(CypherError, match="Parser"):
        backend.execute("MATCH (u:User RETURN u")


def test_missing_database_is_reported(tmp_path):
    with pytest.raises(DatabaseNotFound, match="kgctl init"):
        open_backend(str(tmp_path / "nope.db"), read_only=True)
    with pytest.raises(DatabaseNotFound, match="does not exist"):
        open_backend(str(tmp_path / "no" / "such" / "dir.db"))


def test_newer_schema_version_is_refused_untouched(db_path):
    with open_backend(db_path) as b:
        b.init_schema()
        b.set_meta("schema_version", str(SCHEMA_VERSION + 1))
    with open_backend(db_path) as b:
        with pytest.raises(SchemaVersionError, match="newer"):
            b.init_schema()
        assert b.schema_version() == SCHEMA_VERSION + 1


def test_read_only_open_refuses_writes(db_path):
    with open_backend(db_path) as b:
        b.init_schema()
    with open_backend(db_path, read_only=True) as ro:
        with pytest.raises(ReadOnlyViolation):
            ro.insert_nodes("User", pa.table({"id": ["u1"]}))
        with pytest.raises(ReadOnlyViolation):
            ro.execute("CREATE (:User {id: 'x'})", write=True)


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
