"""Candidate sources as objects: one class per source behind one interface, typed fusion weights
with the same keys on the command line and in what `kgctl serve` stores."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from kgrec.cli.main import cli
from kgrec.kg.reader import GraphReader
from kgrec.serve.api import ServeOptions
from kgrec.serve.recommend import FusedRecommender
from kgrec.serve.sources import CANDIDATE_SOURCES, SOURCE_NAMES, CandidateSource, Limits, UserContext
from kgrec.serve.weights import FusionWeights


def test_every_source_has_a_weight_and_a_file():
    assert set(SOURCE_NAMES) == set(FusionWeights.keys())
    modules = {cls.__module__ for cls in CANDIDATE_SOURCES}
    assert len(modules) == len(CANDIDATE_SOURCES)  # one file each
    assert all(issubclass(cls, CandidateSource) and cls.needs for cls in CANDIDATE_SOURCES)


def test_each_source_proposes_unseen_items_with_evidence_and_explains_them(recommender):
    index = recommender.graph_index()
    context = UserContext.of(index, "u1", index.user_pos["u1"], Limits())
    assert context.anchors.tolist() == [index.product_pos["p2"], index.product_pos["p1"]]  # newest first
    for cls in CANDIDATE_SOURCES:
        source = cls(Limits())
        found = source.candidates(context, index, 5)
        assert found is not None and found.source == cls.name
        assert len(found.positions) == len(found.evidence) <= 5
        assert not context.seen[found.positions].any()
        assert list(found.evidence) == sorted(found.evidence, reverse=True)
        why = source.explain(context, index, found, found.positions, found.evidence)
        assert set(why) <= set(found.positions.tolist()) and all(isinstance(w, str) and w for w in why.values())
    kg = CANDIDATE_SOURCES[[c.name for c in CANDIDATE_SOURCES].index("knowledge_graph")](Limits())
    found = kg.candidates(context, index, 5)
    path = found.trace[index.product_pos["p3"]]
    assert index.entity_ids[path.entity] == "m.scott" and path.anchor == index.product_pos["p1"]
    assert [c.product for c in found.as_list(index)] == ["p3"]


def test_a_user_without_history_gets_no_anchor_sources(recommender):
    index = recommender.graph_index()
    cold = UserContext.of(index, "u_cold", index.user_pos["u_cold"], Limits())
    applies = {cls.name for cls in CANDIDATE_SOURCES if cls(Limits()).candidates(cold, index, 10) is not None}
    assert applies == {"embedding", "popular"}


def test_weights_are_typed_and_validated():
    w = FusionWeights.parse(["co_interaction=0.8", "popular=0"])
    assert w.co_interaction == 0.8 and w.popular == 0.0 and w.model == FusionWeights().model
    assert FusionWeights.from_dict(w.as_dict()) == w
    with pytest.raises(ValueError, match="unknown fusion weight colab"):
        FusionWeights.parse(["colab=1"])
    with pytest.raises(ValueError, match="SOURCE=WEIGHT"):
        FusionWeights.parse(["popular"])
    with pytest.raises(ValueError, match=">= 0"):
        FusionWeights(popular=-1)


def test_weights_change_the_fusion_and_zero_turns_a_source_off(graph_db, cooc_checkpoint):
    reader = GraphReader(graph_db)
    try:
        base = FusedRecommender(reader).recommend("u1", k=5)
        off = FusedRecommender(reader, weights=FusionWeights(popular=0.0, embedding=0.0)).recommend("u1", k=5)
        assert "popular" in {p["source"] for it in base.items for p in it.sources}
        assert not {"popular", "embedding"} & {p["source"] for it in off.items for p in it.sources}
        double = FusedRecommender(reader, weights=FusionWeights(co_interaction=1.0)).recommend("u1", k=5)
        part = lambda rec: next(
            p for it in rec.items if it.id == "p3" for p in it.sources if p["source"] == "co_interaction"
        )
        assert part(double)["contribution"] == pytest.approx(2 * part(base)["contribution"])
    finally:
        reader.close()


def test_cli_weight_option_and_stored_serve_options(graph_db, monkeypatch):
    res = CliRunner().invoke(
        cli, ["--db", graph_db, "recommend", "u1", "--json", "--weight", "popular=0", "--weight", "embedding=0"]
    )
    assert res.exit_code == 0, res.output
    sources = {p["source"] for it in json.loads(res.output)["items"] for p in it["sources"]}
    assert sources and not {"popular", "embedding"} & sources
    res = CliRunner().invoke(cli, ["--db", graph_db, "recommend", "u1", "--weight", "colab=1"])
    assert res.exit_code != 0 and "unknown fusion weight colab" in res.output and "Traceback" not in res.output
    # kgctl serve stores the weights for its workers under the same keys
    options = ServeOptions(weights=FusionWeights(popular=0.25).as_dict())
    monkeypatch.setenv(ServeOptions.ENV, json.dumps({"weights": options.weights}))
    assert FusionWeights.from_dict(ServeOptions.from_env().weights).popular == 0.25
    assert np.isclose(FusionWeights.from_dict(ServeOptions.from_env().weights).model, 1.0)


def test_the_index_reads_only_what_the_active_sources_need(graph_db):
    from kgrec.serve.sources import IndexPart

    reader = GraphReader(graph_db)
    try:
        rec = FusedRecommender(reader, weights=FusionWeights(knowledge_graph=0.0, shared_attribute=0.0))
        assert IndexPart.KNOWLEDGE_GRAPH not in rec.index_parts and IndexPart.ATTRIBUTES not in rec.index_parts
        index = rec.graph_index()
        assert len(index.entity_ids) == 0 and len(index.attr_ids) == 0 and index.n_products == 9
        assert rec.recommend("u1", k=3).items
        assert rec.similar("p1", k=2)  # embeddings are always read
        full = FusedRecommender(reader).graph_index()
        assert len(full.entity_ids) == 7 and len(full.attr_ids) == 4
        # the path search still gets the hubs (from the database when the index has no KG)
        assert rec.paths("u1", "p3", max_hops=4)["paths"]
    finally:
        reader.close()
