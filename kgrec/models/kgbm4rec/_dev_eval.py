"""PRIVATE development evaluation for KGBM4Rec (early stopping and the dev scripts).

To be replaced by ``kgrec.models.evaluation`` at merge: the shared evaluator is the one that
reports numbers. Full ranking over all items, items the user already had in the known history
masked; NDCG@k / HR@k of the single held-out item; optional 1 positive + 99 sampled negatives.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import scipy.sparse as sp


def full_ranking(score: Callable[[np.ndarray], np.ndarray], users: np.ndarray, targets: np.ndarray,
                 seen: sp.csr_matrix, k: int = 10, batch: int = 1024) -> dict[str, float]:
    ndcg, hit = [], []
    for start in range(0, len(users), batch):
        u, t = users[start:start + batch], targets[start:start + batch]
        s = score(u).astype(np.float64)
        rows = seen[u]
        s[rows.nonzero()] = -np.inf
        target_score = s[np.arange(len(u)), t]
        rank = (s > target_score[:, None]).sum(1)  # 0 = top
        hit.append(rank < k)
        ndcg.append(np.where(rank < k, 1.0 / np.log2(rank + 2), 0.0))
    return {f"NDCG@{k}": float(np.concatenate(ndcg).mean()), f"HR@{k}": float(np.concatenate(hit).mean())}


def sampled_ranking(score_items: Callable[[np.ndarray, np.ndarray], np.ndarray], users: np.ndarray, targets: np.ndarray,
                    history: sp.csr_matrix, n_items: int, n_negatives: int = 99, seed: int = 2024) -> dict[str, float]:
    """1 positive + ``n_negatives`` uniform negatives never interacted with (fixed seed)."""
    rng = np.random.default_rng(seed)
    ndcg10, hit10, hit1 = [], [], []
    for u, t in zip(users, targets):
        known = set(history[u].indices.tolist()) | {int(t)}
        negs = []
        while len(negs) < n_negatives:
            cand = rng.integers(0, n_items, 2 * n_negatives)
            negs.extend(c for c in cand.tolist() if c not in known and c not in negs)
        items = np.asarray([t] + negs[:n_negatives])
        s = score_items(np.asarray([u]), items)[0]
        rank = int((s[1:] > s[0]).sum())
        hit10.append(rank < 10)
        hit1.append(rank < 1)
        ndcg10.append(1.0 / np.log2(rank + 2) if rank < 10 else 0.0)
    return {"sampled_NDCG@10": float(np.mean(ndcg10)), "sampled_HR@10": float(np.mean(hit10)), "sampled_HR@1": float(np.mean(hit1))}
