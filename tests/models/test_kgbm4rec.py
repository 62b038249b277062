"""KGBM4Rec on a tiny real embedded graph: training, modality switches, the database-sampled vs
full-graph GNN paths, persistence and determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.loader import NodeLoader

from kgrec.errors import KgrecError
from kgrec.kg.pyg_store import CypherNeighborSampler, remote_backend
from kgrec.models.base import get_model_class
from kgrec.models.data.interactions import InteractionData
from kgrec.models.data.split import temporal_leave_one_out
from kgrec.models.kgbm4rec import KGBM4Rec
from kgrec.models.kgbm4rec.inputs import KGBMInputs
from kgrec.models.training.checkpoint import load_checkpoint, save_checkpoint
from kgrec.models.training.trainer import fit
from tests.models._kgbm_graph import N_ITEMS, SMALL_KGBM, build_tiny_graph, item_category

SMALL = SMALL_KGBM


@pytest.fixture
def tiny(backend):
    build_tiny_graph(backend)
    data = InteractionData.from_backend(backend)
    split = temporal_leave_one_out(data)
    inputs = KGBMInputs.from_backend(backend, data.item_ids)
    return backend, data, split, inputs


def test_registered():
    assert get_model_class("kgbm4rec") is KGBM4Rec
    assert KGBM4Rec.predicts_rating


@pytest.mark.parametrize("objective", ["cloze", "next"])
def test_trains_and_loss_falls(tiny, objective):
    _, data, split, inputs = tiny
    model = KGBM4Rec(epochs=8, seq_objective=objective, **SMALL)
    history = fit(model, split.train, split.valid, inputs=inputs)
    assert history["loss"][-1] < history["loss"][0]
    scores = model.score(np.arange(data.n_users))
    assert scores.shape == (data.n_users, data.n_items) and np.isfinite(scores).all()
    ratings = model.predict_rating(split.test.user, split.test.item)
    assert ratings.shape == (len(split.test),) and ((ratings >= 1) & (ratings <= 5)).all()
    like = model.predict_like(split.test.user, split.test.item)
    assert ((like > 0) & (like < 1)).all()
    assert [epoch for epoch, _ in history["valid"]] == list(range(1, 9))
    assert 1 <= history["best_epoch"] <= 8 and history["epochs_run"] == 8


def test_training_windows_cover_every_interaction(tiny):
    _, data, split, inputs = tiny
    for objective in ("cloze", "next"):
        model = KGBM4Rec(epochs=1, seq_objective=objective, **{**SMALL, "max_len": 3})
        fit(model, split.train, inputs=inputs)
        batches = model.batches(split.train, np.random.default_rng(0))
        tokens = torch.cat([b[0] for b in batches])
        targets = torch.cat([b[1] for b in batches])
        users = torch.cat([b[3] for b in batches])
        if objective == "next":
            # every interaction but each user's first is a next-item target exactly once
            assert int((targets > 0).sum()) == len(split.train) - len(np.unique(split.train.user))
            assert torch.equal(tokens[:, 1:][targets[:, :-1] > 0], targets[:, :-1][targets[:, :-1] > 0])
        else:
            real = model._win_items > 0
            assert int(real.sum()) == len(split.train)  # the windows hold every training interaction once
            assert ((targets > 0).sum(1) >= 1).all()  # every window has a masked item
            masked = targets > 0
            assert (tokens[masked] == data.n_items + 1).all()  # masked inputs are [MASK]
        for row in range(len(users)):  # a window's items are its user's
            items = (targets[row][targets[row] > 0] - 1).numpy()
            assert set(items) <= set(split.train.item[split.train.user == int(users[row])])


def test_modalities_switch_off_and_are_reported(tiny, capsys):
    _, data, split, inputs = tiny
    model = KGBM4Rec(epochs=1, **{**SMALL, "verbose": True})
    history = fit(model, split.train, inputs=inputs)
    assert history["modalities"] == {"kg": "on", "sequence": "on", "text": "on",
                                     "image": "off (no Product.image_emb in the graph; run `kgctl embed`)"}
    assert "modalities used: kg, sequence, text; off: image" in capsys.readouterr().err
    assert model.net.text is not None and model.net.image is None and model.net.gnn is not None

    for switch, modality in [("no_kg", "kg"), ("no_seq", "sequence"), ("no_text", "text")]:
        m = KGBM4Rec(epochs=1, **{**SMALL, switch: True})
        h = fit(m, split.train, inputs=inputs)
        assert h["modalities"][modality] == f"off ({switch})"
        assert np.isfinite(m.score(np.arange(3))).all()
    m = KGBM4Rec(epochs=1, no_kg=True, no_seq=True, no_text=True, **SMALL)
    fit(m, split.train, inputs=inputs)
    assert m.net.gnn is None and not m.net.use_seq and m.net.text is None

    # a data set without text or a KG: those branches are off, the model still trains
    bare = KGBM4Rec(epochs=1, **SMALL)
    h = fit(bare, split.train, inputs=KGBMInputs())
    assert h["modalities"]["text"].startswith("off (no Product.text_emb")
    assert h["modalities"]["kg"].startswith("on (interaction graph only")


@pytest.mark.parametrize("conv,min_degree", [("compgcn", 1), ("rgcn", 2)])
def test_database_sampled_subgraph_matches_full_graph(tiny, conv, min_degree):
    backend, data, split, inputs = tiny
    model = KGBM4Rec(epochs=2, gnn_layers=2, conv=conv, kg_min_degree=min_degree, **SMALL)
    fit(model, split.train, inputs=inputs)
    assert (("Entity", "e_leaf") in model.ckg.node_index()) == (min_degree == 1)
    full = model.gnn_full()
    fs, gs = remote_backend(backend, exclude=["INTERACTED"])
    # interactions come from the training split, never from the database (which holds the test items)
    users = torch.from_numpy(gs.index.lookup("User", data.user_ids[split.train.user].astype(str)))
    items = torch.from_numpy(gs.index.lookup("Product", data.item_ids[split.train.item].astype(str)))
    pairs = torch.unique(torch.stack([users, items]), dim=1)  # the model's graph counts a repeated interaction once
    gs.put_edges(("User", "INTERACTED", "Product"), pairs)
    key_to_global = model.ckg.node_index()
    sizes = []
    for label, n in (("Product", 6), ("User", 5), ("Entity", 4)):
        sampler = CypherNeighborSampler(gs, [-1, -1])  # fan-out covers every neighbour, as many hops as layers
        loader = NodeLoader((fs, gs), node_sampler=sampler, input_nodes=(label, torch.arange(n)), batch_size=n)
        batch = next(iter(loader))
        sampled, node_ids, positions = model.gnn_sampled(batch, gs.index)
        seeds = positions[label][:n]
        seed_ids = gs.index.id_of(label, np.arange(n)).to_pylist()
        expected = full[[key_to_global[(label, i)] for i in seed_ids]]
        sizes.append(sampled.shape[0])
        torch.testing.assert_close(sampled[seeds], expected, rtol=1e-5, atol=1e-6)
    assert min(sizes) < full.shape[0]  # real subgraphs, not the whole graph


def test_save_load_round_trip_gives_identical_scores(tiny, tmp_path):
    _, data, split, inputs = tiny
    model = KGBM4Rec(epochs=2, **SMALL)
    fit(model, split.train, inputs=inputs)
    path = save_checkpoint(tmp_path / "ckpt", model, data.user_ids, data.item_ids, data.snapshot_id)
    loaded = load_checkpoint(path, data.snapshot_id).model
    users = np.arange(data.n_users)
    np.testing.assert_array_equal(model.score(users), loaded.score(users))
    np.testing.assert_array_equal(model.predict_rating(split.test.user, split.test.item),
                                  loaded.predict_rating(split.test.user, split.test.item))
    assert loaded.modalities == model.modalities


def test_popularity_gate_reads_each_items_training_count_and_round_trips(tiny, tmp_path):
    from kgrec.models.kgbm4rec.model import item_popularity

    _, data, split, inputs = tiny
    model = KGBM4Rec(epochs=2, popularity_gate=True, **SMALL)
    fit(model, split.train, inputs=inputs)
    counts = np.bincount(split.train.item, minlength=data.n_items)
    popularity = model._features["popularity"].numpy()
    assert popularity.shape == (data.n_items,) and abs(popularity.mean()) < 1e-5 and abs(popularity.std() - 1) < 1e-4
    order = np.argsort(counts, kind="stable")
    assert (np.diff(popularity[order]) >= 0).all()  # more training interactions, higher popularity
    assert model.net.text.popularity.abs().sum() > 0  # learnt
    path = save_checkpoint(tmp_path / "ckpt", model, data.user_ids, data.item_ids, data.snapshot_id)
    loaded = load_checkpoint(path, data.snapshot_id).model
    users = np.arange(data.n_users)
    np.testing.assert_array_equal(model.score(users), loaded.score(users))
    same = data.subset(data.item < 0)  # no interactions: every count 0, nothing to standardise
    assert (item_popularity(same) == 0).all()


def test_same_seed_same_numbers(tiny):
    _, data, split, inputs = tiny
    runs = []
    for _ in range(2):
        m = KGBM4Rec(epochs=2, seed=7, **SMALL)
        h = fit(m, split.train, split.valid, inputs=inputs)
        runs.append((h["loss"], m.score(np.arange(data.n_users))))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    other = KGBM4Rec(epochs=2, seed=8, **SMALL)
    fit(other, split.train, split.valid, inputs=inputs)
    assert not np.array_equal(other.score(np.arange(data.n_users)), runs[0][1])


def test_observe_history_changes_sequence_input(tiny):
    _, data, split, inputs = tiny
    model = KGBM4Rec(epochs=1, **SMALL)
    fit(model, split.train, inputs=inputs)
    before = model.score(split.valid.user)
    known = InteractionData(data.user_ids, data.item_ids,
                            *(np.r_[getattr(split.train, f), getattr(split.valid, f)]
                              for f in ("user", "item", "timestamp", "rating")))
    order = np.lexsort((known.item, known.timestamp, known.user))
    model.observe_history(known.subset(order))
    assert not np.allclose(before, model.score(split.valid.user))


# ---------------------------------------------------------------------- category head
HIDDEN = (15, 16, 17)  # items without text, loaded without their IN_CATEGORY edge (one per category)
PICTURED = {15: 1, 16: 2, 17: 0}  # their images show another category than their true one (item % 3)


def _item_index(data, item: int) -> int:
    return list(data.item_ids).index(f"p{item:02d}")


def test_category_head_is_off_by_default_and_adds_nothing(tiny, tmp_path):
    _, data, split, inputs = tiny
    model = KGBM4Rec(epochs=1, **SMALL)
    history = fit(model, split.train, inputs=inputs)
    assert model.net.category_head is None and "category_head" not in history
    assert not any(k.startswith("category") for k in model.net.state_dict())
    with pytest.raises(KgrecError, match="no category head"):
        model.predict_category(np.arange(3))
    # a checkpoint written before the head existed (no category keys in its state) still loads
    state = model.state()
    for key in ("category_ids", "category_logits"):
        state.pop(key)
    state["config"] = {k: v for k, v in state["config"].items() if k not in ("n_categories", "category_weight")}
    old = KGBM4Rec(**SMALL)
    old.n_users, old.n_items = model.n_users, model.n_items
    old.load_state(state)
    np.testing.assert_array_equal(old.score(np.arange(3)), model.score(np.arange(3)))


def test_category_head_predicts_held_out_items_from_their_images(backend, tmp_path):
    build_tiny_graph(backend, image=True, hide_categories=HIDDEN, image_category=PICTURED)
    data = InteractionData.from_backend(backend)
    split = temporal_leave_one_out(data)
    inputs = KGBMInputs.from_backend(backend, data.item_ids)
    hidden = np.asarray([_item_index(data, i) for i in HIDDEN])
    labelled = np.asarray([_item_index(data, i) for i in range(N_ITEMS) if i not in HIDDEN])
    categories, target = inputs.item_categories(data.n_items)
    assert list(categories) == ["c0", "c1", "c2"]
    assert not target[hidden].any()  # nothing about the held-out items' categories reaches training
    np.testing.assert_allclose(target[labelled].sum(1), 1.0)

    model = KGBM4Rec(epochs=40, category_weight=1.0, no_text=True, **SMALL)
    history = fit(model, split.train, inputs=inputs)
    assert history["category_head"] == "on (3 categories, 17 of 20 items labelled by IN_CATEGORY)"
    assert history["modalities"]["image"] == "on" and history["modalities"]["kg"] == "on"
    predicted, probabilities = model.predict_category(labelled)
    truth = [f"c{item_category(i)}" for i in range(N_ITEMS) if i not in HIDDEN]
    assert np.mean(predicted == np.asarray(truth, dtype=object)) >= 0.9
    assert probabilities.shape == (len(labelled), 3)
    np.testing.assert_allclose(probabilities.sum(1), 1.0, rtol=1e-5)
    # held-out items: the CF signal says their true category, their images another one; the head follows the image
    predicted, _ = model.predict_category(hidden)
    assert list(predicted) == [f"c{PICTURED[i]}" for i in HIDDEN]

    path = save_checkpoint(tmp_path / "ckpt", model, data.user_ids, data.item_ids, data.snapshot_id)
    loaded = load_checkpoint(path, data.snapshot_id).model
    np.testing.assert_array_equal(loaded.predict_category(hidden)[1], model.predict_category(hidden)[1])

    # without the image branch nothing carries the pictured categories
    blind = KGBM4Rec(epochs=40, category_weight=1.0, no_text=True, no_image=True, **SMALL)
    fit(blind, split.train, inputs=inputs)
    assert list(blind.predict_category(hidden)[0]) != [f"c{PICTURED[i]}" for i in HIDDEN]


@pytest.mark.parametrize("sampler", ["popularity", "uniform"])
def test_sampled_softmax_trains(tiny, sampler):
    _, data, split, inputs = tiny
    model = KGBM4Rec(epochs=6, num_negatives=6, negative_sampler=sampler, **SMALL)
    history = fit(model, split.train, split.valid, inputs=inputs)
    assert history["loss"][-1] < history["loss"][0]
    negatives = model.batches(split.train, np.random.default_rng(0))[0][-1]
    assert len(negatives) == 6 and int(negatives.max()) < data.n_items
    if sampler == "uniform":
        assert len(set(negatives.tolist())) == 6  # drawn without replacement
    assert ("negative_log_kq" in model._features) == (sampler == "popularity")
    with pytest.raises(KgrecError, match="negative_sampler"):
        KGBM4Rec(negative_sampler="nearest")
