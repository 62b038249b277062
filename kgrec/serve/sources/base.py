"""The interface every candidate source follows, and the typed values they pass around.

A source is a small object: its ``name`` (also its key in ``FusionWeights`` and in each item's
``sources``), the parts of the ``GraphIndex`` it reads (``needs``), ``candidates(context, index,
k)`` proposing products with their evidence and what explains them, and ``explain`` writing one
sentence per recommended item from that. ``FusedRecommender`` runs the sources, fuses their
scaled evidence with the weights and asks each source to explain its part of the top k.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from kgrec.serve.graph_index import IndexPart

if TYPE_CHECKING:  # pragma: no cover
    from kgrec.serve.graph_index import GraphIndex


@dataclasses.dataclass(frozen=True)
class Limits:
    """Bounds that keep every candidate source small on large graphs."""

    anchors: int = 10  # recent liked items the sources start from
    neighbours: int = 20  # co-interaction users kept in stage 1
    per_source: int = 200  # candidates kept per source
    popular: int = 200  # popular items offered per request
    hub_degree: int = 200  # entities with more RELATED_TO edges are hubs, skipped
    attribute_hub: int = 50_000  # attributes (a category, a brand) with more products are skipped as a source
    shared_entities: int = 30  # entities y expanded in stage 2
    like_rating: float = 4.0  # ratings below this do not make an item an anchor


@dataclasses.dataclass(frozen=True)
class UserContext:
    """One user as the sources see it, read from one index: the history (newest first), the seen
    mask and the anchors (the most recent liked items, or the most recent items when none is
    liked)."""

    user: str
    position: int
    items: np.ndarray  # product positions, newest first
    ratings: np.ndarray  # NaN where none
    seen: np.ndarray  # bool per product position
    anchors: np.ndarray
    anchor_ratings: np.ndarray

    @property
    def cold(self) -> bool:
        return not len(self.items)

    @classmethod
    def of(cls, index: GraphIndex, user: str, position: int, limits: Limits) -> UserContext:
        items, ratings = index.history(position)
        seen = np.zeros(index.n_products, dtype=bool)
        seen[items] = True
        liked = np.isnan(ratings) | (ratings >= limits.like_rating)
        pick = liked if liked.any() else np.ones(len(items), dtype=bool)
        anchors, anchor_ratings = _first_unique(items[pick], ratings[pick], limits.anchors)
        return cls(user, position, items, ratings, seen, anchors, anchor_ratings)

    def chose(self, index: GraphIndex, position: int) -> str:
        """``you rated 'Alien' (5★)`` / ``you chose 'Alien'``: the user's own step of a path."""
        rating = dict(zip(self.anchors.tolist(), self.anchor_ratings.tolist())).get(position)
        verb = "rated" if rating is not None and not _nan(rating) else "chose"
        return f"you {verb} {title(index, position)}{_stars(rating)}"


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One proposed product: the source, the product id and the source's raw evidence."""

    source: str
    product: str
    evidence: float


@dataclasses.dataclass
class Candidates:
    """What one source proposes for one request: product positions, their raw evidence (higher is
    better), and ``trace``, the source's own typed record of the paths that led there (read by
    its ``explain``)."""

    source: str
    positions: np.ndarray
    evidence: np.ndarray
    trace: Any = None

    @classmethod
    def empty(cls, source: str) -> Candidates:
        return cls(source, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64))

    def __len__(self) -> int:
        return len(self.positions)

    def as_list(self, index: GraphIndex) -> list[Candidate]:
        return [
            Candidate(self.source, index.product_ids[p], float(e))
            for p, e in zip(self.positions.tolist(), self.evidence.tolist())
        ]


class Source(abc.ABC):
    """A part of the fused score: ``name``, what it reads (``needs``), how its evidence is scaled
    to [0, 1] within a request, and how it explains an item."""

    name: ClassVar[str] = ""
    needs: ClassVar[frozenset[IndexPart]] = frozenset({IndexPart.INTERACTIONS})

    def __init__(self, limits: Limits):
        self.limits = limits

    def scale(self, column: np.ndarray, present: np.ndarray) -> np.ndarray | None:
        """The evidence scaled to [0, 1] (NaN where absent): divided by the request's maximum.
        None: the source has no say in this request."""
        hi = np.nanmax(column)
        return column / hi if hi > 0 else np.where(present, 0.0, np.nan)

    @abc.abstractmethod
    def explain(self, context: UserContext, index: GraphIndex, found: Candidates | None,
                positions: np.ndarray, evidence: np.ndarray) -> dict[int, str]:
        """One sentence per recommended product position this source took part in (``evidence``:
        its raw evidence for each); positions it cannot explain are left out."""


class CandidateSource(Source):
    """A source that proposes candidates (a graph pattern around the user)."""

    def budget(self) -> int:
        """How many candidates it keeps per request."""
        return self.limits.per_source

    @abc.abstractmethod
    def candidates(self, context: UserContext, index: GraphIndex, k: int) -> Candidates | None:
        """At most ``k`` unseen products with their evidence, best first; None when the source
        does not apply to this user (e.g. no anchors)."""


def title(index: GraphIndex, position: int) -> str:
    return quote(index.titles[position] or index.product_ids[position])


def quote(text: Any) -> str:
    return f"'{text}'"


def _stars(rating: Any) -> str:
    if rating is None or _nan(rating):
        return ""
    return f" ({rating:g}★)"


def _nan(x: Any) -> bool:
    return isinstance(x, float) and math.isnan(x)


def _first_unique(items: np.ndarray, ratings: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` distinct items in order (a user may have interacted with an item twice)."""
    head = items[: 4 * n]
    _, first = np.unique(head, return_index=True)
    if len(first) < n and len(head) < len(items):
        _, first = np.unique(items, return_index=True)
    keep = np.sort(first)[:n]
    return items[keep].astype(np.int64), ratings[keep]
