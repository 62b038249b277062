"""Segments of the test users (by the test item's popularity, by its link to the knowledge
graph) and the per-segment statistics, on hand-built interactions and the tiny real graph."""

from __future__ import annotations

import numpy as np
import pytest

from kgrec.errors import KgrecError
from kgrec.models.data.interactions import InteractionData, KnowledgeGraphData
from kgrec.models.evaluation.bootstrap import BootstrapSettings
from kgrec.models.evaluation.per_user import UserMetrics
from kgrec.models.evaluation.segments import (
    describe_segments,
    kg_segments,
    linked_items,
    popularity_segments,
)
from tests.models.conftest import N_ITEMS, build_tiny_graph


def _data(users: list[int], items: list[int], n_users: int, n_items: int) -> InteractionData:
    n = len(users)
    return InteractionData(
        user_ids=np.array([f"u{k}" for k in range(n_users)], dtype=object),
        item_ids=np.array([f"p{k}" for k in range(n_items)], dtype=object),
        user=np.asarray(users, np.int64), item=np.asarray(items, np.int64),
        timestamp=np.arange(n, dtype=np.int64), rating=np.full(n, np.nan, np.float32),
    )


def test_popularity_segments_cut_the_users_into_equal_groups_by_their_test_items_count():
    # item k occurs k times in the known history (items 0..11); user k's test item is item k
    known_items = [k for k in range(12) for _ in range(k)]
    known = _data([0] * len(known_items), known_items, 12, 12)
    held = _data(list(range(12)), list(range(12)), 12, 12)
    assert known.item_counts().tolist() == list(range(12))
    seg = popularity_segments(known, held)
    assert seg.name == "popularity" and [s.name for s in seg.segments] == ["tail", "middle", "head"]
    assert [s.size for s in seg.segments] == [4, 4, 4]
    assert [np.flatnonzero(s.users).tolist() for s in seg.segments] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    assert [s.description for s in seg.segments] == [
        "test item seen 0-3 times in the known history",
        "test item seen 4-7 times in the known history",
        "test item seen 8-11 times in the known history",
    ]
    two = popularity_segments(known, held, parts=2)
    assert [(s.name, s.size) for s in two.segments] == [("tail", 6), ("head", 6)]


def test_users_whose_items_tie_stay_in_one_popularity_group_and_every_user_is_in_exactly_one():
    rng = np.random.default_rng(0)
    known_items = rng.integers(0, 30, size=400).tolist()
    known = _data([0] * 400, known_items, 90, 30)
    held = _data(list(range(90)), rng.integers(0, 30, size=90).tolist(), 90, 30)
    seg = popularity_segments(known, held)
    masks = np.stack([s.users for s in seg.segments])
    assert (masks.sum(axis=0) == 1).all()  # a partition of the users
    counts = known.item_counts()[held.item]
    ranges = [(counts[s.users].min(), counts[s.users].max()) for s in seg.segments]
    assert all(high < low for (_, high), (low, _) in zip(ranges, ranges[1:]))  # ordered, ties never split
    # all users on one item: one group, named by its count
    same = popularity_segments(known, _data(list(range(5)), [3] * 5, 5, 30))
    assert [(s.name, s.size) for s in same.segments] == [("tail", 5)]
    with pytest.raises(KgrecError, match="at least 2 parts"):
        popularity_segments(known, held, parts=1)


def test_kg_segments_follow_the_entity_links_of_the_real_graph(backend):
    build_tiny_graph(backend)
    items = np.array([f"p{k}" for k in range(N_ITEMS)], dtype=object)
    kg = KnowledgeGraphData.from_backend(backend, items)
    # the tiny graph links p0..p11 to entities; every item has a category, which is not a link
    assert linked_items(kg).tolist() == [k < 12 for k in range(N_ITEMS)]
    held = _data([0, 1, 2, 3], [0, 11, 12, 23], 4, N_ITEMS)
    seg = kg_segments(kg, held)
    assert [(s.name, np.flatnonzero(s.users).tolist()) for s in seg.segments] == [
        ("linked", [0, 1]), ("unlinked", [2, 3]),
    ]
    assert [s.name for s in kg_segments(kg, _data([0], [5], 1, N_ITEMS)).segments] == ["linked"]


def test_kg_segments_need_linked_entities(db_path):
    from kgrec.kg import open_backend

    with open_backend(db_path) as b:
        b.init_schema()
        build_tiny_graph(b, kg=False)
        kg = KnowledgeGraphData.from_backend(b, np.array([f"p{k}" for k in range(N_ITEMS)], dtype=object))
    with pytest.raises(KgrecError, match="no linked knowledge-graph entities"):
        kg_segments(kg, _data([0], [0], 1, N_ITEMS))


def test_segment_statistics_are_the_models_metrics_on_the_segments_users():
    rng = np.random.default_rng(1)
    users = np.arange(300)
    a = UserMetrics.from_parts(users, {"NDCG@10": rng.random(300), "HR@10": rng.integers(0, 2, 300)})
    b = UserMetrics.from_parts(users, {"NDCG@10": rng.random(300) * 0.5, "HR@10": rng.integers(0, 2, 300)})
    per_user = {"full": {"a": a, "b": b}}
    known = _data([0] * 300, rng.integers(0, 50, 300).tolist(), 300, 50)
    held = _data(users.tolist(), rng.integers(0, 50, 300).tolist(), 300, 50)
    seg = popularity_segments(known, held)
    out = describe_segments(per_user, [seg], baseline="b", settings=BootstrapSettings(200, 0))
    assert [s.segment.name for s in out] == ["tail", "middle", "head"]
    for s in out:
        rows = s.segment.users
        assert s.report["full"]["a"]["NDCG@10"] == pytest.approx(a.numerator[rows, 0].mean())
        assert s.report["full"]["b"]["users"] == s.segment.size
        comp = s.statistics.protocols["full"].comparisons["a"]["NDCG@10"]
        assert comp.result.ratio == pytest.approx(a.numerator[rows, 0].mean() / b.numerator[rows, 0].mean())
        assert comp.verdict == "better"  # a's values are about twice b's on every segment
        iv = s.statistics.protocols["full"].intervals["a"]["NDCG@10"]
        assert iv.low <= s.report["full"]["a"]["NDCG@10"] <= iv.high
    # the segments' means, weighted by their users, give the overall mean
    overall = sum(s.report["full"]["a"]["NDCG@10"] * s.segment.size for s in out) / 300
    assert overall == pytest.approx(a.values()["NDCG@10"])
