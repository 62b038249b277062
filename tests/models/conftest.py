"""A tiny but structured graph, built through the Backend API: two taste groups of users, items
with categories, external-KG entities and text embeddings."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

N_USERS, N_ITEMS = 16, 24


def build_tiny_graph(backend, *, text: bool = True, kg: bool = True, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    users = [f"u{n}" for n in range(N_USERS)]
    items = [f"p{n}" for n in range(N_ITEMS)]
    backend.insert_nodes("User", pa.table({"id": users}))
    backend.insert_nodes("Product", pa.table({"id": items, "title": [f"product {n}" for n in range(N_ITEMS)]}))
    src, dst, ts, rating = [], [], [], []
    for n, user in enumerate(users):
        group = n % 2  # even users like even items, odd users odd items
        liked = [i for i in range(N_ITEMS) if i % 2 == group]
        picks = rng.choice(liked, size=6 + n % 3, replace=False)
        for t, item in enumerate(picks):
            src.append(user)
            dst.append(items[item])
            ts.append(1000 + 10 * t + n)
            rating.append(float(4 + (t % 2)) if t % 3 else 2.0)
    backend.insert_relationships("INTERACTED", pa.table({"src": src, "dst": dst, "timestamp": ts, "rating": rating}))
    if kg:
        backend.insert_nodes("Category", pa.table({"id": ["even", "odd"], "name": ["even", "odd"]}))
        backend.insert_relationships(
            "IN_CATEGORY", pa.table({"src": items, "dst": ["even" if i % 2 == 0 else "odd" for i in range(N_ITEMS)]})
        )
        backend.insert_nodes("Entity", pa.table({"id": [f"e{k}" for k in range(6)]}))
        backend.insert_relationships(
            "LINKED_TO", pa.table({"src": items[:12], "dst": [f"e{k % 4}" for k in range(12)]})
        )
        backend.insert_relationships(
            "RELATED_TO",
            pa.table(
                {
                    "src": ["e0", "e1", "e2", "e3"], "dst": ["e4", "e5", "e4", "e5"],
                    "relation": ["film.director", "film.genre", "film.director", "film.genre"],
                }
            ),
        )
    if text:
        vectors = np.zeros((N_ITEMS, 8), np.float32)
        for i in range(N_ITEMS):
            vectors[i, i % 2] = 1.0
            vectors[i, 2 + i % 6] = 0.3
        images = np.roll(vectors, 3, axis=1) * 0.5
        backend.update_nodes("Product", pa.table({
            "id": items,
            "text_emb": pa.array(vectors.tolist(), pa.list_(pa.float32())), "text_emb_model": ["test-8d"] * N_ITEMS,
            "image_emb": pa.array(images.tolist(), pa.list_(pa.float32())), "image_emb_model": ["test-8d"] * N_ITEMS,
        }))
    backend.set_meta("revision", "tiny-1")


@pytest.fixture
def tiny(backend):
    build_tiny_graph(backend)
    return backend
