"""The same ingest through the Neo4j backend (batched UNWIND inside it): runs only against a live
server named by KGREC_NEO4J_URI (credentials from KGREC_NEO4J_USER / KGREC_NEO4J_PASSWORD)."""

from __future__ import annotations

import os

import pytest

from kgrec.etl import ingest_recbole
from tests.conftest import neo4j_uri
from tests.etl.atomic import INTER, snapshot, write_atomic

pytestmark = [pytest.mark.neo4j, pytest.mark.skipif(neo4j_uri() is None, reason="KGREC_NEO4J_URI is not set")]


@pytest.fixture
def neo4j_backend():
    from kgrec.kg.neo4j_backend import Neo4jBackend

    b = Neo4jBackend(neo4j_uri(), user=os.environ.get("KGREC_NEO4J_USER", "neo4j"),
                     password=os.environ.get("KGREC_NEO4J_PASSWORD"))
    b.delete_kgrec_nodes()  # kgrec-labelled nodes only
    b.init_schema()
    yield b
    b.delete_kgrec_nodes()  # kgrec-labelled nodes only
    b.close()


def test_ingest_is_idempotent_and_incremental_on_neo4j(neo4j_backend, tmp_path):
    report = ingest_recbole(neo4j_backend, write_atomic(tmp_path / "v1"))
    assert report.relationships_added["INTERACTED"] == 6
    before = snapshot(neo4j_backend)
    assert not ingest_recbole(neo4j_backend, write_atomic(tmp_path / "v1")).changed
    assert snapshot(neo4j_backend) == before
    inter = list(INTER) + [("9", "4", "5", "880000000")]
    newer = ingest_recbole(neo4j_backend, write_atomic(tmp_path / "v2", "shop", inter=inter))
    assert newer.relationships_added == {"INTERACTED": 1} and newer.nodes_added == {"User": 1}
    assert neo4j_backend.counts()["relationships"]["INTERACTED"] == 7
