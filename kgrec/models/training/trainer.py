"""The training loop shared by every neural model (see ``kgrec.models.trainable`` for the hooks
a model implements).

Seeded (python, numpy, torch), Adam, per-epoch validation on the validation items (the model's
``valid_metric``: full-ranking NDCG@10 by default, MSE for rating models), early stopping after
``patience`` validations without improvement, the best
epoch's weights restored at the end, progress bars on stderr with the loss and the validation
metric, and DistributedDataParallel when a process group is initialised (each rank trains on its
share of every epoch's batches; gradients are averaged by DDP).
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
from kgrec.models.training.memory import fix_mmap_threshold


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


@dataclasses.dataclass
class Trainer:
    epochs: int = TRAINER_DEFAULTS["epochs"]
    lr: float = TRAINER_DEFAULTS["lr"]
    weight_decay: float = TRAINER_DEFAULTS["weight_decay"]
    patience: int = TRAINER_DEFAULTS["patience"]
    eval_every: int = TRAINER_DEFAULTS["eval_every"]
    clip_grad_norm: float | None = None
    max_seconds: float | None = None  # stop after the epoch that brings training time past this
    seed: int = 42
    progress: bool = True
    device: str = "auto"  # "auto": the rank's GPU when there is one, else CPU

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
    ) -> dict:
        import torch

        from kgrec.models.evaluation.protocol import Phase, evaluate_phase

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
        best, best_state, stale = -np.inf, None, 0
        show = self.progress and rank == 0
        from tqdm.auto import tqdm

        epochs_bar = tqdm(
            range(1, self.epochs + 1), desc=f"{model.name}", unit="epoch", disable=not show, file=sys.stderr
        )
        for epoch in epochs_bar:
            net.train()
            started = time.perf_counter()
            batches = model.batches(train, rng)
            if world > 1:
                usable = max(world, len(batches) // world * world)
                batches = [batches[i % len(batches)] for i in range(rank, usable, world)]
            total, count = 0.0, 0
            bar = tqdm(batches, desc=f"epoch {epoch}", leave=False, disable=not show, file=sys.stderr)
            for batch in bar:
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
            history["train_seconds"].append(time.perf_counter() - started)
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
                epochs_bar.set_postfix(postfix)
                if stale >= self.patience:
                    break
            else:
                epochs_bar.set_postfix(postfix)
            if self.max_seconds and sum(history["train_seconds"]) >= self.max_seconds:
                history["stopped_by_time"] = True
                break
        epochs_bar.close()
        if best_state is not None:
            net.load_state_dict(best_state)
        else:
            history["best_epoch"] = len(history["loss"])
        net.eval()
        model.observe_history(train)
        history["epochs_run"] = len(history["loss"])
        history["seconds_per_epoch"] = float(np.mean(history["train_seconds"])) if history["train_seconds"] else 0.0
        return history


def fit(model: Recommender, train: InteractionData, valid: InteractionData | None = None, **kwargs: Any) -> dict:
    """Train any model: a ``TrainableRecommender`` gets ``Trainer.for_model(model)`` (unless
    ``trainer=`` is given), other models fit themselves. ``kwargs`` go to ``model.fit``."""
    if isinstance(model, TrainableRecommender) and kwargs.get("trainer") is None:
        kwargs["trainer"] = Trainer.for_model(model)
    return model.fit(train, valid, **kwargs)
