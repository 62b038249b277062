"""The one interface every model follows: fit / score / recommend / save / load.

Users and items are dense indices (see ``kgrec.models.data.interactions.InteractionData``). ``score`` returns
a matrix of scores, higher is better; ``recommend`` ranks all items and removes the ones given in
``exclude``. Models that predict ratings or like/dislike also implement ``predict_rating``.
"""

from __future__ import annotations

import abc
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

if TYPE_CHECKING:  # annotations only: serving a model never needs the training data's imports (scipy)
    from kgrec.models.data.interactions import InteractionData

# A model's state is saved as ``state.npz`` when it is plain numpy arrays (popularity, text kNN):
# loading it needs numpy only, which keeps torch out of a one-shot `kgctl recommend`; anything
# else (tensors, nested dicts, sparse matrices) goes to ``state.pt`` through torch. ``load`` reads
# whichever the folder holds, so checkpoints written before ``state.npz`` existed still load.
STATE_ARRAYS = "state.npz"
STATE_TORCH = "state.pt"

_REGISTRY: dict[str, type[Recommender]] = {}


def register(cls: type[Recommender]) -> type[Recommender]:
    """Class decorator: make a model available by its ``name`` (``kgctl train --model NAME``)."""
    _REGISTRY[cls.name] = cls
    return cls


def model_names() -> list[str]:
    _import_all()
    return sorted(_REGISTRY)


def get_model_class(name: str) -> type[Recommender]:
    from kgrec.errors import KgrecError

    _import_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KgrecError(f"unknown model {name!r}", f"choose one of: {', '.join(sorted(_REGISTRY))}") from None


# The packages that hold models; the registry imports these and nothing else.
MODEL_FAMILIES = ("general", "sequential", "content", "knowledge", "kgbm4rec")


def _import_all() -> None:
    import importlib
    import pkgutil

    for family in MODEL_FAMILIES:
        package = importlib.import_module(f"kgrec.models.{family}")
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}."):
            if not info.name.rsplit(".", 1)[-1].startswith("_"):
                importlib.import_module(info.name)


class Recommender(abc.ABC):
    """Subclass, set ``name``, decorate with ``@register``. Optional class attributes:
    ``predicts_rating`` (implements ``predict_rating``), ``requires`` (graph inputs beyond the
    interactions: ``"kg"``, ``"text_emb"``, ``"image_emb"``; handed to ``fit`` as ``graph=``),
    ``defaults`` (hyperparameter defaults, chosen on validation), ``search_space`` (the grid
    ``kgctl tune`` searches), ``ablations`` (switch hyperparameter -> the modality it turns
    off, e.g. ``{"no_kg": "kg"}``; ``kgctl train --ablations`` trains one variant per switch, see
    ``kgrec.models.workflows.ablation``; such a model reports ``history["modalities"]`` from ``fit``).
    Trainable neural models subclass ``kgrec.models.trainable.TrainableRecommender`` instead, which
    runs the shared ``Trainer``."""

    name: ClassVar[str] = ""
    predicts_rating: ClassVar[bool] = False
    requires: ClassVar[tuple[str, ...]] = ()
    defaults: ClassVar[dict[str, Any]] = {}
    search_space: ClassVar[dict[str, list[Any]]] = {}
    ablations: ClassVar[dict[str, str]] = {}
    # True for models that compute a user from the user's item history (sequence and profile
    # models): the server scores every user, a new one included, with the history the graph
    # holds at request time through ``score_histories``.
    uses_history: ClassVar[bool] = False

    def __init__(self, **hparams: Any):
        self.hparams = {**self.defaults, **{k: v for k, v in hparams.items() if v is not None}}
        self.n_users = 0
        self.n_items = 0

    @abc.abstractmethod
    def fit(self, train: InteractionData, valid: InteractionData | None = None, **kwargs: Any) -> dict:
        """Train on ``train``; returns a history dict (losses, validation metrics per epoch).

        Keyword arguments the pipeline passes (ignore what you do not need): ``graph``
        (``GraphInputs`` with what ``requires`` asked for), ``trainer`` (a configured
        ``kgrec.models.training.trainer.Trainer``)."""

    def observe_history(self, known: InteractionData) -> None:  # noqa: B027 (optional hook, empty by default)
        """The interactions known at inference time (train for validation; train + validation for
        test). Sequence and profile models rebuild their user inputs from it; default: nothing."""

    def score_histories(self, histories: list[np.ndarray], users: np.ndarray | None = None) -> np.ndarray:
        """Scores of shape (len(histories), n_items) for users given by their current histories:
        dense item indices the model knows, oldest first. ``users`` holds the model's index of each
        user, or -1 for a user it never saw (models with per-user parameters fall back to what the
        history alone gives). Implemented by models with ``uses_history = True``."""
        raise NotImplementedError(f"{self.name} does not score users from a history")

    def checked_histories(
        self, histories: list[np.ndarray], users: np.ndarray | None = None
    ) -> tuple[list[np.ndarray], np.ndarray]:
        """``score_histories``'s arguments checked: each history as int64 item indices the model
        knows, and ``users`` (-1 for every user when not given), one per history."""
        from kgrec.errors import KgrecError

        out = [np.asarray(h, dtype=np.int64).reshape(-1) for h in histories]
        for row, history in enumerate(out):
            bad = history[(history < 0) | (history >= self.n_items)]
            if len(bad):
                raise KgrecError(
                    f"{self.name}: history {row} holds item index {int(bad[0])}, "
                    f"outside the model's {self.n_items} products",
                    "map product ids to the checkpoint's item indices and leave out products it never saw",
                )
        users = np.full(len(out), -1, np.int64) if users is None else np.asarray(users, dtype=np.int64).reshape(-1)
        if len(users) != len(out):
            raise KgrecError(
                f"{self.name}: {len(out)} histories but {len(users)} users", "give one user index (or -1) per history"
            )
        return out, users

    @abc.abstractmethod
    def score(self, users: np.ndarray, items: np.ndarray | None = None) -> np.ndarray:
        """Scores of shape (len(users), n_items), or (len(users), len(items)) for given items."""

    def predict_rating(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{self.name} does not predict ratings")

    def recommend(self, user: int, k: int = 10, exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k item indices and their scores for one user, ``exclude`` removed."""
        scores = self.score(np.asarray([user]))[0].astype(np.float64)
        if exclude is not None and len(exclude):
            scores[np.asarray(exclude)] = -np.inf
        k = min(k, int(np.isfinite(scores).sum()))
        top = np.argpartition(-scores, k - 1)[:k] if k else np.zeros(0, np.int64)
        top = top[np.lexsort((top, -scores[top]))]
        return top, scores[top]

    # ----------------------------------------------------------------- persistence
    @abc.abstractmethod
    def state(self) -> dict[str, Any]:
        """Everything needed to rebuild the trained model (tensors and arrays allowed)."""

    @abc.abstractmethod
    def load_state(self, state: dict[str, Any]) -> None: ...

    def save(self, path: str | Path) -> None:
        """``model.json`` (name, the module that registers it, hyperparameters, sizes) and the
        state: ``state.npz`` when ``state()`` is plain numpy arrays, else ``state.pt`` (torch)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        state = self.state()
        meta = {
            "model": self.name, "module": type(self).__module__, "hparams": self.hparams,
            "n_users": self.n_users, "n_items": self.n_items,
        }
        if plain_arrays(state):
            np.savez(path / STATE_ARRAYS, **state)
            (path / STATE_TORCH).unlink(missing_ok=True)
        else:
            import torch

            torch.save(state, path / STATE_TORCH)
            (path / STATE_ARRAYS).unlink(missing_ok=True)
        (path / "model.json").write_text(json.dumps(meta, indent=2, default=str))

    @classmethod
    def load(cls, path: str | Path) -> Recommender:
        path = Path(path)
        meta = json.loads((path / "model.json").read_text())
        model_cls = get_model_class(meta["model"]) if cls is Recommender else cls
        model = model_cls(**meta["hparams"])
        model.n_users, model.n_items = meta["n_users"], meta["n_items"]
        model.load_state(read_state(path))
        return model


def plain_arrays(state: dict[str, Any]) -> bool:
    """True when every value of ``state`` is a numpy array numpy saves without pickling, under a
    plain name: such a state is saved as ``state.npz``."""
    return bool(state) and all(
        isinstance(k, str) and k.isidentifier() and isinstance(v, np.ndarray) and not v.dtype.hasobject
        for k, v in state.items()
    )


def read_state(path: Path) -> dict[str, Any]:
    """The saved state in folder ``path``: ``state.npz`` with numpy alone, else ``state.pt`` with torch."""
    if (path / STATE_ARRAYS).exists():
        with np.load(path / STATE_ARRAYS, allow_pickle=False) as arrays:
            return {name: arrays[name] for name in arrays.files}
    import torch

    state: dict[str, Any] = torch.load(path / STATE_TORCH, weights_only=False)
    return state
