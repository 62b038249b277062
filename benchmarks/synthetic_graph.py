"""SYNTHETIC data with the shape of MovieLens-1M, for speed measurements only (no real data). The
one place the benchmarks get it from, in two forms:

* ``build(path, seed)``: a graph database (``bench_recommend.py``, ``bench_http.py``, by
  ``given_or_synthetic``). 6,040 users, 3,706 products, 1,000,209 interactions (power-law
  popularity, at least 20 per user, ratings 1-5, timestamps), 18 genres (1-3 per product), a
  synthetic film knowledge graph (one entity per product, ~1,200 directors, ~8,000 actors, 18 genre
  entities as hubs) and 384-d text embeddings clustered by genre.
* ``ml1m_arrays(scale, seed)``: the same user, item and interaction counts as in-memory training
  inputs, no database (``bench_kgbm4rec_cost.py``): a Freebase-sized KG of 79k entities and 380k
  triples over 24 relations, 384-d text and 1280-d image vectors on every item.

The two draw their data differently (each as its results files were measured); both are seeded:
the same seed gives the same data.

    python benchmarks/synthetic_graph.py OUT.db [--seed 42]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kgrec.kg import open_backend  # noqa: E402

N_USERS, N_ITEMS, N_INTER = 6_040, 3_706, 1_000_209
N_GENRES, N_DIRECTORS, N_ACTORS, DIM = 18, 1_200, 8_000, 384
IMAGE_DIM = 1_280


def build(path: str, seed: int = 42) -> dict:
    rng = np.random.default_rng(seed)
    users = np.asarray([f"u{i}" for i in range(N_USERS)], dtype=object)
    items = np.asarray([f"i{i}" for i in range(N_ITEMS)], dtype=object)
    # user activity: lognormal, at least 20, scaled to the ML-1M total
    activity = np.maximum(20, rng.lognormal(4.4, 1.0, N_USERS)).astype(np.int64)
    activity = np.minimum(activity, N_ITEMS // 2)
    activity = np.maximum(20, (activity * (N_INTER / activity.sum())).astype(np.int64))
    activity[: N_INTER - activity.sum()] += 1 if activity.sum() < N_INTER else 0
    popularity = 1.0 / np.arange(1, N_ITEMS + 1) ** 0.9
    popularity = popularity[rng.permutation(N_ITEMS)]
    popularity /= popularity.sum()
    src, dst = [], []
    for u, n in enumerate(activity):
        chosen = rng.choice(N_ITEMS, size=int(n), replace=False, p=popularity)
        src.append(np.full(len(chosen), u))
        dst.append(chosen)
    src, dst = np.concatenate(src), np.concatenate(dst)
    ts = 956_703_932 + rng.integers(0, 90_000_000, len(src))
    rating = rng.choice([1.0, 2.0, 3.0, 4.0, 5.0], size=len(src), p=[0.06, 0.11, 0.26, 0.35, 0.22])
    genres = [rng.choice(N_GENRES, size=rng.integers(1, 4), replace=False) for _ in range(N_ITEMS)]
    centres = rng.normal(size=(N_GENRES, DIM)).astype(np.float32)
    emb = np.stack([centres[g].mean(axis=0) for g in genres]) + 0.8 * rng.normal(size=(N_ITEMS, DIM)).astype(np.float32)
    film_dir = rng.integers(0, N_DIRECTORS, N_ITEMS)
    film_actors = [rng.choice(N_ACTORS, size=5, replace=False) for _ in range(N_ITEMS)]

    t0 = time.perf_counter()
    with open_backend(path) as b:
        b.init_schema()
        b.insert_nodes("User", pa.table({"id": users}))
        b.insert_nodes("Product", pa.table({"id": items, "title": [f"Synthetic film {i}" for i in range(N_ITEMS)],
                                            "source": ["synthetic"] * N_ITEMS}))
        b.update_nodes("Product", pa.table({"id": items, "text_emb": pa.array(list(emb), pa.list_(pa.float32()))}))
        b.insert_relationships(
            "INTERACTED", pa.table({"src": users[src], "dst": items[dst], "timestamp": ts, "rating": rating})
        )
        b.insert_nodes(
            "Category",
            pa.table({"id": [f"genre:{g}" for g in range(N_GENRES)], "name": [f"Genre {g}" for g in range(N_GENRES)]}),
        )
        gi = np.concatenate([np.full(len(g), i) for i, g in enumerate(genres)])
        gg = np.concatenate(genres)
        b.insert_relationships("IN_CATEGORY", pa.table({"src": items[gi], "dst": [f"genre:{g}" for g in gg]}))
        films = [f"m.film{i}" for i in range(N_ITEMS)]
        people = [f"m.director{i}" for i in range(N_DIRECTORS)] + [f"m.actor{i}" for i in range(N_ACTORS)]
        genre_ents = [f"m.genre{g}" for g in range(N_GENRES)]
        names = (
            [None] * N_ITEMS
            + [f"Director {i}" for i in range(N_DIRECTORS)]
            + [f"Actor {i}" for i in range(N_ACTORS)]
            + [f"Genre {g}" for g in range(N_GENRES)]
        )
        b.insert_nodes("Entity", pa.table({"id": films + people + genre_ents, "name": names}))
        b.insert_relationships("LINKED_TO", pa.table({"src": items, "dst": films}))
        h, t, r = [], [], []
        for i in range(N_ITEMS):
            h.append(films[i])
            t.append(f"m.director{film_dir[i]}")
            r.append("film.film.directed_by")
            for a in film_actors[i]:
                h.append(films[i])
                t.append(f"m.actor{a}")
                r.append("film.film.actor")
            for g in genres[i]:
                h.append(films[i])
                t.append(f"m.genre{g}")
                r.append("film.film.genre")
        b.insert_relationships("RELATED_TO", pa.table({"src": h, "dst": t, "relation": r}))
        b.set_meta("revision", f"synthetic-ml1m-{seed}")
        counts = b.counts()
    return {"seconds": time.perf_counter() - t0, "counts": counts}


@dataclass
class BenchGraph:
    """The graph a benchmark runs on: ``path``, and ``built`` (``build``'s report) when it is the
    synthetic one, built into a temporary folder that ``cleanup`` removes."""

    path: str
    built: dict | None = None
    _tmp: tempfile.TemporaryDirectory | None = None

    def cleanup(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()


def given_or_synthetic(db: str | None, seed: int = 42) -> BenchGraph:
    """``db`` when given (an existing graph), else the synthetic graph of ``seed`` built in a temporary folder."""
    if db is not None:
        return BenchGraph(db)
    tmp = tempfile.TemporaryDirectory(prefix="kgrec-bench-")
    path = str(Path(tmp.name) / "ml1m.db")
    return BenchGraph(path, build(path, seed), tmp)


def ml1m_arrays(scale: float = 1.0, seed: int = 0):
    """``(InteractionData, KGBMInputs)`` of ``scale`` times ML-1M's size, in memory."""
    from kgrec.models.data.interactions import InteractionData, KnowledgeGraphData
    from kgrec.models.kgbm4rec.inputs import KGBMInputs

    rng = np.random.default_rng(seed)
    n_users, n_items = int(N_USERS * scale), int(N_ITEMS * scale)
    n_inter = int(N_INTER * scale)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    popularity /= popularity.sum()
    per_user = rng.multinomial(n_inter - 20 * n_users, rng.dirichlet(np.ones(n_users) * 0.7)) + 20
    user = np.repeat(np.arange(n_users), per_user)
    item = rng.choice(n_items, size=len(user), p=popularity)
    ts = rng.integers(0, 10**8, size=len(user))
    order = np.lexsort((item, ts, user))
    data = InteractionData(np.asarray([f"u{u}" for u in range(n_users)], dtype=object),
                           np.asarray([f"i{i}" for i in range(n_items)], dtype=object),
                           user[order], item[order], ts[order], rng.integers(1, 6, len(user)).astype(np.float32)[order])
    n_entities, n_triples, n_rel, n_cat = int(79_000 * scale), int(380_000 * scale), 24, N_GENRES
    n_nodes = n_items + n_cat + n_entities
    head = np.r_[np.arange(n_items), np.arange(n_items), rng.integers(n_items + n_cat, n_nodes, n_triples)]
    tail = np.r_[rng.integers(n_items, n_items + n_cat, n_items), rng.integers(n_items + n_cat, n_nodes, n_items),
                 rng.integers(n_items + n_cat, n_nodes, n_triples)]
    relation = np.r_[np.zeros(n_items, np.int64), np.ones(n_items, np.int64), rng.integers(2, 2 + n_rel, n_triples)]
    labels = ["Product"] * n_items + ["Category"] * n_cat + ["Entity"] * n_entities
    kg = KnowledgeGraphData(np.asarray(labels, dtype=object),
                            np.asarray([f"n{k}" for k in range(n_nodes)], dtype=object), head, relation, tail,
                            ["IN_CATEGORY", "LINKED_TO"] + [f"film.r{r}" for r in range(n_rel)], n_items)
    inputs = KGBMInputs(kg=kg, text=rng.normal(size=(n_items, DIM)).astype(np.float32),
                        text_present=np.ones(n_items, bool),
                        image=rng.normal(size=(n_items, IMAGE_DIM)).astype(np.float32),
                        image_present=np.ones(n_items, bool))
    return data, inputs


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=42)
    a = ap.parse_args()
    if Path(a.out).exists():
        sys.exit(f"{a.out} exists; remove it first")
    info = build(a.out, a.seed)
    print(f"built {a.out} in {info['seconds']:.1f} s: {info['counts']}")
