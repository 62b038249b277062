"""Every registered model trains, evaluates and round-trips through a checkpoint on a tiny graph;
seeding, early stopping and bad input."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from kgrec.errors import KgrecError
from kgrec.models.base import get_model_class, model_names
from kgrec.models.evaluation.metrics import RANKING_METRICS
from kgrec.models.evaluation.protocol import evaluate
from kgrec.models.training.checkpoint import StaleCheckpoint
from kgrec.models.workflows.pipeline import evaluate_models, load_dataset, load_trained, train_model

# small enough for seconds of CPU; unknown keys are ignored by models that do not use them
TINY = {"epochs": 2, "dim": 8, "kg_dim": 8, "inner": 16, "max_len": 6, "batch_size": 32, "layers": 1, "heads": 1}


def tiny_hparams(name: str) -> dict:
    """The TINY settings a model knows (its defaults plus the shared trainer's keys)."""
    from kgrec.models.trainable import TRAINER_KEYS, TrainableRecommender

    cls = get_model_class(name)
    known = set(cls.defaults) | (set(TRAINER_KEYS) if issubclass(cls, TrainableRecommender) else set())
    return {k: v for k, v in TINY.items() if k in known}


@pytest.mark.parametrize("name", model_names())
def test_every_registered_model_trains_evaluates_and_round_trips(tiny, tmp_path, name):
    ds = load_dataset(tiny)
    result = train_model(ds, name, tiny_hparams(name), seed=3, out=tmp_path / name, progress=False)
    report = evaluate(result.model, ds.split, "test")
    for protocol in ("full", "sampled"):
        assert set(RANKING_METRICS) <= set(report[protocol])
        assert all(0.0 <= report[protocol][k] <= 1.0 for k in RANKING_METRICS)
    if result.model.predicts_rating:
        assert report["full"]["MSE"] >= 0.0
    label, loaded, meta = load_trained(ds, tmp_path / name)
    assert label == name and meta["snapshot_id"] == ds.snapshot_id and meta["config"]["seed"] == 3
    users = np.arange(ds.data.n_users)
    result.model.observe_history(ds.split.train)
    loaded.observe_history(ds.split.train)
    np.testing.assert_allclose(loaded.score(users), result.model.score(users), rtol=1e-5, atol=1e-6)
    assert evaluate(loaded, ds.split, "test") == report


@pytest.mark.parametrize("name", ["lightgcn", "sasrec"])
def test_same_seed_same_metrics(tiny, name):
    ds = load_dataset(tiny)
    runs = [evaluate(train_model(ds, name, TINY, seed=11, progress=False).model, ds.split, "test") for _ in range(2)]
    assert runs[0] == runs[1]
    other = train_model(ds, name, TINY, seed=12, progress=False)
    assert not np.allclose(
        other.model.score(np.arange(4)), train_model(ds, name, TINY, seed=11, progress=False).model.score(np.arange(4))
    )


def test_early_stopping_restores_the_best_epoch(tiny):
    ds = load_dataset(tiny)
    # lr 0: validation never improves after the first evaluation, so training stops after patience
    result = train_model(ds, "bpr", {**TINY, "epochs": 50, "lr": 0.0, "patience": 3}, seed=1, progress=False)
    assert result.history["epochs_run"] == 4
    assert result.history["best_epoch"] == 1
    assert [e for e, _ in result.history["valid"]] == [1, 2, 3, 4]


def test_model_learns_the_taste_groups(tiny):
    """Users like items of their own parity: a trained BPR must beat chance clearly."""
    ds = load_dataset(tiny)
    result = train_model(ds, "bpr", {**TINY, "epochs": 60, "lr": 0.05, "patience": 60}, seed=0, progress=False)
    scores = result.model.score(np.arange(ds.data.n_users))
    parity_users = np.array([int(u[1:]) % 2 for u in ds.data.user_ids])
    parity_items = np.array([int(i[1:]) % 2 for i in ds.data.item_ids])
    same = (parity_users[:, None] == parity_items[None, :])
    assert scores[same].mean() > scores[~same].mean()


def test_bpr_trains_with_l2_regularisation(tiny):
    """reg > 0 adds the per-row L2 term to the loss (it was a NameError once: l2_per_row not imported)."""
    ds = load_dataset(tiny)
    plain = train_model(ds, "bpr", {**TINY, "reg": 0.0}, seed=2, progress=False)
    reg = train_model(ds, "bpr", {**TINY, "reg": 0.1}, seed=2, progress=False)
    assert np.isfinite(reg.model.score(np.arange(4))).all()
    assert not np.allclose(plain.model.score(np.arange(4)), reg.model.score(np.arange(4)))


def test_empty_graph_is_refused_clearly(backend):
    with pytest.raises(KgrecError, match="nothing to train on"):
        load_dataset(backend)


def test_unknown_model_lists_the_choices():
    with pytest.raises(KgrecError, match="choose one of: .*lightgcn"):
        get_model_class("no-such-model")


def test_checkpoint_from_another_graph_is_refused_without_force(tiny, tmp_path):
    ds = load_dataset(tiny)
    train_model(ds, "pop", {}, out=tmp_path / "pop", progress=False)
    tiny.insert_nodes("User", pa.table({"id": ["newcomer"]}))
    changed = load_dataset(tiny)
    with pytest.raises(StaleCheckpoint, match="--force"):
        load_trained(changed, tmp_path / "pop")
    with pytest.warns(UserWarning), pytest.raises(KgrecError, match="other users/products"):
        load_trained(changed, tmp_path / "pop", force=True)


def test_kg_model_without_kg_edges_says_so(backend, tmp_path):
    from tests.models.conftest import build_tiny_graph

    build_tiny_graph(backend, kg=False)
    ds = load_dataset(backend)
    with pytest.raises(KgrecError, match="cke needs knowledge-graph edges"):
        train_model(ds, "cke", TINY, progress=False)


def test_text_model_without_embeddings_says_so(backend):
    from tests.models.conftest import build_tiny_graph

    build_tiny_graph(backend, text=False)
    ds = load_dataset(backend)
    with pytest.raises(KgrecError, match="kgctl embed"):
        train_model(ds, "textknn", {}, progress=False)


def test_evaluate_models_report_shape(tiny):
    ds = load_dataset(tiny)
    models = {n: train_model(ds, n, TINY, progress=False).model for n in ("pop", "textknn")}
    report = evaluate_models(ds, models, ("full",))
    assert list(report) == ["full"] and list(report["full"]) == ["pop", "textknn"]


def test_time_budget_stops_training(tiny):
    ds = load_dataset(tiny)
    result = train_model(ds, "bpr", {**TINY, "epochs": 50, "max_seconds": 1e-9}, seed=1, progress=False)
    assert result.history["epochs_run"] == 1 and result.history["stopped_by_time"]


def test_rating_model_stops_on_validation_mse(tiny):
    ds = load_dataset(tiny)
    result = train_model(ds, "biasmf", {**TINY, "epochs": 3}, seed=1, progress=False)
    assert result.history["valid_metric"] == "MSE"
    best = min(v for _, v in result.history["valid"])
    assert result.history["best_valid"] == best
