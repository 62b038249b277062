"""A tiny knowledge graph written into a real embedded database, for the KGBM4Rec and PyG-store tests."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

N_USERS, N_ITEMS, N_CATEGORIES, N_ENTITIES, TEXT_DIM, IMAGE_DIM = 12, 20, 3, 10, 8, 6

# KGBM4Rec hyperparameters small enough for the tiny graph (seconds per training)
SMALL_KGBM = {
    "dim": 16,
    "max_len": 8,
    "n_layers": 1,
    "n_heads": 2,
    "dropout": 0.0,
    "gnn_dropout": 0.0,
    "batch_size": 4,
    "eval_every": 1,
    "patience": 100,
    "verbose": False,
    "lr": 5e-3,
}


def item_category(item: int) -> int:
    return item % N_CATEGORIES


def build_tiny_graph(backend, *, text: bool = True, seed: int = 0, image: bool = False, hide_categories=(),
                     image_category=None) -> None:
    """Users prefer one category each and walk through its items in order (a learnable signal);
    items link to entities that are related by two typed relations; 15 of 20 items have text.
    ``image``: every item gets an image vector showing a category (its own, or
    ``image_category[item]`` where given) plus noise; ``hide_categories``: items loaded without
    their IN_CATEGORY edge (held out)."""
    rng = np.random.default_rng(seed)
    users = [f"u{u:02d}" for u in range(N_USERS)]
    items = [f"p{i:02d}" for i in range(N_ITEMS)]
    cats = [f"c{c}" for c in range(N_CATEGORIES)]
    ents = [f"e{e}" for e in range(N_ENTITIES)]
    leaf = "e_leaf"  # an entity with a single neighbour (pruned by kg_min_degree=2)
    backend.insert_nodes("User", pa.table({"id": users}))
    backend.insert_nodes("Product", pa.table({"id": items, "title": [f"item {i}" for i in range(N_ITEMS)]}))
    backend.insert_nodes("Category", pa.table({"id": cats, "name": cats}))
    backend.insert_nodes("Entity", pa.table({"id": ents + [leaf]}))
    item_cat = [item_category(i) for i in range(N_ITEMS)]
    shown = [i for i in range(N_ITEMS) if i not in set(hide_categories)]
    backend.insert_relationships(
        "IN_CATEGORY", pa.table({"src": [items[i] for i in shown], "dst": [cats[item_cat[i]] for i in shown]})
    )
    backend.insert_relationships(
        "LINKED_TO",
        pa.table({"src": items + [items[0]], "dst": [ents[i % N_ENTITIES] for i in range(N_ITEMS)] + [leaf]}),
    )
    heads = [ents[e] for e in range(N_ENTITIES) for _ in range(2)]
    tails = [ents[(e + k + 1) % N_ENTITIES] for e in range(N_ENTITIES) for k in range(2)]
    relation = ["film.directed_by" if k == 0 else "film.genre" for e in range(N_ENTITIES) for k in range(2)]
    backend.insert_relationships("RELATED_TO", pa.table({"src": heads, "dst": tails, "relation": relation}))
    src, dst, ts, rating = [], [], [], []
    for u in range(N_USERS):
        liked = [i for i in range(N_ITEMS) if item_cat[i] == u % N_CATEGORIES]
        n = int(rng.integers(5, len(liked) + 1))
        for step, i in enumerate(liked[:n]):
            src.append(users[u])
            dst.append(items[i])
            ts.append(1000 * u + 10 * step)
            rating.append(float(rng.integers(3, 6)))
        other = int(rng.integers(0, N_ITEMS))
        src.append(users[u])
        dst.append(items[other])
        ts.append(1000 * u + 5)
        rating.append(2.0)
    backend.insert_relationships(
        "INTERACTED", pa.table({"src": src, "dst": dst, "timestamp": pa.array(ts, pa.int64()), "rating": rating})
    )
    if text:
        vectors = rng.normal(size=(N_ITEMS, TEXT_DIM)).astype(np.float32)
        vectors[:, 0] = np.asarray(item_cat, dtype=np.float32)  # text carries the category
        has = items[:15]
        backend.update_nodes(
            "Product",
            pa.table({"id": has, "text_emb": pa.array([list(v) for v in vectors[:15]], pa.list_(pa.float32()))}),
        )
    if image:
        pictured = [(image_category or {}).get(i, item_cat[i]) for i in range(N_ITEMS)]
        pixels = np.random.default_rng(seed + 1).normal(scale=0.3, size=(N_ITEMS, IMAGE_DIM)).astype(np.float32)
        pixels[np.arange(N_ITEMS), pictured] += 1.0
        backend.update_nodes(
            "Product", pa.table({"id": items, "image_emb": pa.array([list(v) for v in pixels], pa.list_(pa.float32()))})
        )
    backend.set_meta("revision", "1")
