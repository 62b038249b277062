"""Negative sampling: uniform training negatives (BPR-style) and the fixed evaluation negatives
of the "1 positive + 99 sampled negatives" protocol."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from kgrec.models.data.interactions import InteractionData


def _pair_keys(matrix: sp.csr_matrix) -> np.ndarray:
    coo = matrix.tocoo()
    return np.sort(coo.row.astype(np.int64) * matrix.shape[1] + coo.col.astype(np.int64))


def _contains(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    if not len(sorted_keys):
        return np.zeros(len(keys), bool)
    pos = np.searchsorted(sorted_keys, keys)
    pos[pos == len(sorted_keys)] = 0
    return sorted_keys[pos] == keys


class NegativeSampler:
    """Uniform negatives: items the user has no training interaction with.

    Vectorised rejection sampling against the user x item matrix (built once). Users who have
    interacted with every item get an arbitrary item (there is no negative to give)."""

    def __init__(self, positives: sp.csr_matrix, max_rounds: int = 50):
        self.n_items = positives.shape[1]
        self.keys = _pair_keys(positives.tocsr())
        self.max_rounds = max_rounds

    def sample(self, users: np.ndarray, rng: np.random.Generator, n: int = 1) -> np.ndarray:
        users = np.repeat(np.asarray(users, np.int64), n)
        items = rng.integers(0, self.n_items, len(users))
        bad = _contains(self.keys, users * self.n_items + items)
        for _ in range(self.max_rounds):
            if not bad.any():
                break
            items[bad] = rng.integers(0, self.n_items, int(bad.sum()))
            bad[bad] = _contains(self.keys, users[bad] * self.n_items + items[bad])
        return items.reshape(-1, n) if n > 1 else items


def evaluation_negatives(
    users: np.ndarray, history: sp.csr_matrix, n_negatives: int = 99, seed: int = 2024
) -> np.ndarray:
    """For each user in ``users`` (in order), ``n_negatives`` distinct items outside the user's
    whole history (train, validation and test). Depends only on (users, history, seed), so every
    model is judged against the same negatives. Where fewer items are available the row is padded
    with -1 (ignored by the evaluator)."""
    history = history.tocsr()
    n_items = history.shape[1]
    out = np.full((len(users), n_negatives), -1, dtype=np.int64)
    rng = np.random.default_rng(seed)
    for row, user in enumerate(np.asarray(users, np.int64)):
        seen = history.indices[history.indptr[user] : history.indptr[user + 1]]
        available = n_items - len(np.unique(seen))
        want = min(n_negatives, available)
        if want <= 0:
            continue
        if available < 4 * n_negatives:
            pool = np.setdiff1d(np.arange(n_items), seen)
            out[row, :want] = rng.choice(pool, want, replace=False)
            continue
        chosen: list[int] = []
        taken = set(seen.tolist())
        while len(chosen) < want:
            for item in rng.integers(0, n_items, 2 * want).tolist():
                if item not in taken:
                    taken.add(item)
                    chosen.append(item)
                    if len(chosen) == want:
                        break
        out[row, :want] = chosen
    return out


def bpr_batches(
    train: InteractionData, rng: np.random.Generator, sampler: NegativeSampler, batch_size: int
) -> list[tuple]:
    """One epoch: every training interaction once, in random order, with one uniform negative."""
    order = rng.permutation(len(train))
    users, items = train.user[order], train.item[order]
    negatives = sampler.sample(users, rng)
    out = []
    for s in range(0, len(order), batch_size):
        out.append(
            tuple(torch.from_numpy(np.ascontiguousarray(a[s : s + batch_size])) for a in (users, items, negatives))
        )
    return out
