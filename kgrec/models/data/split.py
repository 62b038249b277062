"""Temporal leave-one-out split: per user, the last interaction is test, the second-last
validation, the rest training. Users with fewer than 3 interactions keep everything in training
(they are still recommended to, but not evaluated)."""

from __future__ import annotations

import dataclasses

import numpy as np

from kgrec.models.data.interactions import InteractionData


@dataclasses.dataclass
class Split:
    train: InteractionData
    valid: InteractionData  # one row per evaluated user
    test: InteractionData


def temporal_leave_one_out(data: InteractionData, min_interactions: int = 3) -> Split:
    """Split ``data`` (sorted by user, then time) into train / valid / test."""
    n = len(data)
    if n == 0:
        empty = data.subset(np.zeros(0, bool))
        return Split(empty, empty, empty)
    user = data.user
    # position of each row counted from the end of its user's history: 0 = last
    ends = np.r_[np.nonzero(np.diff(user))[0], n - 1]
    counts = np.diff(np.r_[-1, ends])
    last_pos = np.repeat(ends, counts)
    from_end = last_pos - np.arange(n)
    evaluated = np.repeat(counts >= min_interactions, counts)
    test_mask = evaluated & (from_end == 0)
    valid_mask = evaluated & (from_end == 1)
    train_mask = ~(test_mask | valid_mask)
    return Split(data.subset(train_mask), data.subset(valid_mask), data.subset(test_mask))
