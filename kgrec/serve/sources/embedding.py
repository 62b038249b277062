"""``embedding``: the products nearest to the anchors by stored text/image embeddings; for a
user with no history, nearest to the most popular products that have a vector."""

from __future__ import annotations

import dataclasses

import numpy as np

from kgrec.serve.graph_index import GraphIndex
from kgrec.serve.sources.base import Candidates, CandidateSource, IndexPart, UserContext, title


@dataclasses.dataclass(frozen=True)
class ContentAnchors:
    anchors: np.ndarray  # product positions the neighbours were searched from
    popular: bool  # the anchors are popular items (the user has no history)


class Embedding(CandidateSource):
    name = "embedding"
    needs = frozenset({IndexPart.INTERACTIONS, IndexPart.EMBEDDINGS})

    def candidates(self, context: UserContext, index: GraphIndex, k: int) -> Candidates | None:
        if len(context.anchors):
            anchors = context.anchors
        else:
            with_vector = index.popular_order[index.embeddings.has_vector[index.popular_order]]
            anchors = with_vector[: self.limits.anchors]
        positions, similarity = index.embeddings.nearest(anchors, k, exclude=context.seen)
        return Candidates(self.name, positions, similarity, ContentAnchors(anchors, popular=context.cold))

    def explain(self, context, index, found, positions, evidence):
        """For each item: the content anchor it is most similar to (ties: the first anchor) and the
        similarity, the mean over the modalities both have."""
        if found is None or not len(positions) or not len(found.trace.anchors):
            return {}
        trace: ContentAnchors = found.trace
        closest = index.embeddings.closest_anchors(np.asarray(positions, dtype=np.int64), trace.anchors)
        out = {}
        for p, (anchor, sim) in zip(positions.tolist(), closest):
            if anchor >= 0:
                lead = f"popular item {title(index, int(anchor))}" if trace.popular else title(index, int(anchor))
                out[p] = f"similar to {lead} by its description/image (cosine {float(sim):.2f})"
        return out
