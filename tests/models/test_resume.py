"""Resumable training: k epochs, a stop and a resume to N give the same weights and validation
numbers as N epochs in one go (real tiny models on the tiny graph, one torch thread); a changed
graph, a finished run and a run killed mid-epoch."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import torch

from kgrec.errors import KgrecError
from kgrec.models.training import resume as resuming
from kgrec.models.training.checkpoint import StaleCheckpoint
from kgrec.models.workflows.pipeline import load_dataset, load_trained, train_model
from kgrec.models.workflows.resume import resume

# dropout on, so that the torch random stream matters; patience high so all epochs run
RUNS = {
    "sasrec": {"epochs": 4, "dim": 8, "inner": 16, "max_len": 6, "batch_size": 8, "layers": 1, "heads": 1,
               "dropout": 0.3, "patience": 50},
    "bpr": {"epochs": 4, "dim": 8, "batch_size": 16, "patience": 50, "lr": 0.05},
    "kgbm4rec": {"epochs": 4, "dim": 8, "inner": 16, "max_len": 6, "batch_size": 8, "n_layers": 1, "n_heads": 1,
                 "gnn_layers": 1, "eval_every": 1, "patience": 50, "verbose": False, "seq_objective": "cloze"},
}


def _net(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.net.state_dict().items()}


def _same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("name", ["sasrec", "bpr", "kgbm4rec"])
def test_stop_and_resume_gives_the_weights_of_one_go(tiny, tmp_path, one_torch_thread, name):
    ds = load_dataset(tiny)
    hp = RUNS[name]
    whole = train_model(ds, name, hp, seed=5, out=tmp_path / "whole", progress=False)
    whole_last = resuming.read_state(tmp_path / "whole")
    assert whole_last is not None and whole_last.epoch == hp["epochs"] and whole_last.finished

    # the same run, stopped by its time budget after every epoch and resumed until done
    out = tmp_path / "steps"
    first = train_model(ds, name, {**hp, "max_seconds": 1e-9}, seed=5, out=out, progress=False)
    assert first.history["epochs_run"] == 1 and first.history["stop_reason"] == resuming.OUT_OF_TIME
    outcome = None
    for expected in range(2, hp["epochs"] + 1):
        outcome = resume(ds, out, progress=False)
        (run,) = outcome.runs
        assert run.from_epoch == expected - 1 and run.result.history["epochs_run"] == expected
    assert outcome is not None
    (run,) = outcome.runs
    assert run.finished and run.status == resuming.REACHED_EPOCHS
    steps_last = resuming.read_state(out)
    assert steps_last is not None
    _same_weights(whole_last.net, steps_last.net)  # the last epoch's weights
    _same_weights(_net(whole.model), _net(run.result.model))  # the best epoch's (what the checkpoint holds)
    assert run.result.history["valid"] == whole.history["valid"]
    assert run.result.history["loss"] == whole.history["loss"]
    assert run.result.history["best_epoch"] == whole.history["best_epoch"]
    assert run.result.history["resumed_at"] == list(range(1, hp["epochs"]))
    assert run.result.valid == whole.valid
    # the rewritten checkpoint loads like any other and scores as the one-go model
    _, loaded, meta = load_trained(ds, out)
    assert meta["metrics"]["valid"] == whole.valid
    users = np.arange(ds.data.n_users)
    loaded.observe_history(ds.split.train)
    whole.model.observe_history(ds.split.train)
    np.testing.assert_array_equal(loaded.score(users), whole.model.score(users))


@pytest.mark.parametrize("name", ["sasrec", "kgbm4rec"])
def test_a_finished_run_extended_with_more_epochs_gives_the_weights_of_one_go(tiny, tmp_path, one_torch_thread,
                                                                             name):
    ds = load_dataset(tiny)
    hp = RUNS[name]
    whole = train_model(ds, name, hp, seed=5, out=tmp_path / "whole", progress=False)
    out = tmp_path / "short"
    train_model(ds, name, {**hp, "epochs": 2}, seed=5, out=out, progress=False)
    assert resuming.read_state(out).status == resuming.REACHED_EPOCHS
    (run,) = resume(ds, out, params={"epochs": hp["epochs"]}, progress=False).runs
    assert run.from_epoch == 2 and run.status == resuming.REACHED_EPOCHS
    assert "resumed at epoch 3, now at epoch 4" in run.note
    assert run.result.history["loss"] == whole.history["loss"]
    assert run.result.history["valid"] == whole.history["valid"]
    _same_weights(resuming.read_state(tmp_path / "whole").net, resuming.read_state(out).net)
    _same_weights(_net(whole.model), _net(run.result.model))
    assert resuming.read_state(out).run.hparams["epochs"] == hp["epochs"]
    _, loaded, meta = load_trained(ds, out)
    assert loaded.hparams["epochs"] == hp["epochs"] and meta["metrics"]["valid"] == whole.valid
    # the same total again is a finished run; fewer epochs than were run take nothing back
    (again,) = resume(ds, out, params={"epochs": hp["epochs"]}, progress=False).runs
    assert again.result is None and "nothing to do" in again.note
    with pytest.raises(KgrecError, match="already trained 4 epochs; --epochs 3 would add none"):
        resume(ds, out, params={"epochs": 3}, progress=False)


def test_a_run_that_stopped_early_is_not_extended(tiny, tmp_path, one_torch_thread):
    ds = load_dataset(tiny)
    out = tmp_path / "bpr"
    train_model(ds, "bpr", {**RUNS["bpr"], "epochs": 50, "lr": 0.0, "patience": 2}, seed=1, out=out, progress=False)
    with pytest.raises(KgrecError, match="stopped early at epoch 3") as caught:
        resume(ds, out, params={"epochs": 80}, progress=False)
    assert "larger --patience" in caught.value.hint
    with pytest.raises(KgrecError, match="epochs must be a whole number"):
        resume(ds, out, params={"epochs": 2.5})
    # in a seed set such a seed is skipped, with the reason, and the others go on
    from kgrec.models.workflows.seeds import train_seeds

    train_seeds(ds, "bpr", {**RUNS["bpr"], "epochs": 50, "lr": 0.0, "patience": 2}, [1, 2], out=tmp_path / "set",
                progress=False)
    runs = resume(ds, tmp_path / "set", params={"epochs": 80}, progress=False).runs
    assert [r.result for r in runs] == [None, None]
    assert all(r.status == resuming.EARLY_STOPPED and "not extended" in r.note for r in runs)


def test_a_run_killed_mid_epoch_resumes_from_the_last_written_state(tiny, tmp_path, one_torch_thread, monkeypatch):
    from kgrec.models.sequential.sasrec import SASRec

    ds = load_dataset(tiny)
    hp = RUNS["sasrec"]
    whole = train_model(ds, "sasrec", hp, seed=8, progress=False)

    real_batches = SASRec.batches
    calls = {"n": 0}

    def killed_in_epoch_3(self, train, rng):
        calls["n"] += 1
        batches = real_batches(self, train, rng)
        if calls["n"] < 3:
            return batches

        def half_then_die():  # the process dies half way through epoch 3's batches
            yield from batches[: len(batches) // 2]
            raise KeyboardInterrupt

        return half_then_die()

    monkeypatch.setattr(SASRec, "batches", killed_in_epoch_3)
    out = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        train_model(ds, "sasrec", hp, seed=8, out=out, progress=False)
    assert not (out / "checkpoint.json").exists()  # killed before the checkpoint: only the state is there
    state = resuming.read_state(out)
    assert state is not None and state.epoch == 2 and state.status == resuming.RUNNING
    monkeypatch.setattr(SASRec, "batches", real_batches)

    (run,) = resume(ds, out, progress=False).runs
    assert run.from_epoch == 2 and run.finished
    _same_weights(_net(whole.model), _net(run.result.model))
    assert run.result.history["valid"] == whole.history["valid"]
    assert (out / "checkpoint.json").exists()


def test_a_finished_run_has_nothing_to_do(tiny, tmp_path, one_torch_thread):
    ds = load_dataset(tiny)
    out = tmp_path / "bpr"
    # lr 0: validation never improves, so early stopping ends the run after patience evaluations
    train_model(ds, "bpr", {**RUNS["bpr"], "epochs": 50, "lr": 0.0, "patience": 2}, seed=1, out=out, progress=False)
    before = (out / "checkpoint.json").read_bytes(), (out / resuming.STATE_FILE).read_bytes()
    (run,) = resume(ds, out, progress=False).runs
    assert run.result is None and run.status == resuming.EARLY_STOPPED
    assert "nothing to do" in run.note and "epoch 3" in run.note
    assert ((out / "checkpoint.json").read_bytes(), (out / resuming.STATE_FILE).read_bytes()) == before


def test_resume_refuses_a_changed_graph(tiny, tmp_path, one_torch_thread):
    ds = load_dataset(tiny)
    out = tmp_path / "bpr"
    train_model(ds, "bpr", {**RUNS["bpr"], "max_seconds": 1e-9}, seed=1, out=out, progress=False)
    tiny.insert_relationships("INTERACTED", pa.table({"src": ["u0"], "dst": ["p1"], "timestamp": [99999]}))
    tiny.set_meta("revision", "tiny-2")
    with pytest.raises(StaleCheckpoint, match="graph snapshot .* the graph is now"):
        resume(load_dataset(tiny), out, progress=False)


def test_resume_refuses_folders_without_state_and_other_hyperparameters(tiny, tmp_path):
    ds = load_dataset(tiny)
    train_model(ds, "pop", {}, out=tmp_path / "pop", progress=False)
    with pytest.raises(KgrecError, match="no resumable training state"):
        resume(ds, tmp_path / "pop")
    with pytest.raises(KgrecError, match="no training run"):
        resume(ds, tmp_path / "missing")
    with pytest.raises(KgrecError, match="cannot change lr"):
        resume(ds, tmp_path / "pop", params={"lr": 0.1})
    with pytest.raises(KgrecError, match="max_seconds must be a number"):
        resume(ds, tmp_path / "pop", params={"max_seconds": "soon"})


def test_a_fresh_run_into_an_old_folder_drops_the_old_state(tiny, tmp_path, one_torch_thread):
    ds = load_dataset(tiny)
    out = tmp_path / "run"
    train_model(ds, "bpr", {**RUNS["bpr"], "max_seconds": 1e-9}, seed=1, out=out, progress=False)
    assert resuming.has_state(out)
    train_model(ds, "pop", {}, out=out, progress=False)
    assert not resuming.has_state(out)


def test_resuming_keeps_the_folders_ablation_variants(tiny, tmp_path, one_torch_thread):
    ds = load_dataset(tiny)
    out = tmp_path / "run"
    train_model(ds, "bpr", {**RUNS["bpr"], "max_seconds": 1e-9}, seed=1, out=out, progress=False)
    variant = out / "ablations" / "no_x"
    train_model(ds, "bpr", {**RUNS["bpr"], "epochs": 1}, seed=1, out=variant, progress=False)
    before = (variant / "checkpoint.json").read_text()
    (run,) = resume(ds, out, params={"max_seconds": 0}, progress=False).runs
    assert run.finished and (variant / "checkpoint.json").read_text() == before
    assert load_trained(ds, variant)[0] == "bpr"
