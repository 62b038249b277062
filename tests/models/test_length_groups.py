"""Inference encodes history rows in groups of similar length, each cut to its longest row
(``kgrec.models.nn.transformer.by_length``): the groups cover every row once and cut only
padding, and SASRec, BERT4Rec and KGBM4Rec score every user as the uncut matrix does (trained on
the tiny graph with a ``max_len`` longer than its histories, two rows per group)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kgrec.models.nn import transformer
from kgrec.models.nn.transformer import by_length, read_out
from kgrec.models.workflows.pipeline import load_dataset, train_model
from tests.models._kgbm_graph import SMALL_KGBM

SEQUENCE = {"epochs": 2, "dim": 8, "inner": 16, "max_len": 12, "batch_size": 8, "layers": 1, "heads": 1}


def test_groups_cover_every_row_once_and_cut_only_padding():
    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 9, size=23)
    tokens = torch.zeros(23, 10, dtype=torch.long)
    for row, n in enumerate(lengths):
        tokens[row, :n] = torch.from_numpy(rng.integers(1, 50, size=n))
    groups = by_length(tokens, rows=4)
    seen = torch.cat([rows for rows, _ in groups])
    assert sorted(seen.tolist()) == list(range(23))
    assert [len(rows) for rows, _ in groups] == [4, 4, 4, 4, 4, 3]
    widths = [part.shape[1] for _, part in groups]
    assert widths == sorted(widths) and widths[-1] == int(lengths.max()) and widths[0] >= 1
    for rows, part in groups:
        assert part.shape[1] == max(1, int(lengths[rows.numpy()].max()))
        np.testing.assert_array_equal(part.numpy(), tokens[rows, : part.shape[1]].numpy())
        assert not tokens[rows, part.shape[1]:].any()  # only padding was cut


@pytest.mark.parametrize("name", ["sasrec", "bert4rec", "kgbm4rec"])
def test_grouped_scoring_equals_the_uncut_matrix(tiny, tmp_path, one_torch_thread, monkeypatch, name):
    ds = load_dataset(tiny)
    hp = {**SMALL_KGBM, "epochs": 2, "max_len": 12, "verbose": False} if name == "kgbm4rec" else SEQUENCE
    model = train_model(ds, name, hp, seed=3, out=tmp_path / name, progress=False).model
    users = np.arange(ds.data.n_users)
    tokens = torch.from_numpy(model.history)
    lengths = (tokens > 0).sum(1)
    assert lengths.max() < tokens.shape[1] and len(set(lengths.tolist())) > 1  # cutting and sorting both matter
    monkeypatch.setattr(transformer, "INFERENCE_ROWS", 2)
    grouped = model.score(users)
    with torch.no_grad():
        model.net.eval()
        if name == "kgbm4rec":
            tables = model._current_tables()
            uncut = model.net.rank_logits(model._group_states(tokens, users, tables), tables[0])
        else:
            hidden = model.net.encoder(tokens, causal=model.causal)
            uncut = model.net.logits(read_out(hidden, tokens, model.mask_token))
    np.testing.assert_allclose(grouped, uncut.numpy(), rtol=1e-5, atol=1e-5)
