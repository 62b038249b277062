"""``co_interaction``: (u)-[:INTERACTED]->(p)<-[:INTERACTED]-(v)-[:INTERACTED]->(c), in two stages:
the ``neighbours`` users v sharing most anchors p, then how many of them chose c."""

from __future__ import annotations

import dataclasses

import numpy as np

from kgrec.serve.embeddings import top_positions
from kgrec.serve.graph_index import GraphIndex, gather
from kgrec.serve.sources.base import Candidates, CandidateSource, IndexPart, UserContext, title


@dataclasses.dataclass(frozen=True)
class NeighbourTrace:
    neighbours: np.ndarray  # user positions v, most shared anchors first


class CoInteraction(CandidateSource):
    name = "co_interaction"
    needs = frozenset({IndexPart.INTERACTIONS})

    def candidates(self, context: UserContext, index: GraphIndex, k: int) -> Candidates | None:
        if not len(context.anchors):
            return None
        idx, _ = gather(index.item_ptr, context.anchors)
        shared = np.bincount(index.item_user[idx], minlength=index.n_users)
        shared[context.position] = 0
        neighbours = top_positions(shared, self.limits.neighbours)  # most shared anchors, ties by id
        if not len(neighbours):
            return Candidates.empty(self.name)
        idx2, _ = gather(index.hist_ptr, neighbours)
        n = np.bincount(index.hist_item[idx2], minlength=index.n_products).astype(np.float64)
        n[context.seen] = 0
        top = top_positions(n, k)
        return Candidates(self.name, top, n[top], NeighbourTrace(neighbours))

    def explain(self, context, index, found, positions, evidence):
        """For each item: the anchor that most of the neighbour users who chose it share with the
        user (ties: the most recent anchor), and how many they are."""
        if found is None or found.trace is None or not len(positions):
            return {}
        neighbours = found.trace.neighbours
        # shares[v, a]: neighbour v chose anchor a; chose[i, v]: neighbour v chose item i
        shares = index.pairs_present(index.hist_ptr, index.owned, neighbours, context.anchors).astype(np.int64)
        chose = index.pairs_present(index.hist_ptr, index.owned, neighbours, positions).T.astype(np.int64)
        tally = chose @ shares
        best = np.argmax(tally, axis=1)  # first maximum: the most recent anchor among ties
        n = tally[np.arange(len(positions)), best]
        return {
            int(p): f"{context.chose(index, int(context.anchors[b]))}; "
                    f"{c} people like you who chose it also chose {title(index, p)}"
            for p, b, c in zip(positions.tolist(), best.tolist(), n.tolist())
            if c > 0
        }
