"""Named Cypher files: loading, dialect precedence, slot filling and the schema they define."""

from __future__ import annotations

import pytest

from kgrec.errors import UnknownQuery
from kgrec.kg.backend import write_clauses
from kgrec.kg.cypher import CYPHER_DIR, CypherLibrary, split_statements
from kgrec.kg.schema import load_schema


def test_dialect_file_wins_over_shared():
    assert "CREATE NODE TABLE" in CypherLibrary("ladybug").text("schema")
    assert "CREATE CONSTRAINT" in CypherLibrary("neo4j").text("schema")
    assert CypherLibrary("neo4j").text("meta_get") == CypherLibrary("ladybug").text("meta_get")


def test_unknown_query_names_the_known_ones():
    with pytest.raises(UnknownQuery, match="meta_get"):
        CypherLibrary("ladybug").text("no_such_query")


def test_render_accepts_only_identifiers():
    lib = CypherLibrary("neo4j")
    assert "MATCH (n:User)" in lib.render("count_nodes", label="User")
    with pytest.raises(ValueError):
        lib.render("count_nodes", label="User) DETACH DELETE n //")


def test_neo4j_schema_constrains_every_label():
    text = CypherLibrary("neo4j").text("schema")
    for label in load_schema().nodes:
        assert f"FOR (n:{label})" in text, label


def test_split_statements_ignores_comments():
    assert split_statements("// c;\nRETURN 1;\nRETURN 2") == ["RETURN 1", "RETURN 2"]


def test_write_clause_detection():
    assert write_clauses("MATCH (n) SET n.x = 1") == ["SET"]
    assert write_clauses("MATCH (n) WHERE n.name = 'DELETE me' RETURN n // CREATE") == []
    assert write_clauses("match (n) detach delete n") == ["DETACH", "DELETE"]
    assert write_clauses("MATCH (n:Settlement) RETURN n.offset") == []


def test_every_cypher_file_has_a_statement():
    for path in CYPHER_DIR.rglob("*.cypher"):
        assert split_statements(path.read_text()), path
