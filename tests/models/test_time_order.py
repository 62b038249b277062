"""Per-user time order of InteractionData: (timestamp, ingest seq, item), in from_backend's sort,
subset and concat, with the item as the tie-breaker only where seq is missing."""

from __future__ import annotations

import dataclasses

import numpy as np

from kgrec.models.data.interactions import NO_SEQ, InteractionData, time_order
from kgrec.models.data.split import temporal_leave_one_out


def _data(seq):
    # one user, items 3, 1, 2 all at t=5 (ingested in that order), then item 0 at t=1
    user, item, ts = np.zeros(4, np.int64), np.array([3, 1, 2, 0]), np.array([5, 5, 5, 1])
    order = time_order(user, ts, item, seq)
    return InteractionData(np.array(["u"], object), np.array(list("abcd"), object), user[order], item[order], ts[order],
                           np.full(4, np.nan, np.float32), seq=None if seq is None else seq[order])


def test_ties_keep_the_ingest_order_and_fall_back_to_the_item():
    assert _data(np.array([10, 11, 12, 13])).item.tolist() == [0, 3, 1, 2]
    assert _data(None).item.tolist() == [0, 1, 2, 3]
    # rows without a number come after their numbered ties, then by item
    assert _data(np.array([NO_SEQ, 11, NO_SEQ, 13])).item.tolist() == [0, 1, 2, 3]
    assert _data(np.array([10, NO_SEQ, 12, 13])).item.tolist() == [0, 3, 2, 1]


def test_split_and_concat_carry_seq():
    data = _data(np.array([10, 11, 12, 13]))
    split = temporal_leave_one_out(data)
    assert split.test.item.tolist() == [2] and split.valid.item.tolist() == [1]
    assert split.test.seq.tolist() == [12]
    whole = InteractionData.concat(split.valid, split.test, split.train)
    assert whole.item.tolist() == data.item.tolist() and whole.seq.tolist() == data.seq.tolist()
    # a part without seq: ties go by item, as before seq existed
    bare = InteractionData.concat(split.valid, split.test, dataclasses.replace(split.train, seq=None))
    assert bare.seq is None and bare.item.tolist() == [0, 1, 2, 3]
