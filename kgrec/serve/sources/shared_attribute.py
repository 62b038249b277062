"""``shared_attribute``: (p)-[:IN_CATEGORY|HAS_BRAND|SOLD_BY|HAS_TAG]->(a)<-[...]-(c), counting the
(anchor, attribute) pairs; attributes with more than ``attribute_hub`` products are left out."""

from __future__ import annotations

import numpy as np

from kgrec.serve.embeddings import top_positions
from kgrec.serve.graph_index import GraphIndex, gather
from kgrec.serve.sources.base import Candidates, CandidateSource, IndexPart, UserContext, quote, title


class SharedAttribute(CandidateSource):
    name = "shared_attribute"
    needs = frozenset({IndexPart.INTERACTIONS, IndexPart.ATTRIBUTES})

    def candidates(self, context: UserContext, index: GraphIndex, k: int) -> Candidates | None:
        if not len(context.anchors):
            return None
        idx, _ = gather(index.attr_ptr, context.anchors)
        attrs = index.attr_of[idx]
        attrs = attrs[index.attr_degree[attrs] <= self.limits.attribute_hub]
        if not len(attrs):
            return Candidates.empty(self.name)
        midx, _ = gather(index.members_ptr, attrs)
        n = np.bincount(index.members[midx], minlength=index.n_products).astype(np.float64)  # (anchor, attribute) pairs
        n[context.seen] = 0
        top = top_positions(n, k)
        return Candidates(self.name, top, n[top])

    def explain(self, context, index, found, positions, evidence):
        out = {}
        for p in positions.tolist():
            via = self._shared(context, index, p)
            if via is not None:
                anchor, a = via
                name = index.attr_names[a] or index.attr_ids[a]
                out[p] = (
                    f"{context.chose(index, anchor)}; "
                    f"it shares {index.attr_label[a].lower()} {quote(name)} with {title(index, p)}"
                )
        return out

    @staticmethod
    def _shared(context: UserContext, index: GraphIndex, item: int) -> tuple[int, int] | None:
        """(anchor, attribute): the most recent anchor sharing an attribute with the item, and of the
        attributes they share the most specific one (fewest products; ties by id)."""
        mine = index.attr_of[index.attr_ptr[item] : index.attr_ptr[item + 1]]
        for anchor in context.anchors.tolist():
            if anchor == item:
                continue
            common = np.intersect1d(mine, index.attr_of[index.attr_ptr[anchor] : index.attr_ptr[anchor + 1]])
            if len(common):
                best = common[np.lexsort((common, index.attr_degree[common]))[0]]
                return anchor, int(best)
        return None
