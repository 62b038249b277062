"""The test users split into segments by what their test item is, so a report can say where one
model beats another and not only whether it does on average.

* ``popularity``: by how often the test item occurs in the history the models were given
  (training + validation): the users sorted by that count and cut into ``parts`` groups of about
  equal size (``tail``, ``middle``, ``head`` for 3), each labelled with its count range.
* ``kg``: whether the test item is linked to an entity of an external knowledge graph (an edge to
  an ``Entity`` node, as entity linking writes), i.e. whether the graph knows more about it than
  its own attributes.

Each segment is a mask over the held-out users in the phase's order, the order of every
``UserMetrics`` of the phase, so ``UserMetrics.take(segment.users)`` gives a model's values on it.

    from kgrec.models.evaluation.segments import popularity_segments
    segments = popularity_segments(phase.known, phase.held_out)
"""

from __future__ import annotations

import dataclasses

import numpy as np

from kgrec.errors import KgrecError
from kgrec.models.data.interactions import InteractionData, KnowledgeGraphData
from kgrec.models.evaluation.bootstrap import BootstrapSettings
from kgrec.models.evaluation.per_user import UserMetrics
from kgrec.models.evaluation.uncertainty import SeedGroup, Statistics, describe

SEGMENTINGS = ("popularity", "kg")
ENTITY_LABEL = "Entity"
POPULARITY_NAMES = {2: ("tail", "head"), 3: ("tail", "middle", "head")}


@dataclasses.dataclass(frozen=True)
class Segment:
    """One group of test users: ``users`` masks the held-out rows (phase order)."""

    name: str
    description: str
    users: np.ndarray  # bool, one per held-out row

    @property
    def size(self) -> int:
        return int(self.users.sum())


@dataclasses.dataclass(frozen=True)
class Segmenting:
    """One way of cutting the test users (``popularity`` or ``kg``) and its segments."""

    name: str
    title: str
    segments: tuple[Segment, ...]


def popularity_segments(known: InteractionData, held_out: InteractionData, parts: int = 3) -> Segmenting:
    """The held-out users in ``parts`` groups of about equal size by the known interaction count
    of their held-out item, least popular first. Users whose items have the same count stay in one
    group, so the groups are only as equal as the ties allow; an empty group is left out."""
    if parts < 2:
        raise KgrecError(f"popularity segments need at least 2 parts, got {parts}")
    counts = known.item_counts()[held_out.item.astype(np.int64)]
    if len(counts) == 0:
        raise KgrecError("no held-out users to segment")
    cuts = np.quantile(counts, np.arange(1, parts) / parts, method="lower")
    group = np.searchsorted(cuts, counts, side="left")  # count <= cuts[0] -> 0, ...
    names = POPULARITY_NAMES.get(parts) or tuple(f"part {k + 1}" for k in range(parts))
    segments = []
    for k in range(parts):
        mask = group == k
        if not mask.any():
            continue
        low, high = int(counts[mask].min()), int(counts[mask].max())
        span = f"{low}" if low == high else f"{low}-{high}"
        segments.append(Segment(names[k], f"test item seen {span} times in the known history", mask))
    return Segmenting("popularity", "by how often the test item occurs in the known history", tuple(segments))


def linked_items(kg: KnowledgeGraphData) -> np.ndarray:
    """Per item, whether it has an edge (either direction) to an ``Entity`` node."""
    entity = np.asarray(kg.node_labels == ENTITY_LABEL, dtype=bool)
    linked = np.zeros(kg.n_items, dtype=bool)
    for items, other in ((kg.head, kg.tail), (kg.tail, kg.head)):
        pick = (items < kg.n_items) & entity[other]
        linked[items[pick]] = True
    return linked


def kg_segments(kg: KnowledgeGraphData, held_out: InteractionData) -> Segmenting:
    """The held-out users whose held-out item is linked to a knowledge-graph entity, and the rest."""
    if not np.any(kg.node_labels == ENTITY_LABEL):
        raise KgrecError(
            "the graph has no linked knowledge-graph entities (Entity nodes), so there is nothing to segment by",
            "link the catalogue to a knowledge graph first (e.g. kgctl ingest recbole --dataset ml-1m)",
        )
    linked = linked_items(kg)[held_out.item.astype(np.int64)]
    segments = tuple(
        Segment(name, description, mask)
        for name, description, mask in (
            ("linked", "test item linked to a knowledge-graph entity", linked),
            ("unlinked", "test item not linked to the knowledge graph", ~linked),
        )
        if mask.any()
    )
    return Segmenting("kg", "by whether the test item is linked to the knowledge graph", segments)


@dataclasses.dataclass
class SegmentStatistics:
    """Every model's metrics on one segment (``{protocol: {label: metrics}}``, with ``users``)
    and their uncertainty (intervals, seed spreads, the paired comparison with the baseline)."""

    segmenting: Segmenting
    segment: Segment
    report: dict[str, dict[str, dict[str, float]]]
    statistics: Statistics


def describe_segments(
    per_user: dict[str, dict[str, UserMetrics]],
    segmentings: list[Segmenting] | tuple[Segmenting, ...],
    *,
    groups: list[SeedGroup] | tuple[SeedGroup, ...] = (),
    baseline: str | None = None,
    settings: BootstrapSettings | None = None,
) -> list[SegmentStatistics]:
    """``uncertainty.describe`` on each segment's users: ``per_user`` as the evaluation kept it
    (``{protocol: {label: UserMetrics}}``), the segments' masks in the same user order."""
    out = []
    for segmenting in segmentings:
        for segment in segmenting.segments:
            sub = {p: {label: um.take(segment.users) for label, um in models.items()} for p, models in per_user.items()}
            report = {p: {label: {**um.values(), "users": float(len(um))} for label, um in models.items()}
                      for p, models in sub.items()}
            stats = describe(report, sub, groups=groups, baseline=baseline, settings=settings)
            out.append(SegmentStatistics(segmenting, segment, report, stats))
    return out
