"""Train / evaluate end to end from the graph store: what ``kgctl train`` and ``kgctl evaluate``
call, usable from Python as well.

    from kgrec.kg import open_backend
    from kgrec.models.workflows.pipeline import load_dataset, train_model, evaluate_models
    with open_backend("kgrec.db", read_only=True) as b:
        ds = load_dataset(b)
        result = train_model(ds, "lightgcn", {"epochs": 50}, seed=42, out="runs/lightgcn")
        report = evaluate_models(ds, {"lightgcn": result.model})
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from kgrec.errors import KgrecError
from kgrec.kg.backend import Backend
from kgrec.models.base import Recommender, get_model_class
from kgrec.models.data.interactions import GraphInputs, InteractionData
from kgrec.models.data.split import Split, temporal_leave_one_out
from kgrec.models.evaluation.per_user import UserMetrics
from kgrec.models.evaluation.protocol import DEFAULT_NEGATIVE_SEED, PROTOCOLS, evaluate, evaluate_phase_per_user, phase
from kgrec.models.training.checkpoint import load_checkpoint, save_checkpoint
from kgrec.models.training.resume import STATE_FILE, state_path


@dataclasses.dataclass
class Dataset:
    """Interactions, their split, and a loader for the extra graph inputs models ask for."""

    data: InteractionData
    split: Split
    backend: Backend | None = None
    _graph_cache: dict[str, Any] = dataclasses.field(default_factory=dict)

    def graph_inputs(self, requires: tuple[str, ...]) -> GraphInputs:
        missing = [r for r in requires if r not in self._graph_cache]
        if missing:
            if self.backend is None:
                raise KgrecError(f"the model needs {', '.join(missing)} from the graph and no graph store is open")
            loaded = GraphInputs.from_backend(self.backend, self.data.item_ids, tuple(missing))
            for r in missing:
                self._graph_cache[r] = loaded.kg if r == "kg" else loaded.item_features[r]
        return GraphInputs(
            kg=self._graph_cache.get("kg") if "kg" in requires else None,
            item_features={r: self._graph_cache[r] for r in requires if r != "kg"},
        )

    @property
    def snapshot_id(self) -> str:
        return self.data.snapshot_id


def load_dataset(backend: Backend) -> Dataset:
    """Interactions from the graph store and their temporal leave-one-out split, with clear
    errors for graphs that cannot be trained on."""
    backend.ensure_schema()
    data = InteractionData.from_backend(backend)
    if data.n_users == 0 or data.n_items == 0 or len(data) == 0:
        raise KgrecError(
            f"the graph has {data.n_users} users, {data.n_items} "
            f"products and {len(data)} interactions: nothing to train on",
            "ingest data first, e.g. kgctl ingest recbole --dataset ml-100k",
        )
    split = temporal_leave_one_out(data)
    if len(split.valid) == 0:
        warnings.warn(
            "no user has 3 or more interactions, so there is no validation or test set: "
            "models train without early stopping and cannot be evaluated", stacklevel=2,
        )
    return Dataset(data, split, backend)


@dataclasses.dataclass
class TrainResult:
    model: Recommender
    history: dict[str, Any]
    valid: dict[str, float]
    checkpoint: Path | None


def _train_here(
    ds: Dataset, name: str, hparams: dict[str, Any], seed: int, progress: bool,
    state_dir: str | Path | None = None, resume: Any = None,
) -> tuple[Recommender, dict]:
    """Train here (one process). Neural models write their resumable training state into
    ``state_dir`` after every epoch; ``resume`` (a ``TrainingState`` read from it) continues
    that run."""
    from kgrec.models.trainable import TrainableRecommender
    from kgrec.models.training.resume import RunInfo
    from kgrec.models.training.trainer import Trainer, seed_everything

    cls = get_model_class(name)
    if "seed" in cls.defaults:  # models with their own loop take the run's seed as a hyperparameter
        hparams = {**hparams, "seed": seed}
    model = cls(**hparams)
    graph = ds.graph_inputs(model.requires)  # an instance may need less than its class (kgbm4rec's sampled GNN)
    seed_everything(seed)
    kwargs: dict[str, Any] = {"graph": graph, "backend": ds.backend}
    if isinstance(model, TrainableRecommender):
        run = RunInfo(name, dict(model.hparams), seed, ds.snapshot_id)
        state = str(state_dir) if state_dir is not None else None
        kwargs["trainer"] = Trainer.for_model(
            model, seed=seed, progress=progress, state_dir=state, run=run, resume_from=resume
        )
    elif resume is not None:
        raise KgrecError(f"{name} has no training loop to resume")
    history = model.fit(ds.split.train, ds.split.valid, **kwargs)
    return model, history


def _config(name: str, model: Recommender, seed: int, nproc: int) -> dict[str, Any]:
    return {"model": name, "hparams": model.hparams, "seed": seed, "nproc": nproc, "split": "temporal_leave_one_out"}


def _valid_metrics(model: Recommender, ds: Dataset) -> dict[str, float]:
    if len(ds.split.valid) == 0:
        return {}
    return evaluate(model, ds.split, "valid", protocols=("full",))["full"]


def train_model(
    ds: Dataset,
    name: str,
    hparams: dict[str, Any] | None = None,
    *,
    seed: int = 42,
    out: str | Path | None = None,
    nproc: int = 1,
    progress: bool = True,
    resume: Any = None,
    keep: tuple[str, ...] = (),
) -> TrainResult:
    """Train model ``name`` on the split's training part (validation for early stopping),
    optionally with ``nproc`` DDP processes, and write a checkpoint to ``out``. A neural model
    trained in one process also writes its resumable training state to ``out`` after every epoch;
    ``resume`` (that state, see ``kgrec.models.workflows.resume``) continues it. ``keep``: files
    or folders of ``out`` the rewritten checkpoint keeps (``save_checkpoint``)."""
    hparams = dict(hparams or {})
    cls = get_model_class(name)
    if nproc > 1:
        from kgrec.models.trainable import TrainableRecommender

        if not issubclass(cls, TrainableRecommender):
            raise KgrecError(f"{name} has no training loop to distribute", "drop --nproc")
        return _train_distributed(ds, name, hparams, seed, out, nproc, progress)
    if out is not None and resume is None:
        state_path(out).unlink(missing_ok=True)  # a fresh run: an older run's state must not be resumed
    model, history = _train_here(ds, name, hparams, seed, progress, state_dir=out, resume=resume)
    valid = _valid_metrics(model, ds)
    path = None
    if out is not None:
        path = save_checkpoint(out, model, ds.data.user_ids, ds.data.item_ids, ds.snapshot_id,
                               config=_config(name, model, seed, 1), metrics={"valid": valid, "history": history},
                               keep=(STATE_FILE, *keep))
    return TrainResult(model, history, valid, path)


def _ddp_entry(ds_parts: tuple, name: str, hparams: dict, seed: int, out: str, progress: bool, nproc: int) -> None:
    from kgrec.models.training import distributed

    data, split, graph_cache, address = ds_parts
    backend = None
    if address is not None:  # models that read the graph store while training (kgbm4rec's sampled GNN) get one per rank
        from kgrec.kg import open_backend

        backend = open_backend(address, read_only=True, create=False)
    ds = Dataset(data, split, backend, graph_cache)
    try:
        model, history = _train_here(ds, name, hparams, seed, progress)
    finally:
        if backend is not None:
            backend.close()
    if distributed.rank() == 0:
        save_checkpoint(
            out, model, data.user_ids, data.item_ids, data.snapshot_id, config=_config(name, model, seed, nproc),
            metrics={"valid": _valid_metrics(model, ds), "history": history},
        )


def _train_distributed(
    ds: Dataset, name: str, hparams: dict, seed: int, out, nproc: int, progress: bool
) -> TrainResult:
    from kgrec.models.training import distributed

    cls = get_model_class(name)
    probe = cls(**hparams)
    ds.graph_inputs(probe.requires)  # load once here; workers get the arrays (and a database address if they read it)
    tmp = None
    if out is None:
        tmp = tempfile.mkdtemp(prefix="kgrec-ddp-")
        out = os.path.join(tmp, "checkpoint")
    address = _address(ds.backend) if getattr(probe, "reads_graph_store", False) else None
    parts = (ds.data, ds.split, dict(ds._graph_cache), address)
    distributed.spawn(nproc, _ddp_entry, parts, name, hparams, seed, str(out), progress, nproc)
    ck = load_checkpoint(out, ds.snapshot_id)
    if tmp is not None:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return TrainResult(
        ck.model, ck.meta["metrics"].get("history", {}), ck.meta["metrics"].get("valid", {}), None if tmp else Path(out)
    )


def _address(backend: Backend | None) -> str | None:
    """What ``open_backend`` reopens ``backend`` from in another process: its file or its URI."""
    if backend is None:
        return None
    path = getattr(backend, "path", None)
    return str(path) if path is not None else getattr(backend, "uri", None)


def load_trained(ds: Dataset, path: str | Path, force: bool = False) -> tuple[str, Recommender, dict]:
    """A checkpoint checked against the current graph: refused when the graph changed (unless
    ``force``) and always when its user/item ids do not line up with the graph's."""
    ck = load_checkpoint(path, ds.snapshot_id, force=force)
    if (
        len(ck.user_ids) != ds.data.n_users
        or len(ck.item_ids) != ds.data.n_items
        or not (
            np.array_equal(ck.user_ids.astype(str), ds.data.user_ids.astype(str))
            and np.array_equal(ck.item_ids.astype(str), ds.data.item_ids.astype(str))
        )
    ):
        raise KgrecError(
            f"checkpoint {path} was trained on other users/products than the graph has now",
            "retrain it on this graph (--force cannot fix different ids)",
        )
    return ck.meta.get("model", ck.model.name), ck.model, ck.meta


@dataclasses.dataclass
class Evaluation:
    """The test-phase report (``{protocol: {label: {metric: value}}}``) and the same metrics per
    evaluated user (``{protocol: {label: UserMetrics}}``), which intervals and paired tests need."""

    report: dict[str, dict[str, dict[str, float]]]
    per_user: dict[str, dict[str, UserMetrics]]


def evaluate_models_per_user(
    ds: Dataset,
    models: dict[str, Recommender],
    protocols: tuple[str, ...] = PROTOCOLS,
    negative_seed: int = DEFAULT_NEGATIVE_SEED,
) -> Evaluation:
    """Every model on the test phase, keeping each user's values (same users for every model)."""
    report: dict[str, dict[str, dict[str, float]]] = {p: {} for p in protocols}
    per_user: dict[str, dict[str, UserMetrics]] = {p: {} for p in protocols}
    test = phase(ds.split, "test")
    for label, model in models.items():
        result = evaluate_phase_per_user(model, test, protocols=protocols, negative_seed=negative_seed)
        for p in protocols:
            report[p][label] = result.metrics[p]
            per_user[p][label] = result.per_user[p]
    return Evaluation(report, per_user)


def evaluate_models(
    ds: Dataset,
    models: dict[str, Recommender],
    protocols: tuple[str, ...] = PROTOCOLS,
    negative_seed: int = DEFAULT_NEGATIVE_SEED,
) -> dict[str, dict[str, dict[str, float]]]:
    """``{protocol: {model_name: {metric: value}}}`` on the test phase."""
    return evaluate_models_per_user(ds, models, protocols, negative_seed).report
