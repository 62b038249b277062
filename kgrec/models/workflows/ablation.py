"""Ablations: the full model and one variant per ablation switch (``Recommender.ablations``),
trained with the same seed and hyperparameters, stored beside the full checkpoint and evaluated
into an ablation table.

Layout on disk (``kgctl train --model kgbm4rec --ablations --out OUT``)::

    OUT/                          the full model's checkpoint (kgctl recommend --model OUT uses it)
    OUT/ablations/ablations.json  manifest: model, seed, hyperparameters, each variant's status
    OUT/ablations/no_kg/          one checkpoint per trained variant (same layout as OUT)

The full model is written first and replaces OUT as a whole (so the ablations of an earlier run
never sit beside a new full model); the manifest is rewritten atomically after every variant, so
an interrupted run leaves the finished variants usable and says which are missing. A switch whose
modality the full model already ran without (the data lacks it, or the switch was set for the
full model too) is not retrained: its row carries the reason instead of numbers.

    from kgrec.models.workflows.ablation import train_ablations, find_ablations, evaluate_ablations
    run = train_ablations(ds, "kgbm4rec", {"epochs": 20}, seed=42, out="runs/kgbm4rec")
"""

from __future__ import annotations

import dataclasses
import json
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kgrec.errors import KgrecError
from kgrec.models.base import Recommender, get_model_class, model_names
from kgrec.models.evaluation.ablation_table import AblationRow, AblationTable
from kgrec.models.modality import ModalityStatus
from kgrec.models.training.checkpoint import write_json_atomic

ABLATIONS_DIR = "ablations"
MANIFEST = "ablations.json"
MANIFEST_VERSION = 1
MODALITY_NAMES = {"kg": "KG"}

# variant status values in the manifest
TRAINED, PENDING, SKIPPED = "trained", "pending", "skipped"


def ablation_switches(name: str) -> dict[str, str]:
    """The model's ablation switches (hyperparameter -> modality); a clear error when it has none."""
    switches = dict(get_model_class(name).ablations)
    if not switches:
        with_switches = [n for n in model_names() if get_model_class(n).ablations]
        raise KgrecError(f"{name} has no ablation switches, so there is nothing to ablate",
                         f"--ablations works for: {', '.join(with_switches) or 'no registered model'}")
    return switches


def variant_label(modality: str | None) -> str:
    """``full`` for the full model, ``without KG`` / ``without text`` ... for a variant."""
    return "full" if modality is None else f"without {MODALITY_NAMES.get(modality, modality)}"


def skip_reason(switch: str, modality: str, full_status: str | None) -> str | None:
    """Why ``switch`` needs no training of its own, from the full model's modality status
    (``"on"``, ``"on (...)"``, ``"off (reason)"``); None when the variant must be trained."""
    status = None if full_status is None else ModalityStatus.parse(full_status)
    if status is None or status.is_on:
        return None
    if status.switched_off_by(switch):
        return f"{modality}: switched off in the full model too ({switch})"
    return f"{modality}: not in the data (the full model ran without it)"


@dataclasses.dataclass
class Variant:
    """One ablation switch of a run and what became of it."""

    switch: str
    modality: str
    status: str = PENDING
    note: str = ""
    seconds: float | None = None

    @property
    def label(self) -> str:
        return variant_label(self.modality)

    @property
    def folder(self) -> str:
        return f"{ABLATIONS_DIR}/{self.switch}"


def ablation_path(out: str | Path, switch: str) -> Path:
    return Path(out) / ABLATIONS_DIR / switch




def _manifest(
    name: str,
    seed: int, hparams: dict, snapshot_id: str, modalities: dict, variants: list[Variant], full_seconds: float,
) -> dict:
    return {
        "version": MANIFEST_VERSION, "model": name, "seed": seed, "hparams": hparams, "snapshot_id": snapshot_id,
        "full": {"modalities": modalities, "seconds": full_seconds},
        "variants": [dataclasses.asdict(v) for v in variants],
    }


@dataclasses.dataclass
class AblationRun:
    """What ``train_ablations`` returns: the full model's result, each variant's status and the
    results of the variants it trained (keyed by switch)."""

    full: Any  # pipeline.TrainResult
    variants: list[Variant]
    results: dict[str, Any]
    full_seconds: float
    manifest: Path | None


def train_ablations(
    ds,
    name: str,
    hparams: dict[str, Any] | None = None,
    *,
    seed: int = 42,
    out: str | Path | None = None,
    nproc: int = 1,
    progress: bool = True,
    announce: Callable[[str], None] | None = None,
) -> AblationRun:
    """Train the full model (checkpoint at ``out``) and one variant per ablation switch of model
    ``name`` with the same seed and hyperparameters plus the switch (checkpoints under
    ``out/ablations/<switch>``). ``announce`` receives one line per variant as it starts.
    With ``out=None`` nothing is written (the models are in the result)."""
    from kgrec.models.workflows.pipeline import train_model

    switches = ablation_switches(name)
    hparams = dict(hparams or {})
    say = announce or (lambda text: None)
    say(f"ablations of {name}: training the full model")
    started = time.perf_counter()
    full = train_model(ds, name, hparams, seed=seed, out=out, nproc=nproc, progress=progress)
    full_seconds = time.perf_counter() - started
    modalities = dict(full.history.get("modalities") or getattr(full.model, "modalities", None) or {})
    variants = []
    for switch, modality in switches.items():
        reason = skip_reason(switch, modality, modalities.get(modality))
        variants.append(Variant(switch, modality, SKIPPED if reason else PENDING, reason or ""))
    manifest = Path(out) / ABLATIONS_DIR / MANIFEST if out is not None else None

    def write() -> None:
        if manifest is not None:
            write_json_atomic(
                manifest, _manifest(name, seed, hparams, ds.snapshot_id, modalities, variants, full_seconds)
            )

    write()
    todo = [v for v in variants if v.status == PENDING]
    for v in variants:
        if v.status == SKIPPED:
            say(f"ablations of {name}: skipping {v.switch}, {v.note}")
    results = {}
    for k, v in enumerate(todo, 1):
        say(f"ablations of {name}: training {v.switch} ({v.label}), {k} of {len(todo)}")
        started = time.perf_counter()
        results[v.switch] = train_model(
            ds,
            name, {**hparams, v.switch: True}, seed=seed, out=None if out is None else ablation_path(out, v.switch),
            nproc=nproc, progress=progress,
        )
        v.status, v.seconds = TRAINED, time.perf_counter() - started
        write()
    return AblationRun(full, variants, results, full_seconds, manifest)


# ====================================================================== reading a run back
@dataclasses.dataclass
class AblationSet:
    """The ablations stored beside a full checkpoint (from its manifest)."""

    path: Path  # the full checkpoint folder
    model: str
    seed: int | None
    variants: list[Variant]
    full_modalities: dict[str, str]


def find_ablations(path: str | Path) -> AblationSet | None:
    """The ablations stored in checkpoint folder ``path``, or None when it has none."""
    path = Path(path)
    manifest = path / ABLATIONS_DIR / MANIFEST
    if not manifest.exists():
        if (path / ABLATIONS_DIR).is_dir():
            warnings.warn(
                f"{path / ABLATIONS_DIR} has no {MANIFEST}: ignored (re-run kgctl train --ablations)", stacklevel=2
            )
        return None
    try:
        meta = json.loads(manifest.read_text())
        variants = [
            Variant(**{k: v[k] for k in ("switch", "modality", "status", "note", "seconds") if k in v})
            for v in meta["variants"]
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise KgrecError(
            f"cannot read the ablation manifest {manifest}: {exc}", "re-run kgctl train --ablations"
        ) from None
    return AblationSet(
        path, meta.get("model", ""), meta.get("seed"), variants, dict(meta.get("full", {}).get("modalities", {}))
    )


def load_ablation_models(
    ds, aset: AblationSet, full_meta: dict | None = None, force: bool = False
) -> dict[str, Recommender]:
    """The trained variants' models (by switch), each checked against the graph like any
    checkpoint, and against the full model's seed and hyperparameters (a mismatch warns).
    Variants an interrupted run did not reach get a note instead."""
    from kgrec.models.workflows.pipeline import load_trained

    full_config = (full_meta or {}).get("config", {})
    models = {}
    for v in aset.variants:
        if v.status == PENDING:
            v.note = (
                v.note
                or f"{v.modality}: not trained (the ablation run stopped before it; re-run kgctl train --ablations)"
            )
            continue
        if v.status != TRAINED:
            continue
        _, model, meta = load_trained(ds, aset.path / v.folder, force=force)
        config = meta.get("config", {})
        if full_config:
            expected = {**full_config.get("hparams", {}), v.switch: True}
            if config.get("seed") != full_config.get("seed") or config.get("hparams") != expected:
                warnings.warn(
                    f"ablation {v.switch} in {aset.path} was trained with another seed or other hyperparameters "
                    "than the full model (re-run kgctl train --ablations)", stacklevel=2,
                )
        models[v.switch] = model
    return models


def evaluate_ablations(
    ds,
    label: str,
    aset: AblationSet,
    full_metrics: dict[str, dict[str, float]],
    protocols: tuple[str, ...],
    negative_seed: int,
    *,
    full_meta: dict | None = None,
    force: bool = False,
) -> AblationTable:
    """The ablation table of one full checkpoint: ``full_metrics`` (``{protocol: metrics}``, the
    full model's row, already evaluated for the main table) and each variant evaluated on the
    same test interactions, protocols and negatives."""
    from kgrec.models.workflows.pipeline import evaluate_models

    models = load_ablation_models(ds, aset, full_meta, force)
    report = evaluate_models(ds, models, protocols, negative_seed) if models else {p: {} for p in protocols}
    rows = [AblationRow("full", variant_label(None), None, {p: full_metrics[p] for p in protocols})]
    for v in aset.variants:
        metrics = {p: report[p][v.switch] for p in protocols} if v.switch in models else None
        rows.append(AblationRow(v.switch, v.label, v.modality, metrics, "" if metrics else v.note))
    return AblationTable(label, str(aset.path), rows)
