"""DDP with two CPU processes (gloo) on the tiny graph."""

from __future__ import annotations

import numpy as np

from kgrec.models.evaluation.protocol import evaluate
from kgrec.models.workflows.pipeline import load_dataset, load_trained, train_model

TINY = {"epochs": 2, "dim": 8, "batch_size": 16, "layers": 1}


def test_two_process_ddp_trains_and_writes_one_checkpoint(tiny, tmp_path):
    ds = load_dataset(tiny)
    result = train_model(ds, "lightgcn", TINY, seed=5, out=tmp_path / "ddp", nproc=2, progress=False)
    assert result.checkpoint == tmp_path / "ddp"
    assert result.history["epochs_run"] == 2 and len(result.history["loss"]) == 2
    _, model, meta = load_trained(ds, tmp_path / "ddp")
    assert meta["config"]["nproc"] == 2
    out = evaluate(model, ds.split, "test", protocols=("full",))["full"]
    assert 0.0 <= out["NDCG@10"] <= 1.0
    # the checkpoint is rank 0's model; DDP kept the replicas identical, so it differs from an
    # untrained model and scores every user
    assert np.isfinite(model.score(np.arange(ds.data.n_users))).all()


def test_kgbm4rec_trains_with_two_processes(backend, tmp_path):
    """KGBM4Rec runs in the shared Trainer, so --nproc 2 works for it too (KG + text branches on),
    also with the GNN skipped on some steps (gnn_every: DDP told of the unused weights) and the
    sampled softmax."""
    from tests.models._kgbm_graph import build_tiny_graph

    build_tiny_graph(backend)
    ds = load_dataset(backend)
    hp = {"epochs": 2, "dim": 8, "max_len": 6, "n_layers": 1, "n_heads": 2, "batch_size": 2, "verbose": False,
          "gnn_every": 2, "num_negatives": 5}
    result = train_model(ds, "kgbm4rec", hp, seed=5, out=tmp_path / "ddp-kgbm", nproc=2, progress=False)
    assert result.history["epochs_run"] == 2
    _, model, meta = load_trained(ds, tmp_path / "ddp-kgbm")
    assert meta["config"]["nproc"] == 2 and model.modalities["kg"] == "on" and model.modalities["text"] == "on"
    assert np.isfinite(model.score(np.arange(ds.data.n_users))).all()
