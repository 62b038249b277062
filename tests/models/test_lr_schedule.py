"""The learning-rate schedule: the cosine factor's shape, that a trained run's optimiser ends at the
scheduled rate, that a stopped and resumed cosine run gives the weights of one go, and the refusals
(an unknown schedule, more epochs for a scheduled run). Real tiny models on the tiny graph."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from kgrec.errors import KgrecError
from kgrec.models.training import resume as resuming
from kgrec.models.training.schedule import lr_factor
from kgrec.models.workflows.pipeline import load_dataset, train_model
from kgrec.models.workflows.resume import resume

SASREC = {"epochs": 3, "dim": 8, "inner": 16, "max_len": 6, "batch_size": 8, "layers": 1, "heads": 1,
          "dropout": 0.3, "patience": 50, "lr": 0.01}
KGBM = {"epochs": 2, "dim": 8, "inner": 16, "max_len": 6, "batch_size": 8, "n_layers": 1, "n_heads": 1,
        "gnn_layers": 1, "eval_every": 1, "patience": 50, "verbose": False, "lr": 0.01}


def test_cosine_falls_from_the_base_rate_to_zero_over_the_epochs():
    assert lr_factor("constant", 3, 5, 10, 4) == 1.0
    assert lr_factor("cosine", 1, 0, 10, 4) == 1.0
    assert lr_factor("cosine", 3, 0, 10, 4) == pytest.approx(0.5)  # half way through 4 epochs
    assert lr_factor("cosine", 2, 5, 10, 3) == pytest.approx(0.5)  # the middle of epoch 2 of 3
    factors = [lr_factor("cosine", e, s, 10, 4) for e in range(1, 5) for s in range(10)]
    assert all(a > b for a, b in zip(factors, factors[1:]))
    assert factors[-1] == pytest.approx(0.5 * (1 + math.cos(math.pi * 39 / 40)))
    with pytest.raises(KgrecError, match="unknown lr_schedule 'step'") as caught:
        lr_factor("step", 1, 0, 10, 4)
    assert "constant, cosine" in caught.value.hint


@pytest.mark.parametrize(("name", "hp"), [("sasrec", SASREC), ("kgbm4rec", KGBM)])
def test_a_cosine_run_ends_at_the_scheduled_rate_and_trains_other_weights(tiny, tmp_path, one_torch_thread, name,
                                                                        hp):
    ds = load_dataset(tiny)
    flat = train_model(ds, name, hp, seed=4, out=tmp_path / "flat", progress=False)
    cosine = train_model(ds, name, {**hp, "lr_schedule": "cosine"}, seed=4, out=tmp_path / "cos", progress=False)
    assert cosine.model.hparams["lr_schedule"] == "cosine" and flat.model.hparams["lr_schedule"] == "constant"
    steps = len(cosine.model.batches(ds.split.train, np.random.default_rng(0)))
    last = resuming.read_state(tmp_path / "cos").optimizer["param_groups"][0]["lr"]
    assert last == pytest.approx(hp["lr"] * lr_factor("cosine", hp["epochs"], steps - 1, steps, hp["epochs"]))
    assert last < 0.25 * hp["lr"]  # the last step of the run, near the low end
    assert resuming.read_state(tmp_path / "flat").optimizer["param_groups"][0]["lr"] == hp["lr"]
    # the first steps run at the same rate as the flat run's, the later ones below it
    assert cosine.history["loss"][0] == pytest.approx(flat.history["loss"][0], rel=0.05)
    assert not all(torch.equal(a, b) for a, b in zip(cosine.model.net.state_dict().values(),
                                                     flat.model.net.state_dict().values()))


def test_a_stopped_cosine_run_resumes_on_its_schedule(tiny, tmp_path, one_torch_thread):
    ds = load_dataset(tiny)
    hp = {**SASREC, "lr_schedule": "cosine"}
    whole = train_model(ds, "sasrec", hp, seed=5, out=tmp_path / "whole", progress=False)
    out = tmp_path / "steps"
    train_model(ds, "sasrec", {**hp, "max_seconds": 1e-9}, seed=5, out=out, progress=False)
    for _ in range(hp["epochs"] - 1):
        (run,) = resume(ds, out, progress=False).runs
    assert run.finished and run.result.history["loss"] == whole.history["loss"]
    assert run.result.history["valid"] == whole.history["valid"]
    a, b = resuming.read_state(tmp_path / "whole"), resuming.read_state(out)
    for k in a.net:
        assert torch.equal(a.net[k], b.net[k]), k


def test_a_scheduled_run_is_not_extended_and_an_unknown_schedule_is_refused(tiny, tmp_path, one_torch_thread):
    ds = load_dataset(tiny)
    out = tmp_path / "cos"
    train_model(ds, "sasrec", {**SASREC, "epochs": 2, "lr_schedule": "cosine"}, seed=5, out=out, progress=False)
    before = (out / resuming.STATE_FILE).read_bytes()
    with pytest.raises(KgrecError, match="lr_schedule=cosine, laid out over its 2 epochs") as caught:
        resume(ds, out, params={"epochs": 4}, progress=False)
    assert "train again from the start" in caught.value.hint
    assert (out / resuming.STATE_FILE).read_bytes() == before
    (same,) = resume(ds, out, params={"epochs": 2}, progress=False).runs  # its own epochs: nothing to do
    assert same.result is None and "nothing to do" in same.note
    for name, hp in (("sasrec", SASREC), ("kgbm4rec", KGBM)):
        with pytest.raises(KgrecError, match="unknown lr_schedule 'linear'"):
            train_model(ds, name, {**hp, "lr_schedule": "linear"}, seed=5, progress=False)


def test_a_scheduled_seed_set_is_not_extended(tiny, tmp_path, one_torch_thread):
    from kgrec.models.workflows.seeds import MANIFEST, train_seeds

    ds = load_dataset(tiny)
    out = tmp_path / "set"
    train_seeds(ds, "sasrec", {**SASREC, "epochs": 2, "lr_schedule": "cosine"}, [1, 2], out=out, progress=False)
    before = (out / MANIFEST).read_bytes()
    with pytest.raises(KgrecError, match="lr_schedule=cosine, laid out over its 2 epochs"):
        resume(ds, out, params={"epochs": 3}, progress=False)
    assert (out / MANIFEST).read_bytes() == before
