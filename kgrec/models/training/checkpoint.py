"""Checkpoints: a trained model plus the id maps and the graph snapshot it was trained on.

Layout of a checkpoint folder::

    model.json               the model's name, the module that registers it, hyperparameters
    state.npz | state.pt     its state (Recommender.save): plain numpy arrays in state.npz, read
                             without torch (popularity, text kNN); anything else in state.pt
                             (torch); checkpoints from before state.npz have state.pt only
    checkpoint.json          snapshot id, model name, training config, metrics
    ids.npz                  user_ids, item_ids (index -> external id)
    training_state.pt        the resumable training state (neural models; kgrec.models.training.resume),
                             rewritten after every epoch and kept when the checkpoint is rewritten

Written to a temporary sibling folder and renamed into place, so a crash never leaves a
half-written checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from kgrec.errors import KgrecError
from kgrec.models.base import Recommender


class StaleCheckpoint(KgrecError):
    pass


@dataclasses.dataclass
class Checkpoint:
    model: Recommender
    user_ids: np.ndarray
    item_ids: np.ndarray
    meta: dict[str, Any]

    @property
    def trained_snapshot(self) -> str | None:
        """The graph snapshot id the model was trained on."""
        return self.meta.get("snapshot_id")

    @property
    def user_index(self) -> dict[str, int]:
        return {u: i for i, u in enumerate(self.user_ids.tolist())}

    @property
    def item_index(self) -> dict[str, int]:
        return {p: i for i, p in enumerate(self.item_ids.tolist())}


def save_checkpoint(
    path: str | Path,
    model: Recommender,
    user_ids: np.ndarray,
    item_ids: np.ndarray,
    snapshot_id: str,
    config: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    *,
    keep: tuple[str, ...] = (),
) -> Path:
    """Write the checkpoint folder ``path`` (replacing it whole); the files and folders named in
    ``keep`` that the old folder has (the training state, a resumed run's ablation variants) are
    carried into the new one (folders as hard links: no data is copied)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        model.save(tmp)
        np.savez(tmp / "ids.npz", user_ids=np.asarray(user_ids, dtype=str), item_ids=np.asarray(item_ids, dtype=str))
        meta = {"model": model.name, "snapshot_id": snapshot_id, "config": config or {}, "metrics": metrics or {}}
        (tmp / "checkpoint.json").write_text(json.dumps(meta, indent=2, default=str))
        for name in keep:
            if (path / name).is_dir():
                shutil.copytree(path / name, tmp / name, copy_function=_link_or_copy)
            elif (path / name).is_file():
                shutil.copy2(path / name, tmp / name)
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def load_checkpoint(path: str | Path, snapshot_id: str | None = None, *, force: bool = False) -> Checkpoint:
    """Load a checkpoint; when ``snapshot_id`` differs from the one it was trained on, refuse
    (``StaleCheckpoint``) unless ``force``, in which case warn. This is the strict check of
    ``evaluate``: its metrics are only meaningful on the graph the split came from."""
    path = Path(path)
    meta = read_meta(path)
    if snapshot_id is not None:
        check_snapshot(path, meta.get("snapshot_id"), snapshot_id, force=force)
    return _load(path, meta)


def check_snapshot(
    path: str | Path, trained: str | None, current: str, *, force: bool = False,
    hint: str = "retrain, or pass --force to use it anyway",
) -> None:
    """The rule for a checkpoint trained on graph snapshot ``trained`` used on the graph as it is
    now (``current``): the same snapshot, else ``StaleCheckpoint`` (a warning with ``force``)."""
    if trained == current:
        return
    message = f"checkpoint {path} was trained on graph snapshot {trained}, the graph is now {current}"
    if not force:
        raise StaleCheckpoint(message, hint)
    warnings.warn(message, stacklevel=3)


def load_for_serving(path: str | Path) -> Checkpoint:
    """Load a checkpoint to serve on the current graph, whatever happened to the graph since it was
    trained (the lenient mode): serving maps users and products by id, scores users it never saw
    from their current history (models with ``uses_history``) and leaves products it never saw to
    the graph sources. ``Checkpoint.trained_snapshot`` says what it was trained on.

    Only the module that registers the model is imported (``model.json`` names it), or, for a
    checkpoint that does not name it, the model's own family, module by module: the registry would
    import every family, torch, PyG and the text models' libraries included, most of a one-shot
    command's time. A model whose state is plain arrays (``state.npz``) loads without torch."""
    path = Path(path)
    meta = read_meta(path)
    return _load(path, meta, model_class_of(path))


def model_class_of(path: str | Path) -> type[Recommender]:
    """The registered class of the model saved in checkpoint folder ``path`` (without loading it)."""
    return _model_class(json.loads((Path(path) / "model.json").read_text()))


def _model_class(model_meta: dict[str, Any]) -> type[Recommender]:
    """The registered class of the model ``model.json`` describes: the module it names, when that
    is a family module; otherwise (older checkpoints, a module since moved) the family modules one
    at a time until it is found (the registry's order); an unknown name gets the registry's own
    error."""
    import importlib
    import pkgutil

    from kgrec.models import base

    name, module = model_meta["model"], str(model_meta.get("module") or "")
    if name not in base._REGISTRY and module.startswith(tuple(f"kgrec.models.{f}." for f in base.MODEL_FAMILIES)):
        try:
            importlib.import_module(module)
        except ImportError:
            pass  # moved or renamed since the checkpoint was written: look for it below
    for family in base.MODEL_FAMILIES:
        if name in base._REGISTRY:
            break
        package = importlib.import_module(f"kgrec.models.{family}")
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}."):
            if name in base._REGISTRY:
                break
            if not info.name.rsplit(".", 1)[-1].startswith("_"):
                importlib.import_module(info.name)
    return base._REGISTRY.get(name) or base.get_model_class(name)


def read_meta(path: Path) -> dict[str, Any]:
    """The checkpoint's ``checkpoint.json`` (model, snapshot, training config, metrics)."""
    if not (path / "checkpoint.json").exists():
        raise KgrecError(f"no checkpoint at {path}", "train one with `kgctl train`")
    try:
        meta: dict[str, Any] = json.loads((path / "checkpoint.json").read_text())
    except ValueError as exc:
        raise KgrecError(f"cannot read {path / 'checkpoint.json'}: {exc}", "retrain with `kgctl train`") from None
    return meta


def _load(path: Path, meta: dict[str, Any], model_cls: type[Recommender] = Recommender) -> Checkpoint:
    ids = np.load(path / "ids.npz", allow_pickle=False)
    model = model_cls.load(path)
    return Checkpoint(model, ids["user_ids"].astype(object), ids["item_ids"].astype(object), meta)


def write_json_atomic(path: Path, payload: dict) -> None:
    """Write JSON to ``path`` through a temporary file and a rename: readers see the old file or
    the new one, never half of one (manifests rewritten while a run goes on)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f, indent=2, default=str)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
