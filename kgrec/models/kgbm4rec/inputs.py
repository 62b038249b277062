"""What KGBM4Rec reads from the graph store besides the interactions: the knowledge graph and the
frozen text/image embeddings that ``kgctl embed`` wrote onto Product nodes."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from kgrec.kg.backend import Backend
from kgrec.models.data.interactions import KnowledgeGraphData, item_vectors

TEXT_PROPERTY = "text_emb"
IMAGE_PROPERTY = "image_emb"
CATEGORY_RELATION = "IN_CATEGORY"


@dataclasses.dataclass
class KGBMInputs:
    kg: KnowledgeGraphData | None = None
    text: np.ndarray | None = None  # (n_items, d_text) float32, zeros where absent
    text_present: np.ndarray | None = None  # (n_items,) bool
    image: np.ndarray | None = None
    image_present: np.ndarray | None = None

    @classmethod
    def from_backend(cls, backend: Backend, item_ids: np.ndarray, *, kg: bool = True) -> KGBMInputs:
        text, text_present = item_vectors(backend, np.asarray(item_ids), TEXT_PROPERTY)
        image, image_present = item_vectors(backend, np.asarray(item_ids), IMAGE_PROPERTY)
        return cls(
            kg=KnowledgeGraphData.from_backend(backend, item_ids) if kg else None,
            text=text, text_present=text_present, image=image, image_present=image_present,
        )

    @classmethod
    def from_graph_inputs(cls, graph: Any) -> KGBMInputs:
        """Adapt the training pipeline's ``GraphInputs`` (``kg`` plus ``item_features[prop] =
        (matrix, present)``)."""
        feats = getattr(graph, "item_features", {}) or {}
        text = feats.get(TEXT_PROPERTY, (None, None))
        image = feats.get(IMAGE_PROPERTY, (None, None))
        return cls(
            kg=getattr(graph, "kg", None), text=text[0], text_present=text[1], image=image[0], image_present=image[1]
        )

    def has_text(self) -> bool:
        return _usable(self.text, self.text_present)

    def has_image(self) -> bool:
        return _usable(self.image, self.image_present)

    def has_kg(self) -> bool:
        return self.kg is not None

    def item_categories(self, n_items: int) -> tuple[np.ndarray, np.ndarray]:
        """The items' categories as the graph knows them (``IN_CATEGORY`` edges of ``kg``): the
        Category ids (sorted) and an (n_items, n_categories) float32 target matrix whose rows are
        uniform over each item's categories (one-hot for a single leaf), all zeros where the graph
        gives an item no category."""
        kg = self.kg
        if kg is None or CATEGORY_RELATION not in kg.relation_names:
            return np.asarray([], dtype=object), np.zeros((n_items, 0), np.float32)
        chosen = (kg.relation == kg.relation_names.index(CATEGORY_RELATION)) & (kg.head < n_items)
        heads, tails = kg.head[chosen], kg.tail[chosen]
        names = np.asarray(kg.node_ids, dtype=object)[tails].astype(str)
        categories, column = np.unique(names, return_inverse=True)
        target = np.zeros((n_items, len(categories)), np.float32)
        target[heads, column] = 1.0
        counts = target.sum(1, keepdims=True)
        np.divide(target, counts, out=target, where=counts > 0)
        return categories.astype(object), target


def _usable(matrix: np.ndarray | None, present: np.ndarray | None) -> bool:
    return (
        matrix is not None
        and present is not None
        and matrix.ndim == 2
        and matrix.shape[1] > 0
        and bool(np.any(present))
    )

