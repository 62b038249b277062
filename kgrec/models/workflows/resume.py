"""Continue a stopped training run (``kgctl train --resume DIR``).

A neural model trained with ``kgctl train --out DIR`` leaves ``DIR/training_state.pt`` after
every epoch (``kgrec.models.training.resume``). ``resume(ds, DIR)`` reads the run from it (model,
hyperparameters, seed, graph snapshot), refuses when the graph changed since, and continues from
the next epoch with the same ``epochs``, ``patience`` and early-stopping state; the checkpoint in
DIR is rewritten at the end as ``kgctl train`` writes it. A run that stopped early or reached its
``epochs`` has nothing left to do. ``max_seconds`` (``-p max_seconds=N``) caps this invocation's
training time: each resume gets a fresh budget (the run's own ``max_seconds`` when not given).
``epochs`` (``--epochs N``) extends a run that reached its epochs (or has not yet) to N epochs in
all: the optimiser, early-stopping state and random streams carry on, so 17 epochs extended to 25
give the weights of 25 epochs in one go. A run that stopped early is not extended (one go would
have stopped there too).

A folder written by ``kgctl train --seeds`` resumes every seed that has not finished and skips the
finished ones (with ``epochs``: extends those that reached their epochs and skips, saying so, those
that stopped early); the manifest records each seed's status.

    from kgrec.models.workflows.resume import resume
    outcome = resume(ds, "runs/sasrec", params={"max_seconds": 3600})
    outcome = resume(ds, "runs/sasrec", params={"epochs": 40})  # train a finished run on to 40 epochs
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kgrec.errors import KgrecError
from kgrec.models.training.checkpoint import check_snapshot, write_json_atomic
from kgrec.models.training.resume import EARLY_STOPPED, FINISHED_REASONS, OUT_OF_TIME, TrainingState, read_state
from kgrec.models.workflows import seeds as seeding
from kgrec.models.workflows.ablation import ABLATIONS_DIR

STALE_HINT = "the graph changed since this run started; train it again from scratch (kgctl train --model ...)"
RESUMABLE_KEYS = ("max_seconds", "epochs")


@dataclasses.dataclass
class Resumed:
    """One resumed folder: ``result`` (a pipeline.TrainResult) is None when there was nothing to
    do; ``note`` says what happened, in words."""

    folder: Path
    model: str
    seed: int
    from_epoch: int  # epochs done before this invocation
    status: str  # the run's stop reason now (kgrec.models.training.resume)
    result: Any
    note: str

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_REASONS


@dataclasses.dataclass
class ResumeOutcome:
    folder: Path
    runs: list[Resumed]
    manifest: Path | None = None  # set when the folder is a seed set


def resume(
    ds,
    folder: str | Path,
    *,
    params: dict[str, Any] | None = None,
    progress: bool = True,
    announce: Callable[[str], None] | None = None,
) -> ResumeOutcome:
    """Continue the run (or the seed set) in ``folder``. ``params`` may only hold
    ``max_seconds`` and ``epochs`` (more epochs in all): the other hyperparameters are the run's own."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise KgrecError("a run resumes in one process", "run kgctl train --resume without torchrun")
    folder = Path(folder)
    params = dict(params or {})
    unknown = sorted(set(params) - set(RESUMABLE_KEYS))
    if unknown:
        raise KgrecError(
            f"--resume continues a run with its own hyperparameters; cannot change {', '.join(unknown)}",
            "only -p max_seconds=N (a fresh time budget for this invocation) and --epochs N (train on to N epochs "
            "in all) may be given",
        )
    if "max_seconds" in params:
        value = params["max_seconds"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise KgrecError(f"max_seconds must be a number of seconds >= 0, got {value!r}",
                             "e.g. -p max_seconds=3600 (0: no cap)")
    if "epochs" in params:
        value = params["epochs"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise KgrecError(f"epochs must be a whole number of epochs >= 1, got {value!r}", "e.g. --epochs 40")
    if not folder.is_dir():
        raise KgrecError(f"no training run at {folder}", "give the --out folder of a kgctl train run")
    if (folder / seeding.MANIFEST).is_file():
        return _resume_seeds(ds, folder, params, progress, announce or (lambda text: None))
    return ResumeOutcome(folder, [resume_one(ds, folder, params, progress)])


def resume_one(ds, folder: Path, params: dict[str, Any], progress: bool = True) -> Resumed:
    """Continue the single run in ``folder`` (see ``resume``)."""
    from kgrec.models.workflows.pipeline import train_model

    state = read_state(folder)
    if state is None:
        raise KgrecError(
            f"{folder} holds no resumable training state ({folder / 'training_state.pt'} is missing)",
            "only neural models trained in one process by this kgrec version can be resumed; train it again",
        )
    run = state.run
    check_snapshot(folder, run.snapshot_id, ds.snapshot_id, hint=STALE_HINT)
    if _extends(state, params.get("epochs"), folder):
        state.status = OUT_OF_TIME  # more epochs to go: the run continues as one stopped by its time budget
    if state.finished:
        return Resumed(folder, run.model, run.seed, state.epoch, state.status, None, _finished_note(state))
    hparams = {**run.hparams, **params}
    # the full model of an --ablations run keeps its variants
    result = train_model(ds, run.model, hparams, seed=run.seed, out=folder, progress=progress, resume=state,
                         keep=(ABLATIONS_DIR,))
    status = str(result.history.get("stop_reason"))
    epochs_run = int(result.history.get("epochs_run", 0))
    note = f"resumed at epoch {state.epoch + 1}, now at epoch {epochs_run}: " + {
        "early_stopped": "stopped early (no improvement within patience)",
        "reached_epochs": "reached its epochs",
        "out_of_time": "out of time again (resume it once more to continue)",
    }.get(status, status)
    return Resumed(folder, run.model, run.seed, state.epoch, status, result, note)


def _extends(state: TrainingState, epochs: int | None, folder: Path) -> bool:
    """Whether ``epochs`` (a resume's new total, or None) trains the run in ``folder`` beyond where it
    ended; an error when it asks for fewer epochs than were run or to extend a run that stopped early."""
    if epochs is None or epochs == state.run.hparams.get("epochs"):
        return False
    _check_schedule_allows(state.run.hparams, folder)
    if epochs <= state.epoch:
        raise KgrecError(
            f"{folder} has already trained {state.epoch} epochs; --epochs {epochs} would add none",
            f"give more than {state.epoch} epochs, or evaluate the run as it is",
        )
    if state.status == EARLY_STOPPED:
        raise KgrecError(
            f"{folder} stopped early at epoch {state.epoch} (no validation improvement within its patience); "
            "more epochs would not change it",
            "train again from the start with a larger --patience to go on",
        )
    return True


def _check_schedule_allows(hparams: dict[str, Any], folder: Path) -> None:
    """A run whose learning rate follows a schedule over its epochs cannot change its epochs: the
    epochs already trained followed the old schedule, so the result would match no one-go run."""
    schedule = hparams.get("lr_schedule") or "constant"
    if schedule != "constant":
        raise KgrecError(
            f"{folder} was trained with lr_schedule={schedule}, laid out over its {hparams.get('epochs')} epochs; "
            "other epochs would change the rate of the epochs already trained, so the result would match no one-go run",
            "train again from the start with --epochs N, or resume without --epochs",
        )


def _finished_note(state: TrainingState) -> str:
    epochs = state.run.hparams.get("epochs")
    why = "stopped early" if state.status == "early_stopped" else f"reached its {epochs} epochs"
    return f"nothing to do: the run finished at epoch {state.epoch} ({why}; best epoch {state.best_epoch})"


def _resume_seeds(
    ds, folder: Path, params: dict[str, Any], progress: bool, say: Callable[[str], None]
) -> ResumeOutcome:
    """Every seed of the set: finished ones are skipped, stopped ones resumed, ones the run never
    reached trained from the start (with the set's hyperparameters); the manifest is rewritten
    after each."""
    from kgrec.models.workflows.pipeline import train_model

    manifest = folder / seeding.MANIFEST
    meta = seeding.read_manifest(folder)
    check_snapshot(folder, meta.snapshot_id, ds.snapshot_id, hint=STALE_HINT)
    if "epochs" in params:  # the set's seeds train on to the new total, and the manifest says so
        if params["epochs"] != meta.hparams.get("epochs"):
            _check_schedule_allows(meta.hparams, folder)
        meta.hparams["epochs"] = params["epochs"]
    runs: list[Resumed] = []
    for k, record in enumerate(meta.records, 1):
        seed_dir = folder / record.folder
        state = read_state(seed_dir) if seed_dir.is_dir() else None
        started = time.perf_counter()
        if state is None and record.status != seeding.TRAINED:
            say(f"{meta.model}: seed {record.seed} ({k} of {len(meta.records)}) was not started; training it")
            result = train_model(ds, meta.model, {**meta.hparams, **params}, seed=record.seed, out=seed_dir,
                                 progress=progress)
            status = str(result.history.get("stop_reason", "reached_epochs"))
            done = Resumed(seed_dir, meta.model, record.seed, 0, status, result, "trained from the start")
        elif state is None:
            done = Resumed(seed_dir, meta.model, record.seed, 0, "reached_epochs", None,
                           "nothing to do: trained without a resumable state")
        elif "epochs" in params and state.status == EARLY_STOPPED:  # one go would have stopped there too
            done = Resumed(seed_dir, meta.model, record.seed, state.epoch, state.status, None,
                           _finished_note(state) + "; a run that stopped early is not extended")
        else:
            if not state.finished or int(params.get("epochs") or 0) > state.epoch:
                say(f"{meta.model}: resuming seed {record.seed} ({k} of {len(meta.records)}) "
                    f"at epoch {state.epoch + 1}")
            done = resume_one(ds, seed_dir, params, progress)
        runs.append(done)
        if done.result is not None:
            record.status = seeding.TRAINED
            record.seconds = (record.seconds or 0.0) + (time.perf_counter() - started)
        record.finished = done.finished
        write_json_atomic(manifest, meta.payload())
    return ResumeOutcome(folder, runs, manifest)
