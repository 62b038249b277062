"""Fused recommendation, explanations and paths on a small real graph (embedded LadybugDB)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner

from kgrec.cli.main import cli
from kgrec.errors import NotFound
from kgrec.kg import open_backend
from kgrec.kg.reader import GraphReader
from kgrec.serve.explain import humanise_relation
from kgrec.serve.recommend import FusedRecommender

from .conftest import INTERACTIONS


def kgctl(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def seen_by(user):
    return {p for u, p, _, _ in INTERACTIONS if u == user}


def test_candidates_are_fused_seen_removed_and_scores_add_up(recommender):
    rec = recommender.recommend("u1", k=10)
    ids = [it.id for it in rec.items]
    assert ids and not set(ids) & seen_by("u1")
    assert len(ids) == len(set(ids))
    scores = [it.score for it in rec.items]
    assert scores == sorted(scores, reverse=True)
    for it in rec.items:
        assert it.score == pytest.approx(sum(p["contribution"] for p in it.sources), abs=1e-5)
    by_id = {it.id: it for it in rec.items}
    # Blade Runner: co-rated with Alien by u2/u3, same genre, same director (Ridley Scott) in the KG
    sources = {p["source"] for p in by_id["p3"].sources}
    assert {"model", "co_interaction", "shared_attribute", "knowledge_graph"} <= sources
    assert rec.items[0].id == "p3"


def test_model_contribution_is_the_trained_models_score(recommender):
    rec = recommender.recommend("u1", k=10)
    ck = recommender.checkpoint
    uidx = list(ck.user_ids).index("u1")
    for it in rec.items:
        model = [p for p in it.sources if p["source"] == "model"]
        if it.id in list(ck.item_ids):
            expected = ck.model.score(np.asarray([uidx]), np.asarray([list(ck.item_ids).index(it.id)]))[0, 0]
            assert model and model[0]["evidence"] == pytest.approx(float(expected))


def test_explanations_name_titles_entities_and_relations(recommender):
    rec = recommender.recommend("u1", k=10)
    why = " | ".join(next(it for it in rec.items if it.id == "p3").why)
    assert "'Blade Runner'" in why
    assert "'Ridley Scott' (directed by)" in why
    assert "people like you" in why and "'Alien'" in why
    assert "category 'Sci-Fi'" in why


def test_unknown_user_is_not_found(recommender):
    with pytest.raises(NotFound, match="unknown user"):
        recommender.recommend("nobody")


def test_cold_user_gets_popular_plus_content(recommender):
    rec = recommender.recommend("u_cold", k=9)
    assert rec.cold_start
    sources = {p["source"] for it in rec.items for p in it.sources}
    assert sources <= {"popular", "embedding"} and {"popular", "embedding"} <= sources
    # the most interacted product (p4: 3 users, tie-broken by id against p1) leads
    assert rec.items[0].id in {"p1", "p4"}


def test_new_product_is_recommended_through_its_embedding(recommender):
    rec = recommender.recommend("u1", k=4)
    new = next(it for it in rec.items if it.id == "p9")  # no interactions at all, text only
    assert "embedding" in {p["source"] for p in new.sources}
    assert "co_interaction" not in {p["source"] for p in new.sources}
    assert any("similar to 'Alien'" in w for w in new.why)


def test_popular_checkpoint_and_no_model_both_work(graph_db, pop_checkpoint):
    from kgrec.models.training.checkpoint import load_checkpoint

    reader = GraphReader(graph_db)
    try:
        bare = FusedRecommender(reader).recommend("u3", k=5)
        assert bare.model is None and bare.items
        pop = FusedRecommender(reader, load_checkpoint(pop_checkpoint)).recommend("u3", k=5)
        assert pop.model == "pop" and not {it.id for it in pop.items} & seen_by("u3")
    finally:
        reader.close()


def test_paths_shortest_first_with_named_entities(recommender):
    result = recommender.paths("u1", "p3", max_hops=4, limit=30)
    hops = [p["hops"] for p in result["paths"]]
    assert hops == sorted(hops)
    patterns = {p["pattern"] for p in result["paths"]}
    assert {"shared_attribute", "co_interaction", "entity_shared"} <= patterns
    texts = " | ".join(p["text"] for p in result["paths"])
    assert "'Ridley Scott' (directed by)" in texts
    keys = {n["key"] for n in result["graph"]["nodes"]}
    assert {"User:u1", "Product:p3", "Entity:m.scott"} <= keys
    for e in result["graph"]["edges"]:
        assert e["from"] in keys and e["to"] in keys
    short = recommender.paths("u1", "p3", max_hops=2)
    assert all(p["hops"] <= 2 for p in short["paths"]) and short["paths"]
    assert recommender.paths("u1", "p1", max_hops=1)["paths"][0]["pattern"] == "interacted"


def test_similar_by_embedding(recommender):
    hits = recommender.similar("p1", k=3)
    assert [h["id"] for h in hits][:2] == ["p9", "p2"]
    assert hits[0]["similarity"] > hits[-1]["similarity"]
    assert recommender.similar("p5", k=3) == []  # no embedding stored
    with pytest.raises(NotFound):
        recommender.similar("nope")


def test_humanise_relation():
    assert humanise_relation("film.film.directed_by") == "directed by"
    assert humanise_relation("film.director.film") == "director"
    assert humanise_relation(None) == "related"


def test_reader_sees_commits_of_another_process(graph_db, tmp_path):
    import subprocess
    import sys

    reader = GraphReader(graph_db)
    try:
        before = reader.read(lambda b, g: (b.counts()["nodes"]["User"], g))
        code = "import sys, pyarrow as pa; from kgrec.kg import open_backend\n" \
               "b = open_backend(sys.argv[1]); b.insert_nodes('User', pa.table({'id': ['u_new']})); b.close()"
        subprocess.run([sys.executable, "-c", code, graph_db], check=True)
        after = reader.read(lambda b, g: (b.counts()["nodes"]["User"], g))
        assert after[0] == before[0] + 1 and after[1] > before[1]
    finally:
        reader.close()


def test_answer_cache_is_dropped_when_the_graph_changes(graph_db):
    import subprocess
    import sys

    reader = GraphReader(graph_db)
    try:
        rec = FusedRecommender(reader, cache_size=100)
        first = rec.recommend("u1", k=5)
        assert rec.recommend("u1", k=5).to_dict() == first.to_dict()
        assert "p3" in [it.id for it in first.items]
        code = (
            "import sys, pyarrow as pa; from kgrec.kg import open_backend\n"
            "b = open_backend(sys.argv[1]); b.insert_relationships('INTERACTED', pa.table({'src': ['u1'], 'dst': "
            "['p3'], 'timestamp': [99], 'rating': [5.0]})); b.close()"
        )
        subprocess.run([sys.executable, "-c", code, graph_db], check=True)
        assert "p3" not in [it.id for it in rec.recommend("u1", k=5).items]  # now seen
    finally:
        reader.close()


# ----------------------------------------------------------------- CLI
def test_cli_recommend_json(graph_db, cooc_checkpoint):
    res = kgctl("--db", graph_db, "recommend", "u1", "-k", "3", "--model", str(cooc_checkpoint), "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["user"] == "u1" and len(data["items"]) == 3
    for item in data["items"]:
        assert set(item) >= {"id", "score", "sources", "why"}
        assert all({"source", "contribution", "evidence"} <= set(s) for s in item["sources"])


def test_cli_recommend_table_and_unknown_user(graph_db):
    res = kgctl("--db", graph_db, "recommend", "u1", "-k", "2")
    assert res.exit_code == 0 and "1." in res.output and "score" in res.output
    res = CliRunner().invoke(cli, ["--db", graph_db, "recommend", "ghost"])
    assert res.exit_code != 0 and "unknown user 'ghost'" in res.output and "Traceback" not in res.output


def test_cli_checkpoint_stays_usable_after_an_ingest_without_force(graph_db, cooc_checkpoint):
    # serving is lenient (issue 12): the graph moved on, the checkpoint is still served, no --force;
    # `kgctl evaluate` keeps the strict check (load_checkpoint)
    with open_backend(graph_db) as b:
        b.insert_nodes("User", pa.table({"id": ["late"]}))
    res = CliRunner().invoke(cli, ["--db", graph_db, "recommend", "u1", "--model", str(cooc_checkpoint), "--json"])
    assert res.exit_code == 0, res.output
    assert any(p["source"] == "model" for it in json.loads(res.output)["items"] for p in it["sources"])
    res = CliRunner().invoke(cli, ["--db", graph_db, "recommend", "u1", "--model", str(cooc_checkpoint), "--force"])
    assert res.exit_code == 0  # the old flag is still accepted


def test_cli_paths_table_and_html(graph_db, tmp_path):
    out = tmp_path / "out" / "paths.html"
    res = kgctl("--db", graph_db, "paths", "u1", "p3", "--html", str(out))
    assert res.exit_code == 0 and "Ridley Scott" in res.output
    page = out.read_text()
    assert "vis.Network" in page and "Ridley Scott" in page and "<script src=" not in page  # self-contained
    res = CliRunner().invoke(cli, ["--db", graph_db, "paths", "u1", "nope"])
    assert res.exit_code != 0 and "unknown product" in res.output
