"""Evaluation protocols: masking, the fixed sampled negatives, and leakage."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from kgrec.errors import KgrecError
from kgrec.models.base import Recommender
from kgrec.models.data.interactions import InteractionData
from kgrec.models.data.sampling import NegativeSampler, evaluation_negatives
from kgrec.models.data.split import temporal_leave_one_out
from kgrec.models.evaluation.protocol import evaluate, masked_scores, phase
from kgrec.models.workflows.pipeline import load_dataset


class _Fixed(Recommender):
    """Scores given as a full (n_users, n_items) matrix; records what it was shown."""

    name = "_fixed"

    def __init__(self, scores: np.ndarray):
        super().__init__()
        self.matrix = scores
        self.n_users, self.n_items = scores.shape
        self.seen_histories: list[InteractionData] = []

    def fit(self, train, valid=None, **kwargs: Any) -> dict:
        return {}

    def observe_history(self, known: InteractionData) -> None:
        self.seen_histories.append(known)

    def score(self, users, items=None):
        out = self.matrix[np.asarray(users)]
        return out if items is None else out[:, items]

    def state(self):
        return {}

    def load_state(self, state):
        pass


def _split(tiny):
    return load_dataset(tiny).split


def test_oracle_that_knows_the_test_item_is_perfect_under_both_protocols(tiny):
    split = _split(tiny)
    scores = np.zeros((split.test.n_users, split.test.n_items))
    scores[split.test.user, split.test.item] = 10.0
    out = evaluate(_Fixed(scores), split, "test")
    for protocol in ("full", "sampled"):
        assert out[protocol]["HR@1"] == 1.0 and out[protocol]["NDCG@10"] == 1.0 and out[protocol]["MRR"] == 1.0


def test_masking_removes_known_items_and_only_them(tiny):
    """A model that replays the history (known items score highest, the test item next) wins only
    because of the known items: with masking it is perfect, without masking it never hits @1."""
    split = _split(tiny)
    known = InteractionData.concat(split.train, split.valid)
    scores = np.zeros((split.test.n_users, split.test.n_items))
    scores[known.user, known.item] = 100.0
    scores[split.test.user, split.test.item] = 50.0
    model = _Fixed(scores)
    masked = evaluate(model, split, "test", protocols=("full",))["full"]
    unmasked = evaluate(model, split, "test", protocols=("full",), mask_history=False)["full"]
    assert masked["HR@1"] == 1.0
    assert unmasked["HR@1"] == 0.0
    # masked items never reach the ranked list; the positive itself is never masked
    ph = phase(split, "test")
    users, positives = ph.held_out.user, ph.held_out.item
    rows = masked_scores(model, users, ph.known.csr(), positives)
    for r, (u, pos) in enumerate(zip(users, positives)):
        history = set(known.item[known.user == u].tolist()) - {int(pos)}
        assert all(np.isneginf(rows[r, list(history)]))
        assert np.isfinite(rows[r, pos])
        assert np.isfinite(rows[r]).sum() == split.test.n_items - len(history)


def test_validation_phase_masks_training_items_only(tiny):
    split = _split(tiny)
    ph = phase(split, "valid")
    assert np.array_equal(ph.known.csr().toarray(), split.train.csr().toarray())


def test_no_test_interaction_is_seen_before_testing(tiny):
    split = _split(tiny)
    test_rows = set(zip(split.test.user.tolist(), split.test.item.tolist(), split.test.timestamp.tolist()))
    for part in (split.train, split.valid):
        assert not test_rows & set(zip(part.user.tolist(), part.item.tolist(), part.timestamp.tolist()))
    model = _Fixed(np.zeros((split.test.n_users, split.test.n_items)))
    evaluate(model, split, "valid")
    evaluate(model, split, "test")
    valid_history, test_history = model.seen_histories
    assert len(valid_history) == len(split.train)
    assert len(test_history) == len(split.train) + len(split.valid)
    assert not test_rows & set(
        zip(test_history.user.tolist(), test_history.item.tolist(), test_history.timestamp.tolist())
    )


def test_sampled_negatives_are_fixed_distinct_and_unseen(tiny):
    split = _split(tiny)
    everything = InteractionData.concat(split.train, split.valid, split.test).csr()
    users = split.test.user
    a = evaluation_negatives(users, everything, 10, seed=7)
    b = evaluation_negatives(users, everything, 10, seed=7)
    c = evaluation_negatives(users, everything, 10, seed=8)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    for row, u in enumerate(users):
        history = set(everything[u].indices.tolist())
        negatives = a[row][a[row] >= 0].tolist()
        assert len(set(negatives)) == len(negatives) == min(10, split.test.n_items - len(history))
        assert not history & set(negatives)


def test_training_negatives_avoid_training_positives():
    matrix = InteractionData(np.array(["a", "b"], object), np.array(list("wxyz"), object), np.array([0, 0, 0, 1]),
                             np.array([0, 1, 2, 3]), np.arange(4), np.full(4, np.nan, np.float32)).csr()
    negatives = NegativeSampler(matrix).sample(np.array([0] * 50 + [1] * 50), np.random.default_rng(0))
    assert set(negatives[:50].tolist()) == {3}
    assert 3 not in set(negatives[50:].tolist())


def test_users_with_too_few_interactions_give_a_clear_message(backend):
    import pyarrow as pa

    backend.insert_nodes("User", pa.table({"id": ["a", "b"]}))
    backend.insert_nodes("Product", pa.table({"id": ["x", "y", "z"]}))
    backend.insert_relationships("INTERACTED", pa.table({"src": ["a", "b"], "dst": ["x", "y"], "timestamp": [1, 2]}))
    with pytest.warns(UserWarning, match="no validation or test set"):
        ds = load_dataset(backend)
    assert len(ds.split.train) == 2
    model = _Fixed(np.zeros((2, 3)))
    with pytest.raises(KgrecError, match="at least 3 interactions"):
        evaluate(model, temporal_leave_one_out(ds.data), "test")
