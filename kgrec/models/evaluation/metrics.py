"""Ranking and rating metrics: pure functions of ranks / predictions, no model or data access.

A *rank* is the 0-based position of the held-out item in a model's ranked candidate list
(0 = first). ``rank_of_positive`` turns a score matrix into ranks; the metrics below turn ranks
into numbers. Names follow the seed paper's tables: ``HR@k``, ``NDCG@k``, ``MRR``.
"""

from __future__ import annotations

import numpy as np

RANKING_METRICS = ("HR@1", "HR@5", "HR@10", "NDCG@5", "NDCG@10", "MRR")
RATING_METRICS = ("MSE", "like_accuracy", "like_F1")
LOWER_IS_BETTER = frozenset({"MSE"})
LIKE_THRESHOLD = 4.0


def rank_of_positive(scores: np.ndarray, positive: np.ndarray, candidate_ids: np.ndarray | None = None) -> np.ndarray:
    """Rank of ``scores[r, positive[r]]`` in row r: how many candidates score strictly higher,
    plus how many tie with it and come first in the tie-break order (ascending ``candidate_ids``,
    default the column index, the same order ``Recommender.recommend`` uses). NaN scores are
    treated as -inf."""
    scores = np.asarray(scores, dtype=np.float64)
    scores = np.where(np.isnan(scores), -np.inf, scores)
    rows = np.arange(len(scores))
    positive = np.asarray(positive, dtype=np.int64)
    pos_score = scores[rows, positive][:, None]
    if candidate_ids is None:
        candidate_ids = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
    candidate_ids = np.asarray(candidate_ids)
    pos_id = candidate_ids[rows, positive][:, None] if candidate_ids.ndim == 2 else candidate_ids[positive][:, None]
    higher = (scores > pos_score).sum(axis=1)
    ties_first = ((scores == pos_score) & (candidate_ids < pos_id)).sum(axis=1)
    return (higher + ties_first).astype(np.int64)


def hit_rate(ranks: np.ndarray, k: int) -> float:
    """Share of users whose held-out item is in the top k."""
    ranks = np.asarray(ranks)
    return float(np.mean(ranks < k)) if len(ranks) else float("nan")


def ndcg(ranks: np.ndarray, k: int) -> float:
    """NDCG@k with one relevant item: 1/log2(rank+2) when rank < k, else 0; averaged."""
    ranks = np.asarray(ranks, dtype=np.float64)
    if not len(ranks):
        return float("nan")
    gains = np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0)
    return float(gains.mean())


def mrr(ranks: np.ndarray) -> float:
    """Mean reciprocal rank over the whole list (not truncated)."""
    ranks = np.asarray(ranks, dtype=np.float64)
    return float(np.mean(1.0 / (ranks + 1.0))) if len(ranks) else float("nan")


def ranking_metrics(ranks: np.ndarray) -> dict[str, float]:
    """HR@1/5/10, NDCG@5/10 and MRR from ranks."""
    return {
        "HR@1": hit_rate(ranks, 1),
        "HR@5": hit_rate(ranks, 5),
        "HR@10": hit_rate(ranks, 10),
        "NDCG@5": ndcg(ranks, 5),
        "NDCG@10": ndcg(ranks, 10),
        "MRR": mrr(ranks),
    }


def ranking_per_user(ranks: np.ndarray) -> dict[str, np.ndarray]:
    """Each user's value of every ranking metric (0/1 hits, NDCG gains, reciprocal ranks): the
    mean over users of each array is ``ranking_metrics(ranks)``."""
    ranks = np.asarray(ranks, dtype=np.float64)
    gains = 1.0 / np.log2(ranks + 2.0)
    return {
        "HR@1": (ranks < 1).astype(np.float64),
        "HR@5": (ranks < 5).astype(np.float64),
        "HR@10": (ranks < 10).astype(np.float64),
        "NDCG@5": np.where(ranks < 5, gains, 0.0),
        "NDCG@10": np.where(ranks < 10, gains, 0.0),
        "MRR": 1.0 / (ranks + 1.0),
    }


def rating_per_user(
    predicted: np.ndarray, actual: np.ndarray, threshold: float = LIKE_THRESHOLD
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each pair's share of the rating metrics as ``(numerator, denominator)`` arrays: the metric
    is ``sum(numerator) / sum(denominator)`` over the pairs (``rating_metrics``). MSE and like
    accuracy are averages (squared error or 0/1 correct over 1); like F1 is ``2 TP / (predicted
    likes + true likes)``, which is a ratio of sums, not an average. Pairs without a rating get
    0 / 0 and so count for nothing."""
    predicted, actual = np.asarray(predicted, np.float64), np.asarray(actual, np.float64)
    known = ~np.isnan(actual)
    a = np.where(known, actual, 0.0)
    p_like, a_like = (predicted >= threshold) & known, (a >= threshold) & known
    one = known.astype(np.float64)
    return {
        "MSE": (np.where(known, (predicted - a) ** 2, 0.0), one),
        "like_accuracy": (((p_like == a_like) & known).astype(np.float64), one),
        "like_F1": (2.0 * (p_like & a_like), p_like.astype(np.float64) + a_like),
    }


def mse(predicted: np.ndarray, actual: np.ndarray) -> float:
    predicted, actual = np.asarray(predicted, np.float64), np.asarray(actual, np.float64)
    return float(np.mean((predicted - actual) ** 2)) if len(actual) else float("nan")


def like_accuracy(predicted: np.ndarray, actual: np.ndarray, threshold: float = LIKE_THRESHOLD) -> float:
    """Accuracy of like (rating >= threshold) vs dislike, predicted rating against the true one."""
    p, a = np.asarray(predicted) >= threshold, np.asarray(actual) >= threshold
    return float(np.mean(p == a)) if len(a) else float("nan")


def like_f1(predicted: np.ndarray, actual: np.ndarray, threshold: float = LIKE_THRESHOLD) -> float:
    """F1 of the 'like' class (rating >= threshold). 0 when there is no true or predicted like."""
    p, a = np.asarray(predicted) >= threshold, np.asarray(actual) >= threshold
    if not len(a):
        return float("nan")
    tp = float(np.sum(p & a))
    denom = float(np.sum(p) + np.sum(a))
    return 2.0 * tp / denom if denom else 0.0


def rating_metrics(predicted: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    """MSE, like/dislike accuracy and F1 over the pairs whose true rating is known (not NaN)."""
    predicted, actual = np.asarray(predicted, np.float64), np.asarray(actual, np.float64)
    known = ~np.isnan(actual)
    p, a = predicted[known], actual[known]
    return {"MSE": mse(p, a), "like_accuracy": like_accuracy(p, a), "like_F1": like_f1(p, a)}


# ---------------------------------------------------------------------------- classification
def accuracy(predicted: np.ndarray, actual: np.ndarray) -> float:
    """Share of predictions equal to the truth (any comparable labels)."""
    p, a = np.asarray(predicted), np.asarray(actual)
    return float(np.mean(p == a)) if len(a) else float("nan")


def f1_per_class(predicted: np.ndarray, actual: np.ndarray, labels) -> np.ndarray:
    """F1 of each class in ``labels`` (one-vs-rest): 2 TP / (predicted + actual); 0 for a class
    that is neither predicted nor present."""
    p, a = np.asarray(predicted), np.asarray(actual)
    out = np.zeros(len(labels), dtype=np.float64)
    for k, label in enumerate(labels):
        tp = float(np.sum((p == label) & (a == label)))
        denom = float(np.sum(p == label) + np.sum(a == label))
        out[k] = 2.0 * tp / denom if denom else 0.0
    return out


def macro_f1(predicted: np.ndarray, actual: np.ndarray, labels=None) -> float:
    """Unweighted mean of the per-class F1 over ``labels`` (default: every label that is true or
    predicted, as scikit-learn's ``f1_score(average="macro")``)."""
    p, a = np.asarray(predicted), np.asarray(actual)
    if not len(a):
        return float("nan")
    if labels is None:
        labels = np.unique(np.concatenate([a, p]))
    return float(np.mean(f1_per_class(p, a, labels)))


def classification_metrics(predicted: np.ndarray, actual: np.ndarray, labels=None) -> dict[str, float]:
    """Accuracy and macro-F1, the figures of the seed paper's Products-10K table."""
    return {"accuracy": accuracy(predicted, actual), "macro_F1": macro_f1(predicted, actual, labels)}


def like_metrics_from_probability(probability: np.ndarray, actual: np.ndarray, threshold: float = LIKE_THRESHOLD,
                                  cutoff: float = 0.5) -> dict[str, float]:
    """like/dislike accuracy and F1 of a like classifier's probabilities (like when >= ``cutoff``)
    against true ratings (like when >= ``threshold``); pairs whose rating is NaN are left out."""
    probability, actual = np.asarray(probability, np.float64), np.asarray(actual, np.float64)
    known = ~np.isnan(actual)
    p, a = probability[known] >= cutoff, actual[known] >= threshold
    return {"like_accuracy": accuracy(p, a), "like_F1": f1_per_class(p, a, [True])[0] if len(a) else float("nan")}
