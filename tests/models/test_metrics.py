"""Metrics against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kgrec.models.evaluation import metrics as m


def test_rank_of_positive_counts_higher_scores_and_breaks_ties_by_index():
    scores = np.array([
        [0.1, 0.9, 0.5, 0.3],  # positive item 2 (0.5): only item 1 is higher -> rank 1
        [0.7, 0.7, 0.7, 0.1],  # positive item 1 ties with items 0 and 2: item 0 comes first -> rank 1
        [0.2, 0.1, np.nan, 0.0],  # positive item 0 is the best; NaN counts as -inf -> rank 0
    ])
    assert m.rank_of_positive(scores, np.array([2, 1, 0])).tolist() == [1, 1, 0]
    # with explicit candidate ids the tie-break follows them
    ids = np.array([[5, 9, 1, 0], [9, 3, 8, 0], [0, 1, 2, 3]])
    assert m.rank_of_positive(scores, np.array([2, 1, 0]), ids).tolist() == [1, 0, 0]


def test_ranking_metrics_by_hand():
    ranks = np.array([0, 2, 7, 20])
    # HR@1 = 1/4, HR@5 = 2/4, HR@10 = 3/4
    # NDCG@5 = (1/log2(2) + 1/log2(4)) / 4 = (1 + 0.5) / 4
    # NDCG@10 adds 1/log2(9)
    # MRR = (1 + 1/3 + 1/8 + 1/21) / 4
    out = m.ranking_metrics(ranks)
    assert out["HR@1"] == 0.25 and out["HR@5"] == 0.5 and out["HR@10"] == 0.75
    assert out["NDCG@5"] == pytest.approx(1.5 / 4)
    assert out["NDCG@10"] == pytest.approx((1.5 + 1 / math.log2(9)) / 4)
    assert out["MRR"] == pytest.approx((1 + 1 / 3 + 1 / 8 + 1 / 21) / 4)


def test_rating_metrics_by_hand():
    predicted = np.array([4.5, 3.0, 4.0, 2.0, 5.0])
    actual = np.array([5.0, 4.0, 2.0, 1.0, np.nan])  # the NaN row is ignored
    out = m.rating_metrics(predicted, actual)
    # errors 0.5, 1, 2, 1 -> MSE (0.25 + 1 + 4 + 1) / 4
    assert out["MSE"] == pytest.approx(6.25 / 4)
    # like (>= 4): predicted T F T F, actual T T F F -> accuracy 2/4; tp 1, |pred| 2, |actual| 2 -> F1 0.5
    assert out["like_accuracy"] == 0.5
    assert out["like_F1"] == pytest.approx(0.5)


def test_empty_inputs_give_nan_not_errors():
    assert math.isnan(m.hit_rate(np.array([]), 10))
    assert math.isnan(m.ndcg(np.array([]), 10))
    assert math.isnan(m.rating_metrics(np.array([3.0]), np.array([np.nan]))["MSE"])
    assert m.like_f1(np.array([1.0]), np.array([2.0])) == 0.0


def test_classification_metrics_by_hand():
    actual = np.array(["a", "a", "a", "b", "b", "c"])
    predicted = np.array(["a", "a", "b", "b", "c", "c"])
    # accuracy 4/6; F1 a: 2*2/(2+3) = 0.8, b: 2*1/(2+2) = 0.5, c: 2*1/(2+1) = 2/3
    out = m.classification_metrics(predicted, actual)
    assert out["accuracy"] == pytest.approx(4 / 6)
    assert out["macro_F1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    np.testing.assert_allclose(m.f1_per_class(predicted, actual, ["a", "b", "c", "d"]), [0.8, 0.5, 2 / 3, 0.0])
    # a class given in labels but never true nor predicted counts as 0 in the macro mean
    assert m.macro_f1(predicted, actual, ["a", "b", "c", "d"]) == pytest.approx((0.8 + 0.5 + 2 / 3) / 4)
    # a wrongly predicted class that is never true joins the default labels with F1 0
    assert m.macro_f1(np.array([1, 2]), np.array([1, 1])) == pytest.approx((2 / 3 + 0.0) / 2)
    assert math.isnan(m.accuracy(np.array([]), np.array([])))


def test_like_metrics_from_probability_by_hand():
    probability = np.array([0.9, 0.6, 0.4, 0.2, 0.7])
    rating = np.array([5.0, 2.0, 4.0, 1.0, np.nan])  # the NaN pair is left out
    # predicted like: T T F F; true like: T F T F -> accuracy 2/4; F1 of like: 2*1/(2+2) = 0.5
    out = m.like_metrics_from_probability(probability, rating)
    assert out == {"like_accuracy": pytest.approx(0.5), "like_F1": pytest.approx(0.5)}
