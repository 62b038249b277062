"""Base class for neural models trained by the shared ``Trainer``.

The split of work: the **trainer** owns the epoch loop (seeding, optimiser, DDP, progress bars,
validation, early stopping, restoring the best epoch); the **model** owns its data preparation,
its network and its per-batch loss. A model implements five hooks:

``prepare(train, graph)``
    Build data-dependent inputs once (normalised adjacency, user sequences, KG triples). They are
    not part of the saved state; ``self.device`` is set before this is called.
``build_network() -> torch.nn.Module``
    The network from ``self.n_users``, ``self.n_items`` and ``self.hparams`` only (so a saved
    model can be rebuilt without the data). ``forward(*batch)`` returns the scalar training loss:
    this is what DDP wraps.
``batches(train, rng) -> list[tuple[Tensor, ...]]``
    One epoch of batches drawn with the numpy ``rng`` the trainer seeds (same on every rank; the
    trainer gives each DDP rank its own share).
``score_users(users: LongTensor) -> Tensor``
    (len(users), n_items) scores, called under ``torch.no_grad()`` with the network in eval mode.
``extra_state() / load_extra_state(state)``  (optional)
    Non-parameter things scoring needs after loading (cached final embeddings, sequences).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from kgrec.models.base import Recommender

if TYPE_CHECKING:  # annotations only: serving a checkpoint never needs the training data's imports (scipy)
    from kgrec.models.data.interactions import GraphInputs, InteractionData

TRAINER_KEYS = (
    "epochs", "lr", "lr_schedule", "weight_decay", "patience", "eval_every", "clip_grad_norm", "max_seconds",
)
TRAINER_DEFAULTS: dict[str, Any] = {
    "epochs": 100, "lr": 1e-3, "lr_schedule": "constant", "weight_decay": 0.0, "patience": 10, "eval_every": 1,
    "clip_grad_norm": None, "max_seconds": None,
}
# how the learning rate moves over a run (kgrec.models.training.schedule): "constant" keeps ``lr``;
# "cosine" decays it from ``lr`` to 0 over the run's ``epochs``, step by step
LR_SCHEDULES = ("constant", "cosine")


class TrainableRecommender(Recommender):
    defaults: ClassVar[dict[str, Any]] = {}
    valid_metric: ClassVar[str] = "NDCG@10"  # what early stopping watches (full ranking, validation)
    valid_metric_higher_is_better: ClassVar[bool] = True

    def __init__(self, **hparams: Any):
        super().__init__(**hparams)
        self.hparams = {**TRAINER_DEFAULTS, **self.hparams}
        self.net: Any = None  # the nn.Module build_network() returns; None until fit or load
        import torch

        self.device = torch.device("cpu")

    # ----------------------------------------------------------------- hooks
    def prepare(self, train: InteractionData, graph: GraphInputs | None) -> None:  # noqa: B027
        """Data-dependent inputs; default: nothing."""

    def build_network(self):
        raise NotImplementedError

    def batches(self, train: InteractionData, rng: np.random.Generator) -> list[tuple]:
        raise NotImplementedError

    def score_users(self, users):
        raise NotImplementedError

    def extra_state(self) -> dict[str, Any]:
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:  # noqa: B027
        pass

    # ----------------------------------------------------------------- Recommender
    def fit(  # type: ignore[override]  # the Trainer is injected (keyword-only); Recommender.fit takes none
        self, train: InteractionData, valid: InteractionData | None = None,
        *,
        trainer: Any, graph: GraphInputs | None = None,
        **kwargs: Any,
    ) -> dict:
        """Train with the injected ``trainer`` (a ``kgrec.models.training.trainer.Trainer``; a
        model never imports the training loop). ``kgrec.models.training.trainer.fit(model, ...)``
        builds one from the hyperparameters."""
        return trainer.fit(self, train, valid, graph=graph)

    def score(self, users: np.ndarray, items: np.ndarray | None = None) -> np.ndarray:
        import torch

        from kgrec.models.nn.modes import evaluating

        with evaluating(self.net), torch.no_grad():
            out = self.score_users(torch.as_tensor(np.asarray(users), dtype=torch.long, device=self.device))
        out = out.float().cpu().numpy()
        return out if items is None else out[:, np.asarray(items)]

    def state(self) -> dict[str, Any]:
        return {"net": {k: v.detach().cpu() for k, v in self.net.state_dict().items()}, **self.extra_state()}

    def load_state(self, state: dict[str, Any]) -> None:
        self.net = self.build_network()
        self.net.load_state_dict(state["net"])
        self.net.eval()
        self.load_extra_state(state)

    def infer(self, fn, *args: Any) -> np.ndarray:
        """``fn(*args)`` (a tensor) under ``torch.no_grad()`` with the network in eval mode (its
        mode restored after), as a float32 numpy array, as ``score`` runs ``score_users``: for
        other inference entry points such as ``score_histories``."""
        import torch

        from kgrec.models.nn.modes import evaluating

        with evaluating(self.net), torch.no_grad():
            out = fn(*args)
        return out.float().cpu().numpy()
