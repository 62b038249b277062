"""KGBM4Rec's typed hyperparameters (KGBMConfig) and modality status (ModalityStatus): the same keys
on the command line and in model.json, conversion and errors, and checkpoints written in the old
dict form still load."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from kgrec.errors import KgrecError
from kgrec.models.base import Recommender
from kgrec.models.data.interactions import InteractionData
from kgrec.models.data.split import temporal_leave_one_out
from kgrec.models.kgbm4rec import KGBM4Rec
from kgrec.models.kgbm4rec.config import KGBMConfig
from kgrec.models.kgbm4rec.inputs import KGBMInputs
from kgrec.models.modality import ModalityStatus
from kgrec.models.training.trainer import fit
from kgrec.models.workflows.ablation import skip_reason
from tests.models._kgbm_graph import build_tiny_graph

# model.json "hparams" as KGBM4Rec wrote it when its hyperparameters were a dict (before
# gnn_sampler, fanout, entity_buckets and prefetch existed)
OLD_HPARAMS = {
    "epochs": 2,
    "lr": 0.005,
    "weight_decay": 0.0,
    "patience": 100,
    "eval_every": 1,
    "clip_grad_norm": 5.0,
    "max_seconds": None,
    "dim": 16,
    "max_len": 8,
    "n_layers": 1,
    "n_heads": 2,
    "inner": 256,
    "dropout": 0.0,
    "attn_dropout": 0.5,
    "seq_objective": "next",
    "mask_prob": 0.2,
    "last_mask_prob": 0.25,
    "gnn_layers": 2,
    "conv": "compgcn",
    "n_bases": 4,
    "gnn_dropout": 0.0,
    "kg_min_degree": 2,
    "batch_size": 4,
    "rating_weight": 0.1,
    "like_weight": 0.1,
    "num_negatives": 0,
    "negative_sampler": "popularity",
    "category_weight": 0.0,
    "gnn_every": 1,
    "no_kg": False,
    "no_seq": False,
    "no_text": False,
    "no_image": False,
    "seed": 2024,
    "verbose": False,
}


def test_command_line_values_become_typed_fields_with_the_same_keys():
    # what kgctl's -p parsing hands over: JSON values, or the text when it is not JSON
    model = KGBM4Rec(dim=32, dropout="0.2", no_kg="true", fanout="15,10", gnn_sampler="cypher", epochs=3.0)
    c = model.config
    assert (c.dim, c.dropout, c.no_kg, c.fanout, c.epochs) == (32, 0.2, True, (15, 10), 3)
    assert set(model.hparams) == {f for f in KGBMConfig.__dataclass_fields__}
    assert model.hparams["fanout"] == [15, 10] and json.loads(json.dumps(model.hparams)) == model.hparams
    assert KGBM4Rec(**model.hparams).config == c  # model.json round trip
    assert KGBM4Rec().config.fanout == (15, 10)  # default: one fan-out per GNN layer
    for bad, match in (
        ({"dim": "big"}, "dim='big' is not int"),
        ({"dropouts": 0.1}, "unknown kgbm4rec hyperparameters: dropouts"),
        ({"conv": "gat"}, "unknown conv"),
        ({"no_kg": "maybe"}, "no_kg"),
        ({"lr": 1e-3, "epochs": 2.5}, "epochs"),
    ):
        with pytest.raises(KgrecError, match=match):
            KGBM4Rec(**bad)


def test_modality_status_is_typed_and_keeps_its_string_form():
    off = ModalityStatus.off("no_text")
    assert not off.is_on and off.note == "no_text" and off == "off (no_text)" and off.switched_off_by("no_text")
    on = ModalityStatus.parse("on (interaction graph only: no KG relations in the data)")
    assert on.is_on and on.note.startswith("interaction graph only") and str(on).startswith("on (")
    assert ModalityStatus.parse("on") == ModalityStatus.on() and ModalityStatus.parse(str(off)) == off
    assert skip_reason("no_text", "text", "on") is None
    assert skip_reason("no_text", "text", "off (no_text)") == "text: switched off in the full model too (no_text)"
    assert skip_reason("no_image", "image", "off (no Product.image_emb in the graph; run `kgctl embed`)").startswith(
        "image: not in the data"
    )


def test_a_checkpoint_with_the_old_dict_form_loads(backend, tmp_path):
    build_tiny_graph(backend)
    data = InteractionData.from_backend(backend)
    split = temporal_leave_one_out(data)
    model = KGBM4Rec(**OLD_HPARAMS)
    fit(model, split.train, inputs=KGBMInputs.from_backend(backend, data.item_ids))
    model.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    meta["hparams"] = OLD_HPARAMS  # as written before the typed config
    (tmp_path / "m" / "model.json").write_text(json.dumps(meta))
    loaded = Recommender.load(tmp_path / "m")
    assert isinstance(loaded, KGBM4Rec) and loaded.config.gnn_sampler == "full" and loaded.config.dim == 16
    assert all(isinstance(s, ModalityStatus) for s in loaded.modalities.values()) and loaded.modalities["kg"].is_on
    users = np.arange(data.n_users)
    np.testing.assert_allclose(loaded.score(users), model.score(users), rtol=1e-6, atol=1e-6)


def test_a_preset_fills_the_fields_first_and_given_keys_win():
    large = KGBM4Rec(preset="large").config
    flags = KGBM4Rec(dim=128, closed_sides=True, popularity_gate=True, rating_weight=0, like_weight=0).config
    assert dataclasses.replace(large, preset="default") == flags  # the preset is exactly the ML-1M flags
    assert KGBM4Rec(preset="default").config == KGBM4Rec().config == KGBMConfig()
    mixed = KGBM4Rec(preset="large", dim=32, lr=0.002).config
    assert (mixed.preset, mixed.dim, mixed.lr, mixed.closed_sides) == ("large", 32, 0.002, True)
    assert KGBM4Rec(**KGBM4Rec(preset="large", dim=32).hparams).config == KGBM4Rec(preset="large", dim=32).config
    with pytest.raises(KgrecError, match="unknown preset 'huge'") as info:
        KGBM4Rec(preset="huge")
    assert "default, large" in str(info.value.hint)
    assert KGBM4Rec.search_space == {"preset": ["default", "large"]}  # kgctl tune's choice on validation
