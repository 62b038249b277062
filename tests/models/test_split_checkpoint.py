"""Temporal leave-one-out split and checkpoint round trips."""

from __future__ import annotations

import numpy as np
import pytest

from kgrec.models.data.interactions import InteractionData
from kgrec.models.data.split import temporal_leave_one_out
from kgrec.models.general.popular import MostPopular
from kgrec.models.training.checkpoint import StaleCheckpoint, load_checkpoint, save_checkpoint


def _data():
    # user 0: items 0,1,2,3 at t=1..4; user 1: items 2,0 (too short to evaluate); user 2: 1,3,0
    user = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2])
    item = np.array([0, 1, 2, 3, 2, 0, 1, 3, 0])
    ts = np.array([1, 2, 3, 4, 1, 2, 5, 6, 7])
    return InteractionData(
        np.array(["a", "b", "c"], object), np.array(["w", "x", "y", "z"], object), user, item, ts,
        np.full(9, np.nan, np.float32),
    )


def test_leave_one_out_by_hand():
    s = temporal_leave_one_out(_data())
    assert list(zip(s.test.user, s.test.item)) == [(0, 3), (2, 0)]
    assert list(zip(s.valid.user, s.valid.item)) == [(0, 2), (2, 3)]
    assert list(zip(s.train.user, s.train.item)) == [(0, 0), (0, 1), (1, 2), (1, 0), (2, 1)]
    # no test or validation interaction is in training
    train_pairs = set(zip(s.train.user, s.train.item, s.train.timestamp))
    for part in (s.valid, s.test):
        assert not train_pairs & set(zip(part.user, part.item, part.timestamp))


def test_checkpoint_round_trip_and_stale_refusal(tmp_path):
    d = _data()
    m = MostPopular()
    m.fit(d)
    save_checkpoint(tmp_path / "ck", m, d.user_ids, d.item_ids, snapshot_id="s1")
    ck = load_checkpoint(tmp_path / "ck", "s1")
    assert ck.item_ids.tolist() == ["w", "x", "y", "z"]
    assert ck.model.recommend(0, 2)[0].tolist() == m.recommend(0, 2)[0].tolist()
    with pytest.raises(StaleCheckpoint, match="--force"):
        load_checkpoint(tmp_path / "ck", "s2")
    with pytest.warns(UserWarning):
        load_checkpoint(tmp_path / "ck", "s2", force=True)
    save_checkpoint(tmp_path / "ck", m, d.user_ids, d.item_ids, snapshot_id="s3")  # overwrite in place
    assert load_checkpoint(tmp_path / "ck").meta["snapshot_id"] == "s3"
