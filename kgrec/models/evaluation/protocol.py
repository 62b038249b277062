"""Evaluation protocols over a temporal leave-one-out split.

* ``full``: the held-out item is ranked against every item; items of the user's known history
  (training for the validation phase, training + validation for the test phase) are masked,
  except the held-out item itself.
* ``sampled``: the held-out item is ranked against 99 negatives drawn once with a fixed seed from
  the items the user never interacted with (train, validation or test), the same for every model.

Before ranking, the model is told the known history (``Recommender.observe_history``), so a
sequence model sees the validation item when it is tested, never the test item.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp

from kgrec.errors import KgrecError
from kgrec.models.base import Recommender
from kgrec.models.data.interactions import InteractionData
from kgrec.models.data.sampling import evaluation_negatives
from kgrec.models.data.split import Split
from kgrec.models.evaluation.metrics import (
    rank_of_positive,
    ranking_metrics,
    ranking_per_user,
    rating_metrics,
    rating_per_user,
)
from kgrec.models.evaluation.per_user import UserMetrics

PROTOCOLS = ("full", "sampled")
DEFAULT_NEGATIVE_SEED = 2024


@dataclasses.dataclass
class Phase:
    """The held-out interactions of one phase and what the model may know when ranking them."""

    name: str
    known: InteractionData  # history the model may use (and that is masked)
    held_out: InteractionData  # one row per evaluated user
    everything: sp.csr_matrix  # user x item: train + valid + test, for sampling negatives


def phase(split: Split, name: str) -> Phase:
    everything = InteractionData.concat(split.train, split.valid, split.test).csr()
    if name == "valid":
        return Phase(name, split.train, split.valid, everything)
    if name == "test":
        return Phase(name, InteractionData.concat(split.train, split.valid), split.test, everything)
    raise KgrecError(f"unknown phase {name!r}", "use valid or test")


def masked_scores(model: Recommender, users: np.ndarray, known: sp.csr_matrix, positives: np.ndarray) -> np.ndarray:
    """Full score rows with the user's known items set to -inf, the positive itself kept."""
    scores = np.array(model.score(users), dtype=np.float64, copy=True)
    sub = known[users]
    rows = np.repeat(np.arange(len(users)), np.diff(sub.indptr))
    keep = sub.indices == positives[rows]
    scores[rows[~keep], sub.indices[~keep]] = -np.inf
    return scores


@dataclasses.dataclass
class PhaseEvaluation:
    """What one model scored on one phase: the metrics (``{protocol: {metric: value}}``, with
    ``users``) and the same metrics per evaluated user (``{protocol: UserMetrics}``)."""

    metrics: dict[str, dict[str, float]]
    per_user: dict[str, UserMetrics]


def evaluate_phase(
    model: Recommender,
    ph: Phase,
    protocols: tuple[str, ...] = PROTOCOLS,
    negative_seed: int = DEFAULT_NEGATIVE_SEED,
    n_negatives: int = 99,
    batch_users: int = 1024,
    mask_history: bool = True,
) -> dict[str, dict[str, float]]:
    """``{protocol: {metric: value}}`` for one phase. ``mask_history=False`` exists only for the
    leakage tests (it shows what masking changes)."""
    return evaluate_phase_per_user(model, ph, protocols, negative_seed, n_negatives, batch_users, mask_history).metrics


def evaluate_phase_per_user(
    model: Recommender,
    ph: Phase,
    protocols: tuple[str, ...] = PROTOCOLS,
    negative_seed: int = DEFAULT_NEGATIVE_SEED,
    n_negatives: int = 99,
    batch_users: int = 1024,
    mask_history: bool = True,
) -> PhaseEvaluation:
    """``evaluate_phase`` keeping each user's values as well (for intervals and paired tests)."""
    for p in protocols:
        if p not in PROTOCOLS:
            raise KgrecError(f"unknown protocol {p!r}", f"choose from {', '.join(PROTOCOLS)}")
    held = ph.held_out
    if len(held) == 0:
        raise KgrecError(
            f"no user has enough interactions to evaluate (the {ph.name} set is empty)",
            "temporal leave-one-out needs users with at least 3 interactions",
        )
    model.observe_history(ph.known)
    known = ph.known.csr() if mask_history else sp.csr_matrix(ph.known.csr().shape, dtype=np.float32)
    users, positives = held.user.astype(np.int64), held.item.astype(np.int64)
    negatives = (
        evaluation_negatives(users, ph.everything, n_negatives, negative_seed) if "sampled" in protocols else None
    )
    full_ranks, sampled_ranks = [], []
    for start in range(0, len(users), batch_users):
        u, pos = users[start : start + batch_users], positives[start : start + batch_users]
        scores = masked_scores(model, u, known, pos)
        if "full" in protocols:
            full_ranks.append(rank_of_positive(scores, pos))
        if negatives is not None:
            neg = negatives[start : start + batch_users]
            candidates = np.concatenate([pos[:, None], neg], axis=1)
            cand_scores = np.take_along_axis(scores, np.maximum(candidates, 0), axis=1)
            cand_scores[candidates < 0] = -np.inf
            ids = np.where(candidates < 0, np.iinfo(np.int64).max, candidates)
            sampled_ranks.append(rank_of_positive(cand_scores, np.zeros(len(u), np.int64), ids))
    out: dict[str, dict[str, float]] = {}
    ranks_of: dict[str, np.ndarray] = {}
    for p, ranks in (("full", full_ranks), ("sampled", sampled_ranks)):
        if p in protocols:
            ranks_of[p] = np.concatenate(ranks)
            out[p] = ranking_metrics(ranks_of[p])
    rating_parts = None
    if model.predicts_rating:
        rated = ~np.isnan(held.rating)
        if rated.any():
            predicted = model.predict_rating(users[rated], positives[rated])
            rating = rating_metrics(predicted, held.rating[rated])
            for p in out:
                out[p].update(rating)
            every = np.full(len(users), np.nan)
            every[rated] = predicted
            rating_parts = rating_per_user(every, held.rating)
    for p in out:
        out[p]["users"] = float(len(users))
    per_user = {p: UserMetrics.from_parts(users, ranking_per_user(ranks_of[p]), rating_parts) for p in out}
    return PhaseEvaluation(out, per_user)


def evaluate(model: Recommender, split: Split, phase_name: str = "test", **kwargs) -> dict[str, dict[str, float]]:
    return evaluate_phase(model, phase(split, phase_name), **kwargs)


def validation_ndcg10(model: Recommender, ph: Phase) -> float:
    """What early stopping watches: full-ranking NDCG@10 on the validation items."""
    return evaluate_phase(model, ph, protocols=("full",))["full"]["NDCG@10"]
