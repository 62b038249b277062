"""Resumable training state: what the ``Trainer`` writes into the checkpoint folder after every
epoch so that ``kgctl train --resume DIR`` continues a stopped run where it left off.

One file, ``DIR/training_state.pt`` (torch), written through a temporary file and a rename (a
crash leaves the previous epoch's state, never half of one). It holds:

* ``run``: what the run is (model name, hyperparameters, seed, graph snapshot) so that a folder
  whose run was killed before its first checkpoint can still be resumed;
* the last epoch's network weights and optimiser state, the epoch reached;
* the early-stopping state (best signed metric, best epoch, evaluations without improvement) and
  the best weights so far (``best_net``; ``None`` when the best epoch is the last one: then they
  are ``net``);
* the training history so far and the training seconds spent;
* the random streams the loop draws from: the numpy ``Generator`` of the batches, torch's CPU
  (and CUDA) generator, python's ``random``; restored, they continue exactly where they stopped,
  so k epochs + a resume to N give the same weights as N epochs in one go.

Reading and writing go through ``write_state`` / ``read_state`` only.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path
from typing import Any

from kgrec.errors import KgrecError

STATE_FILE = "training_state.pt"
STATE_VERSION = 1

# why a run ended; FINISHED_REASONS are final (a resume has nothing left to do)
EARLY_STOPPED, REACHED_EPOCHS, OUT_OF_TIME, RUNNING = "early_stopped", "reached_epochs", "out_of_time", "running"
FINISHED_REASONS = (EARLY_STOPPED, REACHED_EPOCHS)


@dataclasses.dataclass
class RunInfo:
    """What a resume rebuilds the model from."""

    model: str
    hparams: dict[str, Any]
    seed: int
    snapshot_id: str


@dataclasses.dataclass
class TrainingState:
    run: RunInfo
    epoch: int  # epochs completed
    status: str  # RUNNING, OUT_OF_TIME, EARLY_STOPPED or REACHED_EPOCHS
    net: dict[str, Any]  # the last epoch's weights
    optimizer: dict[str, Any]
    best: float  # the best validation metric so far, signed so that higher is better; -inf: none yet
    best_epoch: int
    stale: int  # evaluations without improvement
    best_net: dict[str, Any] | None  # None: the best epoch is ``epoch`` (use ``net``) or there is no best yet
    history: dict[str, Any]
    elapsed_seconds: float  # training seconds over every invocation
    numpy_rng: dict[str, Any]  # the batches' Generator: bit_generator.state
    torch_rng: Any  # torch.get_rng_state()
    python_rng: Any  # random.getstate()
    cuda_rng: list[Any] | None = None  # torch.cuda.get_rng_state_all() when CUDA is in use
    version: int = STATE_VERSION

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_REASONS

    def best_weights(self) -> dict[str, Any] | None:
        """The best epoch's weights, or None when no validation has happened."""
        if self.best_net is not None:
            return self.best_net
        return self.net if self.best_epoch == self.epoch and self.best_epoch > 0 and self.best > float("-inf") else None


def state_path(folder: str | Path) -> Path:
    return Path(folder) / STATE_FILE


def has_state(folder: str | Path) -> bool:
    return state_path(folder).is_file()


def write_state(folder: str | Path, state: TrainingState) -> Path:
    """Write ``state`` to ``folder/training_state.pt`` atomically (temporary file + rename)."""
    import torch

    path = state_path(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {f.name: getattr(state, f.name) for f in dataclasses.fields(state)}
    payload["run"] = dataclasses.asdict(state.run)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_state(folder: str | Path) -> TrainingState | None:
    """The state in ``folder``, or None when it has none; a clear error when it cannot be read."""
    import torch

    path = state_path(folder)
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
        if int(payload.get("version", 0)) != STATE_VERSION:
            raise ValueError(f"version {payload.get('version')} (this kgrec reads version {STATE_VERSION})")
        payload["run"] = RunInfo(**payload["run"])
        return TrainingState(**payload)
    except (OSError, RuntimeError, ValueError, KeyError, TypeError, EOFError) as exc:
        raise KgrecError(f"cannot read the training state {path}: {exc}", "train the model again") from None
