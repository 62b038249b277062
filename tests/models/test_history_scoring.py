"""Scoring users from a history given at request time (``Recommender.score_histories``): SASRec,
BERT4Rec and TextKNN, trained for a few epochs on the tiny graph. The stored history gives the
same scores as ``score``; a longer history changes them; the stored one is never touched; a user
the model never saw is scored from the history alone."""

from __future__ import annotations

import numpy as np
import pytest

from kgrec.errors import KgrecError
from kgrec.models.base import get_model_class
from kgrec.models.data.interactions import InteractionData
from kgrec.models.workflows.pipeline import load_dataset, load_trained, train_model

HISTORY_MODELS = ("sasrec", "bert4rec", "textknn")
TINY = {"epochs": 3, "dim": 8, "inner": 16, "max_len": 4, "batch_size": 32, "layers": 1, "heads": 1}


def _hparams(name: str) -> dict:
    return TINY if name != "textknn" else {"recent": 0}  # the mean of the whole history


@pytest.fixture(params=HISTORY_MODELS)
def trained(request, tiny, tmp_path, one_torch_thread):
    ds = load_dataset(tiny)
    result = train_model(ds, request.param, _hparams(request.param), seed=7, out=tmp_path / "ck", progress=False)
    return ds, result


def test_the_stored_history_gives_the_scores_of_score(trained):
    ds, result = trained
    model = result.model
    assert type(model).uses_history
    users = np.arange(ds.data.n_users)
    model.observe_history(ds.split.train)
    np.testing.assert_array_equal(model.score_histories(ds.split.train.sequences(), users), model.score(users))
    # the same after a round trip through the checkpoint
    _, loaded, _ = load_trained(ds, result.checkpoint)
    np.testing.assert_array_equal(loaded.score_histories(ds.split.train.sequences(), users), model.score(users))


def test_a_longer_history_changes_the_scores_and_the_stored_one_stays(trained):
    ds, result = trained
    model = result.model
    users = np.arange(ds.data.n_users)
    model.observe_history(ds.split.train)
    stored = model.score(users)
    live_data = InteractionData.concat(ds.split.train, ds.split.valid)
    live = model.score_histories(live_data.sequences(), users)
    gained = np.isin(users, ds.split.valid.user)
    assert gained.all()  # every tiny user has a validation item
    assert all(not np.allclose(live[u], stored[u]) for u in users[gained])
    np.testing.assert_array_equal(model.score(users), stored)  # score_histories left the stored history alone
    # the live history scores what the evaluation's test phase scores (history = train + validation)
    model.observe_history(live_data)
    np.testing.assert_array_equal(model.score(users), live)


def test_a_history_is_cut_to_the_models_length(trained):
    ds, result = trained
    model = result.model
    if model.name == "textknn":
        model.hparams["recent"] = 3  # the profile of the last 3 items with text
    keep = int(model.hparams.get("max_len") or model.hparams["recent"])
    history = ds.split.train.sequences()[0]
    longer = np.concatenate([np.setdiff1d(np.arange(ds.data.n_items), history)[:5], history])
    assert len(history) >= keep
    np.testing.assert_array_equal(model.score_histories([longer]), model.score_histories([history]))


def test_a_user_the_model_never_saw_is_scored_from_the_history(trained):
    ds, result = trained
    model = result.model
    history = ds.split.train.sequences()[3]
    new_user = model.score_histories([history], np.array([-1]))
    np.testing.assert_array_equal(new_user, model.score_histories([history], np.array([3])))
    np.testing.assert_array_equal(new_user, model.score_histories([history]))
    np.testing.assert_allclose(new_user[0], model.score(np.arange(ds.data.n_users))[3], rtol=1e-5, atol=1e-6)
    assert new_user.shape == (1, ds.data.n_items) and np.isfinite(new_user).all()
    # the model uses the history: a user of the other taste group gets other scores
    assert not np.allclose(new_user, model.score_histories([ds.split.train.sequences()[4]], np.array([-1])))


def test_bad_histories_are_refused_clearly(trained):
    ds, result = trained
    model = result.model
    with pytest.raises(KgrecError, match="item index 24, outside the model's 24 products"):
        model.score_histories([np.array([1, 24])])
    with pytest.raises(KgrecError, match="2 histories but 1 users"):
        model.score_histories([np.array([1]), np.array([2])], np.array([0]))
    assert model.score_histories([]).shape == (0, ds.data.n_items)


def test_models_without_a_history_say_so():
    model = get_model_class("bpr")()
    assert not type(model).uses_history
    with pytest.raises(NotImplementedError, match="bpr does not score users from a history"):
        model.score_histories([np.array([0])])
