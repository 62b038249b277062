"""Explanations: the paths behind each recommended item, as text, strongest source first.

Every source keeps what led it to a candidate (which anchor item, which neighbour users, attribute
or knowledge-graph entity) in its ``Candidates.trace``; for the top-k items only, each source
writes one sentence per item it took part in (``Source.explain``), with the titles, attribute and
entity names and relation names held by the ``GraphIndex`` (no database query). This module puts
those sentences in the order of the item's parts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from kgrec.serve.graph_index import GraphIndex
    from kgrec.serve.sources.base import Candidates, Source, UserContext


def humanise_relation(relation: str | None) -> str:
    """``film.film.directed_by`` -> ``directed by``; ``film.director.film`` -> ``director``."""
    if not relation:
        return "related"
    parts = relation.split(".")
    last = parts[-1]
    if len(parts) >= 3 and last == parts[0]:  # e.g. film.director.film: the middle names the role
        last = parts[-2]
    return last.replace("_", " ")


def explain(
    context: UserContext,
    index: GraphIndex,
    sources: Mapping[str, Source],
    found: Mapping[str, Candidates],
    items: Sequence[Any],
    positions: Sequence[int],
) -> None:
    """Fill ``item.why`` of each recommended item (``positions``: their product positions), one
    sentence per part in the order of ``item.sources``."""
    sentences: dict[str, dict[int, str]] = {}
    for name, source in sources.items():
        mine = [
            (p, part["evidence"]) for it, p in zip(items, positions) for part in it.sources if part["source"] == name
        ]
        if mine:
            where = np.asarray([p for p, _ in mine], dtype=np.int64)
            evidence = np.asarray([e for _, e in mine], dtype=np.float64)
            sentences[name] = source.explain(context, index, found.get(name), where, evidence)
    for it, pos in zip(items, positions):
        it.why = [sentences[part["source"]][pos] for part in it.sources if pos in sentences.get(part["source"], {})]
