"""The HTTP API in-process (FastAPI TestClient) on a real embedded database: validation, 404s,
the bearer token, read-only Cypher, injection attempts, a vanishing database, ingestion while serving."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from fastapi.testclient import TestClient

from kgrec.kg import open_backend
from kgrec.kg.reader import GraphReader
from kgrec.serve.api import create_app
from kgrec.serve.recommend import FusedRecommender

TOKEN = "s3cret-token-for-tests"


@pytest.fixture
def client(recommender):
    return TestClient(create_app(recommender))


def counts(db_path):
    with open_backend(db_path, read_only=True) as b:
        return b.counts()


def test_health_and_docs(client):
    res = client.get("/health")
    assert res.status_code == 200 and res.json()["status"] == "ok" and res.json()["model"] == "test_cooccurrence"
    assert "/recommend" in client.get("/openapi.json").json()["paths"]
    assert client.get("/docs").status_code == 200
    assert "vis-network" in client.get("/").text


def test_recommend_paths_similar(client):
    res = client.get("/recommend", params={"user": "u1", "k": 3})
    assert res.status_code == 200
    body = res.json()
    assert body["user"] == "u1" and len(body["items"]) == 3 and body["items"][0]["why"]
    res = client.get("/paths", params={"user": "u1", "product": "p3"})
    assert res.status_code == 200 and res.json()["paths"] and res.json()["vis"]["nodes"]
    res = client.get("/similar", params={"product": "p1", "k": 2})
    assert [h["id"] for h in res.json()["items"]] == ["p9", "p2"]


@pytest.mark.parametrize(
    "path,params,status",
    [
        ("/recommend", {"user": "ghost"}, 404),
        ("/recommend", {"user": "u1", "k": 0}, 422),
        ("/recommend", {"user": "u1", "k": 101}, 422),
        ("/recommend", {"user": "u1", "k": "ten"}, 422),
        ("/recommend", {}, 422),
        ("/paths", {"user": "u1", "product": "nope"}, 404),
        ("/paths", {"user": "u1", "product": "p3", "max_hops": 9}, 422),
        ("/similar", {"product": "nope"}, 404),
        ("/similar", {"product": "p1", "modality": "smell"}, 422),
    ],
)
def test_validation(client, path, params, status):
    res = client.get(path, params=params)
    assert res.status_code == status, res.text
    assert "detail" in res.json()


HOSTILE = [
    "u1' OR 1=1 //",
    'u1"}) DETACH DELETE n //',
    "u1}) MATCH (n) DETACH DELETE n RETURN 1 //",
    "'; MATCH (n) DETACH DELETE n; //",
    "$user",
    "`User`",
    "x" * 5000,
    "u1\x00",
    "u1\nMATCH (n) DELETE n",
]


def test_injection_attempts_are_4xx_and_change_nothing(client, graph_db):
    before = counts(graph_db)
    for value in HOSTILE:
        for path, params in (
            ("/recommend", {"user": value}),
            ("/paths", {"user": value, "product": "p1"}),
            ("/paths", {"user": "u1", "product": value}),
            ("/similar", {"product": value}),
            ("/recommend", {"user": "u1", "k": value}),
        ):
            res = client.get(path, params=params)
            assert 400 <= res.status_code < 500, (path, value, res.status_code)
    assert client.post("/cypher", json={"query": "MATCH (n) DETACH DELETE n"}).status_code in (404, 405)
    assert counts(graph_db) == before


def test_cypher_endpoint_is_opt_in_and_read_only(recommender, graph_db):
    before = counts(graph_db)
    client = TestClient(create_app(recommender, enable_cypher=True))
    res = client.post(
        "/cypher", json={"query": "MATCH (u:User) WHERE u.id = $id RETURN u.id AS id", "params": {"id": "u1"}}
    )
    assert res.status_code == 200 and res.json()["rows"] == [{"id": "u1"}]
    for query in ("MATCH (n) DETACH DELETE n", "CREATE (:User {id: 'x'})", "MATCH (u:User) SET u.name = 'x'"):
        res = client.post("/cypher", json={"query": query})
        assert res.status_code == 400, res.text
    assert client.post("/cypher", json={"query": "MATCH (u RETURN u"}).status_code == 400
    outside = graph_db + ".export"
    for query in (
        "LOAD FROM '/etc/passwd' (header=false) RETURN *",
        f"EXPORT DATABASE '{outside}'",
        f"COPY (MATCH (u:User) RETURN u.id) TO '{outside}.csv'",
        "CALL show_tables() RETURN *",
        "match (u:User) return u.id // fine\nLoad from 'x.csv' return *",
    ):
        res = client.post("/cypher", json={"query": query})
        assert res.status_code == 400 and "refused" in res.text, (query, res.text)
    assert not os.path.exists(outside) and not os.path.exists(outside + ".csv")
    assert client.post("/cypher", json={"query": "RETURN 'LOAD FROM is only text here' AS s"}).status_code == 200
    assert counts(graph_db) == before


def test_bearer_token(recommender):
    client = TestClient(create_app(recommender, token=TOKEN))
    assert client.get("/recommend", params={"user": "u1"}).status_code == 401
    res = client.get("/recommend", params={"user": "u1"}, headers={"Authorization": "Bearer wrong"})
    assert res.status_code == 401 and TOKEN not in res.text
    assert (
        client.get("/recommend", params={"user": "u1"}, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    )
    assert client.get("/health").status_code == 200  # probes need no token


def test_vanished_database_gives_503_with_a_clear_body(graph_db, tmp_path):
    import shutil

    moved = tmp_path / "moved.db"
    reader = GraphReader(graph_db)
    client = TestClient(create_app(FusedRecommender(reader)))
    assert client.get("/recommend", params={"user": "u1"}).status_code == 200
    shutil.move(graph_db, moved)
    try:
        for path, params in (
            ("/recommend", {"user": "u1"}), ("/paths", {"user": "u1", "product": "p3"}), ("/health", {}),
        ):
            res = client.get(path, params=params)
            assert res.status_code == 503, (path, res.text)
            assert "unavailable" in res.text and "graph.db" in res.text
        shutil.move(moved, graph_db)
        assert client.get("/recommend", params={"user": "u1"}).status_code == 200  # comes back by itself
    finally:
        reader.close()


def test_a_store_that_does_not_answer_gives_503_not_a_hang(graph_db):
    reader = GraphReader(graph_db)
    client = TestClient(create_app(FusedRecommender(reader), timeout_s=0.5))
    hold = threading.Event()

    def slow_read():
        reader.read(lambda b, g: hold.wait(5))

    t = threading.Thread(target=slow_read)
    t.start()
    try:
        time.sleep(0.1)
        start = time.monotonic()
        res = client.get("/recommend", params={"user": "u1"})
        assert res.status_code == 503 and "did not answer" in res.text
        assert time.monotonic() - start < 3
    finally:
        hold.set()
        t.join()
        reader.close()


WRITER = textwrap.dedent(
    """
    # one read-write open and many committed batches (an ingest), or an open per batch (repeated
    # small ingests: a checkpoint at every close); every bulk COPY also checkpoints
    import sys, time, pyarrow as pa
    from kgrec.kg import open_backend

    def batch(b, n):
        b.insert_nodes("User", pa.table({"id": [f"w{n}"]}))
        b.insert_relationships("INTERACTED",
                               pa.table({"src": [f"w{n}"], "dst": ["p1"], "timestamp": [100 + n], "rating": [5.0]}))

    if sys.argv[3] == "one_open":
        with open_backend(sys.argv[1]) as b:
            for n in range(int(sys.argv[2])):
                batch(b, n)
                time.sleep(0.05)
    else:
        for n in range(int(sys.argv[2])):
            with open_backend(sys.argv[1]) as b:
                batch(b, n)
    print("done", flush=True)
    """
)


@pytest.mark.parametrize("mode", ["one_open", "open_per_batch"])
def test_server_keeps_answering_while_another_process_ingests(recommender, graph_db, mode):
    client = TestClient(create_app(recommender))
    writes = 15
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, graph_db, str(writes), mode], stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    statuses = []
    try:
        while proc.poll() is None:
            res = client.get("/recommend", params={"user": "u1", "k": 3})
            statuses.append(res.status_code)
            if res.status_code == 200:
                assert res.json()["items"][0]["id"] == "p3"
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(statuses) >= 3 and set(statuses) == {200}, statuses
    res = client.get("/recommend", params={"user": f"w{writes - 1}", "k": 3})  # the last ingested user is visible
    assert res.status_code == 200 and "p1" not in [i["id"] for i in res.json()["items"]]
