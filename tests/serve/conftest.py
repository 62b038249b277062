"""A small real knowledge graph built through the Backend API, and a small personalised model
(item-item co-occurrence, test-only) saved as a real checkpoint."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from kgrec.kg import open_backend
from kgrec.kg.reader import GraphReader
from kgrec.models.base import Recommender, register
from kgrec.models.data.interactions import InteractionData
from kgrec.models.general.popular import MostPopular
from kgrec.models.training.checkpoint import load_checkpoint, save_checkpoint
from kgrec.models.training.trainer import fit
from kgrec.serve.recommend import FusedRecommender


@register
class CoOccurrence(Recommender):
    """Test-only personalised model: score(u, i) = sum over the user's items j of co-counts(j, i)."""

    name = "test_cooccurrence"

    def fit(self, train: InteractionData, valid=None, **kwargs: Any) -> dict:
        self.n_users, self.n_items = train.n_users, train.n_items
        m = train.csr()
        self.user_items = m
        self.co = (m.T @ m).toarray().astype(np.float32)
        np.fill_diagonal(self.co, 0.0)
        return {}

    def score(self, users, items=None):
        s = np.asarray(self.user_items[np.asarray(users)] @ self.co)
        return s if items is None else s[:, np.asarray(items)]

    def state(self):
        return {"user_items": self.user_items, "co": self.co}

    def load_state(self, state):
        self.user_items, self.co = state["user_items"], state["co"]


TITLES = {
    "p1": "Alien", "p2": "Aliens", "p3": "Blade Runner", "p4": "Toy Story", "p5": "Heat",
    "p6": "Jaws", "p7": "Up", "p8": "Fargo", "p9": "Solaris (new, no interactions)",
}
INTERACTIONS = [
    # user, product, timestamp, rating
    ("u1", "p1", 10, 5.0), ("u1", "p2", 20, 4.0),
    ("u2", "p1", 11, 5.0), ("u2", "p2", 12, 4.0), ("u2", "p3", 13, 5.0), ("u2", "p5", 14, 2.0),
    ("u3", "p1", 15, 4.0), ("u3", "p3", 16, 4.0), ("u3", "p4", 17, 3.0),
    ("u4", "p4", 18, 5.0), ("u4", "p7", 19, 5.0), ("u4", "p8", 21, 4.0),
    ("u5", "p4", 22, 4.0), ("u5", "p7", 23, 5.0), ("u5", "p6", 24, 4.0), ("u5", "p8", 25, 3.0),
]


def _emb(*values: float) -> list[float]:
    return list(values)


def build_graph(backend) -> None:
    """Users u1..u5 and a cold user u_cold; products p1..p9 (p9 new: text only); genres, a brand,
    film entities with a shared director and actor, embeddings for the sci-fi cluster."""
    backend.insert_nodes("User", pa.table({"id": ["u1", "u2", "u3", "u4", "u5", "u_cold"]}))
    ids = list(TITLES)
    backend.insert_nodes("Product", pa.table({"id": ids, "title": [TITLES[i] for i in ids]}))
    emb = {
        "p1": _emb(1, 0, 0, 0), "p2": _emb(0.9, 0.1, 0, 0), "p3": _emb(0.7, 0.3, 0, 0),
        "p4": _emb(0, 0, 1, 0), "p7": _emb(0, 0, 0.9, 0.1), "p9": _emb(0.95, 0.05, 0, 0),
    }
    backend.update_nodes("Product", pa.table({"id": list(emb), "text_emb": list(emb.values())}))
    backend.insert_relationships(
        "INTERACTED",
        pa.table({
            "src": [r[0] for r in INTERACTIONS], "dst": [r[1] for r in INTERACTIONS],
            "timestamp": [r[2] for r in INTERACTIONS], "rating": [r[3] for r in INTERACTIONS],
        }),
    )
    backend.insert_nodes(
        "Category", pa.table({"id": ["g:scifi", "g:kids", "g:crime"], "name": ["Sci-Fi", "Children's", "Crime"]})
    )
    backend.insert_relationships(
        "IN_CATEGORY",
        pa.table(
            {
                "src": ["p1", "p2", "p3", "p9", "p4", "p7", "p5", "p8"],
                "dst": ["g:scifi", "g:scifi", "g:scifi", "g:scifi", "g:kids", "g:kids", "g:crime", "g:crime"],
            }
        ),
    )
    backend.insert_nodes("Brand", pa.table({"id": ["b:fox"], "name": ["20th Century Fox"]}))
    backend.insert_relationships("HAS_BRAND", pa.table({"src": ["p1", "p2", "p6"], "dst": ["b:fox", "b:fox", "b:fox"]}))
    backend.insert_nodes("Entity", pa.table({
        "id": ["m.alien", "m.aliens", "m.blade", "m.toy", "m.jaws", "m.scott", "m.weaver"],
        "name": [None, None, None, None, None, "Ridley Scott", "Sigourney Weaver"],
    }))
    backend.insert_relationships("LINKED_TO", pa.table({
        "src": ["p1", "p2", "p3", "p4", "p6"], "dst": ["m.alien", "m.aliens", "m.blade", "m.toy", "m.jaws"],
    }))
    backend.insert_relationships("RELATED_TO", pa.table({
        "src": ["m.alien", "m.blade", "m.alien", "m.aliens"],
        "dst": ["m.scott", "m.scott", "m.weaver", "m.weaver"],
        "relation": ["film.film.directed_by", "film.film.directed_by", "film.film.actor", "film.film.actor"],
    }))
    backend.set_meta("revision", "test-1")


@pytest.fixture
def graph_db(tmp_path):
    path = str(tmp_path / "graph.db")
    with open_backend(path) as b:
        b.init_schema()
        build_graph(b)
    return path


def train_checkpoint(db_path: str, out, model_cls=MostPopular):
    with open_backend(db_path, read_only=True) as b:
        data = InteractionData.from_backend(b)
        snap = b.snapshot_id()
    model = model_cls()
    fit(model, data)
    save_checkpoint(out, model, data.user_ids, data.item_ids, snap)
    return out


@pytest.fixture
def pop_checkpoint(graph_db, tmp_path):
    return train_checkpoint(graph_db, tmp_path / "pop.ckpt")


@pytest.fixture
def cooc_checkpoint(graph_db, tmp_path):
    return train_checkpoint(graph_db, tmp_path / "cooc.ckpt", CoOccurrence)


@pytest.fixture
def recommender(graph_db, cooc_checkpoint):
    reader = GraphReader(graph_db)
    checkpoint = load_checkpoint(cooc_checkpoint, reader.read(lambda b, g: b.snapshot_id()))
    rec = FusedRecommender(reader, checkpoint)
    yield rec
    reader.close()
