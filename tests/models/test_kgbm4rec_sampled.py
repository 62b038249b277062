"""KGBM4Rec's GNN trained on subgraphs sampled through Cypher (gnn_sampler=cypher), on a tiny
real embedded database: the same loss and gradients as the full-graph path when the fan-out
covers every neighbour, end-to-end training, evaluation and a checkpoint without the full graph,
prefetching and DDP."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kgrec.errors import KgrecError
from kgrec.kg import open_backend
from kgrec.models.data.interactions import InteractionData
from kgrec.models.data.split import temporal_leave_one_out
from kgrec.models.evaluation.protocol import evaluate
from kgrec.models.kgbm4rec import KGBM4Rec
from kgrec.models.kgbm4rec.inputs import KGBMInputs
from kgrec.models.kgbm4rec.sampling import SampledGraphSource
from kgrec.models.training.trainer import fit
from kgrec.models.workflows.pipeline import load_dataset, load_trained, train_model
from tests.models._kgbm_graph import SMALL_KGBM, build_tiny_graph

SMALL = {**SMALL_KGBM, "attn_dropout": 0.0}  # no dropout anywhere: the two paths must agree exactly


@pytest.fixture
def tiny(backend):
    build_tiny_graph(backend)
    data = InteractionData.from_backend(backend)
    split = temporal_leave_one_out(data)
    return backend, data, split


def _copy_weights(full: KGBM4Rec, sampled: KGBM4Rec, source: SampledGraphSource) -> None:
    """Give the sampled model the full model's weights: GNN embedding rows matched by (label, id),
    relation parameters by relation name, everything else as is."""
    state = {k: v.clone() for k, v in full.net.state_dict().items()}
    target = sampled.net.state_dict()
    ckg = full.ckg
    full_rel = ckg.relation_index()
    perm = {full_rel[name]: r for name, r in source.relation_index.items()}
    for key, value in state.items():
        if key == "gnn.embedding.weight":
            out = target[key].clone()
            for n, (label, node_id) in enumerate(zip(ckg.node_labels, ckg.node_ids)):
                out[int(source.rows.rows(str(label), [str(node_id)])[0])] = value[n]
            state[key] = out
        elif key.endswith((".relation", ".coefficients")):
            out = torch.empty_like(value)
            for f, s in perm.items():
                out[s] = value[f]
            state[key] = out
    sampled.net.load_state_dict(state)


@pytest.mark.parametrize("conv,min_degree,negatives", [("compgcn", 1, 0), ("rgcn", 2, 6), ("compgcn", 2, 0)])
def test_sampled_and_full_paths_give_the_same_loss_and_gradients(tiny, conv, min_degree, negatives):
    backend, data, split = tiny
    hp = dict(SMALL, epochs=1, conv=conv, kg_min_degree=min_degree, num_negatives=negatives, gnn_layers=2)
    inputs = KGBMInputs.from_backend(backend, data.item_ids)
    full = KGBM4Rec(**hp)
    fit(full, split.train, inputs=inputs)
    sampled = KGBM4Rec(**hp, gnn_sampler="cypher", fanout="-1,-1", entity_buckets=0)
    fit(sampled, split.train, backend=backend)
    assert sampled.ckg is None and full.ckg is not None  # the sampled model never built the full graph
    source = SampledGraphSource(backend, split.train, fanout=[-1, -1], min_degree=min_degree, entity_buckets=0, seed=0)
    _copy_weights(full, sampled, source)
    # the data the full path reads (structure, frozen features) and the sampled one (features only)
    full.net.attach(full._structure, full._features)
    sampled.net.attach(None, full._features)
    full.net.train(), sampled.net.train()
    batches = full.batches(split.train, np.random.default_rng(3))
    sizes = []
    for batch in batches[:3]:
        sub = source.sample(*sampled.batch_seeds(*batch))
        sizes.append(sub.n_nodes)
        losses, grads = [], []
        for net, extra in ((full.net, ()), (sampled.net, (sub,))):
            net.zero_grad()
            loss = net(*batch, *extra)
            loss.backward()
            losses.append(loss.detach())
            grads.append({k: p.grad.clone() for k, p in net.named_parameters() if p.grad is not None})
        torch.testing.assert_close(losses[1], losses[0], rtol=1e-5, atol=1e-6)
        g_full, g_sampled = grads
        assert set(g_sampled) == set(g_full)
        for key, g in g_full.items():
            if key == "gnn.embedding.weight":
                for n, (label, node_id) in enumerate(zip(full.ckg.node_labels, full.ckg.node_ids)):
                    row = int(source.rows.rows(str(label), [str(node_id)])[0])
                    torch.testing.assert_close(g_sampled[key][row], g[n], rtol=1e-4, atol=1e-6)
            elif key.endswith((".relation", ".coefficients")):
                for name, r in full.ckg.relation_index().items():
                    torch.testing.assert_close(g_sampled[key][source.relation_index[name]], g[r], rtol=1e-4, atol=1e-6)
            else:
                torch.testing.assert_close(g_sampled[key], g, rtol=1e-4, atol=1e-6, msg=key)
    assert min(sizes) > 0


def test_cypher_sampler_trains_evaluates_and_saves_without_the_full_graph(tiny, tmp_path):
    backend, _data, _split = tiny
    ds = load_dataset(backend)
    hp = dict(SMALL, epochs=4, gnn_sampler="cypher", fanout="3,2")
    result = train_model(ds, "kgbm4rec", hp, seed=4, out=tmp_path / "ck", progress=False)
    model = result.model
    assert model.ckg is None and model._structure is None and model._source is None  # no graph held after training
    assert result.history["modalities"]["kg"] == "on"
    assert len(result.history["sampling"]) == 4 and all(s["batches"] > 0 for s in result.history["sampling"])
    assert result.history["loss"][-1] < result.history["loss"][0]
    _, loaded, meta = load_trained(ds, tmp_path / "ck")
    assert meta["config"]["hparams"]["gnn_sampler"] == "cypher"
    users = np.arange(ds.data.n_users)
    np.testing.assert_allclose(loaded.score(users), model.score(users), rtol=1e-5, atol=1e-5)
    out = evaluate(loaded, ds.split, "test", protocols=("full",))["full"]
    assert 0.0 <= out["NDCG@10"] <= 1.0


def test_prefetch_does_not_change_the_numbers_and_hashed_rows_train(tiny):
    backend, data, split = tiny
    losses = []
    for prefetch in (True, False):
        m = KGBM4Rec(**dict(SMALL, epochs=2, gnn_sampler="cypher", fanout="4,3", prefetch=prefetch))
        losses.append(fit(m, split.train, backend=backend)["loss"])
    assert losses[0] == losses[1]
    hashed = KGBM4Rec(**dict(SMALL, epochs=2, gnn_sampler="cypher", entity_buckets=16))
    h = fit(hashed, split.train, split.valid, backend=backend)
    assert hashed.net.gnn.embedding.num_embeddings == data.n_items + data.n_users + 16
    assert np.isfinite(h["loss"]).all()


def test_sampled_training_refuses_bad_settings(tiny):
    _backend, _data, split = tiny
    with pytest.raises(KgrecError, match="fanout"):
        KGBM4Rec(gnn_sampler="cypher", fanout="15", gnn_layers=2)
    with pytest.raises(KgrecError, match="gnn_sampler"):
        KGBM4Rec(gnn_sampler="neighbours")
    with pytest.raises(KgrecError, match="graph store"):
        fit(KGBM4Rec(**dict(SMALL, epochs=1, gnn_sampler="cypher")), split.train, inputs=KGBMInputs())


def test_sampled_training_with_two_processes(backend, tmp_path):
    """--nproc 2: each rank opens the database read-only and samples its own batches."""
    build_tiny_graph(backend)
    path = backend.path
    backend.close()
    with open_backend(str(path), read_only=True) as ro:
        ds = load_dataset(ro)
        hp = dict(SMALL, epochs=2, gnn_sampler="cypher", fanout="4,3", num_negatives=5)
        result = train_model(ds, "kgbm4rec", hp, seed=5, out=tmp_path / "ddp", nproc=2, progress=False)
        assert result.history["epochs_run"] == 2
        _, model, meta = load_trained(ds, tmp_path / "ddp")
        assert meta["config"]["nproc"] == 2 and model.modalities["kg"] == "on"
        assert np.isfinite(model.score(np.arange(ds.data.n_users))).all()
