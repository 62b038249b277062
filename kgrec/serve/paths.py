"""User-product paths in the knowledge graph (``kgctl paths``, ``/paths``, explanations).

A staged search over typed patterns instead of an unbounded variable-length match: through a
hub (a genre with thousands of films, a user with thousands of ratings) the number of paths
grows exponentially with the length, so each pattern is one named, parameterised query with a
LIMIT that starts from a bounded list of the user's items and from the product's side, hub
entities are skipped, and patterns longer than ``max_hops`` are not run.

Hops are meaningful hops: LINKED_TO joins a product to its own knowledge-graph entity (the same
film), so it is not counted.

| pattern | hops | path |
| --- | --- | --- |
| interacted | 1 | (u)-[:INTERACTED]->(c) |
| shared_attribute | 2 | (u)-[:INTERACTED]->(x)-[:IN_CATEGORY/HAS_BRAND/SOLD_BY/HAS_TAG]->(a)<-(c) |
| entity_direct | 2 | (u)-[:INTERACTED]->(x)-[:LINKED_TO]->(e)-[:RELATED_TO]-(f)<-[:LINKED_TO]-(c) |
| co_interaction | 3 | (u)-[:INTERACTED]->(x)<-[:INTERACTED]-(v)-[:INTERACTED]->(c) |
| entity_shared | 3 | (u)-[:INTERACTED]->(x)-[:LINKED_TO]->(e)-[:RELATED_TO]-(y)-[:RELATED_TO]-(f)<-[:LINKED_TO]-(c) |
"""

from __future__ import annotations

import dataclasses
from typing import Any

from kgrec.errors import NotFound
from kgrec.kg.backend import Backend
from kgrec.serve.explain import humanise_relation

PATTERNS = (  # (name, meaningful hops); "interacted" (1 hop) comes from the user's history
    ("shared_attribute", 2),
    ("entity_direct", 2),
    ("co_interaction", 3),
    ("entity_shared", 3),
)
MAX_HOPS = 4
VIA_ITEMS = 50  # the user's items that paths may start through: best-rated, then most recent
FANOUT = 2_000  # users of the product followed by the co-interaction pattern


@dataclasses.dataclass
class Path:
    pattern: str
    hops: int
    nodes: list[dict[str, Any]]  # {"key", "label", "id", "name"}
    edges: list[dict[str, Any]]  # {"from", "to", "type", "label"}
    text: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _node(label: str, nid: str, name: Any = None) -> dict[str, Any]:
    return {"key": f"{label}:{nid}", "label": label, "id": nid, "name": name if name else nid}


def _edge(a: dict, b: dict, rel: str, label: str | None = None) -> dict[str, Any]:
    return {"from": a["key"], "to": b["key"], "type": rel, "label": label or rel}


def _stars(r: Any) -> str:
    return f" {r:g}★" if isinstance(r, (int, float)) and r == r else ""


def find_paths(
    backend: Backend, user: str, product: str,
    *,
    max_hops: int = MAX_HOPS, limit: int = 20, hubs: list[str] | None = None,
) -> dict[str, Any]:
    """Paths from ``user`` to ``product`` (shortest patterns first), and the graph they span.

    Staged: the user's history is read once; the patterns then start from at most ``VIA_ITEMS``
    of the user's items (best-rated, then most recent) and from the product's side, each with a
    LIMIT, so a heavy user and a popular product stay fast.
    """
    if backend.run("rec_user", {"user": user}).num_rows == 0:
        raise NotFound(f"unknown user {user!r}")
    prod = backend.run("rec_product", {"ids": [product]}).to_pylist()
    if not prod:
        raise NotFound(f"unknown product {product!r}")
    title = prod[0]["title"]
    if hubs is None:
        hubs = backend.run("rec_entity_hubs", {"max_degree": 200}).column("id").to_pylist()
    history = backend.run("rec_user_history", {"user": user, "limit": 1_000_000}).to_pylist()
    rating = {h["id"]: h["rating"] for h in history}
    ranked = sorted(history, key=lambda h: (-_num(h["rating"]), -(h["timestamp"] or 0), h["id"]))
    via = list(dict.fromkeys(h["id"] for h in ranked if h["id"] != product))[:VIA_ITEMS]
    order = {v: n for n, v in enumerate(via)}
    u, c = _node("User", user, f"user {user}"), _node("Product", product, title)

    found: list[tuple[str, int, dict]] = []
    if product in rating:
        found.append(("interacted", 1, {"rating": rating[product]}))
    patterns = [(name, hops) for name, hops in PATTERNS if hops <= max_hops]
    # every pattern gets a share of the limit, so hub-heavy patterns (a shared genre) cannot
    # crowd out rarer, more telling ones
    share = max(1, -(-limit // max(1, len(patterns))))
    if via:
        for pattern, hops in patterns:
            params = {"user": user, "product": product, "via": via, "limit": share, "hubs": hubs, "fanout": FANOUT}
            rows = backend.run(f"path_{pattern}", params).to_pylist()
            rows.sort(key=lambda r: order.get(r["via"], len(order)))
            found.extend((pattern, hops, row) for row in rows)
    titles = {}
    via_ids = sorted({row["via"] for _, _, row in found if "via" in row})
    if via_ids:
        t = backend.run("rec_product", {"ids": via_ids})
        titles = dict(zip(t.column("id").to_pylist(), t.column("title").to_pylist()))
    paths: list[Path] = []
    seen: set[tuple] = set()
    for pattern, hops, row in found:
        if "via" in row:
            row = {**row, "via_title": titles.get(row["via"]), "rating": rating.get(row["via"])}
        path = _build(pattern, hops, u, c, row)
        key = tuple(n["key"] for n in path.nodes)
        if key not in seen:  # the same nodes through a relation and its inverse count once
            seen.add(key)
            paths.append(path)
    paths = paths[:limit]
    nodes: dict[str, dict] = {}
    edges: dict[tuple, dict] = {}
    for p in paths:
        for n in p.nodes:
            nodes.setdefault(n["key"], n)
        for e in p.edges:
            edges.setdefault((e["from"], e["to"], e["type"], e["label"]), e)
    return {
        "user": user,
        "product": {"id": product, "title": title},
        "max_hops": max_hops,
        "paths": [p.to_dict() for p in paths],
        "graph": {"nodes": list(nodes.values()), "edges": list(edges.values())},
    }


def _num(x: Any) -> float:
    return float(x) if isinstance(x, (int, float)) and x == x else 0.0


def _build(pattern: str, hops: int, u: dict, c: dict, row: dict) -> Path:
    cname = c["name"]
    if pattern == "interacted":
        return Path(
            pattern, hops, [u, c], [_edge(u, c, "INTERACTED", f"INTERACTED{_stars(row['rating'])}")],
            f"you chose '{cname}'{_stars(row['rating'])}",
        )
    x = _node("Product", row["via"], row["via_title"])
    first = _edge(u, x, "INTERACTED", f"INTERACTED{_stars(row['rating'])}")
    xname = x["name"]
    if pattern == "co_interaction":
        v = _node("User", row["other"], f"user {row['other']}")
        return Path(
            pattern, hops, [u, x, v, c], [first, _edge(v, x, "INTERACTED"), _edge(v, c, "INTERACTED")],
            f"you chose '{xname}'{_stars(row['rating'])}; user {row['other']} also chose it and chose '{cname}'",
        )
    if pattern == "shared_attribute":
        kind = row["kind"]
        a = _node(kind, row["attr"], row["attr_name"])
        rel = {"Category": "IN_CATEGORY", "Brand": "HAS_BRAND", "Shop": "SOLD_BY", "Tag": "HAS_TAG"}.get(kind, "HAS")
        return Path(
            pattern, hops, [u, x, a, c], [first, _edge(x, a, rel), _edge(c, a, rel)],
            f"you chose '{xname}'{_stars(row['rating'])}; it shares {kind.lower()} '{a['name']}' with '{cname}'",
        )
    e = _node("Entity", row["entity"])
    f = _node("Entity", row["target_entity"])
    if pattern == "entity_direct":
        rel = humanise_relation(row["relation"])
        return Path(
            pattern, hops, [u, x, e, f, c],
            [first, _edge(x, e, "LINKED_TO"), _edge(e, f, "RELATED_TO", rel), _edge(c, f, "LINKED_TO")],
            f"you chose '{xname}'{_stars(row['rating'])}; it is related to '{cname}' ({rel})",
        )
    y = _node("Entity", row["shared"], row["shared_name"])
    r1, r2 = humanise_relation(row["rel1"]), humanise_relation(row["rel2"])
    return Path(
        pattern, hops, [u, x, e, y, f, c],
        [
            first, _edge(x, e, "LINKED_TO"), _edge(e, y, "RELATED_TO", r1), _edge(f, y, "RELATED_TO", r2),
            _edge(c, f, "LINKED_TO"),
        ],
        f"you chose '{xname}'{_stars(row['rating'])}; it shares '{y['name']}' ({r1}) with '{cname}'",
    )
