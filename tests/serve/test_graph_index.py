"""The per-graph-version index behind fused recommendation: rebuilt when the graph changes, and
its candidate sources equal to the named Cypher patterns they stand for (evaluated here directly
on the database)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from kgrec.cli.main import cli
from kgrec.errors import NotFound
from kgrec.kg import open_backend
from kgrec.kg.reader import GraphReader
from kgrec.serve.api import create_app
from kgrec.serve.recommend import FusedRecommender

from .conftest import INTERACTIONS

USERS = ["u1", "u2", "u3", "u4", "u5"]
BIG = 100_000


def ingest_in_another_process(db_path: str, code: str) -> None:
    prelude = "import sys, pyarrow as pa; from kgrec.kg import open_backend\nb = open_backend(sys.argv[1])\n"
    subprocess.run([sys.executable, "-c", prelude + code + "\nb.close()", db_path], check=True)


def reference_candidates(backend, user: str, like: float = 4.0, anchors_n: int = 10) -> dict[str, dict[str, float]]:
    """The candidate sources as the named Cypher queries define them, without any LIMIT binding."""
    history = backend.run("rec_user_history", {"user": user, "limit": BIG}).to_pylist()
    seen = {h["id"] for h in history}
    liked = [h for h in history if h["rating"] is None or math.isnan(h["rating"]) or h["rating"] >= like]
    anchors = [h["id"] for h in (liked or history)][:anchors_n]
    out: dict[str, dict[str, float]] = {}
    popular = backend.run("rec_popular", {"limit": BIG}).to_pylist()
    out["popular"] = {r["id"]: float(r["n"]) for r in popular if r["id"] not in seen}
    if not anchors:
        return out
    users = backend.run("rec_co_users", {"anchors": anchors, "user": user, "limit": 20}).column("id").to_pylist()
    co = backend.run("rec_co_items", {"users": users, "limit": BIG}).to_pylist() if users else []
    out["co_interaction"] = {r["id"]: float(r["n"]) for r in co if r["id"] not in seen}
    shared = backend.run("rec_shared_attributes", {"anchors": anchors, "limit": BIG}).to_pylist()
    out["shared_attribute"] = {r["id"]: float(r["n"]) for r in shared if r["id"] not in seen}
    hubs = backend.run("rec_entity_hubs", {"max_degree": 200}).column("id").to_pylist()
    ys = {
        r["shared"]
        for r in backend.run("rec_entity_neighbours", {"anchors": anchors, "hubs": hubs, "limit": BIG}).to_pylist()
    }
    entities: dict[str, set] = {}
    if ys:
        for r in backend.run("rec_entity_items", {"shared": sorted(ys), "limit": BIG}).to_pylist():
            if r["id"] not in seen:
                entities.setdefault(r["id"], set()).add(r["shared"])
    out["knowledge_graph"] = {c: float(len(e)) for c, e in entities.items()}
    return out


def test_sources_equal_their_cypher_patterns(recommender, graph_db):
    with open_backend(graph_db, read_only=True) as b:
        expected = {u: reference_candidates(b, u) for u in USERS + ["u_cold"]}
    for user in USERS + ["u_cold"]:
        got = recommender.candidates(user)
        for source, want in expected[user].items():
            assert got.get(source, {}) == want, (user, source)
    assert recommender.candidates("u1")["knowledge_graph"] == {"p3": 1.0}  # Blade Runner: Ridley Scott


def test_seen_items_are_never_returned(recommender):
    for user in USERS:
        seen = {p for u, p, _, _ in INTERACTIONS if u == user}
        ids = [it.id for it in recommender.recommend(user, k=50).items]
        assert ids and not set(ids) & seen
        assert all(not set(c) & seen for c in recommender.candidates(user).values())


def test_unknown_user_is_404_and_a_non_zero_exit(recommender, graph_db):
    with pytest.raises(NotFound):
        recommender.recommend("ghost")
    assert TestClient(create_app(recommender)).get("/recommend", params={"user": "ghost"}).status_code == 404
    res = CliRunner().invoke(cli, ["--db", graph_db, "recommend", "ghost"])
    assert res.exit_code != 0 and "unknown user 'ghost'" in res.output


def test_cold_start_user_gets_popular_and_content(recommender):
    got = recommender.candidates("u_cold")
    assert set(got) == {"popular", "embedding"}
    # popularity: interactions per product, all of them (the user has seen nothing)
    counts: dict[str, int] = {}
    for _, p, _, _ in INTERACTIONS:
        counts[p] = counts.get(p, 0) + 1
    assert got["popular"] == {p: float(n) for p, n in counts.items()}
    # content: neighbours of the popular items that have embeddings, the new product p9 among them
    assert "p9" in got["embedding"]


def test_index_is_built_once_per_graph_version_and_rebuilt_after_a_commit(graph_db):
    reader = GraphReader(graph_db)
    try:
        rec = FusedRecommender(reader)
        first = rec.graph_index()
        rec.recommend("u1", k=5)
        assert rec.graph_index() is first  # no change: the same index, no rebuild
        assert first.build_seconds > 0 and rec.index_summary["interactions"] == len(INTERACTIONS)
        before = [it.id for it in rec.recommend("u1", k=10).items]
        assert "p3" in before and "p5" in before

        # another process ingests: u1 now has Blade Runner, a new user u6 arrives, the revision moves
        ingest_in_another_process(graph_db, (
            "b.insert_nodes('User', pa.table({'id': ['u6']}))\n"
            "b.insert_relationships('INTERACTED', pa.table({'src': ['u1', 'u6', 'u6'], 'dst': ['p3', 'p5', 'p8'],"
            " 'timestamp': [99, 100, 101], 'rating': [5.0, 5.0, 4.0]}))\n"
            "b.set_meta('revision', 'test-2')"
        ))
        after = rec.recommend("u1", k=10)
        index = rec.graph_index()
        assert index is not first and index.generation > first.generation and index.snapshot != first.snapshot
        assert "p3" not in [it.id for it in after.items]  # now seen
        assert rec.candidates("u6")  # the new user is known
        assert index.popularity[index.product_pos["p5"]] == 2  # u2 and u6
        assert set(rec.candidates("u6")["co_interaction"]) >= {"p4", "p7"}  # via u4/u5 who chose p8
    finally:
        reader.close()


def test_answer_cache_is_cleared_with_the_index(graph_db):
    reader = GraphReader(graph_db)
    try:
        rec = FusedRecommender(reader, cache_size=10)
        rec.recommend("u2", k=3)
        assert len(rec._answers) == 1
        ingest_in_another_process(
            graph_db,
            "b.insert_relationships('INTERACTED', pa.table({'src': ['u2'], 'dst': ['p8'], 'timestamp': [77], 'rating': "
            "[5.0]}))",
        )
        assert "p8" not in [it.id for it in rec.recommend("u2", k=10).items]
        assert len(rec._answers) == 1  # only the new version's answer
    finally:
        reader.close()


def test_index_is_persisted_per_snapshot_and_mapped_by_the_next_process(graph_db, cooc_checkpoint):
    from kgrec.serve.index_store import index_dir
    from kgrec.serve.recommend import open_recommender

    def answer():
        rec = open_recommender(graph_db, cooc_checkpoint)
        try:
            return rec.recommend("u1", k=10).to_dict(), rec.graph_index()
        finally:
            rec.reader.close()

    built, first = answer()
    stored = [p for p in index_dir(graph_db).iterdir() if not p.name.startswith(".")]
    assert len(stored) == 1 and "loaded" not in first.stage_seconds
    mapped, second = answer()
    assert "loaded" in second.stage_seconds and isinstance(second.hist_item, np.memmap)
    assert mapped == built  # the same answer from the mapped index
    assert second.product_pos == first.product_pos and second.titles == first.titles
    # a commit gives a new key: rebuilt, stored, the old entry removed
    ingest_in_another_process(
        graph_db,
        "b.insert_relationships('INTERACTED', "
        "pa.table({'src': ['u1'], 'dst': ['p3'], 'timestamp': [99], 'rating': [5.0]}))",
    )
    after, third = answer()
    assert "loaded" not in third.stage_seconds and "p3" not in [it["id"] for it in after["items"]]
    assert [p.name for p in index_dir(graph_db).iterdir() if not p.name.startswith(".")] != [stored[0].name]
    assert len([p for p in index_dir(graph_db).iterdir() if not p.name.startswith(".")]) == 1
