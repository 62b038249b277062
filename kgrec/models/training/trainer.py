"""The training loop shared by every neural model (see ``kgrec.models.trainable`` for the hooks
a model implements).

Seeded (python, numpy, torch), Adam, per-epoch validation on the validation items (the model's
``valid_metric``: full-ranking NDCG@10 by default, MSE for rating models), early stopping after
``patience`` validations without improvement, the best
epoch's weights restored at the end, progress bars on stderr with the loss and the validation
metric, and DistributedDataParallel when a process group is initialised (each rank trains on its
share of every epoch's batches; gradients are averaged by DDP).

With ``state_dir`` (and ``run``) the trainer writes a resumable ``TrainingState`` there after
every epoch (``kgrec.models.training.resume``); ``fit(..., resume=state)`` continues such a run
from the next epoch with the same early stopping and random streams: k epochs, a stop and a
resume to N give the same weights as N epochs in one go. ``max_seconds`` counts the training
time of this call only (a resumed run gets a fresh budget). Single process only: a DDP run
writes no state.
"""

from __future__ import annotations

import copy
import dataclasses
import random
import sys
import time
from typing import Any

import numpy as np

from kgrec.errors import KgrecError
from kgrec.models.base import Recommender
from kgrec.models.data.interactions import GraphInputs, InteractionData
from kgrec.models.trainable import TRAINER_DEFAULTS, TRAINER_KEYS, TrainableRecommender
from kgrec.models.training import distributed
from kgrec.models.training import resume as resuming
from kgrec.models.training.memory import fix_mmap_threshold
from kgrec.models.training.schedule import check_schedule, lr_factor


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


@dataclasses.dataclass
class Trainer:
    epochs: int = TRAINER_DEFAULTS["epochs"]
    lr: float = TRAINER_DEFAULTS["lr"]
    lr_schedule: str = TRAINER_DEFAULTS["lr_schedule"]  # kgrec.models.training.schedule
    weight_decay: float = TRAINER_DEFAULTS["weight_decay"]
    patience: int = TRAINER_DEFAULTS["patience"]
    eval_every: int = TRAINER_DEFAULTS["eval_every"]
    clip_grad_norm: float | None = None
    max_seconds: float | None = None  # stop after the epoch that brings training time past this
    seed: int = 42
    progress: bool = True
    device: str = "auto"  # "auto": the rank's GPU when there is one, else CPU
    state_dir: str | None = None  # write a resumable TrainingState here after every epoch
    run: resuming.RunInfo | None = None  # what the state says the run is (needed with state_dir)
    resume_from: resuming.TrainingState | None = None  # fit continues this run (see fit's resume)

    def __post_init__(self) -> None:
        check_schedule(self.lr_schedule)

    @classmethod
    def for_model(cls, model: TrainableRecommender, **overrides: Any) -> Trainer:
        """The one place a Trainer is built for a model: its trainer hyperparameters
        (``TRAINER_KEYS``), ``seed`` and ``verbose`` (progress bars) where the model has them;
        ``overrides`` (None values ignored) win."""
        hp = model.hparams
        values: dict[str, Any] = {k: hp[k] for k in TRAINER_KEYS if hp.get(k) is not None}
        if hp.get("seed") is not None:
            values["seed"] = int(hp["seed"])
        if hp.get("verbose") is not None:
            values["progress"] = bool(hp["verbose"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def _device(self):
        import torch

        return distributed.device_for_rank() if self.device == "auto" else torch.device(self.device)

    def fit(
        self, model: TrainableRecommender, train: InteractionData, valid: InteractionData | None = None,
        *,
        graph: GraphInputs | None = None,
        resume: resuming.TrainingState | None = None,
    ) -> dict:
        """Train ``model``; with ``resume`` (a state this trainer's loop wrote) continue that run
        from its next epoch instead of starting over."""
        import torch

        from kgrec.models.evaluation.protocol import Phase, evaluate_phase

        resume = resume if resume is not None else self.resume_from

        if len(train) == 0:
            raise KgrecError("there are no training interactions", "ingest interactions first (kgctl ingest ...)")
        seed_everything(self.seed)
        fix_mmap_threshold()  # resident memory stays flat across batches (kgrec.models.training.memory)
        rank, world = distributed.rank(), distributed.world_size()
        model.n_users, model.n_items = train.n_users, train.n_items
        model.device = self._device()
        model.prepare(train, graph or GraphInputs())
        net = model.build_network().to(model.device)
        model.net = net
        wrapped = net
        if world > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [model.device.index] if model.device.type == "cuda" else None
            wrapped = DistributedDataParallel(net, device_ids=ids, broadcast_buffers=False,
                                              find_unused_parameters=bool(getattr(net, "has_unused_parameters", False)))
        torch.manual_seed(self.seed + 7919 * rank)  # dropout differs per rank; weights were synced by DDP
        params = [p for p in net.parameters() if p.requires_grad]
        optimiser = torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        rng = np.random.default_rng(self.seed)
        ph = None
        if valid is not None and len(valid):
            ph = Phase("valid", train, valid, InteractionData.concat(train, valid).csr())
        metric_name, maximise = model.valid_metric, model.valid_metric_higher_is_better
        history: dict[str, Any] = {
            "loss": [], "valid": [], "train_seconds": [], "best_epoch": 0, "valid_metric": metric_name,
            "best_valid": None,
        }
        best, best_state, stale, first, elapsed = -np.inf, None, 0, 1, 0.0
        if resume is not None:
            if world > 1:
                raise KgrecError("a run resumes in one process", "drop --nproc")
            net.load_state_dict(resume.net)
            optimiser.load_state_dict(resume.optimizer)
            best, stale, elapsed = float(resume.best), int(resume.stale), float(resume.elapsed_seconds)
            weights = resume.best_weights()
            best_state = copy.deepcopy(weights) if weights is not None else None
            history = copy.deepcopy(resume.history)
            history.setdefault("resumed_at", []).append(resume.epoch)
            history.pop("stopped_by_time", None)
            first = resume.epoch + 1
            rng.bit_generator.state = resume.numpy_rng
            _restore_torch_rng(resume)
            random.setstate(resume.python_rng)
        writes_state = self.state_dir is not None and world == 1
        if writes_state and self.run is None:
            raise ValueError("Trainer.state_dir needs Trainer.run (what the state file says the run is)")
        session_seconds = 0.0
        show = self.progress and rank == 0
        from tqdm.auto import tqdm

        epochs_bar = tqdm(
            range(first, self.epochs + 1), desc=f"{model.name}", unit="epoch", disable=not show, file=sys.stderr,
            initial=first - 1, total=self.epochs,
        )
        status = resuming.REACHED_EPOCHS
        for epoch in epochs_bar:
            net.train()
            started = time.perf_counter()
            batches = model.batches(train, rng)
            if world > 1:
                usable = max(world, len(batches) // world * world)
                batches = [batches[i % len(batches)] for i in range(rank, usable, world)]
            total, count = 0.0, 0
            steps = len(batches) if self.lr_schedule != "constant" else 0  # the hook returns a list
            bar = tqdm(batches, desc=f"epoch {epoch}", leave=False, disable=not show, file=sys.stderr)
            for step, batch in enumerate(bar):
                if self.lr_schedule != "constant":
                    for group in optimiser.param_groups:
                        group["lr"] = self.lr * lr_factor(self.lr_schedule, epoch, step, steps, self.epochs)
                batch = tuple(t.to(model.device) if hasattr(t, "to") else t for t in batch)
                loss = wrapped(*batch)
                if not torch.isfinite(loss):
                    raise KgrecError(
                        f"{model.name}: the training loss became {loss.item()} at epoch {epoch}", "lower --lr"
                    )
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                if self.clip_grad_norm:
                    torch.nn.utils.clip_grad_norm_(params, self.clip_grad_norm)
                optimiser.step()
                total += float(loss.detach())
                count += 1
                bar.set_postfix(loss=f"{total / count:.4f}", refresh=False)
            epoch_loss = total / max(count, 1)
            if world > 1:
                t = torch.tensor([epoch_loss], dtype=torch.float64)
                torch.distributed.all_reduce(t)
                epoch_loss = float(t.item()) / world
            history["loss"].append(epoch_loss)
            seconds = time.perf_counter() - started
            history["train_seconds"].append(seconds)
            session_seconds += seconds
            elapsed += seconds
            status = resuming.RUNNING
            postfix = {"loss": f"{epoch_loss:.4f}"}
            if ph is not None and epoch % self.eval_every == 0:
                net.eval()
                metric = evaluate_phase(model, ph, protocols=("full",))["full"][metric_name]
                history["valid"].append([epoch, metric])
                postfix[f"val {metric_name}"] = f"{metric:.4f}"
                signed = metric if maximise else -metric
                if signed > best:
                    best, stale = signed, 0
                    best_state = copy.deepcopy(net.state_dict())
                    history["best_epoch"], history["best_valid"] = epoch, metric
                else:
                    stale += 1
                if stale >= self.patience:
                    status = resuming.EARLY_STOPPED
            epochs_bar.set_postfix(postfix)
            if status == resuming.RUNNING and epoch == self.epochs:
                status = resuming.REACHED_EPOCHS
            if status == resuming.RUNNING and self.max_seconds and session_seconds >= self.max_seconds:
                history["stopped_by_time"] = True
                status = resuming.OUT_OF_TIME
            if writes_state:
                assert self.state_dir is not None and self.run is not None
                self._write_state(net, optimiser, epoch, status, best, best_state, stale, history, elapsed, rng)
            if status != resuming.RUNNING:
                break
        epochs_bar.close()
        history["stop_reason"] = status
        if best_state is not None:
            net.load_state_dict(best_state)
        else:
            history["best_epoch"] = len(history["loss"])
        net.eval()
        model.observe_history(train)
        history["epochs_run"] = len(history["loss"])
        history["seconds_per_epoch"] = float(np.mean(history["train_seconds"])) if history["train_seconds"] else 0.0
        return history

    def _write_state(self, net, optimiser, epoch: int, status: str, best: float, best_state, stale: int,
                     history: dict, elapsed: float, rng: np.random.Generator) -> None:
        import torch

        assert self.state_dir is not None and self.run is not None
        cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
        # written out at once, so the live tensors need no copies
        last = {k: v.detach().cpu() for k, v in net.state_dict().items()}
        best_is_last = best_state is not None and history.get("best_epoch") == epoch
        state = resuming.TrainingState(
            run=self.run, epoch=epoch, status=status, net=last, optimizer=optimiser.state_dict(),
            best=float(best), best_epoch=int(history.get("best_epoch") or 0), stale=stale,
            best_net=None if best_state is None or best_is_last else {k: v.cpu() for k, v in best_state.items()},
            history=history, elapsed_seconds=elapsed, numpy_rng=dict(rng.bit_generator.state),
            torch_rng=torch.get_rng_state(), python_rng=random.getstate(),
            cuda_rng=torch.cuda.get_rng_state_all() if cuda else None,
        )
        resuming.write_state(self.state_dir, state)


def _restore_torch_rng(state: resuming.TrainingState) -> None:
    import torch

    torch.set_rng_state(state.torch_rng)
    if state.cuda_rng is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state.cuda_rng)


def fit(model: Recommender, train: InteractionData, valid: InteractionData | None = None, **kwargs: Any) -> dict:
    """Train any model: a ``TrainableRecommender`` gets ``Trainer.for_model(model)`` (unless
    ``trainer=`` is given), other models fit themselves. ``kwargs`` go to ``model.fit``."""
    if isinstance(model, TrainableRecommender) and kwargs.get("trainer") is None:
        kwargs["trainer"] = Trainer.for_model(model)
    return model.fit(train, valid, **kwargs)
