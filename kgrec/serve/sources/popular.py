"""``popular``: the most-interacted products (with the embedding neighbours of the popular items,
the whole answer for a user with no history)."""

from __future__ import annotations

import numpy as np

from kgrec.serve.graph_index import GraphIndex
from kgrec.serve.sources.base import Candidates, CandidateSource, IndexPart, UserContext


class Popular(CandidateSource):
    name = "popular"
    needs = frozenset({IndexPart.INTERACTIONS})

    def budget(self) -> int:
        return self.limits.popular

    def candidates(self, context: UserContext, index: GraphIndex, k: int) -> Candidates | None:
        popular = index.popular_order[: k + len(context.items)]
        popular = popular[~context.seen[popular]][:k]
        return Candidates(self.name, popular, index.popularity[popular].astype(np.float64))

    def explain(self, context, index, found, positions, evidence):
        return {p: f"popular: {int(e)} interactions" for p, e in zip(positions.tolist(), evidence.tolist())}
