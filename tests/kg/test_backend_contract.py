"""The Backend contract: the same behaviour from every configured graph store.

Each test runs against the embedded LadybugDB and, when KGREC_NEO4J_URI is set, against Neo4j
(see the ``store``/``any_backend`` fixtures in tests/conftest.py; otherwise the Neo4j case is
skipped with the reason in the summary).
"""

from __future__ import annotations

import pyarrow as pa
import pytest

from kgrec.errors import CypherError, KgrecError, ReadOnlyViolation, SchemaVersionError
from kgrec.kg.schema import ARROW_TYPES, SCHEMA_VERSION, load_schema


def _small_batches(b) -> None:
    """Force several write batches and streamed export chunks where the backend has them."""
    if hasattr(b, "batch_size"):
        b.batch_size = 2
    if hasattr(b, "fetch_size"):
        b.fetch_size = 2


def test_init_schema_is_idempotent(store):
    b = store.open()
    assert b.init_schema() is True
    before = b.counts()
    assert b.init_schema() is False
    assert b.schema_version() == SCHEMA_VERSION
    assert b.counts() == before
    b.ensure_schema()


def test_counts_cover_every_label_and_type(any_backend):
    counts = any_backend.counts()
    schema = load_schema()
    assert set(counts["nodes"]) == {"User", "Product", "Category", "Brand", "Shop", "Tag", "Entity"}
    assert set(counts["relationships"]) == set(schema.relationships)
    assert all(v == 0 for part in counts.values() for v in part.values())


def test_bulk_insert_update_and_export(any_backend):
    b = any_backend
    _small_batches(b)
    assert b.insert_nodes("User", pa.table({"id": ["u1", "u2", "u3"], "age": [20, 31, None]})) == 3
    b.insert_nodes("Product", pa.table({"id": ["p1", "p2", "p3"], "title": ["A", "B", "C"], "price": [1.5, 2.0, None]}))
    assert b.update_nodes("Product", pa.table({"id": ["p2"], "title": ["B2"], "text_emb": [[0.5, 0.25]]})) == 1
    b.insert_relationships(
        "INTERACTED",
        pa.table(
            {"src": ["u1", "u1", "u2"], "dst": ["p1", "p2", "p2"], "timestamp": [10, 20, 30], "rating": [4.0, 2.0, 5.0]}
        ),
    )
    products = b.export_nodes("Product", ["title", "text_emb", "price"]).to_pylist()
    by_id = {p["id"]: p for p in products}
    assert set(by_id) == {"p1", "p2", "p3"}
    assert by_id["p2"]["title"] == "B2"
    assert by_id["p2"]["text_emb"] == pytest.approx([0.5, 0.25])
    assert by_id["p1"]["text_emb"] is None and by_id["p3"]["price"] is None
    assert by_id["p1"]["price"] == 1.5
    edges = b.export_relationships("INTERACTED", ["timestamp", "rating", "behavior"]).to_pylist()
    assert sorted((e["src"], e["dst"], e["timestamp"], e["rating"]) for e in edges) == [
        ("u1", "p1", 10, 4.0),
        ("u1", "p2", 20, 2.0),
        ("u2", "p2", 30, 5.0),
    ]
    assert all(e["behavior"] is None for e in edges)
    counts = b.counts()
    assert counts["nodes"]["User"] == 3 and counts["nodes"]["Product"] == 3
    assert counts["relationships"]["INTERACTED"] == 3


def test_export_columns_are_typed_by_the_schema_even_when_empty_or_null(any_backend):
    b = any_backend
    empty = b.export_nodes("Product", ["title", "year", "price", "text_emb"])
    assert empty.num_rows == 0
    expected = pa.schema(
        [
            ("id", pa.string()), ("title", pa.string()), ("year", pa.int64()), ("price", pa.float64()),
            ("text_emb", ARROW_TYPES["FLOAT[]"]),
        ]
    )
    assert empty.schema.equals(expected)
    b.insert_nodes("Product", pa.table({"id": ["p1"]}))
    assert b.export_nodes("Product", ["title", "year", "price", "text_emb"]).schema.equals(expected)
    rels = b.export_relationships("INTERACTED", ["timestamp", "rating"])
    assert rels.schema.equals(
        pa.schema([("src", pa.string()), ("dst", pa.string()), ("timestamp", pa.int64()), ("rating", pa.float64())])
    )


def test_input_is_cast_to_schema_types(any_backend):
    b = any_backend
    b.insert_nodes("User", pa.table({"id": pa.array([1, 2], pa.int64())}))
    b.insert_nodes("Product", pa.table({"id": ["10"], "year": pa.array([1999], pa.int32())}))
    b.insert_relationships("INTERACTED", pa.table({"src": [1], "dst": [10], "rating": [4]}))
    assert sorted(b.export_nodes("User")["id"].to_pylist()) == ["1", "2"]
    assert b.export_nodes("Product", ["year"]).to_pylist() == [{"id": "10", "year": 1999}]
    assert b.export_relationships("INTERACTED", ["rating"]).to_pylist() == [{"src": "1", "dst": "10", "rating": 4.0}]


def test_bad_bulk_input_writes_nothing(any_backend):
    b = any_backend
    _small_batches(b)
    b.insert_nodes("User", pa.table({"id": ["u1"]}))
    b.insert_nodes("Product", pa.table({"id": ["p1"]}))
    with pytest.raises(KgrecError):  # an id that exists already
        b.insert_nodes("User", pa.table({"id": ["u2", "u3", "u4", "u1"]}))
    with pytest.raises(KgrecError):  # an id twice in the input
        b.insert_nodes("User", pa.table({"id": ["u5", "u6", "u7", "u5"]}))
    assert b.counts()["nodes"]["User"] == 1
    with pytest.raises(KgrecError):  # a relationship end that is not in the graph
        b.insert_relationships(
            "INTERACTED", pa.table({"src": ["u1", "u1", "u1", "u9"], "dst": ["p1", "p1", "p1", "p1"]})
        )
    assert b.counts()["relationships"]["INTERACTED"] == 0


def test_update_skips_unknown_ids_and_null_clears(any_backend):
    b = any_backend
    b.insert_nodes("Product", pa.table({"id": ["p1"], "title": ["A"], "year": [2001]}))
    b.update_nodes("Product", pa.table({"id": ["p1", "nope"], "title": pa.array([None, "X"], pa.string())}))
    assert b.export_nodes("Product", ["title", "year"]).to_pylist() == [{"id": "p1", "title": None, "year": 2001}]
    assert b.counts()["nodes"]["Product"] == 1


def test_unknown_property_and_label_are_rejected(any_backend):
    b = any_backend
    with pytest.raises(ValueError, match="no properties"):
        b.insert_nodes("User", pa.table({"id": ["u1"], "shoe_size": [44]}))
    with pytest.raises(ValueError, match="unknown node label"):
        b.insert_nodes("Planet", pa.table({"id": ["x"]}))
    with pytest.raises(ValueError, match="unknown relationship type"):
        b.export_relationships("ORBITS")


def test_named_parameterised_query(any_backend):
    any_backend.set_meta("revision", "r1")
    assert any_backend.get_meta("revision") == "r1"
    any_backend.set_meta("revision", "r2")
    assert any_backend.get_meta("revision") == "r2"
    assert any_backend.run("meta_get", {"key": "missing"}).num_rows == 0


def test_snapshot_id_follows_content(any_backend):
    b = any_backend
    first = b.snapshot_id()
    assert b.snapshot_id() == first
    b.insert_nodes("Tag", pa.table({"id": ["t1"]}))
    assert b.snapshot_id() != first


def test_parameters_are_not_interpolated(any_backend):
    any_backend.insert_nodes("User", pa.table({"id": ["u1"]}))
    hostile = "u1' OR 1=1 //"
    out = any_backend.execute("MATCH (u:User) WHERE u.id = $id RETURN u.id AS id", {"id": hostile})
    assert out.num_rows == 0
    out = any_backend.execute("MATCH (u:User) WHERE u.id = $id RETURN u.id AS id", {"id": "u1"})
    assert out.column("id").to_pylist() == ["u1"]


def test_write_refused_without_write_flag(any_backend):
    b = any_backend
    with pytest.raises(ReadOnlyViolation, match="--write"):
        b.execute("MATCH (u:User) DETACH DELETE u")
    # a write keyword inside a string is not a write
    out = b.execute("RETURN 'CREATE (x)' AS s")
    assert out.column("s").to_pylist() == ["CREATE (x)"]
    b.execute("CREATE (:Tag {id: $id})", {"id": "t1"}, write=True)
    assert b.counts()["nodes"]["Tag"] == 1


def test_syntax_error_is_a_cypher_error(any_backend):
    with pytest.raises(CypherError):
        any_backend.execute("MATCH (u:User RETURN u")


def test_newer_schema_version_is_refused_untouched(store):
    b = store.open()
    b.init_schema()
    b.set_meta("schema_version", str(SCHEMA_VERSION + 1))
    b.close()
    b = store.open()
    with pytest.raises(SchemaVersionError, match="newer"):
        b.init_schema()
    with pytest.raises(SchemaVersionError):
        b.ensure_schema()
    assert b.schema_version() == SCHEMA_VERSION + 1


def test_read_only_open_refuses_writes_and_reads(store):
    b = store.open()
    b.init_schema()
    b.insert_nodes("User", pa.table({"id": ["u1"]}))
    b.close()
    ro = store.open(read_only=True)
    with pytest.raises(ReadOnlyViolation):
        ro.insert_nodes("User", pa.table({"id": ["u2"]}))
    with pytest.raises(ReadOnlyViolation):
        ro.execute("CREATE (:User {id: 'x'})", write=True)
    assert ro.counts()["nodes"]["User"] == 1
    assert ro.export_nodes("User")["id"].to_pylist() == ["u1"]


@pytest.mark.parametrize("store", ["neo4j"], indirect=True)
def test_neo4j_server_refuses_a_write_in_a_read_transaction(store):
    """The client-side clause check aside, a READ session is enforced by the server itself."""
    b = store.open()
    b.init_schema()
    with pytest.raises(ReadOnlyViolation):
        b._execute("CREATE (:Tag {id: 'sneaky'})", {}, write=False)
    assert b.counts()["nodes"]["Tag"] == 0
