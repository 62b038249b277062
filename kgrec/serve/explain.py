"""Explanations: the shortest meaningful user-product paths behind each recommended item, as text.

Every source keeps the path that proposed a candidate (which anchor item, which neighbour users,
attribute or knowledge-graph entity) in a ``Trace``; this module completes those paths for the
top-k items only and writes one sentence per path, strongest source first, with the titles,
attribute and entity names and relation names held by the ``GraphIndex`` (no database query).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np


def humanise_relation(relation: str | None) -> str:
    """``film.film.directed_by`` -> ``directed by``; ``film.director.film`` -> ``director``."""
    if not relation:
        return "related"
    parts = relation.split(".")
    last = parts[-1]
    if len(parts) >= 3 and last == parts[0]:  # e.g. film.director.film: the middle names the role
        last = parts[-2]
    return last.replace("_", " ")


def _stars(rating: Any) -> str:
    if rating is None or (isinstance(rating, float) and math.isnan(rating)):
        return ""
    return f" ({rating:g}★)"


@dataclasses.dataclass
class Trace:
    """What the candidate sources found on the way, kept for the explanations of the top k."""

    anchors: np.ndarray  # product positions, most recent first
    anchor_ratings: np.ndarray
    cold: bool
    content_anchors: np.ndarray | None = None
    neighbours: np.ndarray | None = None  # co-interaction users v, best first
    kg: dict = dataclasses.field(default_factory=dict)  # product -> (anchor, relation 1, shared entity y, relation 2)


class Explainer:
    """One sentence per source of each recommended item, strongest source first, from the index."""

    def __init__(self, index, trace: Trace):
        self.gi = index
        self.trace = trace
        self.rating = dict(zip(trace.anchors.tolist(), trace.anchor_ratings.tolist()))

    def _title(self, position: int) -> str:
        return _q(self.gi.titles[position] or self.gi.product_ids[position])

    def _you(self, position: int) -> str:
        rating = self.rating.get(position)
        verb = "rated" if rating is not None and not _nan(rating) else "chose"
        return f"you {verb} {self._title(position)}{_stars(rating)}"

    def explain(self, items, positions: list[int]) -> None:
        wanted = {
            src: np.asarray(
                [p for it, p in zip(items, positions) if any(s["source"] == src for s in it.sources)], dtype=np.int64
            )
            for src in ("co_interaction", "shared_attribute")
        }
        co_via = self._co_interaction(wanted["co_interaction"])
        near = self._closest_anchors(
            [p for it, p in zip(items, positions) if any(s["source"] == "embedding" for s in it.sources)]
        )
        attr_via = {p: self._shared_attribute(p) for p in wanted["shared_attribute"].tolist()}
        for it, pos in zip(items, positions):
            me = self._title(pos)
            why: list[str] = []
            for part in it.sources:
                src = part["source"]
                if src == "co_interaction" and pos in co_via:
                    via, n = co_via[pos]
                    why.append(f"{self._you(via)}; {n} people like you who chose it also chose {me}")
                elif src == "shared_attribute" and (shared := attr_via.get(pos)):
                    via, a = shared
                    name = self.gi.attr_names[a] or self.gi.attr_ids[a]
                    why.append(f"{self._you(via)}; it shares {self.gi.attr_label[a].lower()} {_q(name)} with {me}")
                elif src == "knowledge_graph" and pos in self.trace.kg:
                    via, rel1, shared, rel2 = self.trace.kg[pos]
                    label = humanise_relation(self.gi.relation_names[rel1])
                    other = humanise_relation(self.gi.relation_names[rel2])
                    role = label if label == other else f"{label} / {other}"
                    name = self.gi.entity_names[shared] or self.gi.entity_ids[shared]
                    why.append(f"{self._you(via)}; it shares {_q(name)} ({role}) with {me}")
                elif src == "embedding" and pos in near:
                    anchor, sim = near[pos]
                    lead = f"popular item {self._title(anchor)}" if self.trace.cold else self._title(anchor)
                    why.append(f"similar to {lead} by its description/image (cosine {sim:.2f})")
                elif src == "popular":
                    why.append(f"popular: {int(part['evidence'])} interactions")
                elif src == "model":
                    why.append(f"the trained model scores it {part['evidence']:.4g}")
            it.why = why

    def _co_interaction(self, items: np.ndarray) -> dict[int, tuple[int, int]]:
        """For each item: the anchor p that most of the neighbour users who chose it share with the
        user (ties: the most recent anchor), and how many they are."""
        t = self.trace
        if not len(items) or t.neighbours is None or not len(t.neighbours):
            return {}
        # shares[v, a]: neighbour v chose anchor a; chose[i, v]: neighbour v chose item i
        gi = self.gi
        shares = gi.pairs_present(gi.hist_ptr, gi.owned, t.neighbours, t.anchors).astype(np.int64)
        chose = gi.pairs_present(gi.hist_ptr, gi.owned, t.neighbours, items).T.astype(np.int64)
        tally = chose @ shares
        best = np.argmax(tally, axis=1)  # first maximum: the most recent anchor among ties
        n = tally[np.arange(len(items)), best]
        return {
            int(i): (int(t.anchors[b]), int(c)) for i, b, c in zip(items.tolist(), best.tolist(), n.tolist()) if c > 0
        }

    def _closest_anchors(self, items: list[int]) -> dict[int, tuple[int, float]]:
        """For each item: the content anchor it is most similar to (ties: the first anchor) and the
        similarity, the mean over the modalities both have."""
        anchors = self.trace.content_anchors
        if not items or anchors is None or not len(anchors):
            return {}
        found = self.gi.embeddings.closest_anchors(np.asarray(items, dtype=np.int64), anchors)
        return {i: (int(a), float(s)) for i, (a, s) in zip(items, found) if a >= 0}

    def _shared_attribute(self, item: int) -> tuple[int, int] | None:
        """(anchor, attribute): the most recent anchor sharing an attribute with the item, and of the
        attributes they share the most specific one (fewest products; ties by id)."""
        gi = self.gi
        mine = gi.attr_of[gi.attr_ptr[item] : gi.attr_ptr[item + 1]]
        for anchor in self.trace.anchors.tolist():
            if anchor == item:
                continue
            common = np.intersect1d(mine, gi.attr_of[gi.attr_ptr[anchor] : gi.attr_ptr[anchor + 1]])
            if len(common):
                best = common[np.lexsort((common, gi.attr_degree[common]))[0]]
                return anchor, int(best)
        return None


def _q(text: Any) -> str:
    return f"'{text}'"


def _nan(x: Any) -> bool:
    return isinstance(x, float) and math.isnan(x)
