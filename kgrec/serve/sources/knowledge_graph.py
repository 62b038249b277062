"""``knowledge_graph``: (p)-[:LINKED_TO]->(e)-[:RELATED_TO]-(y)-[:RELATED_TO]-(f)<-[:LINKED_TO]-(c),
hub entities y (degree over ``hub_degree``) left out, the ``shared_entities`` entities y reached
from most anchors kept; the evidence is the number of distinct y per c."""

from __future__ import annotations

import dataclasses

import numpy as np

from kgrec.serve.embeddings import top_positions
from kgrec.serve.explain import humanise_relation
from kgrec.serve.graph_index import GraphIndex, gather
from kgrec.serve.sources.base import Candidates, CandidateSource, IndexPart, UserContext, quote, title


@dataclasses.dataclass(frozen=True)
class EntityPath:
    """The path behind one candidate: anchor -[relation]- shared entity -[other_relation]- candidate."""

    anchor: int  # product position
    relation: int  # index into GraphIndex.relation_names
    entity: int  # entity position of the shared entity y
    other_relation: int


class KnowledgeGraph(CandidateSource):
    name = "knowledge_graph"
    needs = frozenset({IndexPart.INTERACTIONS, IndexPart.KNOWLEDGE_GRAPH})

    def candidates(self, context: UserContext, index: GraphIndex, k: int) -> Candidates | None:
        anchors = context.anchors
        if not len(anchors):
            return None
        gi = index
        lidx, lowner = gather(gi.link_ptr, anchors)
        if not len(lidx):
            return Candidates.empty(self.name)
        ridx, rowner = gather(gi.rel_ptr, gi.link_entity[lidx])
        y, rel1, via = gi.rel_nbr[ridx], gi.rel_type[ridx], lowner[rowner]  # via: the anchor's rank
        keep = ~gi.hub[y]
        y, rel1, via = y[keep], rel1[keep], via[keep]
        if not len(y):
            return Candidates.empty(self.name)
        # per entity y: how many distinct anchors reach it, and the most recent one (with its relation)
        order = np.lexsort((rel1, via, y))
        y, rel1, via = y[order], rel1[order], via[order]
        starts, reach = _distinct_per_group(y, via)
        ys, ys_via, ys_rel = y[starts], via[starts], rel1[starts]
        pick = np.lexsort((ys, gi.entity_degree[ys], -reach))[
            : self.limits.shared_entities
        ]  # most anchors, then most specific
        shared, shared_via, shared_rel = ys[pick], ys_via[pick], ys_rel[pick]
        # stage 2: products c linked to an entity f related to a shared y
        sidx, sowner = gather(gi.rel_ptr, shared)
        f, rel2 = gi.rel_nbr[sidx], gi.rel_type[sidx]
        pidx, powner = gather(gi.linked_ptr, f)
        c, rank, crel = gi.linked_product[pidx], sowner[powner], rel2[powner]
        keep = ~context.seen[c]
        c, rank, crel = c[keep], rank[keep], crel[keep]
        if not len(c):
            return Candidates.empty(self.name)
        order = np.lexsort((crel, rank, c))
        c, rank, crel = c[order], rank[order], crel[order]
        starts, distinct = _distinct_per_group(c, rank)
        n = np.zeros(gi.n_products, dtype=np.float64)
        n[c[starts]] = distinct  # distinct shared entities
        top = top_positions(n, k)
        best = dict(zip(c[starts].tolist(), zip(rank[starts].tolist(), crel[starts].tolist())))
        paths: dict[int, EntityPath] = {}
        for p in top.tolist():
            r, rel_b = best[p]
            paths[p] = EntityPath(int(anchors[shared_via[r]]), int(shared_rel[r]), int(shared[r]), rel_b)
        return Candidates(self.name, top, n[top], paths)

    def explain(self, context, index, found, positions, evidence):
        paths = found.trace if found is not None and found.trace is not None else {}
        out = {}
        for p in positions.tolist():
            path = paths.get(p)
            if path is None:
                continue
            label = humanise_relation(index.relation_names[path.relation])
            other = humanise_relation(index.relation_names[path.other_relation])
            role = label if label == other else f"{label} / {other}"
            name = index.entity_names[path.entity] or index.entity_ids[path.entity]
            out[p] = f"{context.chose(index, path.anchor)}; it shares {quote(name)} ({role}) with {title(index, p)}"
        return out


def _distinct_per_group(group: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows sorted by (group, other): the index of each group's first row and how many
    distinct ``other`` values the group holds."""
    new_group = np.r_[True, group[1:] != group[:-1]]
    new_pair = new_group | np.r_[True, other[1:] != other[:-1]]
    starts = np.flatnonzero(new_group)
    return starts, np.add.reduceat(new_pair.astype(np.int64), starts)
