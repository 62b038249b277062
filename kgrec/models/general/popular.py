"""Most-popular baseline: every user gets the items with the most training interactions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from kgrec.models.base import Recommender, register

if TYPE_CHECKING:  # annotations only: serving imports numpy alone
    from kgrec.models.data.interactions import InteractionData


@register
class MostPopular(Recommender):
    name = "pop"

    def fit(self, train: InteractionData, valid: InteractionData | None = None, **kwargs: Any) -> dict:
        self.n_users, self.n_items = train.n_users, train.n_items
        counts = train.item_counts().astype(np.float32)
        # tiny index-based tie-break keeps rankings deterministic
        self.popularity = counts - np.arange(train.n_items, dtype=np.float32) * 1e-7
        return {"epochs": 0}

    def score(self, users: np.ndarray, items: np.ndarray | None = None) -> np.ndarray:
        row = self.popularity if items is None else self.popularity[np.asarray(items)]
        return np.broadcast_to(row, (len(users), len(row))).copy()

    def state(self) -> dict[str, Any]:
        return {"popularity": self.popularity}

    def load_state(self, state: dict[str, Any]) -> None:
        self.popularity = np.asarray(state["popularity"])
