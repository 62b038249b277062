"""``model``: the trained checkpoint's scores of the candidates the other sources proposed, min-max
scaled over the candidates it knows. It proposes nothing itself.

A model with ``uses_history = True`` (sequence and profile models) scores the user from the
history the graph holds at request time (the index's per-user items, newest last, mapped to the
model's item indices, items it never saw dropped, cut to its ``max_len``) through
``score_histories``: new interactions count without retraining, and a user created after training
gets model scores from the first interaction. Other models score the users they were trained on.
"""

from __future__ import annotations

import numpy as np

from kgrec.serve.graph_index import GraphIndex
from kgrec.serve.sources.base import IndexPart, Limits, Source, UserContext


class ModelScores(Source):
    name = "model"
    needs = frozenset({IndexPart.INTERACTIONS})

    def __init__(self, limits: Limits, checkpoint):
        super().__init__(limits)
        self.checkpoint = checkpoint
        self.user_index = {u: i for i, u in enumerate(checkpoint.user_ids.tolist())}
        self._items: tuple[GraphIndex, np.ndarray] | None = None

    @property
    def model(self):
        return self.checkpoint.model

    def item_positions(self, index: GraphIndex) -> np.ndarray:
        """Product position -> the checkpoint's item index (-1 for products it does not know)."""
        cached = self._items
        if cached is not None and cached[0] is index:
            return cached[1]
        where = positions_in(np.asarray(index.product_ids.tolist(), dtype=str),
                             np.asarray([str(i) for i in self.checkpoint.item_ids.tolist()], dtype=str))
        self._items = (index, where)
        return where

    @property
    def uses_history(self) -> bool:
        return bool(getattr(self.model, "uses_history", False))

    def history(self, context: UserContext, index: GraphIndex) -> np.ndarray:
        """The user's current history as the model's item indices, oldest first: everything the
        graph holds, items the model never saw dropped, the newest ``max_len`` kept."""
        mapped = self.item_positions(index)[context.items]  # newest first
        mapped = mapped[mapped >= 0]
        max_len = _max_len(self.model)
        if max_len:
            mapped = mapped[: int(max_len)]
        return mapped[::-1].astype(np.int64)

    def score(self, context: UserContext, index: GraphIndex, candidates: np.ndarray) -> np.ndarray | None:
        """The model's raw scores of the candidates it knows (NaN elsewhere); None when it has
        nothing to say about this user."""
        items = self.item_positions(index)[candidates]
        known = items >= 0
        if not known.any():
            return None
        user = self.user_index.get(context.user, -1)
        if self.uses_history:
            history = self.history(context, index)
            if len(history):
                scores = self.model.score_histories([history], np.asarray([user]))[:, items[known]]
            elif user >= 0:
                scores = self.model.score(np.asarray([user]), items[known])
            else:
                return None  # a new user with nothing the model knows yet
        elif user >= 0:
            scores = self.model.score(np.asarray([user]), items[known])
        else:
            return None
        out = np.full(len(candidates), np.nan)
        out[known] = np.asarray(scores, dtype=np.float64)[0]
        return out

    def scale(self, column, present):
        lo, hi = np.nanmin(column), np.nanmax(column)
        if hi <= lo:  # the same score for every candidate (a user it knows nothing of): no say
            return None
        return (column - lo) / (hi - lo)

    def explain(self, context, index, found, positions, evidence):
        return {p: f"the trained model scores it {e:.4g}" for p, e in zip(positions.tolist(), evidence.tolist())}


def _max_len(model) -> int | None:
    """The model's ``max_len`` hyperparameter (a dict or a typed config), None when it has none."""
    hparams = getattr(model, "hparams", None)
    value = hparams.get("max_len") if isinstance(hparams, dict) else getattr(hparams, "max_len", None)
    return int(value) if value else None


def positions_in(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """For each of ``values``, its position in ``known`` (the first, where an id repeats), or -1:
    a sorted search in numpy (pyarrow's ``index_in`` on Python lists imports pandas, a third of a
    second of a one-shot command)."""
    if not len(known):
        return np.full(len(values), -1, np.int64)
    order = np.argsort(known, kind="stable")
    ranked = known[order]
    at = np.minimum(np.searchsorted(ranked, values), len(known) - 1)
    return np.where(ranked[at] == values, order[at], -1).astype(np.int64)
