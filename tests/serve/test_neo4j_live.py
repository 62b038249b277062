"""Fused recommendation and paths on a live Neo4j 5 (the neo4j dialect files): runs only when
KGREC_NEO4J_URI is set, and only on a database without kgrec nodes; afterwards it deletes the
kgrec-labelled nodes it wrote and nothing else."""

from __future__ import annotations

import pytest

from kgrec.config import load_settings
from kgrec.kg import open_backend
from kgrec.kg.reader import GraphReader
from kgrec.serve.recommend import FusedRecommender

from ..conftest import neo4j_uri
from .conftest import build_graph

pytestmark = [
    pytest.mark.neo4j,
    pytest.mark.skipif(neo4j_uri() is None, reason="KGREC_NEO4J_URI is not set (no live Neo4j)"),
]


@pytest.fixture
def neo4j_graph():
    settings = load_settings({"db": neo4j_uri()})
    with open_backend(settings) as b:
        if sum(b.counts()["nodes"].values()) or b.get_meta("revision") is not None:
            pytest.skip("the Neo4j database already holds a kgrec graph; these tests need one without")
        b.init_schema()
        build_graph(b)
    yield settings
    with open_backend(settings) as b:
        b.delete_kgrec_nodes()  # only kgrec's labels: other data in the database stays


def test_recommend_and_paths_on_neo4j(neo4j_graph):
    reader = GraphReader(neo4j_graph)
    try:
        rec = FusedRecommender(reader).recommend("u1", k=5)
        assert rec.items[0].id == "p3"
        assert {"co_interaction", "shared_attribute", "knowledge_graph"} <= {p["source"] for p in rec.items[0].sources}
        assert any("'Ridley Scott' (directed by)" in w for w in rec.items[0].why)
        paths = FusedRecommender(reader).paths("u1", "p3")
        assert {"shared_attribute", "co_interaction", "entity_shared"} <= {p["pattern"] for p in paths["paths"]}
    finally:
        reader.close()
