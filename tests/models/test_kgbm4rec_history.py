"""KGBM4Rec scores users from a given history (``score_histories``): what the server passes from
the graph at request time, for known users and users created after training."""

from __future__ import annotations

import numpy as np
import pytest

from kgrec.models.data.interactions import InteractionData
from kgrec.models.data.split import temporal_leave_one_out
from kgrec.models.kgbm4rec import KGBM4Rec
from kgrec.models.kgbm4rec.inputs import KGBMInputs
from kgrec.models.training.trainer import fit
from tests.models._kgbm_graph import SMALL_KGBM, build_tiny_graph

SMALL = {**SMALL_KGBM, "epochs": 3}


@pytest.fixture
def trained(backend, request):
    build_tiny_graph(backend)
    data = InteractionData.from_backend(backend)
    split = temporal_leave_one_out(data)
    model = KGBM4Rec(**SMALL, seq_objective=request.param)
    fit(model, split.train, inputs=KGBMInputs.from_backend(backend, data.item_ids))
    return model, split


@pytest.mark.parametrize("trained", ["next", "cloze"], indirect=True)
def test_score_histories_equals_score_for_the_stored_history_and_follows_new_items(trained):
    model, split = trained
    assert model.uses_history
    users = np.arange(split.train.n_users)
    histories = split.train.sequences()
    np.testing.assert_allclose(model.score_histories(histories, users), model.score(users), rtol=1e-5, atol=1e-5)
    # a longer history (the validation item appended, as the graph holds it after training) changes the scores
    grown = InteractionData.concat(split.train, split.valid).sequences()
    changed = model.score_histories(grown, users)
    assert not np.allclose(changed, model.score(users))
    model.observe_history(InteractionData.concat(split.train, split.valid))
    np.testing.assert_allclose(changed, model.score(users), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("trained", ["next"], indirect=True)
def test_a_user_never_seen_is_scored_from_the_history_alone(trained):
    model, split = trained
    history = split.train.sequences()[0]
    new = model.score_histories([history], np.asarray([-1]))
    assert new.shape == (1, model.n_items) and np.isfinite(new).all()
    np.testing.assert_allclose(model.score_histories([history]), new)  # no users: all new
    known = model.score_histories([history], np.asarray([0]))
    assert not np.allclose(new, known)  # the known user also has the per-user GNN term
    other = model.score_histories([history[:1]], np.asarray([-1]))
    assert not np.allclose(new, other)  # the history drives a new user's scores
