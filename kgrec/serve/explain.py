"""Explanations: the shortest meaningful user-product paths behind each recommended item, as text.

Every source keeps the path that proposed a candidate (which anchor item, which shared user set,
attribute or knowledge-graph entity); this module fetches names for those nodes (titles, entity
names, relation names) and writes one sentence per path, strongest source first. The queries run
only for the top-k items, so explanations cost a few small lookups.
"""

from __future__ import annotations

import math
from typing import Any

from kgrec.kg.backend import Backend


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


class Explainer:
    def __init__(self, backend: Backend, history: dict[str, dict], trace: dict[str, Any], hubs: list[str]):
        self.backend = backend
        self.history = history
        self.trace = trace
        self.hubs = hubs

    def _you(self, pid: str | None, titles: dict[str, Any]) -> str:
        row = self.history.get(pid or "", {})
        verb = "rated" if row.get("rating") is not None and not _nan(row.get("rating")) else "chose"
        return f"you {verb} {_q(titles.get(pid) or row.get('title') or pid)}{_stars(row.get('rating'))}"

    def explain(self, items, found: dict[str, dict[str, float]], with_paths: bool = True) -> None:
        ids = [it.id for it in items]
        anchors = self.trace["anchors"]
        co_items = [i for i in ids if "co_interaction" in found.get(i, {})]
        attr_items = [i for i in ids if "shared_attribute" in found.get(i, {})]
        co_via: dict[str, tuple[str, int]] = {}
        attr_via: dict[str, dict] = {}
        if with_paths and co_items and self.trace["neighbour_anchors"]:
            shares = self.trace["neighbour_anchors"]  # neighbour -> the anchors they chose
            order = {p: n for n, p in enumerate(anchors)}
            t = self.backend.run("rec_co_explain", {"users": list(shares), "items": co_items})
            chosen_by: dict[str, list[str]] = {}
            for v, c in zip(t.column("user").to_pylist(), t.column("id").to_pylist()):
                chosen_by.setdefault(c, []).append(v)
            for c in co_items:
                tally: dict[str, int] = {}
                for v in chosen_by.get(c, []):
                    for p in shares.get(v, []):
                        tally[p] = tally.get(p, 0) + 1
                if tally:
                    best = min(tally, key=lambda p: (-tally[p], order.get(p, 0)))
                    co_via[c] = (best, tally[best])
        if with_paths and attr_items:
            t = self.backend.run("rec_attribute_explain", {"anchors": anchors, "items": attr_items, "limit": 20 * len(attr_items)})
            for row in t.to_pylist():
                attr_via.setdefault(row["id"], row)
        kg = {i: self.trace["kg"][i] for i in ids if i in self.trace["kg"] and "knowledge_graph" in found.get(i, {})}
        index, content = self.trace["index"], self.trace.get("content_anchors", [])
        emb = {i: index.closest_anchor(i, content) for i in ids if "embedding" in found.get(i, {}) and index is not None}
        need = set(ids) | {v for v, _ in co_via.values()} | {r["via"] for r in attr_via.values()}
        need |= {v[0] for v in kg.values()} | {v[0] for v in emb.values() if v[0]}
        titles = _lookup(self.backend, "rec_product", "title", need)
        names = self.trace["entity_names"]  # read with the knowledge-graph candidates
        cold = not self.history
        for it in items:
            it.title = titles.get(it.id)
            if not with_paths:
                continue
            me = _q(it.title or it.id)
            why: list[str] = []
            for part in it.sources:
                src = part["source"]
                if src == "co_interaction" and it.id in co_via:
                    via, n = co_via[it.id]
                    why.append(f"{self._you(via, titles)}; {n} people like you who chose it also chose {me}")
                elif src == "shared_attribute" and it.id in attr_via:
                    row = attr_via[it.id]
                    why.append(f"{self._you(row['via'], titles)}; it shares {row['kind'].lower()} {_q(row['name'] or row['attr'])} with {me}")
                elif src == "knowledge_graph" and it.id in kg:
                    via, rel1, shared, rel2 = kg[it.id]
                    label = humanise_relation(rel1)
                    other = humanise_relation(rel2)
                    role = label if label == other else f"{label} / {other}"
                    why.append(f"{self._you(via, titles)}; it shares {_q(names.get(shared) or shared)} ({role}) with {me}")
                elif src == "embedding" and it.id in emb:
                    near, sim = emb[it.id]
                    if near is not None:
                        lead = f"popular item {_q(titles.get(near) or near)}" if cold else _q(titles.get(near) or near)
                        why.append(f"similar to {lead} by its description/image (cosine {sim:.2f})")
                elif src == "popular":
                    why.append(f"popular: {int(part['evidence'])} interactions")
                elif src == "model":
                    why.append(f"the trained model scores it {part['evidence']:.4g}")
            it.why = why


def _lookup(backend: Backend, query: str, column: str, ids) -> dict[str, Any]:
    ids = sorted(i for i in ids if i)
    if not ids:
        return {}
    t = backend.run(query, {"ids": ids})
    return dict(zip(t.column("id").to_pylist(), t.column(column).to_pylist()))


def _q(text: Any) -> str:
    return f"'{text}'"


def _nan(x: Any) -> bool:
    return isinstance(x, float) and math.isnan(x)
